/* a2c on the multi-discrete and box action spaces (ABI 1.1): loss, stats
 * and gradient against a float64 reference of docs/losses/a2c.md's formulas
 * (tests/support/lpt_spaceref.h for log pi and H), random cases, 1e-5
 * relative; the plugin's own loss passes central differences; the field
 * list follows the space; bad actions are refused before anything is
 * written. The discrete path has its own tests (test_a2c.c). */
#include <lpt_assert.h>
#include <lpt_spaceref.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

LPT_PLUGIN_GROUP("a2c")

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
        lpt_sp_random(sp, &r, c->zd + i * sp->width, c->ad + i * sp->dims);
        for (int64_t j = 0; j < sp->width; j++) {
            c->z[i * sp->width + j] = (float)c->zd[i * sp->width + j];
            c->zd[i * sp->width + j] = c->z[i * sp->width + j];
        }
        for (int32_t k = 0; k < sp->dims; k++) {
            c->ai[i * sp->dims + k] = (int32_t)c->ad[i * sp->dims + k];
            c->af[i * sp->dims + k] = (float)c->ad[i * sp->dims + k];
            if (sp->space == LP_ACTION_BOX)
                c->ad[i * sp->dims + k] = c->af[i * sp->dims + k];
        }
        c->adv[i] = (float)lpt_rng_normal(&r);
        /* ratios spread around 1 so that some samples are clipped */
        c->oldp[i] = (float)(lpt_sp_logp(sp, c->zd + i * sp->width, NULL, c->ad + i * sp->dims) +
                             lpt_rng_uniform(&r, -0.35, 0.35));
    }
    c->in = lpt_inst_new(g_desc, "actor");
    assert_non_null(c->in);
    lpt_set_dims(c->in, R, T);
    lpt_sp_env(sp, lpt_env(c->in), c->nvec, c->low, c->high);
    assert_int_equal(lpt_set_f(c->in, "ent_coef", c->ent), 0);
    assert_int_equal(lpt_set_b(c->in, "norm_adv", 1), 0);
    lpt_add_field(c->in, "advantages", LPT_VIEW(c->adv, LP_DTYPE_F32, R, T));
    if (sp->space == LP_ACTION_BOX)
        lpt_add_field(c->in, "actions", LPT_VIEW(c->af, LP_DTYPE_F32, R, T, sp->dims));
    else
        lpt_add_field(c->in, "actions", LPT_VIEW(c->ai, LP_DTYPE_I32, R, T, sp->dims));
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
        pg -= an * lpt_sp_logp(sp, zi, NULL, c->ad + i * sp->dims);
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
        const double want = ref_loss(c->zd, 0, c);
        if (!(fabs(res.loss - want) <= 1e-5 * fmax(1.0, fabs(want))))
            fail_msg("loss %.9g, reference %.9g (rep %d)", res.loss, want, rep);
        double H = 0.0;
        for (int i = 0; i < M; i++)
            H += lpt_sp_entropy(sp, c->zd + i * sp->width, NULL);
        double ent_stat = 0.0;
        assert_int_equal(lpt_stat(c->in, "entropy", &ent_stat, NULL), 1);
        assert_true(fabs(ent_stat - H / M) <= 1e-5 * fmax(1.0, fabs(H / M)));
        /* gradient against central differences of the f64 reference */
        const size_t n = (size_t)(M * sp->width);
        double num[M * W_MAX], ga[M * W_MAX], gmax = 0.0;
        lpt_fd_grad(ref_loss, c, c->zd, n, 1e-6, num);
        for (size_t j = 0; j < n; j++)
            ga[j] = c->g[j], gmax = fmax(gmax, fabs(num[j]));
        size_t worst = 0;
        double maxabs = 0.0;
        if (lpt_grad_compare(ga, num, n, 1e-5 * gmax, 1e-5, &worst, &maxabs) != 0)
            fail_msg("gradient element %zu: %.9g, reference %.9g (rep %d)", worst, ga[worst],
                     num[worst], rep);
        /* the plugin's own loss, differentiated numerically (f32: h 1e-2) */
        memset(c->g, 0, sizeof c->g);
        lpt_own_grad og;
        if (lpt_check_own_gradient(c->in, c->z, c->g, n, 1e-2, 2e-3, 2e-2, &og) != 0)
            fail_msg("own gradient element %zu: %.6g vs %.6g (rc %d, rep %d)", og.worst,
                     og.analytic, og.numeric, (int)og.rc, rep);
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
        const lp_field_spec *specs = NULL;
        uint32_t count = 0;
        assert_int_equal(lpt_fields(c->in, &specs, &count), LP_OK);
        int saw_mask = 0;
        for (uint32_t i = 0; i < count; i++) {
            if (strcmp(specs[i].name, "actions") == 0) {
                assert_int_equal(specs[i].dtype, s == 0 ? LP_DTYPE_I32 : LP_DTYPE_F32);
                assert_int_equal(specs[i].rank, 1);
                assert_true(specs[i].shape[0] == LP_DIM_ACTION);
            }
            saw_mask |= strcmp(specs[i].name, "action_mask") == 0;
        }
        assert_int_equal(saw_mask, s == 0);
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
    assert_contains(lpt_last_error(c->in), "a2c 'actor': action component 1 is 3 at sample 5");
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_discrete),
        cmocka_unit_test(test_box),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bad_actions),
    };
    return cmocka_run_group_tests_name("spaces_a2c", tests, group_setup, group_teardown);
}
