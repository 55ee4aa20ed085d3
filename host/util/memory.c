/* Memory limits and byte counts in words (see memory.h). */
#include "util/memory.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

uint64_t lp__memory_limit_default(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return (uint64_t)4 << 30;
    uint64_t total = (uint64_t)pages * (uint64_t)page;
    return total / 2;
}

const char *lp__bytes_text(uint64_t bytes, char *buf, size_t size) {
    static const char *const units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%" PRIu64 " bytes", bytes);
    else
        snprintf(buf, size, "%.2f %s (%" PRIu64 " bytes)", v, units[u], bytes);
    return buf;
}
