/* Internal: fill a caller's lp_error. Not installed. */
#ifndef LP_INTERNAL_ERRSET_H
#define LP_INTERNAL_ERRSET_H

#include <lossplug/host.h>

#include <stdarg.h>
#include <stdio.h>

/* Set `err` (may be NULL) to `code` and a printf-formatted message; returns
 * `code` so that callers can `return lp__seterr(err, LP_EINVAL, ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int32_t
lp__seterr(lp_error *err, int32_t code, const char *fmt, ...) {
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

#endif
