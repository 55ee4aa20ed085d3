/* Whole writes and reads that survive short transfers and signals
 * (util/io.h). */
#include "util/io.h"

#include <errno.h>
#include <unistd.h>

int lp__write_all(int fd, const void *data, size_t size, size_t *done) {
    const unsigned char *p = data;
    *done = 0;
    while (*done < size) {
        ssize_t n = write(fd, p + *done, size - *done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return EIO;
        *done += (size_t)n;
    }
    return 0;
}

int lp__read_all(int fd, void *data, size_t size, size_t *got) {
    unsigned char *p = data;
    *got = 0;
    while (*got < size) {
        ssize_t n = read(fd, p + *got, size - *got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}
