/* Pendulum-v1 (examples/pendulum) and the trainer on box and multi-discrete
 * actions (examples/gridpick): the dynamics against Gymnasium's formulas
 * written out here in double; what the environment receives (box actions
 * clipped to [-2, 2], some of them at the bounds; multi-discrete actions in
 * range), deterministic per seed; env.normalize_obs's statistics against a
 * pooled mean and variance of every observation the environment returned;
 * and a resumed run continuing bit for bit. */
#include "../support/lpt_ckpt_patch.h"
#include "gridpick_lp.h"
#include "pendulum_lp.h"

#include <lossplug/host.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const double PI = 3.14159265358979323846;

static const char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", LP_PD_TMP, name);
    return buf[k];
}

static const char *const plugin_dirs[] = {LP_PD_PLUGINS};

static void options(lp_train_options *o) {
    lp_train_options_init(o);
    o->plugin_paths = plugin_dirs;
    o->plugin_path_count = 1;
    o->use_env_path = 0;
    o->use_install_dir = 0;
}

/* ---- dynamics --------------------------------------------------------------------- */

/* Gymnasium's Pendulum-v1 step, as pendulum.py writes it. */
static double gym_step(double *th, double *thdot, double u) {
    u = fmin(fmax(u, -2.0), 2.0);
    double an = fmod(*th + PI, 2.0 * PI);
    if (an < 0)
        an += 2.0 * PI;
    an -= PI;
    double costs = an * an + 0.1 * *thdot * *thdot + 0.001 * u * u;
    double nthdot = *thdot + (3.0 * 10.0 / (2.0 * 1.0) * sin(*th) + 3.0 / (1.0 * 1.0) * u) * 0.05;
    nthdot = fmin(fmax(nthdot, -8.0), 8.0);
    *th = *th + nthdot * 0.05;
    *thdot = nthdot;
    return -costs;
}

static void dynamics_match_gymnasium(void **state) {
    (void)state;
    /* By hand: at rest at the top, full torque: theta_dot 0.3, theta 0.015,
     * reward -0.001 * 4. */
    pd_state s = {0};
    assert_true(fabs(pd_dynamics(&s, 2.0) - -0.004) < 1e-15);
    assert_true(fabs(s.theta_dot - 0.3) < 1e-15 && fabs(s.theta - 0.015) < 1e-15);
    /* the torque is clipped: 5 acts as 2 */
    pd_state a = {0}, b = {0};
    assert_true(pd_dynamics(&a, 5.0) == pd_dynamics(&b, 2.0));
    /* the angle in the cost is normalised: 2 pi + 0.1 costs as 0.1 */
    pd_state c = {2.0 * PI + 0.1, 0.0, 0, 0, 0, 0};
    assert_true(fabs(pd_dynamics(&c, 0.0) - -0.01) < 1e-12);
    assert_true(fabs(pd_angle_normalize(-PI - 0.5) - (PI - 0.5)) < 1e-12);
    /* the speed is clipped at 8 */
    pd_state d = {PI / 2, 7.9, 0, 0, 0, 0};
    pd_dynamics(&d, 2.0);
    assert_true(d.theta_dot == 8.0);
    /* random states against the formulas above */
    uint64_t r = 12345;
    for (int i = 0; i < 1000; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        double th = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 20.0;
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        double thd = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 16.0;
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = ((double)(r >> 11) * 0x1.0p-53 - 0.5) * 6.0;
        pd_state e = {th, thd, 0, 0, 0, 0};
        double got = pd_dynamics(&e, u);
        double want = gym_step(&th, &thd, u);
        assert_true(fabs(got - want) <= 1e-12 * (1.0 + fabs(want)));
        assert_true(e.theta == th && e.theta_dot == thd);
    }
}

/* ---- the trainer on a box action -------------------------------------------------- */

/* Pendulum behind a recorder: every observation it returns (reset and each
 * step) and every action it is given. */
typedef struct recorder {
    pendulum_lp p;
    lp_env inner;
    int64_t n;
    double *obs; /* [cap, 3] */
    size_t nobs, cap;
    double amin, amax;
    int64_t at_bound, actions;
    uint64_t action_hash;
} recorder;

