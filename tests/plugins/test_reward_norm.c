/*
 * Unit tests of plugins/reward_norm, through its built .so and the mock host
 * of tests/support (lpt.h). The reference is an independent float64
 * restatement of gym's NormalizeReward: per step and row, G = gamma G + r;
 * the running moments take the G of every row one sample at a time
 * (Welford, from the prior count 1e-4, mean 0, var 1); r' = clip(r /
 * sqrt(var + eps)); G = 0 after a done.
 */
#include <lpt_assert.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("reward_norm")

enum { R = 5 };

typedef struct rig {
    float rew[R];
    uint8_t done[R];
    lpt_inst *in;
} rig;

static void rig_open(rig *g, double gamma, double clip) {
    memset(g, 0, sizeof *g);
    g->in = lpt_inst_new(g_desc, "rn");
    assert_non_null(g->in);
    lpt_env(g->in)->segments = R;
    lpt_env(g->in)->horizon = 16;
    assert_int_equal(lpt_set_f(g->in, "gamma", gamma), 0);
    assert_int_equal(lpt_set_f(g->in, "clip", clip), 0);
    assert_true(lpt_add_field(g->in, "rewards", LPT_VIEW(g->rew, LP_DTYPE_F32, R)) >= 0);
    assert_true(lpt_add_field(g->in, "dones", LPT_VIEW(g->done, LP_DTYPE_U8, R)) >= 0);
    lpt_set_dims(g->in, R, 1);
    assert_create_attach(g->in);
}

static void rig_close(rig *g) {
    assert_contract_kept(g->in);
    lpt_inst_free(g->in);
}

typedef struct ref {
    double gamma, eps, clip;
    double G[R];
    double n, mean, m2;
} ref;

static void ref_init(ref *f, double gamma, double eps, double clip) {
    memset(f, 0, sizeof *f);
    f->gamma = gamma, f->eps = eps, f->clip = clip;
    f->n = 1e-4, f->mean = 0.0, f->m2 = 1e-4; /* var 1 at count 1e-4 */
}

/* One step: out[r] is the scaled reward. */
static void ref_step(ref *f, const float *rew, const uint8_t *done, double *out) {
    for (int r = 0; r < R; r++) {
        f->G[r] = f->gamma * f->G[r] + (double)rew[r];
        const double n1 = f->n + 1.0, d = f->G[r] - f->mean;
        f->mean += d / n1;
        f->m2 += d * (f->G[r] - f->mean);
        f->n = n1;
    }
    const double var = f->m2 / f->n;
    for (int r = 0; r < R; r++) {
        double v = (double)rew[r] / sqrt(var + f->eps);
        out[r] = v > f->clip ? f->clip : v < -f->clip ? -f->clip : v;
        if (done[r])
            f->G[r] = 0.0;
    }
}

static void random_step(lpt_rng *rng, rig *g, double scale) {
    for (int r = 0; r < R; r++) {
        g->rew[r] = (float)(scale * (lpt_rng_normal(rng) + 0.5));
        g->done[r] = lpt_rng_uniform(rng, 0.0, 1.0) < 0.05;
    }
}

static void check_against_reference(double gamma, double clip, double scale, uint64_t seed) {
    rig g;
    rig_open(&g, gamma, clip);
    ref f;
    ref_init(&f, gamma, 1e-8, clip);
    lpt_rng rng = lpt_rng_seed(seed);
    int clipped = 0;
    for (int t = 0; t < 600; t++) {
        random_step(&rng, &g, scale);
        float raw[R];
        uint8_t done[R];
        memcpy(raw, g.rew, sizeof raw);
        memcpy(done, g.done, sizeof done);
        lpt_ctx(g.in)->step = t % 16;
        assert_int_equal(lpt_rollout_step(g.in), LP_OK);
        double want[R];
        ref_step(&f, raw, done, want);
        for (int r = 0; r < R; r++) {
            assert_near(g.rew[r], want[r], 1e-5 * fabs(want[r]) + 1e-6);
            clipped += fabs(want[r]) == clip;
        }
        /* dones are only read */
        assert_memory_equal(done, g.done, sizeof done);
    }
    if (clip < 1.0)
        assert_true(clipped > 0); /* the clipped branch ran */
    lpt_stat_reset(g.in);
    assert_int_equal(lpt_train_start(g.in), LP_OK);
    double scale_stat = 0.0, std_stat = 0.0;
    assert_int_equal(lpt_stat(g.in, "scale", &scale_stat, NULL), 1);
    assert_int_equal(lpt_stat(g.in, "return_std", &std_stat, NULL), 1);
    assert_near(scale_stat, 1.0 / sqrt(f.m2 / f.n + 1e-8), 1e-9 * scale_stat);
    assert_near(std_stat, sqrt(f.m2 / f.n), 1e-9 * std_stat);
    rig_close(&g);
}

