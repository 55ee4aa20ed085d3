/* Shared helpers of the config tests (header-only, one per test binary). */
#ifndef LP_TEST_CFG_TEST_H
#define LP_TEST_CFG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse `text` as "t.yaml" with the given passthrough sections. */
static inline int32_t cfg_parse(const char *text, const char *const *pass, size_t npass,
                                lp__config **out, lp_error *err) {
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = pass;
    opt.passthrough_count = npass;
    return lp__config_parse_string(text, strlen(text), "t.yaml", &opt, out, err);
}

/* Parse must succeed; on failure the message is shown. */
static inline lp__config *cfg_ok(const char *text) {
    static const char *const pass[] = {"env"};
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    int32_t rc = cfg_parse(text, pass, 1, &cfg, &err);
    if (rc != LP_OK)
        print_error("unexpected error: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_non_null(cfg);
    return cfg;
}

/* Parse must fail with LP_ECONFIG and exactly `msg`, leaving *out NULL. */
static inline void cfg_err(const char *text, const char *msg) {
    static const char *const pass[] = {"env"};
    lp__config *cfg = (lp__config *)(uintptr_t)1;
    lp_error err = {0, ""};
    int32_t rc = cfg_parse(text, pass, 1, &cfg, &err);
    assert_int_equal(rc, LP_ECONFIG);
    assert_int_equal(err.code, LP_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.message, msg);
    assert_null(strchr(err.message, '\n'));
}

/* Minimal valid prefix for configs that test one part. */
#define CFG_BUFFER "buffer: {segments: 8, horizon: 16}\n"

/* Read a whole file into a malloc'd string (NULL when unreadable). */
static inline char *cfg_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len != NULL)
            *len = n;
    }
    return buf;
}

#endif
