/* Internal: the one log helper. The registry, the session and the trainer
 * each hold a caller's lp_log_fn; they format through here, so that every
 * line a callback sees is cut to LP_ERROR_MAX and is one printable line. */
#ifndef LP_UTIL_LOG_H
#define LP_UTIL_LOG_H

#include <lossplug/host.h>

#include <stdarg.h>
#include <stdint.h>

/* Format and hand one line to `log` (nothing when `log` is NULL). */
void lp__log_emitv(lp_log_fn log, void *user, int32_t level, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 0)))
#endif
    ;

#endif
