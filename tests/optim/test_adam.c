/* lp_adam against hand-computed steps (arithmetic in the comments),
 * torch's bias correction, global-norm clipping above, at and below the
 * threshold, CleanRL's lr annealing, checkpoint tensors, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lossplug/host.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define expect_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double lp_a_ = (double)(a), lp_b_ = (double)(b), lp_t_ = (double)(tol);                    \
        if (!(fabs(lp_a_ - lp_b_) <= lp_t_))                                                       \
            fail_msg("%s = %.9g but %s = %.9g (tolerance %g)", #a, lp_a_, #b, lp_b_, lp_t_);       \
    } while (0)

static lp_adam *make(double lr, double max_grad_norm, double eps, size_t count) {
    lp_adam_options o;
    lp_adam_options_init(&o);
    o.lr = lr;
    o.max_grad_norm = max_grad_norm;
    o.eps = eps;
    lp_adam *a = NULL;
    lp_error err = {0};
    if (lp_adam_create(&o, count, &a, &err) != LP_OK)
        fail_msg("%s", err.message);
    return a;
}

static void defaults_are_cleanrl(void **state) {
    (void)state;
    lp_adam_options o;
    lp_adam_options_init(&o);
    assert_int_equal(o.struct_size, sizeof o);
    expect_near(o.lr, 2.5e-4, 0.0);
    expect_near(o.beta1, 0.9, 0.0);
    expect_near(o.beta2, 0.999, 0.0);
    expect_near(o.eps, 1e-5, 0.0);
    expect_near(o.max_grad_norm, 0.5, 0.0);
}

/* lr 0.1, betas 0.9 / 0.999, eps 1e-5, no clipping; p = 1, g = 0.5.
 *   m1 = 0.1 * 0.5 = 0.05           v1 = 0.001 * 0.25 = 0.00025
 *   bc1 = 1 - 0.9 = 0.1             bc2 = 1 - 0.999 = 0.001
 *   step_size = lr / bc1 = 1.0      denom = sqrt(v1) / sqrt(bc2) + eps
 *                                         = 0.0158114 / 0.0316228 + 1e-5 = 0.50001
 *   p1 = 1 - 1.0 * 0.05 / 0.50001 = 0.90000200 */
static void one_step_by_hand(void **state) {
    (void)state;
    lp_adam *a = make(0.1, 0.0, 1e-5, 1);
    float p = 1.0f, g = 0.5f;
    lp_error err = {0};
    assert_int_equal(lp_adam_step(a, &p, &g, 1, &err), LP_OK);
    expect_near(p, 0.9000019999600007, 1e-7);
    assert_int_equal(lp_adam_step_count(a), 1);
    lp_named_tensor t[LP_ADAM_TENSOR_COUNT];
    lp_adam_named_tensors(a, t);
    expect_near(((float *)t[0].view.data)[0], 0.05, 1e-9);
    expect_near(((float *)t[1].view.data)[0], 0.00025, 1e-10);
    lp_adam_destroy(a);
}

/* Three steps on three parameters, p0 = {1, -2, 0.5}, lr 0.1, eps 1e-5,
 * no clipping, gradients per step {0.5, -1, 0}, {-0.25, -1, 2},
 * {1, 0.5, -0.1}:
 *  step 1: bc1 0.1, bc2 0.001, step_size 1
 *    m = {0.05, -0.1, 0}, v = {0.00025, 0.001, 0}
 *    denom = {0.50001, 1.00001, 1e-5}   (a zero gradient moves nothing)
 *    p = {0.90000200, -1.90000100, 0.5}
 *  step 2: bc1 0.19, bc2 0.001999, step_size 0.5263158, sqrt(bc2) 0.04471018
 *    m = 0.9 m + 0.1 g = {0.02, -0.19, 0.2}
 *    v = 0.999 v + 0.001 g^2 = {0.00031225, 0.001999, 0.004}
 *    denom = {0.3952354, 1.0000100, 1.4145772}
 *    p = {0.87336897, -1.80000200, 0.42558684}
 *  step 3: bc1 0.271, bc2 0.002997001, step_size 0.3690037,
 *          sqrt(bc2) 0.05474487
 *    m = {0.118, -0.121, 0.17}
 *    v = {0.00131193775, 0.002247001, 0.004006}
 *    denom = {0.6616369, 0.8658910, 1.1561543}
 *    p = {0.80755880, -1.74843725, 0.37132884} */
