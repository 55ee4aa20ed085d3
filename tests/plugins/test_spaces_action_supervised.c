/* action_supervised on the multi-discrete and box action spaces (ABI 1.1):
 * loss, stats and gradient against a float64 reference of
 * docs/losses/action_supervised.md's formulas (tests/support/lpt_spaceref.h
 * for log pi and H), random cases, 1e-5 relative; the plugin's own loss
 * passes central differences; the field list follows the space; bad teacher
 * actions are refused before anything is written. The discrete path has its
 * own tests (test_action_supervised.c). */
#include <lpt_assert.h>
#include <lpt_spaceref.h>

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
        lpt_sp_random(sp, &r, c->zd + i * sp->width, c->ad + i * sp->dims);
        for (int64_t j = 0; j < sp->width; j++) {
            c->z[i * sp->width + j] = (float)c->zd[i * sp->width + j];
            c->zd[i * sp->width + j] = c->z[i * sp->width + j];
            c->mask[i * sp->width + j] = 1;
        }
        for (int32_t k = 0; k < sp->dims; k++) {
            c->ai[i * sp->dims + k] = (int32_t)c->ad[i * sp->dims + k];
            c->af[i * sp->dims + k] = (float)c->ad[i * sp->dims + k];
            if (sp->space == LP_ACTION_BOX)
                c->ad[i * sp->dims + k] = c->af[i * sp->dims + k];
        }
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
        const double want = ref_loss(c->zd, 0, c);
        if (!(fabs(res.loss - want) <= 1e-5 * fmax(1.0, fabs(want))))
            fail_msg("loss %.9g, reference %.9g (rep %d)", res.loss, want, rep);
        double H = 0.0;
        for (int i = 0; i < M; i++)
            H += lpt_sp_entropy(sp, c->zd + i * sp->width, mask_of(c, i));
        double ent_stat = 0.0;
        assert_int_equal(lpt_stat(c->in, "entropy", &ent_stat, NULL), 1);
        if (!(fabs(ent_stat - H / M) <= 1e-5 * fmax(1.0, fabs(H / M))))
            fail_msg("entropy %.9g, reference %.9g (rep %d)", ent_stat, H / M, rep);
        /* accuracy (multi-discrete): every component's argmax is the target */
        double acc = -1.0;
        const int has_acc = lpt_stat(c->in, "accuracy", &acc, NULL);
        if (sp->space == LP_ACTION_MULTI_DISCRETE) {
            int correct = 0;
            for (int i = 0; i < M; i++) {
                int all = 1;
                int64_t o = 0;
                for (int32_t k = 0; k < sp->dims; o += sp->nvec[k], k++) {
                    int64_t best = -1;
                    for (int64_t j = 0; j < sp->nvec[k]; j++) {
                        const int64_t q = i * sp->width + o + j;
                        if (c->mask[q] && (best < 0 || c->zd[q] > c->zd[i * sp->width + o + best]))
                            best = j;
                    }
                    all &= best == c->ai[i * sp->dims + k];
                }
                correct += all;
            }
            assert_int_equal(has_acc, 1);
            assert_true(fabs(acc - (double)correct / M) < 1e-12);
        } else {
            assert_int_equal(has_acc, 0);
        }
        /* gradient against central differences of the f64 reference */
        const size_t n = (size_t)(M * sp->width);
        double num[M * W_MAX], ga[M * W_MAX], gmax = 0.0;
        lpt_fd_grad(ref_loss, c, c->zd, n, 1e-6, num);
        for (size_t j = 0; j < n; j++) {
            /* masked logits: the reference ignores them, the gradient is 0 */
            if (c->mask[j] == 0) {
                assert_true(c->g[j] == 0.0f);
                num[j] = 0.0;
            }
            ga[j] = c->g[j], gmax = fmax(gmax, fabs(num[j]));
        }
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
        const lp_field_spec *specs = NULL;
        uint32_t count = 0;
        assert_int_equal(lpt_fields(c->in, &specs, &count), LP_OK);
        int saw_mask = 0, saw_act = 0;
        for (uint32_t i = 0; i < count; i++) {
            if (strcmp(specs[i].name, "teacher_actions") == 0) {
                saw_act = 1;
                assert_int_equal(specs[i].dtype, s == 0 ? LP_DTYPE_I32 : LP_DTYPE_F32);
                assert_int_equal(specs[i].rank, 1);
                assert_true(specs[i].shape[0] == LP_DIM_ACTION);
            }
            saw_mask |= strcmp(specs[i].name, "action_mask") == 0;
        }
        assert_int_equal(saw_act, 1);
        assert_int_equal(saw_mask, s == 0);
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
