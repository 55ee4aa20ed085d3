/*
 * Unit tests of plugins/value, through its built .so and the mock host of
 * tests/support (lpt.h).
 *
 *   V_c = V_old + clip(V - V_old, -vclip, vclip)
 *   L = vf_coef * 0.5 * mean max((V - R)^2, (V_c - R)^2)   (clip_vloss)
 *   dL/dV = vf_coef (V - R) / M where the unclipped term is the max
 */
#include <lpt_assert.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("value")

typedef struct mb {
    int64_t R, T, M;
    float *ret, *old; /* fields [R, T] */
    float *v, *g;     /* output and its gradient [R, T] */
    lpt_inst *in;
    lpt_mb m; /* owns the instance and the arrays */
} mb;

static void mb_init(mb *b, int64_t R, int64_t T) {
    b->R = R, b->T = T, b->M = R * T;
    b->in = lpt_mb_init(&b->m, g_desc, "critic", R, T);
    b->ret = lpt_mb_field(&b->m, "returns", LP_DTYPE_F32, 0);
    b->old = lpt_mb_field(&b->m, "values", LP_DTYPE_F32, 0);
    b->v = lpt_mb_output(&b->m, "values", 0, &b->g);
}

static void mb_start(mb *b) {
    assert_create_attach(b->in);
}

static void mb_done(mb *b) {
    lpt_mb_done(&b->m);
}

/* ---- reference ------------------------------------------------------------------- */

typedef struct ref {
    int64_t M;
    const float *ret, *old;
    double coef, vclip;
    int clip;
} ref;

static double ref_loss(const double *v, size_t n, void *ctx) {
    const ref *r = ctx;
    (void)n;
    double s = 0.0;
    for (int64_t i = 0; i < r->M; i++) {
        const double lu = (v[i] - r->ret[i]) * (v[i] - r->ret[i]);
        const double vc = r->old[i] + fmin(fmax(v[i] - r->old[i], -r->vclip), r->vclip);
        const double lc = (vc - r->ret[i]) * (vc - r->ret[i]);
        s += r->clip ? fmax(lu, lc) : lu;
    }
    return r->coef * 0.5 * s / (double)r->M;
}

/* ---- the descriptor ---------------------------------------------------------------- */

static void test_descriptor(void **state) {
    (void)state;
    assert_string_equal(g_desc->id, "value");
    assert_int_equal(g_desc->param_count, 3);
    assert_string_equal(g_desc->params[0].name, "vf_coef");
    assert_near(g_desc->params[0].default_float, 0.5, 0.0);
    assert_string_equal(g_desc->params[1].name, "clip_vloss");
    assert_int_equal(g_desc->params[1].type, LP_PARAM_BOOL);
    assert_int_equal(g_desc->params[1].default_bool, 1);
    assert_string_equal(g_desc->params[2].name, "vclip");
    assert_near(g_desc->params[2].default_float, 0.2, 0.0);
    for (int k = 0; k < 3; k++)
        assert_true(g_desc->params[k].doc != NULL && g_desc->params[k].doc[0] != '\0');
    assert_int_equal(g_desc->field_count, 2);
    assert_string_equal(g_desc->fields[0].name, "returns");
    assert_string_equal(g_desc->fields[1].name, "values");
    for (int k = 0; k < 2; k++) {
        assert_int_equal(g_desc->fields[k].access, LP_FIELD_READ);
        assert_int_equal(g_desc->fields[k].phase, LP_PHASE_TRAIN);
        assert_int_equal(g_desc->fields[k].dtype, LP_DTYPE_F32);
    }
    assert_string_equal(g_desc->outputs[0], "values");
    assert_null(g_desc->outputs[1]);
}

/* ---- hand-computed ------------------------------------------------------------------ */

/*
 * M = 4 (rows 2, horizon 2), vf_coef 0.5, vclip 0.2, weight 1:
 *   s0: R 1, V_old 0.5, V 0.6: inside, V_c = V: (0.6-1)^2 = 0.16 both; m = 1
 *       grad 0.5 * (0.6 - 1) / 4 = -0.05
 *   s1: R 1, V_old 0, V 0.5: V_c = 0.2: lu 0.25, lc 0.64 -> 0.64, m = 0, grad 0
 *   s2: R 0, V_old 0, V 0.5: V_c = 0.2: lu 0.25, lc 0.04 -> 0.25, m = 1
 *       grad 0.5 * 0.5 / 4 = 0.0625
 *   s3: R 0, V_old 1, V -1: V_c = 0.8: lu 1, lc 0.64 -> 1, m = 1
 *       grad 0.5 * (-1) / 4 = -0.125
 *   L_v = 0.5 * (0.16 + 0.64 + 0.25 + 1) / 4 = 0.25625, loss = 0.5 L_v = 0.128125
 * Unclipped: L_v = 0.5 * (0.16 + 0.25 + 0.25 + 1) / 4 = 0.2075, loss 0.10375,
 *   grads -0.05, 0.5 * (0.5 - 1) / 4 = -0.0625, 0.0625, -0.125
 */
