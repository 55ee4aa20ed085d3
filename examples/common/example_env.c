/* The example environments' shared helpers: see example_env.h. */
#include "example_env.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* "FILE:LINE:COLUMN: message", as the host's config errors. */
int32_t example_entry_error(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                            const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err->code = LP_ECONFIG;
    snprintf(err->message, sizeof err->message, "%s:%d:%d: %s", s->config,
             e != NULL ? (int)e->line : (int)s->section_line,
             e != NULL ? (int)e->column : (int)s->section_column, msg);
    return LP_ECONFIG;
}

int32_t example_entry_int(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                          long long min, long long max, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(e->value, &end, 10);
    if (e->quoted || e->value[0] == '\0' || *end != '\0' || errno != 0)
        return example_entry_error(err, s, e,
                                   "%s.%s must be an integer, found '%s'; write a whole number",
                                   s->section, e->key, e->value);
    if (v < min || v > max)
        return example_entry_error(err, s, e,
                                   "%s.%s = %s is out of range; use an integer in [%lld, %lld]",
                                   s->section, e->key, e->value, min, max);
    *out = v;
    return LP_OK;
}

int32_t example_entry_float(lp_error *err, const lp_env_setup *s, const lp_config_entry *e,
                            double min, double max, float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(e->value, &end);
    if (e->quoted || e->value[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v))
        return example_entry_error(err, s, e,
                                   "%s.%s must be a number, found '%s'; write a number such as 2.0",
                                   s->section, e->key, e->value);
    if (v < min || v > max)
        return example_entry_error(err, s, e, "%s.%s = %s is out of range; use a value in [%g, %g]",
                                   s->section, e->key, e->value, min, max);
    *out = (float)v;
    return LP_OK;
}

uint64_t example_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
