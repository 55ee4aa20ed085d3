/* The policy-gradient losses, ppo (built with LPT_PG_PPO = 1: test
 * spaces_ppo) and a2c (LPT_PG_PPO = 0: spaces_a2c), on the multi-discrete
 * and box action spaces (ABI 1.1): loss, stats and gradient against a
 * float64 reference of docs/losses/ppo.md's and a2c.md's formulas
 * (tests/support/lpt_spaceref.h for log pi and H), random cases, 1e-5
 * relative; the plugin's own loss passes central differences; the field
 * list follows the space; bad actions are refused before anything is
 * written. The discrete paths have their own tests (test_ppo.c,
 * test_a2c.c). */
#include <lpt_assert.h>
#include <lpt_spcase.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef LPT_PG_PPO
#error "build with LPT_PG_PPO 1 (ppo) or 0 (a2c)"
#endif
#if LPT_PG_PPO
LPT_PLUGIN_GROUP("ppo")
#define PG_NAME "ppo"
#else
LPT_PLUGIN_GROUP("a2c")
#define PG_NAME "a2c"
#endif

#define R     3
#define T     4
#define M     (R * T)
#define W_MAX 16

typedef struct sp_case {
    lpt_sp sp;
    lp_env_info *env;
    int64_t nvec[LPT_SP_MAX];
    float low[LPT_SP_MAX], high[LPT_SP_MAX];
    float z[M * W_MAX], g[M * W_MAX];
    double zd[M * W_MAX], ad[M * LPT_SP_MAX];
    int32_t ai[M * LPT_SP_MAX];
    float af[M * LPT_SP_MAX];
    float adv[M], oldp[M], ratio[M];
    double eps, ent;
    lpt_inst *in;
} sp_case;

static sp_case g_c;

static void case_make(sp_case *c, const lpt_sp *sp, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->sp = *sp;
    c->eps = 0.2;
    c->ent = 0.05;
    lpt_rng r = lpt_rng_seed(seed);
    for (int i = 0; i < M; i++) {
        lpt_sp_draw(sp, &r, c->z + i * sp->width, c->zd + i * sp->width, c->ai + i * sp->dims,
                    c->af + i * sp->dims, c->ad + i * sp->dims);
        c->adv[i] = (float)lpt_rng_normal(&r);
        /* ratios spread around 1 so that some samples are clipped */
        c->oldp[i] = (float)(lpt_sp_logp(sp, c->zd + i * sp->width, NULL, c->ad + i * sp->dims) +
                             lpt_rng_uniform(&r, -0.35, 0.35));
    }
    c->in = lpt_inst_new(g_desc, "actor");
    assert_non_null(c->in);
    lpt_set_dims(c->in, R, T);
    lpt_sp_env(sp, lpt_env(c->in), c->nvec, c->low, c->high);
#if LPT_PG_PPO
    assert_int_equal(lpt_set_f(c->in, "clip_coef", c->eps), 0);
#endif
    assert_int_equal(lpt_set_f(c->in, "ent_coef", c->ent), 0);
    assert_int_equal(lpt_set_b(c->in, "norm_adv", 1), 0);
    lpt_add_field(c->in, "advantages", LPT_VIEW(c->adv, LP_DTYPE_F32, R, T));
    if (sp->space == LP_ACTION_BOX)
        lpt_add_field(c->in, "actions", LPT_VIEW(c->af, LP_DTYPE_F32, R, T, sp->dims));
    else
        lpt_add_field(c->in, "actions", LPT_VIEW(c->ai, LP_DTYPE_I32, R, T, sp->dims));
#if LPT_PG_PPO
    lpt_add_field(c->in, "logprobs", LPT_VIEW(c->oldp, LP_DTYPE_F32, R, T));
    lpt_add_field(c->in, "ratios", LPT_VIEW(c->ratio, LP_DTYPE_F32, R, T));
#endif
    lpt_add_output(c->in, "logits", LPT_VIEW(c->z, LP_DTYPE_F32, R, T, sp->width),
                   LPT_VIEW(c->g, LP_DTYPE_F32, R, T, sp->width));
    assert_int_equal(lpt_create(c->in), LP_OK);
    assert_int_equal(lpt_attach(c->in), LP_OK);
}