static void record_obs(recorder *r, const float *obs, int64_t rows) {
    for (int64_t i = 0; i < rows && r->nobs < r->cap; i++, r->nobs++)
        for (int d = 0; d < 3; d++)
            r->obs[r->nobs * 3 + (size_t)d] = obs[i * 3 + d];
}

static int32_t rec_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    recorder *r = env->user;
    r->inner.user = &r->p;
    int32_t rc = r->inner.open(&r->inner, s, err);
    env->num_envs = r->inner.num_envs;
    r->n = r->inner.num_envs;
    return rc;
}

static int32_t rec_reset(void *user, float *obs, lp_error *err) {
    recorder *r = user;
    int32_t rc = r->inner.reset(&r->p, obs, err);
    record_obs(r, obs, r->n);
    return rc;
}

static int32_t rec_step(void *user, const float *actions, const lp_env_step_out *out,
                        lp_error *err) {
    recorder *r = user;
    for (int64_t i = 0; i < r->n; i++) {
        double a = actions[i];
        r->amin = fmin(r->amin, a);
        r->amax = fmax(r->amax, a);
        r->at_bound += fabs(a) == 2.0;
        r->actions++;
        uint32_t bits;
        memcpy(&bits, &actions[i], 4);
        r->action_hash = (r->action_hash ^ bits) * 0x100000001b3ULL;
    }
    int32_t rc = r->inner.step_box(&r->p, actions, out, err);
    record_obs(r, out->obs, r->n);
    return rc;
}

static size_t rec_snapshot_size(void *user) {
    recorder *r = user;
    return r->inner.snapshot_size(&r->p);
}
static int32_t rec_snapshot(void *user, void *buf, size_t size, lp_error *err) {
    recorder *r = user;
    return r->inner.snapshot(&r->p, buf, size, err);
}
static int32_t rec_restore(void *user, const void *buf, size_t size, lp_error *err) {
    recorder *r = user;
    return r->inner.restore(&r->p, buf, size, err);
}

static void recorder_init(recorder *r, lp_env *env, size_t cap) {
    memset(r, 0, sizeof *r);
    pendulum_lp_init(&r->p, &r->inner);
    *env = r->inner;
    env->user = r;
    env->open = rec_open;
    env->reset = rec_reset;
    env->step_box = rec_step;
    env->snapshot_size = rec_snapshot_size;
    env->snapshot = rec_snapshot;
    env->restore = rec_restore;
    r->cap = cap;
    r->obs = malloc(cap * 3 * sizeof *r->obs);
    assert_non_null(r->obs);
    r->amin = INFINITY;
    r->amax = -INFINITY;
    r->action_hash = 0xcbf29ce484222325ULL;
}

static void recorder_free(recorder *r) {
    pendulum_lp_free(&r->p);
    free(r->obs);
}

