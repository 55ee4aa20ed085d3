/* kickstarter on the multi-discrete and box action spaces (ABI 1.1): loss,
 * stats and gradients (logits and values) against a float64 reference of
 * docs/losses/kickstarter.md's formulas (tests/support/lpt_spaceref.h for
 * the KLs), random cases, 1e-5 relative; the plugin's own loss passes
 * central differences; the field list follows the space; bad teacher
 * inputs are refused before anything is written. The discrete path has its
 * own tests (test_kickstarter.c). */
#include <lpt_assert.h>
#include <lpt_spcase.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

LPT_PLUGIN_GROUP("kickstarter")

#define R     3
#define T     4
#define M     (R * T)
#define W_MAX 16

typedef struct sp_case {
    lpt_sp sp;
    int64_t nvec[LPT_SP_MAX];
    float low[LPT_SP_MAX], high[LPT_SP_MAX];
    float z[M * W_MAX], g[M * W_MAX], tl[M * W_MAX];
    float v[M], gv[M], tv[M];
    double zd[M * W_MAX], tld[M * W_MAX], vd[M];
    uint8_t mask[M * W_MAX];
    double temp, ac, vc;
    int masked;
    lpt_inst *in;
} sp_case;

static sp_case g_c;

/* masked (multi-discrete only): an action_mask field with one disallowed
 * action per component in every other sample. */
static void case_make(sp_case *c, const lpt_sp *sp, uint64_t seed, double temp, int masked) {
    memset(c, 0, sizeof *c);
    c->sp = *sp;
    c->temp = temp;
    c->ac = 0.6;
    c->vc = 0.8;
    c->masked = masked;
    lpt_rng r = lpt_rng_seed(seed);
    for (int i = 0; i < M; i++) {
        lpt_sp_draw(sp, &r, c->z + i * sp->width, c->zd + i * sp->width, NULL, NULL, NULL);
        lpt_sp_draw(sp, &r, c->tl + i * sp->width, c->tld + i * sp->width, NULL, NULL, NULL);
        memset(c->mask + i * sp->width, 1, (size_t)sp->width);
        if (masked && i % 2 == 0) {
            int64_t o = 0;
            for (int32_t k = 0; k < sp->dims; o += sp->nvec[k], k++)
                c->mask[i * sp->width + o + lpt_rng_int(&r, 0, sp->nvec[k] - 1)] = 0;
        }
        c->v[i] = (float)lpt_rng_normal(&r);
        c->vd[i] = c->v[i];
        c->tv[i] = (float)lpt_rng_normal(&r);
    }
    c->in = lpt_inst_new(g_desc, "ks");
    assert_non_null(c->in);
    lpt_set_dims(c->in, R, T);
    lpt_sp_env(sp, lpt_env(c->in), c->nvec, c->low, c->high);
    assert_int_equal(lpt_set_f(c->in, "temperature", c->temp), 0);
    assert_int_equal(lpt_set_f(c->in, "action_coef", c->ac), 0);
    assert_int_equal(lpt_set_f(c->in, "value_coef", c->vc), 0);
    lpt_add_field(c->in, "teacher_logits", LPT_VIEW(c->tl, LP_DTYPE_F32, R, T, sp->width));
    lpt_add_field(c->in, "teacher_values", LPT_VIEW(c->tv, LP_DTYPE_F32, R, T));
    if (masked)
        lpt_add_field(c->in, "action_mask", LPT_VIEW(c->mask, LP_DTYPE_U8, R, T, sp->width));
    lpt_add_output(c->in, "logits", LPT_VIEW(c->z, LP_DTYPE_F32, R, T, sp->width),
                   LPT_VIEW(c->g, LP_DTYPE_F32, R, T, sp->width));
    lpt_add_output(c->in, "values", LPT_VIEW(c->v, LP_DTYPE_F32, R, T),
                   LPT_VIEW(c->gv, LP_DTYPE_F32, R, T));
    assert_int_equal(lpt_create(c->in), LP_OK);
    assert_int_equal(lpt_attach(c->in), LP_OK);
}

static const uint8_t *mask_of(const sp_case *c, int i) {
    return c->masked ? c->mask + i * c->sp.width : NULL;
}

/* The mean action term: multi-discrete T^2 mean_i sum_k KL(q_ik || p_ik)
 * over the logits divided by T; a box mean_i KL(N_teacher || N_student). */
static double ref_action(const sp_case *c, const double *x) {
    const lpt_sp *sp = &c->sp;
    const int box = sp->space == LP_ACTION_BOX;
    const double Te = box ? 1.0 : c->temp;
    double s = 0.0, zq[W_MAX], zp[W_MAX];
    for (int i = 0; i < M; i++) {
        for (int64_t j = 0; j < sp->width; j++)
            zq[j] = c->tld[i * sp->width + j] / Te, zp[j] = x[i * sp->width + j] / Te;
        s += lpt_sp_kl(sp, zq, zp, mask_of(c, i));
    }
    return Te * Te * s / M;
}

static double ref_value(const sp_case *c, const double *v) {
    double s = 0.0;
    for (int i = 0; i < M; i++)
        s += (v[i] - c->tv[i]) * (v[i] - c->tv[i]);
    return s / M;
}

/* The loss as a function of the logits (values held) or of the values. */
static double ref_loss_z(const double *x, size_t n, void *vctx) {
    (void)n;
    const sp_case *c = vctx;
    return c->ac * ref_action(c, x) + c->vc * ref_value(c, c->vd);
}

static double ref_loss_v(const double *x, size_t n, void *vctx) {
    (void)n;
    const sp_case *c = vctx;
    return c->ac * ref_action(c, c->zd) + c->vc * ref_value(c, x);
}

