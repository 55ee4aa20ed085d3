/* errno text for messages: the one strerror_r caller of liblossplug. Built
 * with the XSI strerror_r (_POSIX_C_SOURCE, not _GNU_SOURCE), whose text is
 * always in `buf`. */
#include "util/errno_text.h"

#include <stdio.h>
#include <string.h>

const char *lp__errno_text(int e, char *buf, size_t size) {
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "error %d", e);
    return buf;
}
