/* Internal: what kind of file a st_mode is, for messages. */
#ifndef LP_UTIL_FILE_KIND_H
#define LP_UTIL_FILE_KIND_H

#include <sys/types.h>

/* "a directory", "a FIFO (named pipe)", "a character device", "a block
 * device", "a socket", "a symbolic link", "a regular file" or "an unknown
 * kind of file". Static text. */
const char *lp__file_kind(mode_t mode);

#endif
