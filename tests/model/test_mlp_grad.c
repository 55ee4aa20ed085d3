/* lp_mlp forward against a naive double-precision loop, and backward
 * against central finite differences of L = sum(dlogits * logits) +
 * sum(dvalues * values) over every parameter, in double precision; both
 * activations, shared and separate trunks, several seeds; accumulation and
 * zero_grad; the skipped-head paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mlp_ref.h"

typedef struct net_case {
    int64_t obs_dim, num_actions;
    size_t hidden_count;
    int64_t hidden[4];
    int32_t activation;
    int32_t shared;
    uint64_t seed;
} net_case;

static lp_mlp *make(const net_case *c, int64_t max_batch, ref_net *r) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = c->obs_dim;
    o.num_actions = c->num_actions;
    o.hidden = c->hidden;
    o.hidden_count = c->hidden_count;
    o.activation = c->activation;
    o.shared_trunk = c->shared;
    o.seed = c->seed;
    o.max_batch = max_batch;
    /* Large head gains: with 0.01 the actor head would hide errors below
     * the finite-difference noise. */
    o.actor_gain = 1.0;
    lp_mlp *m = NULL;
    lp_error err = {0};
    int32_t rc = lp_mlp_create(&o, &m, &err);
    if (rc != LP_OK)
        fail_msg("lp_mlp_create: %s", err.message);
    memset(r, 0, sizeof *r);
    r->obs_dim = c->obs_dim;
    r->num_actions = c->num_actions;
    r->hidden_count = c->hidden_count;
    memcpy(r->hidden, c->hidden, sizeof c->hidden);
    r->relu = c->activation == LP_ACTIVATION_RELU;
    r->shared = c->shared;
    r->m = m;
    return m;
}

static double *params_as_double(lp_mlp *m) {
    size_t n = lp_mlp_param_count(m);
    double *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = lp_mlp_params(m)[i];
    return p;
}

/* Biases are zero after init; give them values so that their gradients
 * and the relu kinks are exercised. */
static void perturb_params(lp_mlp *m, uint64_t seed) {
    float *p = lp_mlp_params(m);
    for (size_t i = 0; i < lp_mlp_param_count(m); i++)
        p[i] += (float)(0.2 * ref_rand(&seed));
}

static void check_forward_case(const net_case *c, int64_t n, int64_t ld) {
    ref_net r;
    lp_mlp *m = make(c, n, &r);
    perturb_params(m, c->seed + 7);
    uint64_t s = c->seed * 977 + 1;
    float *obs = malloc((size_t)(n * ld) * sizeof *obs);
    double *obsd = malloc((size_t)(n * c->obs_dim) * sizeof *obsd);
    float *lg = malloc((size_t)(n * c->num_actions) * sizeof *lg);
    float *v = malloc((size_t)n * sizeof *v);
    double *rlg = malloc((size_t)(n * c->num_actions) * sizeof *rlg);
    double *rv = malloc((size_t)n * sizeof *rv);
    assert_true(obs && obsd && lg && v && rlg && rv);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < ld; j++) {
            double x = 2.0 * ref_rand(&s);
            obs[i * ld + j] = j < c->obs_dim ? (float)x : NAN; /* padding is never read */
            if (j < c->obs_dim)
                obsd[i * c->obs_dim + j] = (float)x;
        }
    }
    lp_error err = {0};
    assert_int_equal(lp_mlp_forward(m, obs, ld, n, lg, v, &err), LP_OK);
    double *p = params_as_double(m);
    assert_int_equal(ref_forward(&r, p, obsd, n, rlg, rv), 0);
    for (int64_t i = 0; i < n * c->num_actions; i++)
        expect_near(lg[i], rlg[i], 1e-5 * (1.0 + fabs(rlg[i])));
    for (int64_t i = 0; i < n; i++)
        expect_near(v[i], rv[i], 1e-5 * (1.0 + fabs(rv[i])));
    free(p);
    free(obs);
    free(obsd);
    free(lg);
    free(v);
    free(rlg);
    free(rv);
    lp_mlp_destroy(m);
}

