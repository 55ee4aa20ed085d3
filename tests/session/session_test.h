/* Shared helpers of the session tests (header-only, one copy per binary):
 * a log that records every line, sessions opened from YAML text with only
 * the test plugins on the search path, and a model that logs its calls. */
#ifndef LP_TEST_SESSION_TEST_H
#define LP_TEST_SESSION_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lossplug/host.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG                                                                                       \
    "program:\n"                                                                                   \
    "  observation: {dtype: f32, shape: [3]}\n"                                                    \
    "  action: {dtype: i32, shape: [], num_actions: 2}\n"                                          \
    "  fields: {obs: \"f32[OBS]\", actions: i32, rewards: f32, values: f32}\n"                     \
    "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"

/* ---- the log -------------------------------------------------------------- */

typedef struct tlog {
    char **lines;
    size_t count, cap;
} tlog;

static tlog g_log; /* test-side only: the library has no globals */

static inline void tlog_add(const char *line) {
    if (g_log.count == g_log.cap) {
        g_log.cap = g_log.cap ? 2 * g_log.cap : 256;
        g_log.lines = realloc(g_log.lines, g_log.cap * sizeof *g_log.lines);
        assert_non_null(g_log.lines);
    }
    size_t n = strlen(line) + 1;
    g_log.lines[g_log.count] = malloc(n);
    assert_non_null(g_log.lines[g_log.count]);
    memcpy(g_log.lines[g_log.count++], line, n);
}

static inline void tlog_reset(void) {
    for (size_t i = 0; i < g_log.count; i++)
        free(g_log.lines[i]);
    free(g_log.lines);
    memset(&g_log, 0, sizeof g_log);
}

static inline void test_log(void *user, int32_t level, const char *msg) {
    (void)user;
    /* The session names each open-time hook it calls at debug level
     * ("calling create of ..."): not the plugins' own lines the tests
     * follow. */
    if (level == LP_LOG_DEBUG && strncmp(msg, "calling ", 8) == 0)
        return;
    tlog_add(msg);
}

/* Index of the first line equal to `line` from `from` on, or -1. */
static inline long tlog_find(const char *line, size_t from) {
    for (size_t i = from; i < g_log.count; i++)
        if (strcmp(g_log.lines[i], line) == 0)
            return (long)i;
    return -1;
}

/* Lines starting with `prefix`, in order, joined with "|"; the registry's
 * lines (which start with a plugin's path) are left out. */
static inline void tlog_join(const char *prefix, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g_log.count; i++)
        if (strncmp(g_log.lines[i], prefix, strlen(prefix)) == 0 && g_log.lines[i][0] != '/' &&
            len < size)
            len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "|" : "", g_log.lines[i]);
}

/* ---- sessions --------------------------------------------------------------- */

static inline void test_options(lp_session_options *opt) {
    static const char *const paths[] = {LP_SESSION_PLUGINS};
    lp_session_options_init(opt);
    opt->plugin_paths = paths;
    opt->plugin_path_count = 1;
    opt->use_env_path = 0;
    opt->use_install_dir = 0;
    opt->log = test_log;
}

static inline int32_t open_yaml_opt(const char *yaml, const lp_session_options *opt, lp_session **s,
                                    lp_error *err) {
    memset(err, 0, sizeof *err);
    return lp_session_open_string(yaml, strlen(yaml), "t.yaml", opt, s, err);
}

static inline int32_t open_yaml(const char *yaml, lp_session **s, lp_error *err) {
    lp_session_options opt;
    test_options(&opt);
    return open_yaml_opt(yaml, &opt, s, err);
}

static inline lp_session *open_ok(const char *yaml) {
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml(yaml, &s, &err);
    if (rc != LP_OK)
        print_error("unexpected error: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_non_null(s);
    return s;
}

/* Open must fail with `code` and exactly `msg`, leaving *out NULL. */
static inline void open_err(const char *yaml, int32_t code, const char *msg) {
    lp_session *s = (lp_session *)(uintptr_t)1;
    lp_error err;
    int32_t rc = open_yaml(yaml, &s, &err);
    if (rc != code || strcmp(err.message, msg) != 0)
        print_error("expected %d '%s'\n     got %d '%s'\n", code, msg, rc, err.message);
    assert_int_equal(rc, code);
    assert_string_equal(err.message, msg);
    assert_null(s);
}

/* ---- a model that logs ------------------------------------------------------ */

typedef struct tmodel {
    int log;
    int forwards, backwards, steps;
    double grad_sum; /* sum of every gradient element seen by backward */
} tmodel;

static inline int32_t tm_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                                 lp_error *err) {
    (void)err;
    tmodel *m = user;
    m->forwards++;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        float *d = outputs[i].data;
        int64_t n = 1;
        for (int32_t k = 0; k < outputs[i].rank; k++)
            n *= outputs[i].shape[k];
        for (int64_t e = 0; e < n; e++)
            d[e] = 0.25f;
    }
    if (m->log)
        tlog_add("model:forward");
    return LP_OK;
}

static inline int32_t tm_backward(void *user, const lp_batch *mb, const lp_tensor *grads,
                                  lp_error *err) {
    (void)err;
    tmodel *m = user;
    m->backwards++;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        const float *d = grads[i].data;
        int64_t n = 1;
        for (int32_t k = 0; k < grads[i].rank; k++)
            n *= grads[i].shape[k];
        for (int64_t e = 0; e < n; e++)
            m->grad_sum += d[e];
    }
    if (m->log)
        tlog_add("model:backward");
    return LP_OK;
}

static inline int32_t tm_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)err;
    tmodel *m = user;
    m->steps++;
    if (m->log) {
        char line[64];
        snprintf(line, sizeof line, "model:step:%d.%d", (int)ctx->update_epoch,
                 (int)ctx->minibatch);
        tlog_add(line);
    }
    return LP_OK;
}

static inline lp_model tmodel_make(tmodel *m) {
    lp_model model = {.user = m, .forward = tm_forward, .backward = tm_backward, .step = tm_step};
    return model;
}

/* One epoch: epoch_start, rollout_start, every step, train. */
static inline void run_epoch(lp_session *s, tmodel *m, lp_train_summary *sum) {
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    for (int64_t t = 0; t < lp_session_env(s)->horizon; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
    lp_model model = tmodel_make(m);
    int32_t rc = lp_session_train(s, &model, sum, &err);
    if (rc != LP_OK)
        print_error("train: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
}

static inline int teardown_log(void **state) {
    (void)state;
    tlog_reset();
    return 0;
}

#endif