/* The loss as a function of the outputs x[M * width], in f64. */
static double ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const sp_case *c = vctx;
    const lpt_sp *sp = &c->sp;
    double mean = 0.0, ss = 0.0;
    for (int i = 0; i < M; i++)
        mean += c->adv[i];
    mean /= M;
    for (int i = 0; i < M; i++)
        ss += (c->adv[i] - mean) * (c->adv[i] - mean);
    const double sd = sqrt(ss / (M - 1));
    double pg = 0.0, H = 0.0;
    for (int i = 0; i < M; i++) {
        const double *zi = x + i * sp->width;
        const double an = (c->adv[i] - mean) / (sd + 1e-8);
#if LPT_PG_PPO
        const double rt = exp(lpt_sp_logp(sp, zi, NULL, c->ad + i * sp->dims) - c->oldp[i]);
        const double rc = fmin(fmax(rt, 1.0 - c->eps), 1.0 + c->eps);
        pg += fmax(-an * rt, -an * rc);
#else
        pg -= an * lpt_sp_logp(sp, zi, NULL, c->ad + i * sp->dims);
#endif
        H += lpt_sp_entropy(sp, zi, NULL);
    }
    return pg / M - c->ent * H / M;
}

static void check_space(const lpt_sp *sp, uint64_t seed) {
    for (int rep = 0; rep < 4; rep++) {
        sp_case *c = &g_c;
        case_make(c, sp, seed + (uint64_t)rep);
        lp_train_result res;
        assert_int_equal(lpt_train(c->in, 1.0f, &res), LP_OK);
        lpt_sp_expect_near("loss", res.loss, ref_loss(c->zd, 0, c), rep);
        lpt_sp_expect_entropy(c->in, "entropy", sp, c->zd, NULL, M, rep);
#if LPT_PG_PPO
        for (int i = 0; i < M; i++) {
            const double rt = exp(
                lpt_sp_logp(sp, c->zd + i * sp->width, NULL, c->ad + i * sp->dims) - c->oldp[i]);
            assert_true(fabs(c->ratio[i] - rt) <= 1e-5 * rt);
        }
#endif
        /* gradient against central differences of the f64 reference */
        const size_t n = (size_t)(M * sp->width);
        lpt_sp_expect_grad("logits", ref_loss, c, c->zd, c->g, n, 1.0, NULL, rep);
        /* the plugin's own loss, differentiated numerically (f32: h 1e-2),
         * without the clip's kinks (a step of 1e-2 can cross one) */
#if LPT_PG_PPO
        assert_int_equal(lpt_set_f(c->in, "clip_coef", 10.0), 0);
#endif
        lpt_sp_expect_own_grad(c->in, "logits", c->z, c->g, n, rep);
        assert_int_equal(lpt_violations(c->in), 0);
        lpt_inst_free(c->in);
    }
}

static void test_multi_discrete(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 100);
}

static void test_box(void **state) {
    (void)state;
    lpt_sp sp = lpt_sp_box(2);
    check_space(&sp, 200);
}

/* The field list follows the space: actions i32/f32 [ACTION], no mask on
 * a box. */
static void test_fields(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    const lpt_sp *sps[2] = {&md, &box};
    for (int s = 0; s < 2; s++) {
        sp_case *c = &g_c;
        case_make(c, sps[s], 7);
        lpt_sp_expect_fields(c->in, "actions", sps[s], 1);
        lpt_inst_free(c->in);
    }
}

/* Out-of-range and non-finite actions: refused, nothing written. */
static void test_bad_actions(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec);
    sp_case *c = &g_c;
    case_make(c, &md, 9);
    c->ai[5 * 2 + 1] = 3;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), PG_NAME " 'actor': action component 1 is 3 at sample 5");
    for (int j = 0; j < M * 7; j++)
        assert_true(c->g[j] == 0.0f);
    lpt_inst_free(c->in);
    lpt_sp box = lpt_sp_box(2);
    case_make(c, &box, 9);
    c->af[3] = NAN;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "field 'actions' is nan");
    for (int j = 0; j < M * 4; j++)
        assert_true(c->g[j] == 0.0f);
    lpt_inst_free(c->in);
}

/* The taken action of the last sample has a component with a -inf logit
 * (masked): the call fails and no gradient is written, for any sample (the
 * first pass checks every sample's action against its logits). */
static void test_masked_last_sample(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec);
    sp_case *c = &g_c;
    case_make(c, &md, 11);
    const int i = M - 1;
    c->z[i * 7 + 4 + c->ai[i * 2 + 1]] = -INFINITY;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), "component 1");
    assert_contains(lpt_last_error(c->in), "row 2, step 3");
    for (int j = 0; j < M * 7; j++)
        assert_true(c->g[j] == 0.0f);
    for (int i = 0; i < M; i++)
        assert_true(c->ratio[i] == 0.0f); /* nor the ratios (ppo) */
    lpt_inst_free(c->in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_discrete),
        cmocka_unit_test(test_box),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bad_actions),
        cmocka_unit_test(test_masked_last_sample),
    };
    return cmocka_run_group_tests_name("spaces_" PG_NAME, tests, group_setup, group_teardown);
}