static void forward_matches_naive_loop(void **state) {
    (void)state;
    /* Odd sizes everywhere so that a transposed or mis-strided sgemm shows. */
    const net_case cases[] = {
        {7, 5, 2, {33, 17}, LP_ACTIVATION_TANH, 0, 1},
        {7, 5, 2, {33, 17}, LP_ACTIVATION_RELU, 1, 2},
        {4, 2, 2, {64, 64}, LP_ACTIVATION_TANH, 0, 3},
        {3, 4, 3, {5, 9, 6}, LP_ACTIVATION_RELU, 0, 4},
        {6, 3, 0, {0}, LP_ACTIVATION_TANH, 0, 5}, /* linear heads */
        {1, 1, 1, {1}, LP_ACTIVATION_TANH, 1, 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_forward_case(&cases[i], 19, cases[i].obs_dim);
        check_forward_case(&cases[i], 19, cases[i].obs_dim + 3); /* padded rows */
        check_forward_case(&cases[i], 1, cases[i].obs_dim);
    }
}

/* Central differences in double of the double reference, against the
 * model's f32 backward. */
static void check_gradient_case(const net_case *c) {
    const int64_t n = 6;
    ref_net r;
    lp_mlp *m = make(c, n, &r);
    perturb_params(m, c->seed + 11);
    uint64_t s = c->seed * 31 + 5;
    float obs[6 * 8];
    double obsd[6 * 8], dl[6 * 8], dv[6];
    float dlf[6 * 8], dvf[6], lg[6 * 8], v[6];
    for (int64_t i = 0; i < n * c->obs_dim; i++) {
        obs[i] = (float)(1.5 * ref_rand(&s));
        obsd[i] = obs[i];
    }
    for (int64_t i = 0; i < n * c->num_actions; i++) {
        dlf[i] = (float)ref_rand(&s);
        dl[i] = dlf[i];
    }
    for (int64_t i = 0; i < n; i++) {
        dvf[i] = (float)ref_rand(&s);
        dv[i] = dvf[i];
    }
    lp_error err = {0};
    assert_int_equal(lp_mlp_forward(m, obs, c->obs_dim, n, lg, v, &err), LP_OK);
    assert_int_equal(lp_mlp_backward(m, obs, c->obs_dim, n, dlf, dvf, &err), LP_OK);

    double *p = params_as_double(m);
    const float *g = lp_mlp_grads(m);
    const double h = 1e-6;
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < lp_mlp_param_count(m); i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = ref_loss(&r, p, obsd, n, dl, dv);
        p[i] = keep - h;
        double lm = ref_loss(&r, p, obsd, n, dl, dv);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        double e = fabs(num - g[i]) / (1e-3 + fabs(num));
        if (e > worst) {
            worst = e;
            worst_i = i;
        }
    }
    if (worst > 2e-3)
        fail_msg("gradient of parameter %zu off by %g (relative) (obs %lld, actions %lld, %zu "
                 "hidden, %s, %s, seed %llu)",
                 worst_i, worst, (long long)c->obs_dim, (long long)c->num_actions, c->hidden_count,
                 c->activation == LP_ACTIVATION_RELU ? "relu" : "tanh",
                 c->shared ? "shared" : "separate", (unsigned long long)c->seed);
    free(p);
    lp_mlp_destroy(m);
}

static void backward_matches_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        for (int act = LP_ACTIVATION_TANH; act <= LP_ACTIVATION_RELU; act++) {
            for (int shared = 0; shared <= 1; shared++) {
                net_case c = {5, 3, 2, {6, 4}, act, shared, seed};
                check_gradient_case(&c);
                net_case deep = {3, 4, 3, {5, 7, 4}, act, shared, seed + 10};
                check_gradient_case(&deep);
            }
        }
        net_case linear = {4, 3, 0, {0}, LP_ACTIVATION_TANH, 0, seed};
        check_gradient_case(&linear);
    }
}