static void check_space(const lpt_sp *sp, uint64_t seed, double temp, int masked) {
    for (int rep = 0; rep < 4; rep++) {
        sp_case *c = &g_c;
        case_make(c, sp, seed + (uint64_t)rep, temp, masked);
        lp_train_result res;
        assert_int_equal(lpt_train(c->in, 1.0f, &res), LP_OK);
        lpt_sp_expect_near("loss", res.loss, ref_loss_z(c->zd, 0, c), rep);
        double st = 0.0;
        assert_int_equal(lpt_stat(c->in, "action_loss", &st, NULL), 1);
        lpt_sp_expect_near("action_loss", st, ref_action(c, c->zd), rep);
        assert_int_equal(lpt_stat(c->in, "value_loss", &st, NULL), 1);
        lpt_sp_expect_near("value_loss", st, ref_value(c, c->vd), rep);
        /* gradients against central differences of the f64 reference
         * (masked logits: ignored by the reference, gradient exactly 0) */
        const size_t n = (size_t)(M * sp->width);
        lpt_sp_expect_grad("logits", ref_loss_z, c, c->zd, c->g, n, 1.0, c->masked ? c->mask : NULL,
                           rep);
        lpt_sp_expect_grad("values", ref_loss_v, c, c->vd, c->gv, M, 1.0, NULL, rep);
        /* the plugin's own loss, differentiated numerically (f32: h 1e-2) */
        memset(c->gv, 0, sizeof c->gv);
        lpt_sp_expect_own_grad(c->in, "logits", c->z, c->g, n, rep);
        memset(c->g, 0, sizeof c->g);
        lpt_sp_expect_own_grad(c->in, "values", c->v, c->gv, M, rep);
        assert_int_equal(lpt_violations(c->in), 0);
        lpt_inst_free(c->in);
    }
}

static void test_multi_discrete(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 500, 2.0, 0);
    check_space(&sp, 520, 0.5, 0);
}

static void test_multi_discrete_masked(void **state) {
    (void)state;
    const int64_t nvec[3] = {4, 3, 2};
    lpt_sp sp = lpt_sp_md(3, nvec);
    check_space(&sp, 550, 1.5, 1);
}

/* A box: the temperature does not apply (two temperatures, same loss). */
static void test_box(void **state) {
    (void)state;
    lpt_sp sp = lpt_sp_box(3);
    check_space(&sp, 600, 2.0, 0);
    check_space(&sp, 600, 0.5, 0);
}

/* The field list follows the space: teacher_logits f32 [POLICY], no mask
 * on a box. */
static void test_fields(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    const lpt_sp *sps[2] = {&md, &box};
    for (int s = 0; s < 2; s++) {
        sp_case *c = &g_c;
        case_make(c, sps[s], 7, 2.0, 0);
        lpt_sp_expect_fields(c->in, NULL, sps[s], 1);
        const lp_field_spec *specs = NULL;
        uint32_t count = 0;
        assert_int_equal(lpt_fields(c->in, &specs, &count), LP_OK);
        int saw_tl = 0;
        for (uint32_t i = 0; i < count; i++)
            if (strcmp(specs[i].name, "teacher_logits") == 0) {
                saw_tl = 1;
                assert_int_equal(specs[i].dtype, LP_DTYPE_F32);
                assert_int_equal(specs[i].rank, 1);
                assert_true(specs[i].shape[0] == LP_DIM_POLICY);
            }
        assert_int_equal(saw_tl, 1);
        lpt_inst_free(c->in);
    }
}

static void assert_no_grad(const sp_case *c) {
    for (int j = 0; j < M * W_MAX; j++)
        assert_true(c->g[j] == 0.0f);
    for (int j = 0; j < M; j++)
        assert_true(c->gv[j] == 0.0f);
}

/* Non-finite teacher inputs, a student that masks what the teacher takes,
 * an all-masked component: refused, nothing written (the bad sample is the
 * last one, so every other sample was computed first). */
static void test_bad_inputs(void **state) {
    (void)state;
    const int64_t nvec[2] = {4, 3};
    lpt_sp md = lpt_sp_md(2, nvec), box = lpt_sp_box(2);
    sp_case *c = &g_c;
    const int last = M - 1;

    case_make(c, &md, 9, 2.0, 0);
    c->tl[last * 7 + 5] = NAN;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "kickstarter 'ks': field 'teacher_logits' is nan");
    assert_contains(lpt_last_error(c->in), "row 2, step 3");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &md, 9, 2.0, 0);
    c->z[last * 7 + 1] = -INFINITY;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), "KL(teacher || student) is +inf");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &md, 9, 2.0, 1);
    memset(c->mask + last * 7 + 4, 0, 3);
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(c->in), "every action of a component of the teacher is masked");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &md, 9, 2.0, 0);
    c->tv[last] = INFINITY;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "field 'teacher_values' is inf");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &box, 9, 2.0, 0);
    c->tl[last * 4 + 3] = -INFINITY; /* a log-std */
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "field 'teacher_logits'");
    assert_no_grad(c);
    lpt_inst_free(c->in);

    case_make(c, &box, 9, 2.0, 0);
    c->z[last * 4] = NAN;
    assert_int_equal(lpt_train(c->in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(c->in), "output 'logits'");
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
        lpt_inst *in = lpt_inst_new(g_desc, "ks");
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
        assert_contains(lpt_last_error(in), "kickstarter: the environment's action space");
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
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests_name("spaces_kickstarter", tests, group_setup, group_teardown);
}
