/* The one converter from a config scalar to a typed value (read.h): a
 * loss's params and a program's sections go through it. */
#include "config/read.h"

#include "config/scalar.h"
#include "util/suggest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lp__spec_type_name(int32_t t) {
    switch (t) {
    case LP_PARAM_FLOAT:
        return "a float";
    case LP_PARAM_INT:
        return "an int";
    case LP_PARAM_BOOL:
        return "a bool";
    case LP_PARAM_STRING:
        return "a string";
    default:
        return "an enum";
    }
}

void lp__spec_fmt_bound(char *buf, size_t n, int32_t type, double v) {
    if (type == LP_PARAM_INT && v >= -9.2e18 && v <= 9.2e18 && v == floor(v))
        snprintf(buf, n, "%lld", (long long)v);
    else
        snprintf(buf, n, "%.17g", v);
    /* %.17g shows 0.1 as 0.10000000000000001: prefer the shortest form that
     * reads back to the same double. */
    if (type != LP_PARAM_INT || v != floor(v)) {
        for (int prec = 1; prec <= 17; prec++) {
            char t[64];
            snprintf(t, sizeof t, "%.*g", prec, v);
            /* "1e+01" reads back as 10, but "10" is what a person wrote. */
            int exp_ok = fabs(v) >= 1e15 || (v != 0.0 && fabs(v) < 1e-4);
            if (strtod(t, NULL) == v && (exp_ok || strchr(t, 'e') == NULL)) {
                snprintf(buf, n, "%s", t);
                break;
            }
        }
    }
}

/* "in [min, max]", "in (min, max)", ">= min", "> min", "<= max" or "< max". */
static void fmt_range(char *buf, size_t n, const lp_param_spec *s) {
    char lo[64], hi[64];
    lp__spec_fmt_bound(lo, sizeof lo, s->type, s->min);
    lp__spec_fmt_bound(hi, sizeof hi, s->type, s->max);
    int has_min = (s->flags & LP_PARAM_HAS_MIN) != 0, has_max = (s->flags & LP_PARAM_HAS_MAX) != 0;
    int min_ex = (s->flags & LP_PARAM_MIN_EXCLUSIVE) != 0;
    int max_ex = (s->flags & LP_PARAM_MAX_EXCLUSIVE) != 0;
    if (has_min && has_max)
        snprintf(buf, n, "in %c%s, %s%c", min_ex ? '(' : '[', lo, hi, max_ex ? ')' : ']');
    else if (has_min)
        snprintf(buf, n, "%s %s", min_ex ? ">" : ">=", lo);
    else
        snprintf(buf, n, "%s %s", max_ex ? "<" : "<=", hi);
}

/* The loader accepts the EXCLUSIVE bits only beside HAS_MIN / HAS_MAX. */
int lp__spec_in_range(const lp_param_spec *s, double v) {
    if ((s->flags & LP_PARAM_HAS_MIN) &&
        ((s->flags & LP_PARAM_MIN_EXCLUSIVE) ? v <= s->min : v < s->min))
        return 0;
    if ((s->flags & LP_PARAM_HAS_MAX) &&
        ((s->flags & LP_PARAM_MAX_EXCLUSIVE) ? v >= s->max : v > s->max))
        return 0;
    return 1;
}

int32_t lp__spec_out_of_range(const lp_param_spec *s, lp__pos pos, const char *where,
                              const char *text, lp__read_style style, lp_error *err) {
    char range[160];
    fmt_range(range, sizeof range, s);
    const char *what =
        style == LP__READ_SECTION && s->type == LP_PARAM_INT ? "an integer" : "a value";
    return lp__cfgerr(err, pos, "%s = %s is out of range; use %s %s", where, text, what, range);
}

void lp__spec_default(const lp_param_spec *s, lp_value *v) {
    memset(v, 0, sizeof *v);
    v->type = s->type;
    v->b = s->default_bool;
    v->i = s->default_int;
    v->f = s->default_float;
    v->s = s->default_string;
}