static void test_reference_default(void **state) {
    (void)state;
    check_against_reference(0.99, 10.0, 1.0, 1);
}

static void test_reference_gamma_scale(void **state) {
    (void)state;
    check_against_reference(0.9, 10.0, 30.0, 2); /* large rewards, Pendulum-like gamma */
    check_against_reference(0.0, 10.0, 0.01, 3); /* gamma 0: the reward's own spread */
}

static void test_reference_clipped(void **state) {
    (void)state;
    check_against_reference(0.99, 0.3, 1.0, 4);
}

/* Save after 250 steps, load into a fresh instance (the host copies the
 * registered state), and both go on bit for bit. */
static void test_resume_bit_for_bit(void **state) {
    (void)state;
    rig a, b;
    rig_open(&a, 0.99, 10.0);
    lpt_rng rng = lpt_rng_seed(7);
    for (int t = 0; t < 250; t++) {
        random_step(&rng, &a, 2.0);
        assert_int_equal(lpt_rollout_step(a.in), LP_OK);
    }
    assert_int_equal(lpt_state_count(a.in), 2);
    rig_open(&b, 0.99, 10.0);
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "moments" : "returns";
        const lp_tensor *sa = lpt_state(a.in, name), *sb = lpt_state(b.in, name);
        assert_non_null(sa);
        assert_non_null(sb);
        assert_int_equal(sa->dtype, LP_DTYPE_F64);
        assert_int_equal(sa->shape[0], k ? 3 : R);
        assert_int_equal(sb->shape[0], sa->shape[0]);
        memcpy(sb->data, sa->data, (size_t)sa->shape[0] * sizeof(double));
    }
    /* a fresh instance without the state gives other numbers */
    rig c;
    rig_open(&c, 0.99, 10.0);
    int differs = 0;
    for (int t = 0; t < 100; t++) {
        random_step(&rng, &a, 2.0);
        memcpy(b.rew, a.rew, sizeof a.rew);
        memcpy(b.done, a.done, sizeof a.done);
        memcpy(c.rew, a.rew, sizeof a.rew);
        memcpy(c.done, a.done, sizeof a.done);
        assert_int_equal(lpt_rollout_step(a.in), LP_OK);
        assert_int_equal(lpt_rollout_step(b.in), LP_OK);
        assert_int_equal(lpt_rollout_step(c.in), LP_OK);
        assert_memory_equal(a.rew, b.rew, sizeof a.rew);
        differs += memcmp(a.rew, c.rew, sizeof a.rew) != 0;
    }
    assert_true(differs > 0);
    rig_close(&a);
    rig_close(&b);
    rig_close(&c);
}

/* A non-finite reward is refused before anything changes. */
static void test_nonfinite_refused(void **state) {
    (void)state;
    rig g;
    rig_open(&g, 0.99, 10.0);
    g.rew[0] = 1.0f, g.rew[1] = 2.0f;
    assert_int_equal(lpt_rollout_step(g.in), LP_OK);
    double moments[3];
    memcpy(moments, lpt_state(g.in, "moments")->data, sizeof moments);
    g.rew[0] = 1.0f, g.rew[2] = NAN;
    assert_int_equal(lpt_rollout_step(g.in), LP_ENUMERIC);
    assert_contains(lpt_last_error(g.in), "not finite");
    assert_float_equal(g.rew[0], 1.0f, 0.0f);
    assert_memory_equal(moments, lpt_state(g.in, "moments")->data, sizeof moments);
    lpt_inst_free(g.in);
}

static void test_descriptor(void **state) {
    (void)state;
    assert_int_equal(g_desc->field_count, 2);
    assert_int_equal(g_desc->fields[0].access, LP_FIELD_UPDATE);
    assert_int_equal(g_desc->fields[0].phase, LP_PHASE_ROLLOUT);
    assert_int_equal(g_desc->fields[1].access, LP_FIELD_READ);
    /* epsilon and clip exclude 0 */
    assert_true(g_desc->params[1].flags & LP_PARAM_MIN_EXCLUSIVE);
    assert_true(g_desc->params[2].flags & LP_PARAM_MIN_EXCLUSIVE);
    assert_false(g_desc->params[2].flags & LP_PARAM_HAS_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_reference_default),
        cmocka_unit_test(test_reference_gamma_scale),
        cmocka_unit_test(test_reference_clipped),
        cmocka_unit_test(test_resume_bit_for_bit),
        cmocka_unit_test(test_nonfinite_refused),
    };
    return cmocka_run_group_tests_name("reward_norm", tests, group_setup, group_teardown);
}
