/* lp_comm and lp_train_run's data-parallel hooks in one process: the local
 * communicator, lp_comm_check, and a test double of rank 0 of 2 whose peer
 * is an exact copy of this process (means leave values as they are, sums
 * double them) and which can inject the peer's votes: a loss's stop
 * request, non-finite gradients, SIGINT. The real two-process runs are
 * tests/mpi. */
#include "cartpole_lp.h"

#include <lossplug/comm.h>
#include <lossplug/host.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define PPO LP_TRAIN_EXAMPLES "/ppo.yaml"

/* ---- the local communicator ---- */

static void test_local(void **state) {
    (void)state;
    lp_comm c;
    lp_comm_local_init(&c);
    lp_error err;
    assert_int_equal(lp_comm_check(&c, &err), LP_OK);
    assert_int_equal(c.rank, 0);
    assert_int_equal(c.size, 1);
    float f[3] = {1.5f, -2.0f, NAN};
    double d[2] = {3.25, -1.0};
    assert_int_equal(c.allreduce_f32(c.user, f, 3, LP_COMM_MEAN, &err), LP_OK);
    assert_int_equal(c.allreduce_f64(c.user, d, 2, LP_COMM_SUM, &err), LP_OK);
    assert_true(f[0] == 1.5f && f[1] == -2.0f && isnan(f[2]));
    assert_true(d[0] == 3.25 && d[1] == -1.0);
    char send[4] = "abc", recv[4] = "";
    assert_int_equal(c.gather(c.user, send, recv, 4, 0, &err), LP_OK);
    assert_string_equal(recv, "abc");
    assert_int_equal(c.broadcast(c.user, send, 4, 0, &err), LP_OK);
    assert_int_equal(c.barrier(c.user, &err), LP_OK);

    lp_comm bad = c;
    bad.rank = 2;
    assert_int_equal(lp_comm_check(&bad, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "rank 2 of size 1"));
    bad = c;
    bad.gather = NULL;
    assert_int_equal(lp_comm_check(&bad, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "a callback is NULL"));
    bad = c;
    bad.struct_size = 8;
    assert_int_equal(lp_comm_check(&bad, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "struct_size is 8"));
}

/* ---- rank 0 of 2, with a peer identical to it ---- */

typedef struct twin {
    lp_comm comm;
    int votes;        /* two-double MAX calls so far (minibatch and epoch votes) */
    int inject_at;    /* the vote call that gets the peer's value; -1: none */
    int inject_index; /* which of the two doubles */
    double inject_value;
    int broadcasts, gathers, f32_calls;
} twin;

static int32_t twin_f32(void *user, float *buf, size_t count, int32_t op, lp_error *err) {
    (void)err;
    twin *t = user;
    t->f32_calls++;
    if (op == LP_COMM_SUM)
        for (size_t i = 0; i < count; i++)
            buf[i] *= 2.0f;
    return LP_OK; /* mean, max, min of two equal values: the value */
}

static int32_t twin_f64(void *user, double *buf, size_t count, int32_t op, lp_error *err) {
    (void)err;
    twin *t = user;
    if (op == LP_COMM_SUM)
        for (size_t i = 0; i < count; i++)
            buf[i] *= 2.0;
    if (op == LP_COMM_MAX && count == 2) {
        if (t->votes == t->inject_at && buf[t->inject_index] < t->inject_value)
            buf[t->inject_index] = t->inject_value;
        t->votes++;
    }
    return LP_OK;
}

static int32_t twin_bcast(void *user, void *buf, size_t bytes, int32_t root, lp_error *err) {
    (void)buf, (void)bytes, (void)root, (void)err;
    ((twin *)user)->broadcasts++;
    return LP_OK;
}

static int32_t twin_gather(void *user, const void *send, void *recv, size_t bytes, int32_t root,
                           lp_error *err) {
    (void)root, (void)err;
    ((twin *)user)->gathers++;
    memcpy(recv, send, bytes);
    memcpy((char *)recv + bytes, send, bytes);
    return LP_OK;
}

static int32_t twin_barrier(void *user, lp_error *err) {
    (void)user, (void)err;
    return LP_OK;
}

static void twin_init(twin *t) {
    memset(t, 0, sizeof *t);
    t->comm.struct_size = sizeof t->comm;
    t->comm.rank = 0;
    t->comm.size = 2;
    t->comm.name = "twin";
    t->comm.user = t;
    t->comm.allreduce_f32 = twin_f32;
    t->comm.allreduce_f64 = twin_f64;
    t->comm.broadcast = twin_bcast;
    t->comm.gather = twin_gather;
    t->comm.barrier = twin_barrier;
    t->inject_at = -1;
}

typedef struct seen {
    int epochs;
    int stopped[8];
    int minibatches[8];
    const char *stopped_by[8];
    int64_t env_steps[8];
} seen;

static int on_progress(void *user, const lp_train_progress *p) {
    seen *s = user;
    if (p->event == LP_TRAIN_EVENT_EPOCH && s->epochs < 8) {
        s->stopped[s->epochs] = p->summary->stopped;
        s->minibatches[s->epochs] = p->summary->minibatches;
        s->stopped_by[s->epochs] = p->summary->stopped_by;
        s->env_steps[s->epochs] = p->env_steps;
        s->epochs++;
    }
    return 0;
}