static int32_t read_number(const lp_param_spec *s, const char *text, size_t len, int quoted,
                           lp__pos pos, const char *where, lp__read_style style, lp_value *v,
                           lp_error *err) {
    char q[LP__QUOTE_MAX];
    const int is_int = s->type == LP_PARAM_INT;
    const char *what = is_int ? "an integer" : "a number";
    const char *example = is_int ? "a whole number such as 8" : "a number such as 0.5";
    if (quoted)
        return lp__cfgerr(err, pos, "%s must be %s, found a quoted string; remove the quotes",
                          where, what);
    if (len == 0)
        return lp__cfgerr(err, pos, "%s must be %s, found an empty value; write %s", where, what,
                          example);
    lp__lit lit;
    double d;
    if (is_int) {
        lit = lp__parse_int(text, len, &v->i);
        d = (double)v->i;
    } else {
        lit = lp__parse_float(text, len, &v->f);
        d = v->f;
    }
    if (lit == LP__LIT_SYNTAX)
        return lp__cfgerr(err, pos, "%s must be %s, found '%s'; write %s", where, what,
                          lp__quote(q, text, len), example);
    if (lit == LP__LIT_OK && !lp__spec_in_range(s, d))
        lit = LP__LIT_RANGE;
    if (lit == LP__LIT_RANGE) {
        if ((s->flags & (LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX)) == 0)
            return lp__cfgerr(err, pos, "%s = %s is out of range; use a smaller %s", where,
                              lp__quote(q, text, len),
                              is_int ? "integer (64-bit)" : "number (finite double)");
        return lp__spec_out_of_range(s, pos, where, lp__quote(q, text, len), style, err);
    }
    return LP_OK;
}

static int32_t read_enum(const lp_param_spec *s, const char *text, size_t len, lp__pos pos,
                         const char *where, const char *hint, lp_value *v, lp_error *err) {
    char q[LP__QUOTE_MAX];
    const char *shown = lp__quote(q, text, len);
    lp__suggester sg;
    lp__suggest_init(&sg, text, len);
    lp__sbuf list;
    lp__sbuf_init(&list);
    for (size_t i = 0; s->choices[i] != NULL; i++) {
        if (strlen(s->choices[i]) == len && memcmp(s->choices[i], text, len) == 0) {
            v->s = text;
            return LP_OK;
        }
        lp__suggest_add(&sg, s->choices[i]);
        lp__sbuf_addf(&list, "%s%s", i == 0 ? "" : ", ", s->choices[i]);
    }
    if (hint != NULL)
        return lp__cfgerr(err, pos, "%s '%s' is not a choice; %s", where, shown, hint);
    const char *best = lp__suggest_result(&sg);
    if (best != NULL)
        return lp__cfgerr(err, pos, "%s '%s' is not a choice; did you mean '%s'? (choices: %s)",
                          where, shown, best, list.buf);
    return lp__cfgerr(err, pos, "%s '%s' is not a choice; use one of: %s", where, shown, list.buf);
}

int32_t lp__read_scalar(const lp_param_spec *s, const char *text, size_t len, int quoted,
                        lp__pos pos, const char *where, lp__read_style style, const char *hint,
                        lp_value *v, lp_error *err) {
    v->type = s->type;
    if (memchr(text, '\0', len) != NULL)
        return lp__cfgerr(err, pos, "%s contains a NUL character; remove the \\0 escape", where);
    switch (s->type) {
    case LP_PARAM_FLOAT:
    case LP_PARAM_INT:
        return read_number(s, text, len, quoted, pos, where, style, v, err);
    case LP_PARAM_BOOL: {
        char q[LP__QUOTE_MAX];
        if (quoted)
            return lp__cfgerr(err, pos,
                              "%s must be true or false, found a quoted string; remove the quotes",
                              where);
        if (lp__parse_bool(text, len, &v->b) != LP__LIT_OK)
            return lp__cfgerr(err, pos, "%s must be true or false, found '%s'; write true or false",
                              where, lp__quote(q, text, len));
        return LP_OK;
    }
    case LP_PARAM_STRING:
        v->s = text;
        return LP_OK;
    default:
        return read_enum(s, text, len, pos, where, hint, v, err);
    }
}
