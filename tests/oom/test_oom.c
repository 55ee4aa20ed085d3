/* Out of memory beyond the loader: make the n-th allocation of liblossplug
 * fail, for every n in turn, in config parsing, session open (registry,
 * instances, merged spec, buffer, stats), a checkpoint save and load, and a
 * training run's open (model, optimizer, environment) with a resume. Each
 * failed run must return an error (LP_ENOMEM, with a message), leave
 * nothing allocated (ASan and valgrind see leaks) and nothing half-written;
 * the first run with no allocation left to fail must succeed.
 *
 * Built against lossplug_static with --wrap=malloc,calloc,realloc,
 * aligned_alloc (the same technique as tests/loader/test_loader_oom.c): only
 * this executable's calls are counted (plugins and libyaml allocate on their
 * own, unhindered). */
#include <lossplug/comm.h>
#include <lossplug/host.h>

#include "cartpole_lp.h"
#include "state/checkpoint.h"
#include "config/config.h"

#include <lossplug/plugin.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static long fail_at = -1; /* -1: never; else the allocation index to fail */
static long allocs;

static int should_fail(void) {
    return fail_at >= 0 && allocs++ == fail_at;
}

void *__wrap_malloc(size_t n) {
    return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    return should_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    return should_fail() ? NULL : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    return should_fail() ? NULL : __real_aligned_alloc(align, n);
}

/* Run `step` with the n-th allocation failing, n = 0, 1, ..., until it
 * succeeds; every failure must be LP_ENOMEM with a message. Returns how
 * many allocations were failed. */
typedef int32_t (*step_fn)(void *user, lp_error *err);

static long every_failure(const char *what, step_fn step, void *user) {
    long n = 0;
    for (;; n++) {
        lp_error err;
        memset(&err, 0, sizeof err);
        allocs = 0;
        fail_at = n;
        int32_t rc = step(user, &err);
        long used = allocs;
        fail_at = -1;
        if (rc == LP_OK) {
            if (used > n)
                fail_msg("%s: allocation #%ld failed, yet the call succeeded (%ld allocations)",
                         what, n, used);
            break;
        }
        if (rc != LP_ENOMEM || err.message[0] == '\0')
            fail_msg("%s: allocation #%ld failed: got %s (%d): '%s', expected LP_ENOMEM with a "
                     "message",
                     what, n, lp_err_name(rc), (int)rc, err.message);
        if (n > 200000)
            fail_msg("%s: no end to allocations", what);
    }
    print_message("%s: failed each of %ld allocations in turn\n", what, n);
    return n;
}

#define CONFIG                                                                                     \
    "buffer: {segments: 4, horizon: 8, minibatch_segments: 2, update_epochs: 2, seed: 1,\n"        \
    "         sample: transitions}\n"                                                              \
    "program:\n"                                                                                   \
    "  sections: [env, model, optimizer, trainer]\n"                                               \
    "  observation: {dtype: f32, shape: [4]}\n"                                                    \
    "  action: {dtype: i32, shape: [], num_actions: 2}\n"                                          \
    "  fields: {obs: \"f32[OBS]\", actions: i32, logprobs: f32, values: f32, rewards: f32,\n"      \
    "           dones: u8, truncateds: u8, next_values: f32}\n"                                    \
    "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"                                     \
    "env: {num_envs: 4}\n"                                                                         \
    "model: {hidden: [8, 8]}\n"                                                                    \
    "optimizer: {lr: 0.001}\n"                                                                     \
    "trainer: {total_steps: 64, seed: 3}\n"                                                        \
    "losses:\n"                                                                                    \
    "  - {name: gae, plugin: gae, params: {gamma: 0.99}}\n"                                        \
    "  - name: actor\n"                                                                            \
    "    plugin: ppo\n"                                                                            \
    "    params: {clip_coef: 0.2}\n"                                                               \
    "    schedule: {anneal: {clip_coef: {to: 0.1, epochs: [0, 4], shape: cosine}}}\n"              \
    "  - {name: critic, plugin: value, weight: 0.5}\n"

static char dir[512];

static void path_in(char *buf, size_t size, const char *name) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* ---- config parsing ------------------------------------------------------ */