static int32_t run_twin(twin *tw, seen *sn, int64_t max_steps, const char *ckpt,
                        lp_train_outcome *out, lp_error *err) {
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    const char *paths[] = {LP_TRAIN_PLUGINS};
    lp_train_options opt;
    lp_train_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.seed_set = 1;
    opt.seed = 2;
    opt.max_steps = max_steps;
    opt.target_set = 1;
    opt.target_return = NAN;
    opt.checkpoint_path = ckpt;
    opt.progress = on_progress;
    opt.progress_user = sn;
    opt.comm = &tw->comm;
    int32_t rc = lp_train_run(PPO, &opt, &env, out, err);
    cartpole_lp_free(&cp);
    return rc;
}

/* Every rollout step counts both ranks' environments; one gradient
 * all-reduce and one vote per minibatch, one epoch vote; the initial
 * parameters broadcast; a checkpoint gathers. */
static void test_twin_counts(void **state) {
    (void)state;
    twin tw;
    twin_init(&tw);
    seen sn;
    memset(&sn, 0, sizeof sn);
    lp_train_outcome out;
    lp_error err;
    /* max_steps is one rank's budget: 1024 per rank, 2048 for the job. */
    assert_int_equal(run_twin(&tw, &sn, 1024, LP_TRAIN_TMP "/twin.ckpt", &out, &err), LP_OK);
    assert_int_equal(out.epochs, 2); /* 2 x 4 envs x 128 steps x 2 ranks */
    assert_int_equal(out.env_steps, 2048);
    assert_int_equal(sn.env_steps[0], 1024);
    assert_int_equal(tw.f32_calls, 2 * 16);
    assert_int_equal(tw.votes, 2 * (16 + 1));
    assert_int_equal(tw.broadcasts, 1);
    assert_int_equal(tw.gathers, 1);
    assert_int_equal(sn.minibatches[0], 16);
    assert_int_equal(sn.stopped[0], 0);
}

/* The peer's loss asks to stop at minibatch 3 of epoch 0: this rank stops
 * after the same minibatch, stopped_by NULL (another rank's instance). */
static void test_twin_peer_stop(void **state) {
    (void)state;
    twin tw;
    twin_init(&tw);
    tw.inject_at = 2; /* the third minibatch's vote */
    tw.inject_index = 0;
    tw.inject_value = 1.0;
    seen sn;
    memset(&sn, 0, sizeof sn);
    lp_train_outcome out;
    lp_error err;
    assert_int_equal(run_twin(&tw, &sn, 2048, NULL, &out, &err), LP_OK);
    assert_int_equal(sn.minibatches[0], 3);
    assert_int_equal(sn.stopped[0], 1);
    assert_null(sn.stopped_by[0]);
    assert_int_equal(sn.minibatches[1], 16); /* the next phase runs whole */
    assert_int_equal(sn.stopped[1], 0);
}

/* The peer (rank 1) had non-finite gradients at minibatch 5: this rank
 * fails with a message naming it. */
static void test_twin_peer_nonfinite(void **state) {
    (void)state;
    twin tw;
    twin_init(&tw);
    tw.inject_at = 5;
    tw.inject_index = 1;
    tw.inject_value = 1.0; /* size - rank = 1: rank 1 */
    seen sn;
    memset(&sn, 0, sizeof sn);
    lp_train_outcome out;
    lp_error err;
    assert_int_equal(run_twin(&tw, &sn, 2048, NULL, &out, &err), LP_ENUMERIC);
    assert_non_null(strstr(err.message, "rank 1 of 2 computed non-finite gradients (epoch 0, "
                                        "update epoch 1, minibatch 1); no rank applied them"));
    assert_int_equal(sn.epochs, 0);
}

/* SIGINT seen by the peer at the first epoch's end: this rank stops there
 * too, as interrupted. */
static void test_twin_peer_sigint(void **state) {
    (void)state;
    twin tw;
    twin_init(&tw);
    tw.inject_at = 16; /* after 16 minibatch votes: the epoch vote */
    tw.inject_index = 0;
    tw.inject_value = 1.0;
    seen sn;
    memset(&sn, 0, sizeof sn);
    lp_train_outcome out;
    lp_error err;
    assert_int_equal(run_twin(&tw, &sn, 8192, NULL, &out, &err), LP_OK);
    assert_int_equal(out.stop_reason, LP_TRAIN_STOP_INTERRUPTED);
    assert_int_equal(out.epochs, 1);
}

/* A broken communicator is refused before anything runs. */
static void test_bad_comm(void **state) {
    (void)state;
    twin tw;
    twin_init(&tw);
    tw.comm.barrier = NULL;
    seen sn;
    memset(&sn, 0, sizeof sn);
    lp_train_outcome out;
    lp_error err;
    assert_int_equal(run_twin(&tw, &sn, 2048, NULL, &out, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "communicator 'twin': a callback is NULL"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local),
        cmocka_unit_test(test_twin_counts),
        cmocka_unit_test(test_twin_peer_stop),
        cmocka_unit_test(test_twin_peer_nonfinite),
        cmocka_unit_test(test_twin_peer_sigint),
        cmocka_unit_test(test_bad_comm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
