/* Internal: errno text for messages, thread-safely. No allocation. */
#ifndef LP_UTIL_ERRNO_TEXT_H
#define LP_UTIL_ERRNO_TEXT_H

#include <stddef.h>

/* strerror(e) into `buf` (`size` bytes), or "error <e>" when the C library
 * has no text for it. Returns `buf`. */
const char *lp__errno_text(int e, char *buf, size_t size);

#endif
