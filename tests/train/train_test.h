/* Shared by the training-loop tests: CartPole (examples/cartpole/cartpole_lp.h)
 * through lp_train_run, with the build's plugins and the session tests'
 * probe plugin, a recorder of progress events, and file helpers. */
#ifndef LP_TRAIN_TEST_H
#define LP_TRAIN_TEST_H

#include "cartpole_lp.h"

#include <lossplug/host.h>

#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What a run reported, through the progress callback. */
typedef struct run_log {
    int starts, resumes, epochs, checkpoints, ends;
    int64_t first_epoch; /* epoch counter at START */
    double last_loss;
    /* RESUMED: the report's names by kind, ", "-joined */
    char restored[8192], missing[2048], unexpected[2048], mismatched[2048];
    int stop_at_epoch;  /* > 0: ask to stop when this many epochs are done */
    int raise_at_epoch; /* > 0: raise(SIGINT) there */
    double stat_sum;    /* sum of a stat over the epochs (stat_name) */
    const char *stat_name;
    int stat_seen;
    int early_stops; /* epochs whose train phase an instance stopped */
    int minibatches; /* trained, over all epochs */
} run_log;

static inline void join_names(char *dst, size_t cap, const lp_load_report *r, int32_t kind) {
    dst[0] = '\0';
    for (size_t i = 0; i < lp_load_report_count(r, kind); i++) {
        size_t len = strlen(dst);
        snprintf(dst + len, cap - len, "%s%s", len ? ", " : "", lp_load_report_name(r, kind, i));
    }
}

static inline int record_progress(void *user, const lp_train_progress *p) {
    run_log *l = user;
    switch (p->event) {
    case LP_TRAIN_EVENT_START:
        l->starts++;
        l->first_epoch = p->epoch;
        break;
    case LP_TRAIN_EVENT_RESUMED:
        l->resumes++;
        join_names(l->restored, sizeof l->restored, p->load_report, LP_LOAD_RESTORED);
        join_names(l->missing, sizeof l->missing, p->load_report, LP_LOAD_MISSING);
        join_names(l->unexpected, sizeof l->unexpected, p->load_report, LP_LOAD_UNEXPECTED);
        join_names(l->mismatched, sizeof l->mismatched, p->load_report, LP_LOAD_MISMATCHED);
        break;
    case LP_TRAIN_EVENT_EPOCH: {
        l->epochs++;
        l->last_loss = p->total_loss;
        l->early_stops += p->summary->stopped != 0;
        l->minibatches += p->summary->minibatches;
        double v;
        if (l->stat_name != NULL && lp_session_stat(p->session, l->stat_name, &v) == LP_OK) {
            l->stat_sum += v;
            l->stat_seen++;
        }
        if (l->raise_at_epoch > 0 && p->epoch == l->raise_at_epoch)
            raise(SIGINT);
        return l->stop_at_epoch > 0 && p->epoch >= l->stop_at_epoch;
    }
    case LP_TRAIN_EVENT_CHECKPOINT:
        l->checkpoints++;
        break;
    case LP_TRAIN_EVENT_END:
        l->ends++;
        break;
    default:
        break;
    }
    return 0;
}

/* Plugin directories: the build's built-in plugins and the session tests'
 * probe (a loss with registered state). */
static const char *const test_plugin_dirs[] = {LP_TRAIN_PLUGINS, LP_TRAIN_PROBE_PLUGINS};

static inline void test_options(lp_train_options *o, run_log *log) {
    lp_train_options_init(o);
    o->plugin_paths = test_plugin_dirs;
    o->plugin_path_count = 2;
    o->use_env_path = 0;
    o->use_install_dir = 0;
    o->progress = record_progress;
    o->progress_user = log;
}

/* Train CartPole with `config`; returns the status, fills `out` and `err`. */
static inline int32_t run_cartpole(const char *config, const lp_train_options *o,
                                   lp_train_outcome *out, lp_error *err) {
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    cp.seed_forced = o->seed_set;
    memset(err, 0, sizeof *err);
    int32_t rc = lp_train_run(config, o, &env, out, err);
    cartpole_lp_free(&cp);
    return rc;
}

static inline const char *example(const char *name) {
    static char buf[8][1024];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", LP_TRAIN_EXAMPLES, name);
    return buf[k];
}

static inline const char *tmp_path(const char *name) {
    static char buf[8][1024];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", LP_TRAIN_TMP, name);
    return buf[k];
}

/* The whole file into a malloc'd buffer; *len its size. NULL on error. */
static inline char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
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
        *len = n;
    }
    return buf;
}

static inline void write_all(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* A copy of examples/cartpole/NAME at tmp/COPY with `append` at the end
 * (more loss instances: the examples end with their losses list). */
static inline const char *example_plus(const char *name, const char *copy, const char *append) {
    size_t len = 0;
    char *text = read_all(example(name), &len);
    assert_non_null(text);
    size_t total = len + strlen(append) + 2;
    char *joined = malloc(total);
    assert_non_null(joined);
    snprintf(joined, total, "%s%s", text, append);
    const char *path = tmp_path(copy);
    write_all(path, joined);
    free(joined);
    free(text);
    return path;
}

#endif
