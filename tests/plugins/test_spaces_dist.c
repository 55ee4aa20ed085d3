/* lossplug/dist.h on every action space: lp_md_*, lp_gauss_* and the
 * lp_policy_* layer (also on a categorical) against the float64 reference
 * of tests/support/lpt_spaceref.h, and their gradients against central
 * differences of that reference. Random cases; 1e-5 relative. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lossplug/plugin.h>
#include <lpt_spaceref.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define W_MAX 32

typedef struct fd_ctx {
    const lpt_sp *sp;
    const double *a;
    const double *zq; /* KL target */
    int what;         /* 0 log-prob, 1 entropy, 2 KL(q || p) */
} fd_ctx;

static double ref_fn(const double *x, size_t n, void *vctx) {
    (void)n;
    const fd_ctx *c = vctx;
    if (c->what == 0)
        return lpt_sp_logp(c->sp, x, NULL, c->a);
    if (c->what == 1)
        return lpt_sp_entropy(c->sp, x, NULL);
    return lpt_sp_kl(c->sp, c->zq, x, NULL);
}

static void near(double got, double want, double rtol, const char *what, int i) {
    const double tol = rtol * fmax(1.0, fabs(want));
    if (!(fabs(got - want) <= tol))
        fail_msg("%s (case %d): %.9g, reference %.9g", what, i, got, want);
}

static void check_space(const lpt_sp *sp, uint64_t seed) {
    lp_env_info env;
    memset(&env, 0, sizeof env);
    env.struct_size = sizeof env;
    int64_t nvec[LPT_SP_MAX];
    float low[LPT_SP_MAX], high[LPT_SP_MAX];
    lpt_sp_env(sp, &env, nvec, low, high);
    lp_policy pol;
    assert_int_equal(lp_policy_init(&pol, &env), 0);
    assert_int_equal(pol.width, sp->width);
    lpt_rng r = lpt_rng_seed(seed);
    for (int i = 0; i < 50; i++) {
        double zd[W_MAX], zqd[W_MAX], ad[LPT_SP_MAX], tmp[LPT_SP_MAX];
        lpt_sp_random(sp, &r, zd, ad);
        lpt_sp_random(sp, &r, zqd, tmp);
        float z[W_MAX], zq[W_MAX], p[W_MAX], q[W_MAX];
        lp_cat c[LPT_SP_MAX], cq[LPT_SP_MAX];
        int32_t ai[LPT_SP_MAX];
        float af[LPT_SP_MAX];
        for (int64_t j = 0; j < sp->width; j++) {
            z[j] = (float)zd[j], zd[j] = z[j];
            zq[j] = (float)zqd[j], zqd[j] = zq[j];
        }
        for (int32_t k = 0; k < sp->dims; k++) {
            ai[k] = (int32_t)ad[k];
            af[k] = (float)ad[k];
            ad[k] = sp->space == LP_ACTION_BOX ? (double)af[k] : ad[k];
        }
        const void *act = sp->space == LP_ACTION_BOX ? (const void *)af : (const void *)ai;
        assert_int_equal(lp_policy_setup(&pol, z, NULL, p, c), 0);
        assert_int_equal(lp_policy_setup(&pol, zq, NULL, q, cq), 0);
        assert_int_equal(lp_policy_action_bad(&pol, act), -1);
        const float lp = lp_policy_log_prob(&pol, z, NULL, c, act);
        const float H = lp_policy_entropy(&pol, z, p, c);
        const float kl = lp_policy_kl(&pol, zq, q, cq, z, c);
        near(lp, lpt_sp_logp(sp, zd, NULL, ad), 1e-5, "log_prob", i);
        near(H, lpt_sp_entropy(sp, zd, NULL), 1e-5, "entropy", i);
        near(kl, lpt_sp_kl(sp, zqd, zd, NULL), 1e-5, "kl", i);
        for (int what = 0; what < 3; what++) {
            float g[W_MAX] = {0};
            if (what == 0)
                lp_policy_grad_log_prob(&pol, z, p, act, 1.0f, g);
            else if (what == 1)
                lp_policy_grad_entropy(&pol, z, p, c, H, 1.0f, g);
            else
                lp_policy_grad_kl(&pol, zq, q, z, p, 1.0f, g);
            fd_ctx fc = {sp, ad, zqd, what};
            double num[W_MAX], ga[W_MAX];
            lpt_fd_grad(ref_fn, &fc, zd, (size_t)sp->width, 1e-6, num);
            double gmax = 0.0;
            for (int64_t j = 0; j < sp->width; j++)
                ga[j] = g[j], gmax = fmax(gmax, fabs(num[j]));
            size_t worst = 0;
            double maxabs = 0.0;
            /* 1e-5 relative to the row's largest component (f32 sums) */
            if (lpt_grad_compare(ga, num, (size_t)sp->width, 1e-5 * fmax(gmax, 1e-3), 1e-5, &worst,
                                 &maxabs) != 0)
                fail_msg("gradient %d (case %d) element %zu: %.9g, reference %.9g", what, i, worst,
                         ga[worst], num[worst]);
        }
    }
}

