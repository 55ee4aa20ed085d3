/* Internal: filling a caller's lp_error, the one way every part of the
 * library does it. Not installed. */
#ifndef LP_UTIL_ERROR_H
#define LP_UTIL_ERROR_H

#include <lossplug/host.h>

#include <stdint.h>

#if defined(__GNUC__)
#define LP__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define LP__PRINTF(fmt, args)
#endif

/* Set `err` (may be NULL) to `code` and a printf-formatted message, cut to
 * LP_ERROR_MAX and cleaned to one printable line (lp__clean_text); returns
 * `code` so that callers can `return lp__error_set(err, LP_EINVAL, ...)`. */
int32_t lp__error_set(lp_error *err, int32_t code, const char *fmt, ...) LP__PRINTF(3, 4);

/* `err` (may be NULL) back to LP_OK and an empty message. */
void lp__error_clear(lp_error *err);

#endif