static int32_t parse_config(void *user, lp_error *err) {
    (void)user;
    static const char *const sections[] = {"env", "model", "optimizer", "trainer"};
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = sections;
    opt.passthrough_count = 4;
    lp__config *cfg = NULL;
    int32_t rc = lp__config_parse_string(CONFIG, strlen(CONFIG), "oom.yaml", &opt, &cfg, err);
    if (rc != LP_OK) {
        assert_null(cfg);
        return rc;
    }
    lp__config_free(cfg);
    return LP_OK;
}

static void test_config(void **state) {
    (void)state;
    assert_true(every_failure("config parsing", parse_config, NULL) > 3);
}

/* ---- session open, save, load ------------------------------------------- */

static void session_options(lp_session_options *o) {
    static const char *paths[] = {LP_PLUGIN_DIR};
    static const char *const sections[] = {"env", "model", "optimizer", "trainer"};
    lp_session_options_init(o);
    o->plugin_paths = paths;
    o->plugin_path_count = 1;
    o->use_env_path = 0;
    o->use_install_dir = 0;
    o->sections = sections;
    o->section_count = 4;
}

static int32_t open_session(void *user, lp_error *err) {
    const char *stats = user;
    lp_session_options o;
    session_options(&o);
    o.stats_path = stats;
    lp_session *s = (lp_session *)1;
    int32_t rc = lp_session_open_string(CONFIG, strlen(CONFIG), "oom.yaml", &o, &s, err);
    if (rc != LP_OK) {
        assert_null(s);
        return rc;
    }
    lp_session_close(s);
    return LP_OK;
}

static void test_session_open(void **state) {
    (void)state;
    char stats[600];
    path_in(stats, sizeof stats, "stats.csv");
    /* Sessions scan the plugin files their cache does not know (the cache
     * is this test's own, see main). First on a cold cache: the scanner's
     * lookup, each scan's report and the cache's write fail in turn (until
     * an open gets past the registry and writes the cache); then every run
     * reads that cache. */
    assert_true(every_failure("session open (cold scan cache)", open_session, stats) > 50);
    assert_true(every_failure("session open (scan cache)", open_session, stats) > 50);
    unlink(stats);
}

typedef struct ckpt_case {
    lp_session *s;
    char path[600];
    float model[6];
} ckpt_case;

static int32_t save_ckpt(void *user, lp_error *err) {
    ckpt_case *c = user;
    const int64_t shape[1] = {6};
    lp_named_tensor extra = {"model/w", lp_tensor_make(c->model, LP_DTYPE_F32, 1, shape)};
    int32_t rc = lp_session_save(c->s, c->path, &extra, 1, err);
    /* Never half a file: whatever failed, the file is absent (no save
     * succeeded yet) or a complete checkpoint, and no temporary is left. */
    lp__ckpt *ck = NULL;
    lp_error e2;
    long saved = fail_at;
    fail_at = -1; /* the check itself must not fail */
    if (rc == LP_OK || access(c->path, F_OK) == 0) {
        assert_int_equal(lp__ckpt_open(c->path, &ck, &e2), LP_OK);
        lp__ckpt_close(ck);
    }
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.0", c->path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    fail_at = saved;
    return rc;
}

static int32_t load_ckpt(void *user, lp_error *err) {
    ckpt_case *c = user;
    const int64_t shape[1] = {6};
    float into[6] = {0};
    lp_named_tensor extra = {"model/w", lp_tensor_make(into, LP_DTYPE_F32, 1, shape)};
    lp_load_report *report = NULL;
    int32_t rc = lp_session_load(c->s, c->path, &extra, 1, 1, &report, err);
    lp_load_report_free(report);
    if (rc == LP_OK)
        assert_memory_equal(into, c->model, sizeof into);
    else
        assert_int_equal(into[5], 0.0f); /* nothing written */
    return rc;
}

static void test_checkpoint_save_load(void **state) {
    (void)state;
    ckpt_case c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 6; i++)
        c.model[i] = (float)i + 0.5f;
    path_in(c.path, sizeof c.path, "oom.ckpt");
    lp_session_options o;
    session_options(&o);
    lp_error err;
    assert_int_equal(lp_session_open_string(CONFIG, strlen(CONFIG), "oom.yaml", &o, &c.s, &err),
                     LP_OK);
    assert_true(every_failure("checkpoint save", save_ckpt, &c) > 0);
    assert_true(every_failure("checkpoint load", load_ckpt, &c) > 0);
    lp_session_close(c.s);
    unlink(c.path);
}