static void three_steps_by_hand(void **state) {
    (void)state;
    lp_adam *a = make(0.1, 0.0, 1e-5, 3);
    float p[3] = {1.0f, -2.0f, 0.5f};
    const float g[3][3] = {{0.5f, -1.0f, 0.0f}, {-0.25f, -1.0f, 2.0f}, {1.0f, 0.5f, -0.1f}};
    const double want[3][3] = {
        {0.9000019999600007, -1.90000099999, 0.5},
        {0.873368969863388, -1.8000019999800008, 0.42558684369221456},
        {0.8075588045097587, -1.7484372549191844, 0.37132883565394775},
    };
    const double want_m[3] = {0.118, -0.121, 0.17};
    const double want_v[3] = {0.0013119377500000011, 0.002247001000000002, 0.0040060000000000035};
    lp_error err = {0};
    for (int s = 0; s < 3; s++) {
        float gs[3];
        memcpy(gs, g[s], sizeof gs);
        assert_int_equal(lp_adam_step(a, p, gs, 3, &err), LP_OK);
        for (int i = 0; i < 3; i++)
            expect_near(p[i], want[s][i], 2e-7 * (1.0 + fabs(want[s][i])));
    }
    lp_named_tensor t[LP_ADAM_TENSOR_COUNT];
    lp_adam_named_tensors(a, t);
    for (int i = 0; i < 3; i++) {
        expect_near(((float *)t[0].view.data)[i], want_m[i], 1e-7);
        expect_near(((float *)t[1].view.data)[i], want_v[i], 1e-9);
    }
    expect_near(*(int64_t *)t[2].view.data, 3, 0);
    lp_adam_destroy(a);
}

/* With a constant gradient g, m_hat = g and v_hat = g^2 at every step, so
 * with eps 0 each step moves by exactly lr. Without bias correction the
 * first step would move by lr * 0.1 / sqrt(0.001) = 3.16 lr. */
static void bias_correction(void **state) {
    (void)state;
    lp_adam *a = make(0.01, 0.0, 0.0, 2);
    float p[2] = {0.0f, 0.0f};
    lp_error err = {0};
    for (int s = 1; s <= 20; s++) {
        float g[2] = {0.3f, -7.0f};
        assert_int_equal(lp_adam_step(a, p, g, 2, &err), LP_OK);
        expect_near(p[0], -0.01 * s, 1e-6);
        expect_near(p[1], 0.01 * s, 1e-6);
    }
    lp_adam_destroy(a);
}

/* Global norm of {3, 4} is 5 > 0.5: every gradient is scaled by
 * 0.5 / (5 + 1e-6) (torch's clip_coef), so the moments see {0.3, 0.4}. */
