/* The one log helper (util/log.h). */
#include "util/log.h"
#include "util/clean_text.h"

#include <stdio.h>

void lp__log_emitv(lp_log_fn log, void *user, int32_t level, const char *fmt, va_list ap) {
    if (log == NULL)
        return;
    char line[LP_ERROR_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    lp__clean_text(line);
    log(user, level, line);
}