static void hand_batch(mb *b) {
    mb_init(b, 2, 2);
    const float R[4] = {1, 1, 0, 0}, Vo[4] = {0.5f, 0, 0, 1}, V[4] = {0.6f, 0.5f, 0.5f, -1};
    memcpy(b->ret, R, sizeof R);
    memcpy(b->old, Vo, sizeof Vo);
    memcpy(b->v, V, sizeof V);
    mb_start(b);
}

static void test_hand_clipped(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.128125, 1e-7);
    assert_near(stat_last(b.in, "value_loss"), 0.25625, 1e-7);
    const double want[4] = {-0.05, 0.0, 0.0625, -0.125};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], want[k], 1e-7);
    assert_int_equal(r.stop, 0);
    mb_done(&b);
}

static void test_hand_unclipped(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    assert_int_equal(lpt_set_b(b.in, "clip_vloss", 0), 0); /* read at call time */
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.10375, 1e-7);
    assert_near(stat_last(b.in, "value_loss"), 0.2075, 1e-7);
    const double want[4] = {-0.05, -0.0625, 0.0625, -0.125};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], want[k], 1e-7);
    mb_done(&b);
}

/* V exactly vclip away from V_old: V_c = V, both terms equal, the gradient
 * flows (unclipped). A little further (V = 0.25 + 2^-23, so that V - R =
 * -(0.75 - 2^-23) is exact; one f32 step would round back to -0.75 and tie),
 * V_c stays put and its error is the larger: no gradient. */
static void test_clip_boundary(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1);
    b.ret[0] = 1.0f, b.old[0] = 0.0f, b.v[0] = 0.25f;
    assert_int_equal(lpt_set_f(b.in, "vclip", 0.25), 0);
    assert_int_equal(lpt_set_f(b.in, "vf_coef", 1.0), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(b.g[0], -0.75, 0.0);
    assert_near(r.loss, 0.5 * 0.5625, 0.0);
    b.g[0] = 0.0f;
    b.v[0] = 0.25f + 0x1p-23f;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(b.g[0], 0.0, 0.0);
    assert_near(r.loss, 0.5 * 0.5625, 0.0); /* the clipped error */
    mb_done(&b);
}

/* ---- finite differences -------------------------------------------------------------- */

static void test_gradient_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 5), T = lpt_rng_int(&rng, 1, 9);
        mb b;
        mb_init(&b, R, T);
        const double vclip = lpt_rng_uniform(&rng, 0.05, 1.0);
        const double coef = lpt_rng_uniform(&rng, 0.1, 3.0);
        const int clip = seed % 4 != 0;
        const float weight = (float)lpt_rng_uniform(&rng, 0.1, 3.0);
        for (int64_t i = 0; i < b.M; i++) {
            for (;;) { /* away from the kinks: |V - V_old| = vclip and lu = lc */
                b.ret[i] = (float)lpt_rng_normal(&rng);
                b.old[i] = (float)(b.ret[i] + lpt_rng_normal(&rng) * 0.5);
                b.v[i] = (float)(b.old[i] + lpt_rng_normal(&rng) * vclip * 1.5);
                const double dv = fabs((double)b.v[i] - b.old[i]);
                const double vc = b.old[i] + fmin(fmax((double)b.v[i] - b.old[i], -vclip), vclip);
                const double lu = pow(b.v[i] - (double)b.ret[i], 2), lc = pow(vc - b.ret[i], 2);
                if (fabs(dv - vclip) > 1e-3 && (dv < vclip || fabs(lu - lc) > 1e-3))
                    break;
            }
        }
        assert_int_equal(lpt_set_f(b.in, "vclip", vclip), 0);
        assert_int_equal(lpt_set_f(b.in, "vf_coef", coef), 0);
        assert_int_equal(lpt_set_b(b.in, "clip_vloss", clip), 0);
        mb_start(&b);
        lp_train_result res;
        assert_int_equal(lpt_train(b.in, weight, &res), LP_OK);
        double x[45], fd[45], an[45];
        for (int64_t i = 0; i < b.M; i++)
            x[i] = b.v[i], an[i] = b.g[i];
        ref r = {b.M, b.ret, b.old, coef, vclip, clip};
        const double want = ref_loss(x, (size_t)b.M, &r);
        if (!(fabs(res.loss - want) <= 1e-6 * (1.0 + want)))
            fail_msg("seed %llu: loss %.9g, reference %.9g", (unsigned long long)seed, res.loss,
                     want);
        lpt_fd_grad(ref_loss, &r, x, (size_t)b.M, 1e-6, fd);
        for (int64_t i = 0; i < b.M; i++)
            fd[i] *= weight;
        size_t worst;
        if (lpt_grad_compare(an, fd, (size_t)b.M, 1e-6 * weight * coef / (double)b.M, 1e-5, &worst,
                             NULL) != 0)
            fail_msg("seed %llu: [%zu] analytic %.9g, finite differences %.9g",
                     (unsigned long long)seed, worst, an[worst], fd[worst]);
        mb_done(&b);
    }
}