static void clipping_above_threshold(void **state) {
    (void)state;
    lp_adam *a = make(0.1, 0.5, 1e-5, 2);
    float p[2] = {0.0f, 0.0f}, g[2] = {3.0f, 4.0f};
    lp_error err = {0};
    assert_int_equal(lp_adam_step(a, p, g, 2, &err), LP_OK);
    expect_near(lp_adam_grad_norm(a), 5.0, 1e-12); /* before clipping */
    const double c = 0.5 / (5.0 + 1e-6);
    expect_near(g[0], 3.0 * c, 1e-7); /* clipped in place */
    expect_near(g[1], 4.0 * c, 1e-7);
    lp_named_tensor t[LP_ADAM_TENSOR_COUNT];
    lp_adam_named_tensors(a, t);
    expect_near(((float *)t[0].view.data)[0], 0.1 * 3.0 * c, 1e-8);
    expect_near(((float *)t[1].view.data)[1], 0.001 * (4.0 * c) * (4.0 * c), 1e-10);
    lp_adam_destroy(a);

    /* Eleven gradients 1 .. 11 (the four-wide loop and its tail): norm
     * sqrt(1 + 4 + ... + 121) = sqrt(506); each becomes k * 0.5 / sqrt(506). */
    a = make(0.1, 0.5, 1e-5, 11);
    float p11[11] = {0}, g11[11];
    for (int k = 0; k < 11; k++)
        g11[k] = (float)(k + 1);
    assert_int_equal(lp_adam_step(a, p11, g11, 11, &err), LP_OK);
    expect_near(lp_adam_grad_norm(a), sqrt(506.0), 1e-12);
    for (int k = 0; k < 11; k++)
        expect_near(g11[k], (k + 1) * 0.5 / (sqrt(506.0) + 1e-6), 1e-7);
    lp_adam_destroy(a);
}

/* Norm 0.05 < 0.5: untouched. Exactly 0.5: torch still scales by
 * 0.5 / (0.5 + 1e-6) = 0.999998. max_grad_norm 0: never clipped. */
static void clipping_below_and_at_threshold(void **state) {
    (void)state;
    lp_error err = {0};
    lp_adam *a = make(0.1, 0.5, 1e-5, 2);
    float p[2] = {0.0f, 0.0f}, g[2] = {0.03f, 0.04f};
    assert_int_equal(lp_adam_step(a, p, g, 2, &err), LP_OK);
    expect_near(g[0], 0.03f, 0.0);
    expect_near(g[1], 0.04f, 0.0);
    expect_near(lp_adam_grad_norm(a), 0.05, 1e-8);
    float h[2] = {0.3f, 0.4f};
    assert_int_equal(lp_adam_step(a, p, h, 2, &err), LP_OK);
    /* f32 inputs: {0.3f, 0.4f} has norm 0.5 to within 1e-8 */
    expect_near(h[0], 0.3 * 0.5 / (0.5 + 1e-6), 5e-8);
    assert_true(h[0] < 0.3f && h[1] < 0.4f); /* 6e-7 below: scaled */
    lp_adam_destroy(a);

    a = make(0.1, 0.0, 1e-5, 2);
    float k[2] = {300.0f, 400.0f};
    assert_int_equal(lp_adam_step(a, p, k, 2, &err), LP_OK);
    expect_near(k[0], 300.0, 0.0);
    lp_adam_destroy(a);
}

/* CleanRL: lr_now = lr * (1 - (update - 1) / num_updates). CartPole:
 * 500000 steps / 512 per update = 976 updates; the last update runs at
 * 2.5e-4 / 976 = 2.5614754e-7. */
