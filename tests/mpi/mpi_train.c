/* Data-parallel lp_train_run under mpirun, on CartPole (tests/mpi/mpi.sh
 * runs it; docs/distributed.md):
 *
 *   mpi_train replicas CONFIG PLUGINS EPOCHS
 *       after every epoch's update each rank hashes its parameters (FNV-1a
 *       over the bytes) and the ranks compare hashes (MIN against MAX of
 *       each half): they must be equal, and the parameters must change
 *       from epoch to epoch. Prints "replicas: N epochs identical".
 *   mpi_train fail-step RANK EPOCH CONFIG PLUGINS
 *       rank RANK's environment fails in epoch EPOCH: the job must end with
 *       that rank's message (cartpole-train's handling: print, then
 *       lp_comm_mpi_abort).
 *   mpi_train nan-reward RANK EPOCH CONFIG PLUGINS
 *       rank RANK's environment gives a NaN reward: the job must end with
 *       an error naming the rank, never a hang.
 */
#include "cartpole_lp.h"

#include <lossplug/comm.h>
#include <lossplug/comm_mpi.h>
#include <lossplug/host.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_env {
    lp_env inner;
    const lp_comm *comm;
    int fail_rank;
    int64_t fail_step; /* step calls on that rank before the fault */
    int nan;           /* 1: a NaN reward; 0: a failing step */
    int64_t steps;
} test_env;

static test_env g_env; /* one per process: the callbacks' user is the wrapper */

static int32_t wrap_open(lp_env *env, const lp_env_setup *setup, lp_error *err) {
    test_env *w = env->user;
    lp_env inner = w->inner;
    int32_t rc = inner.open(&inner, setup, err);
    /* the shapes the inner open set, onto the trainer's copy */
    env->obs_rank = inner.obs_rank;
    memcpy(env->obs_shape, inner.obs_shape, sizeof env->obs_shape);
    env->num_actions = inner.num_actions;
    env->num_envs = inner.num_envs;
    w->inner = inner;
    return rc;
}

static int32_t wrap_reset(void *user, float *obs, lp_error *err) {
    test_env *w = user;
    return w->inner.reset(w->inner.user, obs, err);
}

static int32_t wrap_step(void *user, const int32_t *actions, const lp_env_step_out *out,
                         lp_error *err) {
    test_env *w = user;
    int32_t rc = w->inner.step(w->inner.user, actions, out, err);
    if (rc != LP_OK || w->comm->rank != w->fail_rank || ++w->steps != w->fail_step)
        return rc;
    if (w->nan) {
        out->rewards[0] = NAN;
        return LP_OK;
    }
    snprintf(err->message, sizeof err->message,
             "test environment: injected failure at step %lld on rank %d", (long long)w->steps,
             (int)w->comm->rank);
    return LP_EPLUGIN;
}

static uint64_t fnv1a(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

typedef struct replica_check {
    const lp_comm *comm;
    uint64_t last;
    int64_t epochs, same_as_last;
    int failed;
} replica_check;

static int on_progress(void *user, const lp_train_progress *p) {
    replica_check *rc = user;
    if (p->event != LP_TRAIN_EVENT_EPOCH)
        return 0;
    uint64_t h = fnv1a(p->params, p->param_count * sizeof(float));
    /* halves of 32 bits are exact in a double; [h, -h] as MAX gives max and -min */
    double v[4] = {(double)(h >> 32), (double)(h & 0xffffffffu), -(double)(h >> 32),
                   -(double)(h & 0xffffffffu)};
    lp_error err;
    if (rc->comm->allreduce_f64(rc->comm->user, v, 4, LP_COMM_MAX, &err) != LP_OK) {
        fprintf(stderr, "mpi_train: %s\n", err.message);
        rc->failed = 1;
        return 1;
    }
    if (v[0] != -v[2] || v[1] != -v[3]) {
        fprintf(stderr, "mpi_train: rank %d: parameters differ across ranks after epoch %lld\n",
                (int)rc->comm->rank, (long long)p->epoch);
        rc->failed = 1;
        return 1;
    }
    if (h == rc->last)
        rc->same_as_last++;
    rc->last = h;
    rc->epochs++;
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: mpi_train replicas CONFIG PLUGINS EPOCHS\n"
                    "       mpi_train fail-step|nan-reward RANK STEP CONFIG PLUGINS\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage();
    const int replicas = strcmp(argv[1], "replicas") == 0;
    if ((replicas && argc != 5) || (!replicas && argc != 6))
        return usage();
    const char *config = replicas ? argv[2] : argv[4];
    const char *plugins = replicas ? argv[3] : argv[5];

    lp_comm comm;
    lp_error err;
    memset(&err, 0, sizeof err);
    if (lp_comm_mpi_open(&comm, &err) != LP_OK) {
        fprintf(stderr, "mpi_train: %s\n", err.message);
        return 1;
    }
    cartpole_lp cp;
    test_env *w = &g_env;
    cartpole_lp_init(&cp, &w->inner);
    w->comm = &comm;
    w->fail_rank = -1;
    if (!replicas) {
        w->fail_rank = atoi(argv[2]);
        w->fail_step = atoll(argv[3]);
        w->nan = strcmp(argv[1], "nan-reward") == 0;
    }
    lp_env env;
    lp_env_init(&env);
    env.user = w;
    env.open = wrap_open;
    env.reset = wrap_reset;
    env.step = wrap_step;

    replica_check check;
    memset(&check, 0, sizeof check);
    check.comm = &comm;
    lp_train_options opt;
    lp_train_options_init(&opt);
    opt.plugin_paths = &plugins;
    opt.plugin_path_count = 1;
    opt.comm = &comm;
    opt.seed_set = 1;
    opt.seed = 7;
    opt.target_set = 1;
    opt.target_return = NAN;
    if (replicas) {
        opt.max_steps = atoll(argv[4]) * 512; /* one rank's budget */
        opt.progress = on_progress;
        opt.progress_user = &check;
    } else {
        opt.max_steps = 1 << 20;
    }
    lp_train_outcome out;
    int32_t rc = lp_train_run(config, &opt, &env, &out, &err);
    cartpole_lp_free(&cp);
    if (rc != LP_OK) {
        fprintf(stderr, "mpi_train: rank %d of %d: error: %s\n", (int)comm.rank, (int)comm.size,
                err.message);
        fflush(stderr);
        lp_comm_mpi_abort(&comm, 1);
    }
    int ok = !check.failed;
    if (replicas) {
        ok = ok && check.epochs == atoll(argv[4]) && check.same_as_last == 0;
        if (comm.rank == 0)
            printf("replicas: %d ranks, %lld epochs, parameters identical on every rank after "
                   "each, changed by each: %s\n",
                   (int)comm.size, (long long)check.epochs, ok ? "yes" : "NO");
    }
    lp_comm_mpi_close(&comm);
    return ok ? 0 : 1;
}
