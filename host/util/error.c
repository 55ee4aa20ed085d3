/* lp_error filling (util/error.h). */
#include "util/error.h"
#include "util/clean_text.h"

#include <stdarg.h>
#include <stdio.h>

int32_t lp__error_set(lp_error *err, int32_t code, const char *fmt, ...) {
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    lp__clean_text(err->message);
    err->code = code;
    return code;
}

void lp__error_clear(lp_error *err) {
    if (err == NULL)
        return;
    err->code = LP_OK;
    err->message[0] = '\0';
}