static void box_actions_clipped_and_obs_norm_statistics(void **state) {
    (void)state;
    const char *ckpt = tmp_path("pd_stats.ckpt");
    lp_train_options o;
    options(&o);
    o.max_steps = 4 * 256; /* 4 epochs of 8 envs x 32 steps */
    o.checkpoint_path = ckpt;
    lp_error err = {0};
    lp_train_outcome out;
    recorder r;
    lp_env env;
    recorder_init(&r, &env, 8 + 4 * 256);
    int32_t rc = lp_train_run(LP_PD_CONFIG, &o, &env, &out, &err);
    if (rc != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(out.epochs, 4);
    /* What the environment got: inside the box, some at its bounds (a
     * N(0, 1) sample leaves [-2, 2] about 5% of the time). */
    assert_int_equal(r.actions, 4 * 256);
    assert_true(r.amin >= -2.0 && r.amax <= 2.0);
    assert_true(r.at_bound > 0 && r.at_bound < r.actions / 4);
    /* trainer/obs_norm against the pooled statistics of the prior (mean 0,
     * variance 1, count 1e-4) and every observation returned. */
    assert_int_equal(r.nobs, 8 + 4 * 256);
    double stats[7];
    assert_int_equal(lpt_ckpt_read(ckpt, "trainer/obs_norm", stats, sizeof stats),
                     (long)sizeof stats);
    const double N = (double)r.nobs, c0 = 1e-4;
    for (int d = 0; d < 3; d++) {
        double sum = 0.0;
        for (size_t i = 0; i < r.nobs; i++)
            sum += r.obs[i * 3 + (size_t)d];
        const double mean = sum / (N + c0);
        double m2 = c0 * 1.0 + c0 * mean * mean;
        for (size_t i = 0; i < r.nobs; i++) {
            const double e = r.obs[i * 3 + (size_t)d] - mean;
            m2 += e * e;
        }
        const double var = m2 / (N + c0);
        assert_true(fabs(stats[d] - mean) <= 1e-9 * (1.0 + fabs(mean)));
        assert_true(fabs(stats[3 + d] - var) <= 1e-9 * var);
    }
    assert_true(fabs(stats[6] - (N + c0)) <= 1e-9 * N);
    /* The same seed draws the same actions. */
    uint64_t h = r.action_hash;
    recorder_free(&r);
    recorder_init(&r, &env, 8 + 4 * 256);
    o.checkpoint_path = NULL;
    assert_int_equal(lp_train_run(LP_PD_CONFIG, &o, &env, &out, &err), LP_OK);
    assert_true(r.action_hash == h);
    recorder_free(&r);
    recorder_init(&r, &env, 8 + 4 * 256);
    o.seed_set = 1;
    o.seed = 99;
    assert_int_equal(lp_train_run(LP_PD_CONFIG, &o, &env, &out, &err), LP_OK);
    assert_true(r.action_hash != h);
    recorder_free(&r);
}

static int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa != NULL && fb != NULL;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa != NULL)
        fclose(fa);
    if (fb != NULL)
        fclose(fb);
    return same;
}

static int32_t run_pendulum(const char *config, const lp_train_options *o, lp_train_outcome *out,
                            lp_error *err) {
    pendulum_lp p;
    lp_env env;
    pendulum_lp_init(&p, &env);
    p.seed_forced = o->seed_set;
    int32_t rc = lp_train_run(config, o, &env, out, err);
    pendulum_lp_free(&p);
    return rc;
}

/* Six epochs straight, and three + a resume for three more, with
 * reward_norm and env.normalize_obs: the same checkpoint bytes (the
 * observation statistics, reward_norm's running return statistics, the
 * model with its log-std, the sampler, the environments). */