static void lr_annealing(void **state) {
    (void)state;
    expect_near(lp_lr_linear_fraction(1, 4), 1.0, 0.0);
    expect_near(lp_lr_linear_fraction(2, 4), 0.75, 0.0);
    expect_near(lp_lr_linear_fraction(4, 4), 0.25, 0.0);
    expect_near(lp_lr_linear_fraction(5, 4), 0.0, 0.0); /* clamped */
    expect_near(lp_lr_linear_fraction(0, 4), 1.0, 0.0); /* clamped */
    expect_near(lp_lr_linear_fraction(3, 0), 1.0, 0.0); /* no schedule */
    lp_adam *a = make(2.5e-4, 0.5, 1e-5, 1);
    lp_error err = {0};
    expect_near(lp_adam_lr(a), 2.5e-4, 0.0);
    assert_int_equal(lp_adam_set_lr_fraction(a, lp_lr_linear_fraction(976, 976), &err), LP_OK);
    expect_near(lp_adam_lr(a), 2.5614754098360656e-7, 1e-18);
    assert_int_equal(lp_adam_set_lr_fraction(a, lp_lr_linear_fraction(489, 976), &err), LP_OK);
    expect_near(lp_adam_lr(a), 2.5e-4 * (1.0 - 488.0 / 976.0), 1e-18); /* half way: 1.25e-4 */
    expect_near(lp_adam_lr(a), 1.25e-4, 1e-18);
    /* The fraction is of the base lr, not of the current one. */
    assert_int_equal(lp_adam_set_lr_fraction(a, 1.0, &err), LP_OK);
    expect_near(lp_adam_lr(a), 2.5e-4, 0.0);
    /* The step uses the current lr: a first step moves by lr (to within eps
     * over the clipped gradient, 1e-5 / 0.5 relative). */
    float p = 0.0f, g = 1.0f;
    assert_int_equal(lp_adam_set_lr_fraction(a, 0.5, &err), LP_OK);
    assert_int_equal(lp_adam_step(a, &p, &g, 1, &err), LP_OK);
    expect_near(p, -1.25e-4, 1e-8);
    assert_int_equal(lp_adam_set_lr_fraction(a, 1.5, &err), LP_ERANGE);
    assert_int_equal(lp_adam_set_lr_fraction(a, NAN, &err), LP_ERANGE);
    assert_int_equal(lp_adam_set_lr(a, -1.0, &err), LP_ERANGE);
    expect_near(lp_adam_lr(a), 1.25e-4, 0.0); /* unchanged by the refusals */
    assert_int_equal(lp_adam_set_lr(a, 3e-4, &err), LP_OK);
    expect_near(lp_adam_lr(a), 3e-4, 0.0);
    lp_adam_destroy(a);
}

/* Copy the state out of one optimizer and into another (what a checkpoint
 * does); both then step identically. */
static void checkpoint_tensors_round_trip(void **state) {
    (void)state;
    enum { N = 5 };
    lp_adam *a = make(0.01, 0.5, 1e-5, N), *b = make(0.01, 0.5, 1e-5, N);
    float pa[N] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f}, pb[N];
    lp_error err = {0};
    for (int s = 0; s < 3; s++) {
        float g[N];
        for (int i = 0; i < N; i++)
            g[i] = (float)((i + 1) * (s % 2 ? -0.7 : 0.9));
        assert_int_equal(lp_adam_step(a, pa, g, N, &err), LP_OK);
    }
    memcpy(pb, pa, sizeof pb);
    lp_named_tensor ta[LP_ADAM_TENSOR_COUNT], tb[LP_ADAM_TENSOR_COUNT];
    assert_int_equal(lp_adam_named_tensors(a, ta), LP_ADAM_TENSOR_COUNT);
    assert_int_equal(lp_adam_named_tensors(b, tb), LP_ADAM_TENSOR_COUNT);
    const char *names[3] = {"optimizer/m", "optimizer/v", "optimizer/step"};
    for (int i = 0; i < LP_ADAM_TENSOR_COUNT; i++) {
        assert_string_equal(ta[i].name, names[i]);
        assert_string_equal(tb[i].name, names[i]);
        assert_int_equal(ta[i].view.dtype, i < 2 ? LP_DTYPE_F32 : LP_DTYPE_I64);
        assert_int_equal(ta[i].view.rank, i < 2 ? 1 : 0);
        if (i < 2) {
            assert_int_equal(ta[i].view.shape[0], N);
            assert_int_equal(ta[i].view.strides[0], 1);
        }
        size_t bytes = i < 2 ? N * sizeof(float) : sizeof(int64_t);
        memcpy(tb[i].view.data, ta[i].view.data, bytes);
        assert_int_equal(memcmp(tb[i].view.data, ta[i].view.data, bytes), 0);
    }
    assert_int_equal(lp_adam_step_count(b), 3);
    for (int s = 0; s < 2; s++) {
        float ga[N], gb[N];
        for (int i = 0; i < N; i++)
            ga[i] = gb[i] = (float)(0.3 * (i - 2));
        assert_int_equal(lp_adam_step(a, pa, ga, N, &err), LP_OK);
        assert_int_equal(lp_adam_step(b, pb, gb, N, &err), LP_OK);
    }
    assert_int_equal(memcmp(pa, pb, sizeof pa), 0);
    /* Without the restored moments the same steps differ. */
    lp_adam_reset(b);
    assert_int_equal(lp_adam_step_count(b), 0);
    memcpy(pb, pa, sizeof pb);
    float ga[N] = {1, 1, 1, 1, 1}, gb[N] = {1, 1, 1, 1, 1};
    assert_int_equal(lp_adam_step(a, pa, ga, N, &err), LP_OK);
    assert_int_equal(lp_adam_step(b, pb, gb, N, &err), LP_OK);
    assert_int_not_equal(memcmp(pa, pb, sizeof pa), 0);
    /* A negative restored step is refused. */
    *(int64_t *)tb[2].view.data = -4;
    assert_int_equal(lp_adam_step(b, pb, gb, N, &err), LP_ESTATE);
    assert_non_null(strstr(err.message, "optimizer/step"));
    lp_adam_destroy(a);
    lp_adam_destroy(b);
}

