/* The model's element-wise kernels (host/model/mlp_kern.h) in every build
 * this CPU runs (baseline, AVX2+FMA, AVX-512): each against a double
 * formula, and every build giving the baseline's bits (the lengths cover
 * the vector bodies and their scalar tails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lp_dispatch.h"
#include "model/mlp_kern.h"
#include "model/rng.h"

#include <lossplug/host.h>

enum { ROWS = 13, OUT = 67, COUNT = ROWS * OUT };

static void fill(float *x, size_t n, double scale, uint64_t seed) {
    lp__rng r;
    lp__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * lp__rng_normal(&r));
}

/* Inputs with the special values the kernels must keep right. */
static void fill_special(float *y) {
    fill(y, COUNT, 3.0, 1);
    y[0] = NAN;
    y[1] = INFINITY;
    y[2] = -INFINITY;
    y[3] = -0.0f;
    y[4] = 1e-30f;
    y[5] = 20.0f;
    y[6] = -9.5f;
}

static void check_one(const lp__mlp_kern *k, const lp__mlp_kern *base) {
    float b[OUT], y[COUNT], ybase[COUNT], h[COUNT], g[COUNT], gbase[COUNT];
    fill(b, OUT, 0.5, 2);
    b[3] = 0.0f; /* keep y[3] = -0 + 0 meaningful for the no-activation case */
    const int32_t acts[3] = {LP__ACT_NONE, LP_ACTIVATION_TANH, LP_ACTIVATION_RELU};
    for (int a = 0; a < 3; a++) {
        fill_special(y);
        float in[COUNT];
        memcpy(in, y, sizeof in);
        memcpy(ybase, y, sizeof ybase);
        k->bias_act(y, ROWS, OUT, b, acts[a]);
        base->bias_act(ybase, ROWS, OUT, b, acts[a]);
        assert_memory_equal(y, ybase, sizeof y); /* the same bits in every build */
        for (size_t i = 0; i < COUNT; i++) {
            const double z = (double)(float)(in[i] + b[i % OUT]); /* the f32 sum */
            const double want = acts[a] == LP_ACTIVATION_TANH   ? tanh(z)
                                : acts[a] == LP_ACTIVATION_RELU ? (z > 0.0 || isnan(z) ? z : 0.0)
                                                                : z;
            if (isnan(want)) {
                assert_true(isnan(y[i]));
                continue;
            }
            if (isinf(want)) { /* no activation or relu of an infinity */
                assert_true(y[i] == want);
                continue;
            }
            /* tanh within 2.5 ulp of the f32 sum; the others exact */
            assert_true(fabs(y[i] - want) <= 1e-6 * fabs(want) + 1e-37);
        }
    }
    for (int a = 1; a < 3; a++) {
        fill(h, COUNT, 0.6, 3);
        for (size_t i = 0; i < COUNT; i++)
            h[i] = acts[a] == LP_ACTIVATION_TANH ? tanhf(h[i]) : h[i];
        fill(g, COUNT, 1.0, 4);
        float g0[COUNT];
        memcpy(g0, g, sizeof g0);
        memcpy(gbase, g, sizeof gbase);
        k->act_grad(g, h, COUNT, acts[a]);
        base->act_grad(gbase, h, COUNT, acts[a]);
        assert_memory_equal(g, gbase, sizeof g);
        for (size_t i = 0; i < COUNT; i++) {
            const double d = acts[a] == LP_ACTIVATION_TANH ? 1.0 - (double)h[i] * h[i]
                                                           : (h[i] > 0.0f ? 1.0 : 0.0);
            assert_true(fabs(g[i] - g0[i] * d) <= 1e-6 * fabs(g0[i]) + 1e-30);
        }
    }
    float gb[OUT], gbb[OUT];
    fill(g, COUNT, 1.0, 5);
    fill(gb, OUT, 1.0, 6);
    memcpy(gbb, gb, sizeof gbb);
    double want[OUT];
    for (size_t j = 0; j < OUT; j++) {
        want[j] = gb[j];
        for (size_t i = 0; i < ROWS; i++)
            want[j] += g[i * OUT + j];
    }
    k->bias_grad(gb, g, ROWS, OUT);
    base->bias_grad(gbb, g, ROWS, OUT);
    assert_memory_equal(gb, gbb, sizeof gb);
    for (size_t j = 0; j < OUT; j++)
        assert_true(fabs(gb[j] - want[j]) <= 1e-5 * (1.0 + fabs(want[j])));
}

static void every_build_agrees_with_double_and_with_baseline(void **state) {
    (void)state;
    lp__mlp_kern base, k;
    assert_int_equal(lp__mlp_kern_get(LP__ISA_BASE, &base), 1);
    int tried = 0;
    for (int isa = LP__ISA_BASE; isa <= LP__ISA_AVX512; isa++) {
        if (!lp__mlp_kern_get(isa, &k)) {
            assert_true(isa > lp__isa_level()); /* only what the CPU lacks is missing */
            continue;
        }
        assert_int_equal(k.isa, isa);
        check_one(&k, &base);
        tried++;
    }
    assert_int_equal(tried, lp__isa_level() + 1);
    lp__mlp_kern best;
    lp__mlp_kern_best(&best);
    assert_int_equal(best.isa, lp__isa_level());
    assert_int_equal(lp__mlp_kern_get(LP__ISA_AVX512 + 1, &k), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_build_agrees_with_double_and_with_baseline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
