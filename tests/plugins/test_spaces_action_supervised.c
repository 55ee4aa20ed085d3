/* action_supervised on the multi-discrete and box action spaces (ABI 1.1):
 * loss, stats and gradient against a float64 reference of
 * docs/losses/action_supervised.md's formulas (tests/support/lpt_spaceref.h
 * for log pi and H), random cases, 1e-5 relative; the plugin's own loss
 * passes central differences; the field list follows the space; bad teacher
 * actions are refused before anything is written. The discrete path has its
 * own tests (test_action_supervised.c). */
#include <lpt_assert.h>
#include <lpt_spcase.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

LPT_PLUGIN_GROUP("action_supervised")

#define R     3
#define T     4
#define M     (R * T)
#define W_MAX 16

typedef struct sp_case {
    lpt_sp sp;
    int64_t nvec[LPT_SP_MAX];
    float low[LPT_SP_MAX], high[LPT_SP_MAX];
    float z[M * W_MAX], g[M * W_MAX];
    double zd[M * W_MAX], ad[M * LPT_SP_MAX];
    int32_t ai[M * LPT_SP_MAX];
    float af[M * LPT_SP_MAX];
    uint8_t mask[M * W_MAX];
    double coef;
    int masked;
    lpt_inst *in;
} sp_case;

static sp_case g_c;

/* masked (multi-discrete only): an action_mask field with one disallowed
 * action per component in some rows, never the teacher's. */
static void case_make(sp_case *c, const lpt_sp *sp, uint64_t seed, int masked) {
    memset(c, 0, sizeof *c);
    c->sp = *sp;
    c->coef = 0.7;
    c->masked = masked;
    lpt_rng r = lpt_rng_seed(seed);
    for (int i = 0; i < M; i++) {
        lpt_sp_draw(sp, &r, c->z + i * sp->width, c->zd + i * sp->width, c->ai + i * sp->dims,
                    c->af + i * sp->dims, c->ad + i * sp->dims);
        memset(c->mask + i * sp->width, 1, (size_t)sp->width);
        if (masked && i % 2 == 0) {
            int64_t o = 0;
            for (int32_t k = 0; k < sp->dims; o += sp->nvec[k], k++)
                c->mask[i * sp->width + o + (c->ai[i * sp->dims + k] + 1) % sp->nvec[k]] = 0;
        }
    }
    c->in = lpt_inst_new(g_desc, "bc");
    assert_non_null(c->in);
    lpt_set_dims(c->in, R, T);
    lpt_sp_env(sp, lpt_env(c->in), c->nvec, c->low, c->high);
    assert_int_equal(lpt_set_f(c->in, "coef", c->coef), 0);
    if (sp->space == LP_ACTION_BOX)
        lpt_add_field(c->in, "teacher_actions", LPT_VIEW(c->af, LP_DTYPE_F32, R, T, sp->dims));
    else
        lpt_add_field(c->in, "teacher_actions", LPT_VIEW(c->ai, LP_DTYPE_I32, R, T, sp->dims));
    if (masked)
        lpt_add_field(c->in, "action_mask", LPT_VIEW(c->mask, LP_DTYPE_U8, R, T, sp->width));
    lpt_add_output(c->in, "logits", LPT_VIEW(c->z, LP_DTYPE_F32, R, T, sp->width),
                   LPT_VIEW(c->g, LP_DTYPE_F32, R, T, sp->width));
    assert_int_equal(lpt_create(c->in), LP_OK);
    assert_int_equal(lpt_attach(c->in), LP_OK);
}

static const uint8_t *mask_of(const sp_case *c, int i) {
    return c->masked ? c->mask + i * c->sp.width : NULL;
}

/* L = -coef * mean_i log pi(a*_i), as a function of the outputs, in f64. */
static double ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const sp_case *c = vctx;
    const lpt_sp *sp = &c->sp;
    double s = 0.0;
    for (int i = 0; i < M; i++)
        s -= lpt_sp_logp(sp, x + i * sp->width, mask_of(c, i), c->ad + i * sp->dims);
    return c->coef * s / M;
}