static void refusals(void **state) {
    (void)state;
    lp_error err = {0};
    lp_adam *a = make(0.1, 0.5, 1e-5, 2);
    float p[2] = {1.0f, 2.0f}, g[2] = {NAN, 1.0f};
    /* A non-finite norm changes nothing. */
    assert_int_equal(lp_adam_step(a, p, g, 2, &err), LP_ENUMERIC);
    assert_non_null(strstr(err.message, "parameters unchanged"));
    expect_near(p[0], 1.0, 0.0);
    expect_near(p[1], 2.0, 0.0);
    expect_near(g[1], 1.0, 0.0);
    assert_int_equal(lp_adam_step_count(a), 0);
    g[0] = INFINITY;
    assert_int_equal(lp_adam_step(a, p, g, 2, &err), LP_ENUMERIC);
    g[0] = 1.0f;
    assert_int_equal(lp_adam_step(a, p, g, 3, &err), LP_EINVAL); /* count */
    assert_int_equal(lp_adam_step(a, NULL, g, 2, &err), LP_EINVAL);
    assert_true(isnan(lp_adam_grad_norm(a)));
    /* through the callback form */
    assert_int_equal(lp_adam_step_fn(a, p, g, 2, NULL, &err), LP_OK);
    assert_int_equal(lp_adam_step_count(a), 1);
    lp_adam_destroy(a);
    lp_adam_destroy(NULL);

    lp_adam_options o;
    lp_adam_options_init(&o);
    a = (lp_adam *)&o;
    o.beta1 = 1.0;
    assert_int_equal(lp_adam_create(&o, 4, &a, &err), LP_EINVAL);
    assert_null(a);
    o.beta1 = 0.9;
    o.eps = -1.0;
    assert_int_equal(lp_adam_create(&o, 4, &a, &err), LP_EINVAL);
    o.eps = 1e-5;
    o.lr = INFINITY;
    assert_int_equal(lp_adam_create(&o, 4, &a, &err), LP_EINVAL);
    o.lr = 1e-3;
    o.max_grad_norm = -0.5;
    assert_int_equal(lp_adam_create(&o, 4, &a, &err), LP_EINVAL);
    o.max_grad_norm = 0.5;
    assert_int_equal(lp_adam_create(&o, 0, &a, &err), LP_EINVAL);
    o.struct_size = 4;
    assert_int_equal(lp_adam_create(&o, 4, &a, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_adam_options_init"));
    o.struct_size = sizeof o;
    assert_int_equal(lp_adam_create(&o, 4, &a, NULL), LP_OK);
    lp_adam_destroy(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_cleanrl),
        cmocka_unit_test(one_step_by_hand),
        cmocka_unit_test(three_steps_by_hand),
        cmocka_unit_test(bias_correction),
        cmocka_unit_test(clipping_above_threshold),
        cmocka_unit_test(clipping_below_and_at_threshold),
        cmocka_unit_test(lr_annealing),
        cmocka_unit_test(checkpoint_tensors_round_trip),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