/* ---- a training run: open (model, optimizer, env), resume, 64 steps ------ */

typedef struct train_case {
    char config[600], resume[600];
} train_case;

static int32_t train(void *user, lp_error *err) {
    train_case *t = user;
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    lp_train_options o;
    lp_train_options_init(&o);
    static const char *paths[] = {LP_PLUGIN_DIR};
    o.plugin_paths = paths;
    o.plugin_path_count = 1;
    o.use_env_path = 0;
    o.use_install_dir = 0;
    o.resume_path = t->resume[0] ? t->resume : NULL;
    lp_train_outcome out;
    int32_t rc = lp_train_run(t->config, &o, &env, &out, err);
    cartpole_lp_free(&cp);
    return rc;
}

static void test_train_open(void **state) {
    (void)state;
    train_case t;
    memset(&t, 0, sizeof t);
    path_in(t.config, sizeof t.config, "oom.yaml");
    FILE *f = fopen(t.config, "w");
    assert_non_null(f);
    assert_int_equal(fputs(CONFIG, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    /* A checkpoint to resume from, written by a first run. */
    path_in(t.resume, sizeof t.resume, "run.ckpt");
    {
        cartpole_lp cp;
        lp_env env;
        cartpole_lp_init(&cp, &env);
        lp_train_options o;
        lp_train_options_init(&o);
        static const char *paths[] = {LP_PLUGIN_DIR};
        o.plugin_paths = paths;
        o.plugin_path_count = 1;
        o.use_env_path = 0;
        o.use_install_dir = 0;
        o.checkpoint_path = t.resume;
        lp_train_outcome out;
        lp_error err;
        assert_int_equal(lp_train_run(t.config, &o, &env, &out, &err), LP_OK);
        cartpole_lp_free(&cp);
    }
    assert_true(every_failure("training run with resume", train, &t) > 50);
    unlink(t.config);
    unlink(t.resume);
}

/* ---- a 2-rank resume in which one rank cannot hold the checkpoint -------- */

/* This process as one rank of 2; the collectives answer as the other rank
 * would. Rank 0 reads the checkpoint and broadcasts its size, then its
 * bytes; between the two, every rank votes on whether it could allocate
 * room for them. `self_fails`: this rank is 1 and its allocation fails (the
 * allocation after the size broadcast is made to fail); else this rank is 0
 * and the peer votes that it failed. Either way no rank may enter the
 * bytes' broadcast (the other would wait in it forever). */
typedef struct peer {
    lp_comm comm;
    long ckpt_size;
    int self_fails;
    int sized;       /* the size broadcast happened */
    int votes;       /* one-double MAX all-reduces after it */
    double vote;     /* what this rank voted */
    int late_bcasts; /* broadcasts after the size: must be 0 */
} peer;

static int32_t peer_f32(void *user, float *buf, size_t count, int32_t op, lp_error *err) {
    (void)user, (void)err;
    if (op == LP_COMM_SUM)
        for (size_t i = 0; i < count; i++)
            buf[i] *= 2.0f;
    return LP_OK;
}

static int32_t peer_f64(void *user, double *buf, size_t count, int32_t op, lp_error *err) {
    (void)err;
    peer *p = user;
    if (op == LP_COMM_SUM)
        for (size_t i = 0; i < count; i++)
            buf[i] *= 2.0;
    if (p->sized && op == LP_COMM_MAX && count == 1) {
        p->votes++;
        p->vote = buf[0];
        if (!p->self_fails)
            buf[0] = 1.0; /* the peer (rank 1) ran out of memory */
    }
    return LP_OK;
}

static int32_t peer_bcast(void *user, void *buf, size_t bytes, int32_t root, lp_error *err) {
    (void)root, (void)err;
    peer *p = user;
    if (p->sized) {
        p->late_bcasts++;
        return LP_OK;
    }
    if (bytes == sizeof(double)) { /* the checkpoint's size, from rank 0 */
        p->sized = 1;
        if (p->self_fails) {
            double size = (double)p->ckpt_size;
            memcpy(buf, &size, sizeof size);
            allocs = 0;
            fail_at = 0; /* the next allocation: room for the bytes */
        }
    }
    return LP_OK;
}

static int32_t peer_gather(void *user, const void *send, void *recv, size_t bytes, int32_t root,
                           lp_error *err) {
    (void)user, (void)root, (void)err;
    if (recv != NULL) {
        memcpy(recv, send, bytes);
        memcpy((char *)recv + bytes, send, bytes);
    }
    return LP_OK;
}

static int32_t peer_barrier(void *user, lp_error *err) {
    (void)user, (void)err;
    return LP_OK;
}

static void test_rank_resume_oom(void **state) {
    (void)state;
    char config[600], ckpt[600];
    path_in(config, sizeof config, "ranks.yaml");
    path_in(ckpt, sizeof ckpt, "ranks.ckpt");
    FILE *f = fopen(config, "w");
    assert_non_null(f);
    assert_int_equal(fputs(CONFIG, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    static const char *paths[] = {LP_PLUGIN_DIR};
    for (int self_fails = -1; self_fails <= 1; self_fails++) {
        cartpole_lp cp;
        lp_env env;
        cartpole_lp_init(&cp, &env);
        lp_train_options o;
        lp_train_options_init(&o);
        o.plugin_paths = paths;
        o.plugin_path_count = 1;
        o.use_env_path = 0;
        o.use_install_dir = 0;
        peer p;
        memset(&p, 0, sizeof p);
        if (self_fails < 0) {
            o.checkpoint_path = ckpt; /* one rank writes the checkpoint */
        } else {
            struct stat st;
            assert_int_equal(stat(ckpt, &st), 0);
            p.ckpt_size = (long)st.st_size;
            p.self_fails = self_fails;
            p.comm.struct_size = sizeof p.comm;
            p.comm.rank = self_fails ? 1 : 0;
            p.comm.size = 2;
            p.comm.name = "peer";
            p.comm.user = &p;
            p.comm.allreduce_f32 = peer_f32;
            p.comm.allreduce_f64 = peer_f64;
            p.comm.broadcast = peer_bcast;
            p.comm.gather = peer_gather;
            p.comm.barrier = peer_barrier;
            o.comm = &p.comm;
            o.resume_path = ckpt;
        }
        lp_train_outcome out;
        lp_error err;
        memset(&err, 0, sizeof err);
        int32_t rc = lp_train_run(config, &o, &env, &out, &err);
        fail_at = -1;
        cartpole_lp_free(&cp);
        if (self_fails < 0) {
            assert_int_equal(rc, LP_OK);
            continue;
        }
        print_message("rank %d: %s\n", p.comm.rank, err.message);
        assert_int_equal(rc, LP_ENOMEM);
        assert_true(p.sized);
        assert_int_equal(p.votes, 1);
        assert_int_equal(p.late_bcasts, 0);
        if (self_fails) {
            assert_true(p.vote == 1.0);
            assert_non_null(strstr(err.message, "out of memory for the checkpoint"));
            assert_non_null(strstr(err.message, "on rank 1"));
        } else {
            assert_true(p.vote == 0.0);
            assert_non_null(strstr(err.message, "another rank ran out of memory"));
        }
    }
    unlink(config);
    unlink(ckpt);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/oom-XXXXXX", LP_OOM_TMP);
    if (mkdtemp(dir) == NULL)
        return 1;
    char cache[600], cache_file[700];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(cache_file, sizeof cache_file, "%s/lossplug/scan-v2.cache", cache);
    if (setenv("XDG_CACHE_HOME", cache, 1) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_session_open),
        cmocka_unit_test(test_checkpoint_save_load),
        cmocka_unit_test(test_train_open),
        cmocka_unit_test(test_rank_resume_oom),
    };
    int rc = cmocka_run_group_tests_name("oom", tests, NULL, NULL);
    unlink(cache_file);
    snprintf(cache_file, sizeof cache_file, "%s/lossplug", cache);
    rmdir(cache_file);
    rmdir(cache);
    rmdir(dir);
    return rc;
}