/* ---- weight, parameters read at call time, strided fields ----------------------------- */

static void test_weight_and_params(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, -2.0f, &r), LP_OK);
    assert_near(r.loss, 0.128125, 1e-7); /* unweighted */
    const double want[4] = {-0.05, 0.0, 0.0625, -0.125};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], -2.0 * want[k], 1e-7);

    /* vf_coef 2 and vclip 1 (every sample inside: the plain error) */
    memset(b.g, 0, 4 * sizeof(float));
    assert_int_equal(lpt_set_f(b.in, "vf_coef", 2.0), 0);
    assert_int_equal(lpt_set_f(b.in, "vclip", 2.5), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 2.0 * 0.2075, 1e-7);
    const double want2[4] = {-0.2, -0.25, 0.25, -0.5};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], want2[k], 1e-7);
    mb_done(&b);
}

static void test_strided_fields(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    float pr[8], po[8];
    for (int i = 0; i < 4; i++) {
        pr[2 * i] = b.ret[i], pr[2 * i + 1] = NAN;
        po[2 * i] = b.old[i], po[2 * i + 1] = NAN;
    }
    lp_tensor vr = LPT_VIEW(pr, LP_DTYPE_F32, 2, 2), vo = LPT_VIEW(po, LP_DTYPE_F32, 2, 2);
    vr.strides[0] = vo.strides[0] = 4;
    vr.strides[1] = vo.strides[1] = 2;
    assert_true(lpt_add_field(b.in, "returns", vr) >= 0);
    assert_true(lpt_add_field(b.in, "values", vo) >= 0);
    for (int k = 0; k < 4; k++)
        b.g[k] = 1.0f;
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.128125, 1e-7);
    const double want[4] = {-0.05, 0.0, 0.0625, -0.125};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 1.0 + want[k], 1e-7); /* added to what was there */
    mb_done(&b);
}

/* ---- explained variance ---------------------------------------------------------------- */

/* The buffer (8 x 16) in 4 minibatches of 2 rows during update epoch 0,
 * then again (with other data) in update epoch 1, which must not count. */
