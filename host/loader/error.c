/* Status names and messages (from LP_STATUS_MAP, so they cannot drift from
 * the codes). lp_error filling is util/error.c. */
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
