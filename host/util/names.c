/* The one name rule (util/names.h). */
#include "util/names.h"

int lp__valid_name_n(const char *s, size_t len) {
    if (s == NULL || len == 0 || len > LP__NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int lp__valid_name(const char *s) {
    if (s == NULL)
        return 0;
    size_t len = 0;
    while (len <= LP__NAME_MAX && s[len] != '\0')
        len++;
    return lp__valid_name_n(s, len);
}
