/* Status names and messages (from LP_STATUS_MAP, so they cannot drift from
 * the codes) and lp_error filling. */
#include "loader/internal.h"

#include <stdio.h>
#include <string.h>

const char *lp_strerror(int32_t status) {
    switch (status) {
#define LP__STRERROR_CASE(name, value, msg)                                                        \
    case value:                                                                                    \
        return msg;
        LP_STATUS_MAP(LP__STRERROR_CASE)
#undef LP__STRERROR_CASE
    default:
        return "unknown status";
    }
}

const char *lp_err_name(int32_t status) {
    switch (status) {
#define LP__ERR_NAME_CASE(name, value, msg)                                                        \
    case value:                                                                                    \
        return "LP_" #name;
        LP_STATUS_MAP(LP__ERR_NAME_CASE)
#undef LP__ERR_NAME_CASE
    default:
        return "unknown status";
    }
}

int32_t lp__error_set(lp_error *err, int32_t code, const char *fmt, ...) {
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    lp__one_line(err->message);
    err->code = code;
    return code;
}

void lp__error_clear(lp_error *err) {
    if (err == NULL)
        return;
    err->code = LP_OK;
    err->message[0] = '\0';
}