static void check_space(const lpt_sp *sp, uint64_t seed, int masked) {
    for (int rep = 0; rep < 4; rep++) {
        sp_case *c = &g_c;
        case_make(c, sp, seed + (uint64_t)rep, masked);
        lp_train_result res;
        assert_int_equal(lpt_train(c->in, 1.0f, &res), LP_OK);
        lpt_sp_expect_near("loss", res.loss, ref_loss(c->zd, 0, c), rep);
        lpt_sp_expect_entropy(c->in, "entropy", sp, c->zd, c->masked ? c->mask : NULL, M, rep);
        /* accuracy (multi-discrete): every component's argmax is the target */
        double acc = -1.0;
        const int has_acc = lpt_stat(c->in, "accuracy", &acc, NULL);
        if (sp->space == LP_ACTION_MULTI_DISCRETE) {
            const int correct = lpt_sp_exact_matches(sp, c->zd, c->mask, c->ai, M);
            assert_int_equal(has_acc, 1);
            assert_true(fabs(acc - (double)correct / M) < 1e-12);
        } else {
            assert_int_equal(has_acc, 0);
        }
        /* gradient against central differences of the f64 reference
         * (masked logits: ignored by the reference, gradient exactly 0) */
        const size_t n = (size_t)(M * sp->width);
        lpt_sp_expect_grad("logits", ref_loss, c, c->zd, c->g, n, 1.0, c->mask, rep);
        lpt_sp_expect_own_grad(c->in, "logits", c->z, c->g, n, rep);
        assert_int_equal(lpt_violations(c->in), 0);
        lpt_inst_free(c->in);
    }
}

static void test_multi_discrete(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 300, 0);
}

static void test_multi_discrete_masked(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 350, 1);
}

static void test_box(void **state) {
    (void)state;
    lpt_sp sp = lpt_sp_box(3);
    check_space(&sp, 400, 0);
}

/* The field list follows the space: teacher_actions i32/f32 [ACTION], no
 * mask on a box. */
static void test_fields(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    const lpt_sp *sps[2] = {&md, &box};
    for (int s = 0; s < 2; s++) {
        sp_case *c = &g_c;
        case_make(c, sps[s], 7, 0);
        lpt_sp_expect_fields(c->in, "teacher_actions", sps[s], 1);
        lpt_inst_free(c->in);
    }
}

static void assert_no_grad(const sp_case *c) {
    for (int j = 0; j < M * W_MAX; j++)
        assert_true(c->g[j] == 0.0f);
}

/* Out-of-range, masked and non-finite teacher actions: refused, nothing
 * written. */
static void test_bad_actions(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec);
    sp_case *c = &g_c;
    case_make(c, &md, 9, 0);
    c->ai[5 * 2 + 1] = 3;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in),
                    "action_supervised 'bc': teacher action component 1 is 3 at sample 5");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &md, 9, 0);
    c->ai[7 * 2 + 0] = -1;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), "teacher action component 0 is -1 at sample 7");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    /* masked by the action_mask field, in the last sample */
    case_make(c, &md, 9, 1);
    c->mask[(M - 1) * 7 + 4 + c->ai[(M - 1) * 2 + 1]] = 0;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), "teacher action component 1");
    assert_contains(lpt_last_error(c->in), "is masked");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    lpt_sp box = lpt_sp_box(2);
    case_make(c, &box, 9, 0);
    c->af[3] = NAN;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "field 'teacher_actions' is nan");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &box, 9, 0);
    c->af[M * 2 - 1] = INFINITY;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "field 'teacher_actions' is inf");
    assert_no_grad(c);
    lpt_inst_free(c->in);
}

/* An environment whose space is not usable (multi-discrete without its
 * nvec array, a box whose policy_width is not 2 * dims): create refuses. */
static void test_bad_space(void **state) {
    (void)state;
    const int64_t nv[2] = {3, 2};
    const lpt_sp sps[2] = {lpt_sp_md(2, nv), lpt_sp_box(2)};
    for (int s = 0; s < 2; s++) {
        lpt_inst *in = lpt_inst_new(g_desc, "bc");
        assert_non_null(in);
        int64_t nvec[LPT_SP_MAX];
        float lo[LPT_SP_MAX], hi[LPT_SP_MAX];
        lp_env_info *e = lpt_env(in);
        lpt_sp_env(&sps[s], e, nvec, lo, hi);
        if (s == 0)
            e->action_nvec = NULL;
        else
            e->policy_width = 3;
        assert_int_equal(lpt_create(in), LP_EINVAL);
        assert_contains(lpt_last_error(in), "action_supervised: the environment's action space");
        assert_contains(lpt_last_error(in), "is not usable; declare program.action");
        lpt_inst_free(in);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_discrete),
        cmocka_unit_test(test_multi_discrete_masked),
        cmocka_unit_test(test_box),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bad_space),
        cmocka_unit_test(test_bad_actions),
    };
    return cmocka_run_group_tests_name("spaces_action_supervised", tests, group_setup,
                                       group_teardown);
}
