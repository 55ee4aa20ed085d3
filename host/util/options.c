/* The one rule for caller structs (util/options.h). */
#include "util/options.h"
#include "util/error.h"

#include <string.h>

int32_t lp__opts_copy(void *dst, size_t dst_size, const void *src, size_t oldest_size,
                      const char *fn, const char *what, const char *init, lp_error *err) {
    if (src == NULL)
        return LP_OK;
    uint32_t size;
    memcpy(&size, src, sizeof size);
    if (size < oldest_size)
        return lp__error_set(err, LP_EINVAL,
                             "%s: %s.struct_size is %u, smaller than its oldest layout (%zu "
                             "bytes): fill it with %s first",
                             fn, what, (unsigned)size, oldest_size, init);
    memcpy(dst, src, size < dst_size ? size : dst_size);
    uint32_t own = (uint32_t)dst_size;
    memcpy(dst, &own, sizeof own);
    return LP_OK;
}

int32_t lp__opts_take(void *dst, size_t dst_size, const void *src, size_t oldest_size,
                      const char *fn, const char *init, lp_error *err) {
    if (src == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: options are NULL: fill them with %s", fn, init);
    return lp__opts_copy(dst, dst_size, src, oldest_size, fn, "options", init, err);
}

int lp__opts_reset(void *opt, size_t size) {
    if (opt == NULL)
        return 0;
    memset(opt, 0, size);
    const uint32_t own = (uint32_t)size;
    memcpy(opt, &own, sizeof own);
    return 1;
}