static void test_explained_variance(void **state) {
    (void)state;
    enum { ROWS = 8, T = 16 };
    float R[ROWS * T], Vo[ROWS * T];
    lpt_rng rng = lpt_rng_seed(42);
    for (int k = 0; k < ROWS * T; k++) {
        R[k] = (float)(3.0 + 2.0 * lpt_rng_normal(&rng));
        Vo[k] = (float)(R[k] + 0.7 * lpt_rng_normal(&rng));
    }
    double my = 0, md = 0, vy = 0, vd = 0;
    for (int k = 0; k < ROWS * T; k++)
        my += R[k], md += (double)R[k] - Vo[k];
    my /= ROWS * T, md /= ROWS * T;
    for (int k = 0; k < ROWS * T; k++)
        vy += pow(R[k] - my, 2), vd += pow((double)R[k] - Vo[k] - md, 2);
    const double want = 1.0 - vd / vy;

    mb b;
    mb_init(&b, 2, T);
    mb_start(&b);
    lp_ctx *ctx = lpt_ctx(b.in);
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    for (int epoch = 0; epoch < 2; epoch++) {
        ctx->update_epoch = epoch;
        for (int m = 0; m < 4; m++) {
            for (int k = 0; k < 2 * T; k++) {
                b.ret[k] = epoch == 0 ? R[m * 2 * T + k] : 100.0f * (float)k;
                b.old[k] = epoch == 0 ? Vo[m * 2 * T + k] : 0.0f;
            }
            assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
        }
    }
    assert_int_equal(lpt_stat(b.in, "explained_variance", NULL, NULL), 0); /* not yet */
    assert_int_equal(lpt_train_end(b.in), LP_OK);
    assert_int_equal(lpt_stat(b.in, "explained_variance", NULL, NULL), 1);
    assert_near(stat_last(b.in, "explained_variance"), want, 1e-9);

    /* A train phase without any train call records nothing. */
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_int_equal(lpt_train_end(b.in), LP_OK);
    assert_int_equal(lpt_stat(b.in, "explained_variance", NULL, NULL), 1);

    /* Var(R) == 0: 0 when R - V_old varies, 1 when it is constant too. */
    ctx->update_epoch = 0;
    for (int k = 0; k < 2 * T; k++)
        b.ret[k] = 2.0f, b.old[k] = (float)k;
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    assert_int_equal(lpt_train_end(b.in), LP_OK);
    assert_near(stat_last(b.in, "explained_variance"), 0.0, 0.0);
    for (int k = 0; k < 2 * T; k++)
        b.old[k] = 1.5f;
    assert_int_equal(lpt_train_start(b.in), LP_OK);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    assert_int_equal(lpt_train_end(b.in), LP_OK);
    assert_near(stat_last(b.in, "explained_variance"), 1.0, 0.0);
    mb_done(&b);
}

/* ---- edge cases and errors -------------------------------------------------------------- */

static void test_one_sample_and_empty(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1);
    b.ret[0] = 2.0f, b.old[0] = 2.0f, b.v[0] = 1.0f;
    mb_start(&b);
    lp_train_result r;
    /* V_c = 1.8: lu 1, lc 0.04 -> 1; loss 0.5 * 0.5 * 1, grad 0.5 * (1 - 2) */
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.25, 1e-7);
    assert_near(b.g[0], -0.5, 1e-7);
    assert_int_equal(lpt_train_end(b.in), LP_OK);
    assert_near(stat_last(b.in, "explained_variance"), 1.0, 0.0); /* Var(R) = Var(R - V_old) = 0 */

    static float e[1];
    lpt_add_field(b.in, "returns", LPT_VIEW(e, LP_DTYPE_F32, 0, 1));
    lpt_add_field(b.in, "values", LPT_VIEW(e, LP_DTYPE_F32, 0, 1));
    lpt_add_output(b.in, "values", LPT_VIEW(e, LP_DTYPE_F32, 0, 1),
                   LPT_VIEW(e, LP_DTYPE_F32, 0, 1));
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    mb_done(&b);
}

static void test_errors(void **state) {
    (void)state;
    float v[1], g[1];
    lpt_inst *in = lpt_inst_new(g_desc, "critic");
    assert_non_null(in);
    lpt_add_output(in, "values", LPT_VIEW(v, LP_DTYPE_F32, 1, 1), LPT_VIEW(g, LP_DTYPE_F32, 1, 1));
    assert_int_equal(lpt_create(in), LP_OK);
    assert_int_equal(lpt_attach(in), LP_ESPEC);
    assert_contains(lpt_last_error(in), "no field 'returns'");
    assert_contains(lpt_last_error(in), "'critic'");
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_EINVAL);
    int32_t bad[1];
    lpt_add_field(in, "returns", LPT_VIEW(bad, LP_DTYPE_I32, 1, 1));
    lpt_add_field(in, "values", LPT_VIEW(v, LP_DTYPE_F32, 1, 1));
    /* The host never passes a field of another dtype than the loss
     * declared (abi.h; tests/session/test_spec.c): the support refuses it. */
    assert_int_equal(lpt_attach(in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(in), "'returns' is i32, the loss declared f32");
    assert_int_equal(lpt_violations(in), 0);
    lpt_inst_free(in);

    mb b;
    hand_batch(&b);
    /* The host never passes a value outside the schema (abi.h;
     * tests/config/test_params.c): the support refuses it. */
    assert_int_equal(lpt_set_f(b.in, "vclip", -1.0), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'vclip'");
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 0.0, 0.0);
    mb_done(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_clipped),
        cmocka_unit_test(test_hand_unclipped),
        cmocka_unit_test(test_clip_boundary),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_weight_and_params),
        cmocka_unit_test(test_strided_fields),
        cmocka_unit_test(test_explained_variance),
        cmocka_unit_test(test_one_sample_and_empty),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("value", tests, group_setup, group_teardown);
}