/* backward adds; zero_grad clears; a head's gradient may be left out. */
static void backward_accumulates_and_skips(void **state) {
    (void)state;
    const int64_t n = 5;
    for (int shared = 0; shared <= 1; shared++) {
        net_case c = {4, 3, 2, {8, 6}, LP_ACTIVATION_TANH, shared, 9};
        ref_net r;
        lp_mlp *m = make(&c, n, &r);
        size_t count = lp_mlp_param_count(m);
        uint64_t s = 99;
        float obs[5 * 4], lg[5 * 3], v[5], dl[5 * 3], dv[5];
        for (int i = 0; i < 20; i++)
            obs[i] = (float)ref_rand(&s);
        for (int i = 0; i < 15; i++)
            dl[i] = (float)ref_rand(&s);
        for (int i = 0; i < 5; i++)
            dv[i] = (float)ref_rand(&s);
        lp_error err = {0};
        float *once = malloc(count * sizeof *once), *la = malloc(count * sizeof *la),
              *va = malloc(count * sizeof *va);
        assert_true(once && la && va);
        for (size_t i = 0; i < count; i++)
            expect_near(lp_mlp_grads(m)[i], 0.0, 0.0);
        assert_int_equal(lp_mlp_forward(m, obs, 4, n, lg, v, &err), LP_OK);
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, dl, dv, &err), LP_OK);
        memcpy(once, lp_mlp_grads(m), count * sizeof *once);
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, dl, dv, &err), LP_OK);
        for (size_t i = 0; i < count; i++)
            expect_near(lp_mlp_grads(m)[i], 2.0f * once[i], 1e-6 + 1e-6 * fabs(once[i]));
        lp_mlp_zero_grad(m);
        for (size_t i = 0; i < count; i++)
            expect_near(lp_mlp_grads(m)[i], 0.0, 0.0);
        /* logits-only plus values-only equals both together. */
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, dl, NULL, &err), LP_OK);
        memcpy(la, lp_mlp_grads(m), count * sizeof *la);
        lp_mlp_zero_grad(m);
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, NULL, dv, &err), LP_OK);
        memcpy(va, lp_mlp_grads(m), count * sizeof *va);
        size_t nonzero_a = 0, nonzero_v = 0;
        for (size_t i = 0; i < count; i++) {
            expect_near(la[i] + va[i], once[i], 1e-6 + 1e-5 * fabs(once[i]));
            nonzero_a += la[i] != 0.0f;
            nonzero_v += va[i] != 0.0f;
        }
        assert_true(nonzero_a > 0 && nonzero_v > 0);
        /* A forward that skipped the critic cannot take its gradient; nor can
         * a backward on another batch size. */
        assert_int_equal(lp_mlp_forward(m, obs, 4, n, lg, NULL, &err), LP_OK);
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, dl, dv, &err), LP_ESTATE);
        assert_non_null(strstr(err.message, "critic"));
        assert_int_equal(lp_mlp_backward(m, obs, 4, n - 1, dl, NULL, &err), LP_ESTATE);
        assert_int_equal(lp_mlp_backward(m, obs, 4, n, dl, NULL, &err), LP_OK);
        /* The skipped head left the other outputs intact: same logits. */
        float lg2[5 * 3], v2[5];
        assert_int_equal(lp_mlp_forward(m, obs, 4, n, lg2, v2, &err), LP_OK);
        for (int i = 0; i < 15; i++)
            expect_near(lg2[i], lg[i], 0.0);
        free(once);
        free(la);
        free(va);
        lp_mlp_destroy(m);
    }
}

/* Batches above max_batch are refused until lp_mlp_reserve grows it. */
static void max_batch_and_reserve(void **state) {
    (void)state;
    net_case c = {3, 2, 1, {4}, LP_ACTIVATION_TANH, 0, 1};
    ref_net r;
    lp_mlp *m = make(&c, 4, &r);
    float obs[3 * 9] = {0}, lg[2 * 9], v[9];
    lp_error err = {0};
    assert_int_equal(lp_mlp_forward(m, obs, 3, 4, lg, v, &err), LP_OK);
    assert_int_equal(lp_mlp_forward(m, obs, 3, 9, lg, v, &err), LP_ERANGE);
    assert_non_null(strstr(err.message, "lp_mlp_reserve"));
    assert_int_equal(lp_mlp_reserve(m, 9, &err), LP_OK);
    assert_int_equal(lp_mlp_max_batch(m), 9);
    /* reserve drops the kept activations */
    assert_int_equal(lp_mlp_backward(m, obs, 3, 4, lg, v, &err), LP_ESTATE);
    assert_int_equal(lp_mlp_forward(m, obs, 3, 9, lg, v, &err), LP_OK);
    assert_int_equal(lp_mlp_reserve(m, 2, &err), LP_OK); /* never shrinks */
    assert_int_equal(lp_mlp_max_batch(m), 9);
    assert_int_equal(lp_mlp_forward(m, obs, 2, 1, lg, v, &err), LP_EINVAL); /* ld < obs_dim */
    assert_int_equal(lp_mlp_forward(m, NULL, 3, 1, lg, v, &err), LP_EINVAL);
    assert_int_equal(lp_mlp_forward(m, obs, 3, 0, lg, v, &err), LP_OK);
    lp_mlp_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_matches_naive_loop),
        cmocka_unit_test(backward_matches_finite_differences),
        cmocka_unit_test(backward_accumulates_and_skips),
        cmocka_unit_test(max_batch_and_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
