#include "config/scalar.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

lp__lit lp__parse_int(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return LP__LIT_SYNTAX;
    for (size_t j = i; j < len; j++)
        if (!is_digit(s[j]))
            return LP__LIT_SYNTAX;
    /* Accumulate negatively: INT64_MIN has no positive counterpart. */
    int64_t v = 0;
    for (; i < len; i++) {
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return LP__LIT_RANGE;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return LP__LIT_RANGE;
        v = -v;
    }
    *out = v;
    return LP__LIT_OK;
}

static size_t digits(const char *s, size_t len, size_t i) {
    size_t j = i;
    while (j < len && is_digit(s[j]))
        j++;
    return j - i;
}

lp__lit lp__parse_float(const char *s, size_t len, double *out) {
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t whole = digits(s, len, i);
    i += whole;
    size_t frac = 0;
    size_t dot = len;
    if (i < len && s[i] == '.') {
        dot = i++;
        frac = digits(s, len, i);
        i += frac;
    }
    if (whole == 0 && frac == 0)
        return LP__LIT_SYNTAX;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = digits(s, len, i);
        if (e == 0)
            return LP__LIT_SYNTAX;
        i += e;
    }
    if (i != len)
        return LP__LIT_SYNTAX;

    /* strtod reads the locale's decimal point: give it that. */
    char buf[128];
    if (len >= sizeof buf)
        return LP__LIT_RANGE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (dot < len) {
        const char *point = localeconv()->decimal_point;
        if (point != NULL && point[0] != '\0' && point[1] == '\0')
            buf[dot] = point[0];
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + len)
        return LP__LIT_SYNTAX;
    if (!isfinite(v))
        return LP__LIT_RANGE;
    *out = v;
    return LP__LIT_OK;
}

lp__lit lp__parse_bool(const char *s, size_t len, int32_t *out) {
    if (len == 4 && memcmp(s, "true", 4) == 0) {
        *out = 1;
        return LP__LIT_OK;
    }
    if (len == 5 && memcmp(s, "false", 5) == 0) {
        *out = 0;
        return LP__LIT_OK;
    }
    return LP__LIT_SYNTAX;
}