static void test_categorical_layer(void **state) {
    (void)state;
    lpt_sp sp = lpt_sp_discrete(6);
    check_space(&sp, 11);
}

static void test_multi_discrete(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 12);
}

static void test_gaussian(void **state) {
    (void)state;
    lpt_sp sp = lpt_sp_box(3);
    check_space(&sp, 13);
}

/* Masks per component; a component with every action masked is an empty
 * row; a masked taken action has log-probability -inf and 0 gradient where
 * masked. */
static void test_md_masks(void **state) {
    (void)state;
    const int64_t nvec[2] = {3, 2};
    const float z[5] = {0.5f, -1.0f, 2.0f, 0.25f, -0.5f};
    uint8_t mask[5] = {1, 0, 1, 1, 1};
    float p[5], g[5] = {0};
    lp_cat c[2];
    assert_int_equal(lp_md_softmax(z, mask, nvec, 2, p, c), 0);
    assert_true(p[1] == 0.0f);
    const double zd[5] = {0.5, -1.0, 2.0, 0.25, -0.5};
    lpt_sp sp = lpt_sp_md(2, nvec);
    const double a[2] = {2, 1};
    const int32_t ai[2] = {2, 1};
    near(lp_md_log_prob(z, mask, nvec, 2, ai, c), lpt_sp_logp(&sp, zd, mask, a), 1e-6, "masked", 0);
    near(lp_md_entropy(z, p, nvec, 2, c), lpt_sp_entropy(&sp, zd, mask), 1e-6, "masked H", 0);
    lp_md_grad_entropy(z, p, nvec, 2, c, 1.0f, g);
    lp_md_grad_log_prob(p, nvec, 2, ai, 1.0f, g);
    assert_true(g[1] == 0.0f);
    const int32_t masked[2] = {1, 0};
    assert_true(lp_md_log_prob(z, mask, nvec, 2, masked, c) == -INFINITY);
    mask[3] = mask[4] = 0;
    assert_int_equal(lp_md_softmax(z, mask, nvec, 2, p, c), 1);
}

/* A box's KL of a distribution with itself is 0; far log-stds stay finite. */
static void test_gauss_edges(void **state) {
    (void)state;
    const float u[4] = {0.5f, -1.0f, -30.0f, 20.0f};
    assert_true(lp_gauss_kl(u, u, 2) == 0.0f);
    const float a[2] = {0.5f, 1e6f};
    const float lp = lp_gauss_log_prob(u, 2, a);
    assert_true(isfinite(lp));
    float g[4] = {0};
    lp_gauss_grad_log_prob(u, 2, a, 1.0f, g);
    for (int j = 0; j < 4; j++)
        assert_true(isfinite(g[j]));
    lp_policy pol;
    lp_env_info e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.action_space = LP_ACTION_BOX;
    e.action_dims = 2;
    e.policy_width = 3; /* inconsistent: refused */
    assert_int_equal(lp_policy_init(&pol, &e), -1);
    const float bad[2] = {NAN, 0.0f};
    e.policy_width = 4;
    assert_int_equal(lp_policy_init(&pol, &e), 0);
    assert_int_equal(lp_policy_action_bad(&pol, bad), 0);
    /* A 1.0 env (no action_space): discrete with num_actions. */
    e.struct_size = (uint32_t)offsetof(lp_env_info, action_space);
    e.num_actions = 3;
    assert_int_equal(lp_policy_init(&pol, &e), 0);
    assert_int_equal(pol.space, LP_ACTION_DISCRETE);
    assert_int_equal(pol.width, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_categorical_layer), cmocka_unit_test(test_multi_discrete),
        cmocka_unit_test(test_gaussian),          cmocka_unit_test(test_md_masks),
        cmocka_unit_test(test_gauss_edges),
    };
    return cmocka_run_group_tests_name("spaces_dist", tests, NULL, NULL);
}
