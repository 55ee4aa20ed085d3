/* The model's matrix products (host/model/mlp_gemm.c, lp__mlp_kern's fwd,
 * grad_w, grad_x) in every build this CPU runs: each output against a
 * double reference within a bound proportional to the sum of |terms|,
 * every build giving the baseline's bits, at shapes whose rows, columns and
 * inner lengths are not multiples of the 16-float vectors or the 4 x 4
 * tiles (and row distances larger than the widths), including the packed
 * forward's inner chunks of 128 and column blocks of 64. */
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

typedef struct shape {
    size_t n, out, in;
} shape;

/* rows, outputs, inputs: the model's own (4 and 128 rows; 64 wide; the 1-2
 * wide heads; the 4 wide observations) and their odd neighbours. */
static const shape shapes[] = {
    {4, 64, 4},    {4, 64, 64},    {4, 2, 64},  {4, 1, 64},  {128, 64, 4}, {128, 64, 64},
    {128, 2, 64},  {128, 1, 64},   {1, 1, 1},   {3, 5, 7},   {5, 17, 3},   {7, 15, 16},
    {9, 16, 17},   {2, 33, 31},    {6, 65, 63}, {13, 67, 5}, {17, 3, 129}, {21, 130, 15},
    {10, 70, 200}, {33, 129, 130}, {8, 80, 16}, {8, 16, 8},  {9, 48, 1},   {1, 200, 33},
};

static void fill(float *x, size_t n, uint64_t seed) {
    lp__rng r;
    lp__rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)lp__rng_normal(&r);
}

static float *alloc(size_t n, uint64_t seed) {
    float *p = malloc((n > 0 ? n : 1) * sizeof *p);
    assert_non_null(p);
    fill(p, n, seed);
    return p;
}

/* |got - want| within 1e-5 of the sum of |terms| (f32 rounding over at
 * most a few hundred terms), and 1e-30 absolute. */
static void near(double got, double want, double mag) {
    if (!(fabs(got - want) <= 1e-5 * mag + 1e-30))
        fail_msg("got %.9g, want %.9g (magnitude %.3g)", got, want, mag);
}

/* One shape through one build; the outputs go to the caller for the bit
 * comparison with the baseline. */
static void run(const lp__mlp_kern *k, const shape *s, float *y, float *gw, float *dx, float *dxa) {
    const size_t n = s->n, out = s->out, in = s->in;
    const size_t ldx = in + 3, ldy = out + 2, ldg = out + 1;
    float *x = alloc(n * ldx, 11), *w = alloc(out * in, 12), *g = alloc(n * ldg, 13);

    /* fwd: y[n, out] = x W^T, row distance ldy; the padding is untouched. */
    for (size_t i = 0; i < n * ldy; i++)
        y[i] = 777.0f;
    k->fwd(y, ldy, x, ldx, w, n, out, in);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < out; j++) {
            double want = 0, mag = 0;
            for (size_t c = 0; c < in; c++) {
                const double t = (double)x[i * ldx + c] * (double)w[j * in + c];
                want += t;
                mag += fabs(t);
            }
            near(y[i * ldy + j], want, mag);
        }
        for (size_t j = out; j < ldy; j++)
            assert_true(y[i * ldy + j] == 777.0f);
    }

    /* grad_w: gw[out, in] += g^T x, from a non-zero gw. */
    float *gw0 = alloc(out * in, 14);
    memcpy(gw, gw0, out * in * sizeof *gw);
    k->grad_w(gw, g, ldg, x, ldx, n, out, in);
    for (size_t j = 0; j < out; j++)
        for (size_t c = 0; c < in; c++) {
            double want = 0, mag = 0;
            for (size_t i = 0; i < n; i++) {
                const double t = (double)g[i * ldg + j] * (double)x[i * ldx + c];
                want += t;
                mag += fabs(t);
            }
            near(gw[j * in + c], (double)gw0[j * in + c] + want, mag + fabs(gw0[j * in + c]));
        }

    /* grad_x: dx[n, in] = g W, then (into dxa, from a non-zero start)
     * dxa += g W. */
    float *dx0 = alloc(n * in, 15);
    for (size_t i = 0; i < n * in; i++)
        dx[i] = NAN; /* set, not added: no NaN may survive */
    memcpy(dxa, dx0, n * in * sizeof *dxa);
    k->grad_x(dx, g, ldg, w, n, out, in, 0);
    k->grad_x(dxa, g, ldg, w, n, out, in, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < in; c++) {
            double want = 0, mag = 0;
            for (size_t j = 0; j < out; j++) {
                const double t = (double)g[i * ldg + j] * (double)w[j * in + c];
                want += t;
                mag += fabs(t);
            }
            near(dx[i * in + c], want, mag);
            near(dxa[i * in + c], (double)dx0[i * in + c] + want, mag + fabs(dx0[i * in + c]));
        }
    free(x);
    free(w);
    free(g);
    free(gw0);
    free(dx0);
}

static void test_every_build(void **state) {
    (void)state;
    lp__mlp_kern base;
    assert_int_equal(lp__mlp_kern_get(LP__ISA_BASE, &base), 1);
    int checked = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        const size_t ny = s->n * (s->out + 2), nw = s->out * s->in, nx = s->n * s->in;
        float *yb = malloc(ny * sizeof *yb), *gwb = malloc(nw * sizeof *gwb);
        float *dxb = malloc(nx * sizeof *dxb), *dxab = malloc(nx * sizeof *dxab);
        float *y = malloc(ny * sizeof *y), *gw = malloc(nw * sizeof *gw);
        float *dx = malloc(nx * sizeof *dx), *dxa = malloc(nx * sizeof *dxa);
        assert_true(yb && gwb && dxb && dxab && y && gw && dx && dxa);
        run(&base, s, yb, gwb, dxb, dxab);
        for (int isa = LP__ISA_AVX2; isa <= LP__ISA_AVX512; isa++) {
            lp__mlp_kern k;
            if (!lp__mlp_kern_get(isa, &k))
                continue;
            run(&k, s, y, gw, dx, dxa);
            /* The same bits as the baseline build. */
            assert_memory_equal(y, yb, ny * sizeof *y);
            assert_memory_equal(gw, gwb, nw * sizeof *gw);
            assert_memory_equal(dx, dxb, nx * sizeof *dx);
            assert_memory_equal(dxa, dxab, nx * sizeof *dxa);
            checked++;
        }
        free(yb);
        free(gwb);
        free(dxb);
        free(dxab);
        free(y);
        free(gw);
        free(dx);
        free(dxa);
    }
    print_message("builds compared with the baseline over %zu shapes: %d runs\n",
                  sizeof shapes / sizeof shapes[0], checked);
}

/* A forward's row does not depend on the rows around it when the same
 * kernel serves: row i of a 4-row product equals row i of that product on
 * 3 rows (the edge tile), for the dot-product path (few rows, wide input)
 * and the packed one (narrow input). */
static void test_rows_independent(void **state) {
    (void)state;
    lp__mlp_kern k;
    lp__mlp_kern_best(&k);
    const size_t ins[2] = {64, 4};
    for (int t = 0; t < 2; t++) {
        const size_t out = 64, in = ins[t];
        float *x = alloc(4 * in, 21), *w = alloc(out * in, 22);
        float y4[4 * 64], y3[3 * 64];
        k.fwd(y4, out, x, in, w, 4, out, in);
        k.fwd(y3, out, x, in, w, 3, out, in);
        assert_memory_equal(y4, y3, sizeof y3);
        free(x);
        free(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_build),
        cmocka_unit_test(test_rows_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
