/* Internal: limits on what a config may make the host allocate, and sizes
 * in words for messages. No allocation. */
#ifndef LP_UTIL_MEMORY_H
#define LP_UTIL_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* The default limit for one big allocation a config sizes (the experience
 * buffer, the model): half of the physical memory, or 4 GiB when the system
 * does not say. A config may set its own (buffer.max_bytes,
 * model.max_bytes). */
uint64_t lp__memory_limit_default(void);

/* "3.36 GB (3360000000 bytes)" into buf. Returns buf. */
const char *lp__bytes_text(uint64_t bytes, char *buf, size_t size);

#endif