static void resume_bit_for_bit(void **state) {
    (void)state;
    const char *straight = tmp_path("pd_straight.ckpt"), *half = tmp_path("pd_half.ckpt"),
               *resumed = tmp_path("pd_resumed.ckpt");
    lp_train_options o;
    options(&o);
    o.seed_set = 1;
    o.seed = 5;
    lp_error err = {0};
    lp_train_outcome out;
    o.max_steps = 6 * 256;
    o.checkpoint_path = straight;
    assert_int_equal(run_pendulum(LP_PD_CONFIG, &o, &out, &err), LP_OK);
    o.max_steps = 3 * 256;
    o.checkpoint_path = half;
    assert_int_equal(run_pendulum(LP_PD_CONFIG, &o, &out, &err), LP_OK);
    o.max_steps = 6 * 256;
    o.checkpoint_path = resumed;
    o.resume_path = half;
    o.resume_strict = 1;
    int32_t rc = run_pendulum(LP_PD_CONFIG, &o, &out, &err);
    if (rc != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(out.epochs, 6);
    assert_true(files_equal(straight, resumed));
    assert_false(files_equal(straight, half));
    double stats[7];
    assert_int_equal(lpt_ckpt_read(half, "trainer/obs_norm", stats, sizeof stats),
                     (long)sizeof stats);
    assert_true(stats[6] > 3 * 256); /* the statistics were saved, not reset */
    /* A checkpoint whose statistics are not a variance is refused. */
    double bad = -1.0;
    char name[64];
    assert_int_equal(lpt_ckpt_patch(half, tmp_path("pd_bad.ckpt"), "trainer/obs_norm",
                                    3 * sizeof(double), &bad, sizeof bad, name, sizeof name),
                     0);
    o.resume_path = tmp_path("pd_bad.ckpt");
    o.checkpoint_path = NULL;
    assert_int_equal(run_pendulum(LP_PD_CONFIG, &o, &out, &err), LP_ECORRUPT);
    assert_non_null(strstr(err.message, "trainer/obs_norm"));
}

/* env.normalize_obs is the trainer's, read strictly. */
static void normalize_obs_errors(void **state) {
    (void)state;
    const char *bad = tmp_path("pd_bad.yaml");
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("buffer: {segments: 2, horizon: 8}\n"
          "env: {num_envs: 2, normalize_obs: yes}\n"
          "losses:\n  - {name: gae, plugin: gae}\n  - {name: critic, plugin: value}\n",
          f);
    fclose(f);
    lp_train_options o;
    options(&o);
    lp_error err = {0};
    lp_train_outcome out;
    assert_int_equal(run_pendulum(bad, &o, &out, &err), LP_ECONFIG);
    assert_non_null(strstr(err.message, "pd_bad.yaml:2:"));
    assert_non_null(strstr(err.message, "env.normalize_obs must be true or false"));
}

/* ---- the trainer on a multi-discrete action ---------------------------------------- */

typedef struct grid_rec {
    gridpick_lp g;
    lp_env inner;
    int64_t n, bad, steps;
    int64_t seen[2][5];
} grid_rec;

static int32_t grec_open(lp_env *env, const lp_env_setup *s, lp_error *err) {
    grid_rec *r = env->user;
    r->inner.user = &r->g;
    int32_t rc = r->inner.open(&r->inner, s, err);
    env->num_envs = r->n = r->inner.num_envs;
    return rc;
}
static int32_t grec_reset(void *user, float *obs, lp_error *err) {
    grid_rec *r = user;
    return r->inner.reset(&r->g, obs, err);
}
static int32_t grec_step(void *user, const int32_t *a, const lp_env_step_out *out, lp_error *err) {
    grid_rec *r = user;
    for (int64_t i = 0; i < r->n; i++) {
        if (a[2 * i] < 0 || a[2 * i] > 4 || a[2 * i + 1] < 0 || a[2 * i + 1] > 1) {
            r->bad++;
            continue;
        }
        r->seen[0][a[2 * i]]++;
        r->seen[1][a[2 * i + 1]]++;
    }
    r->steps++;
    return r->inner.step(&r->g, a, out, err);
}

static void multi_discrete_actions(void **state) {
    (void)state;
    grid_rec r;
    memset(&r, 0, sizeof r);
    gridpick_lp_init(&r.g, &r.inner);
    lp_env env = r.inner;
    env.user = &r;
    env.open = grec_open;
    env.reset = grec_reset;
    env.step = grec_step;
    env.snapshot_size = NULL;
    env.snapshot = NULL;
    env.restore = NULL;
    lp_train_options o;
    options(&o);
    o.max_steps = 4 * 256;
    lp_error err = {0};
    lp_train_outcome out;
    int32_t rc = lp_train_run(LP_GRID_VALUE_CONFIG, &o, &env, &out, &err);
    if (rc != LP_OK)
        fail_msg("%s", err.message);
    assert_int_equal(r.bad, 0);
    assert_int_equal(r.steps, 4 * 32);
    /* An untrained policy is near uniform per component: every move and
     * both picks are drawn, about 1/5 and 1/2 of the time each. */
    for (int k = 0; k < 5; k++)
        assert_true(r.seen[0][k] > 1024 / 5 / 2 && r.seen[0][k] < 1024 / 5 * 2);
    for (int k = 0; k < 2; k++)
        assert_true(r.seen[1][k] > 1024 / 2 / 2 && r.seen[1][k] < 1024 / 2 * 2);
    gridpick_lp_free(&r.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dynamics_match_gymnasium),
        cmocka_unit_test(box_actions_clipped_and_obs_norm_statistics),
        cmocka_unit_test(resume_bit_for_bit),
        cmocka_unit_test(normalize_obs_errors),
        cmocka_unit_test(multi_discrete_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
