/* Internal: whole reads and writes on a file descriptor that survive short
 * transfers and signals (EINTR). */
#ifndef LP_UTIL_IO_H
#define LP_UTIL_IO_H

#include <stddef.h>

/* Write all `size` bytes. 0, or an errno value (EIO when write returns 0);
 * *done is the count written either way. */
int lp__write_all(int fd, const void *data, size_t size, size_t *done);

/* Read up to `size` bytes, stopping early only at end of file. 0, or an errno
 * value; *got is the count read either way. */
int lp__read_all(int fd, void *data, size_t size, size_t *got);

#endif
