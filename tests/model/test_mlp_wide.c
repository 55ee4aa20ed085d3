/* Orthogonal initialisation at width 1024 (LAPACK's QR; a Gram-Schmidt took
 * 40 s here): the weights are orthogonal with their gain, and they are the
 * Q of the QR of the Gaussian draw with R's diagonal positive, both checked
 * in double precision from the weights and an independent redraw of the
 * same Gaussian matrix. Square, wide and tall shapes, then a whole model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <valgrind/valgrind.h>

#include "mlp_ref.h"
#include "model/ortho.h"
#include "model/rng.h"

/* Every k-th vector (columns of W when tall or square, rows when wide):
 * the Gram entries among them are gain^2 I. Returns the largest error. */
static double gram_error_sampled(const float *w, int64_t rows, int64_t cols, double gain,
                                 int64_t every) {
    const int tall = rows >= cols;
    const int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    double worst = 0.0;
    for (int64_t a = 0; a < k; a += every) {
        for (int64_t b = 0; b < k; b += every) {
            double s = 0.0;
            for (int64_t e = 0; e < len; e++) {
                const double x = tall ? w[e * cols + a] : w[a * cols + e];
                const double y = tall ? w[e * cols + b] : w[b * cols + e];
                s += x * y;
            }
            const double d = fabs(s - (a == b ? gain * gain : 0.0));
            if (d > worst)
                worst = d;
        }
    }
    return worst;
}

/* Q^T Q x = x for random x: catches a non-orthogonal Q among all vectors,
 * not only the sampled ones. Returns max |W^T W x / gain^2 - x| (columns;
 * rows when wide). */
static double probe_error(const float *w, int64_t rows, int64_t cols, double gain, lp__rng *rng) {
    const int tall = rows >= cols;
    const int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    double *x = malloc((size_t)k * sizeof *x), *y = calloc((size_t)len, sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int64_t i = 0; i < k; i++)
        x[i] = lp__rng_normal(rng);
    /* y = Q x, then compare Q^T y with x. Q[e, i] = w at (e, i) tall, (i, e) wide. */
    for (int64_t i = 0; i < k; i++)
        for (int64_t e = 0; e < len; e++)
            y[e] += (tall ? w[e * cols + i] : w[i * cols + e]) / gain * x[i];
    double worst = 0.0;
    for (int64_t i = 0; i < k; i++) {
        double s = 0.0;
        for (int64_t e = 0; e < len; e++)
            s += (tall ? w[e * cols + i] : w[i * cols + e]) / gain * y[e];
        if (fabs(s - x[i]) > worst)
            worst = fabs(s - x[i]);
    }
    free(x);
    free(y);
    return worst;
}

/* R = Q^T G is upper triangular with a positive diagonal (for every k-th
 * column of G): W is the Q of G's QR with torch's sign convention, not
 * merely some orthogonal matrix. Relative to the column's norm. */
static double triangular_error(const float *w, const double *g, int64_t rows, int64_t cols,
                               double gain, int64_t every, int *diag_positive) {
    const int tall = rows >= cols;
    const int64_t k = tall ? cols : rows, len = tall ? rows : cols;
    double worst = 0.0;
    *diag_positive = 1;
    for (int64_t j = 0; j < k; j += every) {
        double norm = 0.0;
        for (int64_t e = 0; e < len; e++) {
            const double ge = tall ? g[e * cols + j] : g[j * cols + e];
            norm += ge * ge;
        }
        norm = sqrt(norm);
        for (int64_t i = 0; i < k; i++) {
            double r = 0.0;
            for (int64_t e = 0; e < len; e++) {
                const double q = (tall ? w[e * cols + i] : w[i * cols + e]) / gain;
                r += q * (tall ? g[e * cols + j] : g[j * cols + e]);
            }
            if (i > j && fabs(r) / norm > worst)
                worst = fabs(r) / norm;
            if (i == j && !(r > 0.0))
                *diag_positive = 0;
        }
    }
    return worst;
}

/* Under valgrind (make valgrind) a quarter of each size: the same code
 * paths, memory-checked, without an hour of LAPACK under emulation. */
static int64_t size(int64_t n) {
    return RUNNING_ON_VALGRIND ? n / 4 : n;
}

static void check_shape(int64_t rows, int64_t cols, double gain, uint64_t seed) {
    rows = size(rows);
    cols = size(cols);
    const size_t total = (size_t)(rows * cols);
    float *w = malloc(total * sizeof *w);
    double *scratch = malloc(total * sizeof *scratch), *g = malloc(total * sizeof *g);
    assert_non_null(w);
    assert_non_null(scratch);
    assert_non_null(g);
    lp__rng rng;
    lp__rng_seed(&rng, seed);
    assert_int_equal(lp__orthogonal(w, rows, cols, gain, &rng, scratch), 0);
    lp__rng_seed(&rng, seed); /* the same draw, independently */
    for (size_t i = 0; i < total; i++)
        g[i] = lp__rng_normal(&rng);
    /* f32 weights: about 1e-7 relative per entry, summed over len entries. */
    const double gram = gram_error_sampled(w, rows, cols, gain, 61);
    assert_true(gram < 1e-5 * gain * gain);
    lp__rng probe;
    lp__rng_seed(&probe, seed + 1);
    for (int p = 0; p < 3; p++)
        assert_true(probe_error(w, rows, cols, gain, &probe) < 1e-4);
    int diag_positive = 0;
    const double tri = triangular_error(w, g, rows, cols, gain, 97, &diag_positive);
    assert_true(tri < 1e-5);
    assert_true(diag_positive);
    free(w);
    free(scratch);
    free(g);
}

static void square_1024(void **state) {
    (void)state;
    check_shape(1024, 1024, sqrt(2.0), 7);
}

static void wide_600x1024(void **state) {
    (void)state;
    check_shape(600, 1024, 0.01, 8);
}

static void tall_1024x300(void **state) {
    (void)state;
    check_shape(1024, 300, 1.0, 9);
}

/* A model with two 1024-wide hidden layers per trunk: created (six QRs of
 * up to 1024 x 1024), orthogonal with its gains, and it runs a forward. */
static void model_of_width_1024(void **state) {
    (void)state;
    const int64_t hidden[2] = {size(1024), size(1024)};
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 128;
    o.num_actions = 6;
    o.hidden = hidden;
    o.hidden_count = 2;
    o.max_batch = 8;
    lp_mlp *m = NULL;
    lp_error err = {0};
    if (lp_mlp_create(&o, &m, &err) != LP_OK)
        fail_msg("lp_mlp_create: %s", err.message);
    const float *p = lp_mlp_params(m);
    for (size_t i = 0; i < lp_mlp_tensor_count(m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(m, i);
        if (t->rank != 2)
            continue;
        const double gain = strstr(t->name, "actor/head")    ? 0.01
                            : strstr(t->name, "critic/head") ? 1.0
                                                             : sqrt(2.0);
        assert_true(gram_error_sampled(p + t->offset, t->shape[0], t->shape[1], gain, 37) <
                    1e-5 * gain * gain + 1e-12);
    }
    float obs[8 * 128], logits[8 * 6], values[8];
    for (size_t i = 0; i < 8 * 128; i++)
        obs[i] = (float)((int)(i % 17) - 8) * 0.125f;
    assert_int_equal(lp_mlp_forward(m, obs, 128, 8, logits, values, &err), LP_OK);
    for (size_t i = 0; i < 8; i++)
        assert_true(isfinite(values[i]) && isfinite(logits[i * 6]));
    lp_mlp_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(square_1024),
        cmocka_unit_test(wide_600x1024),
        cmocka_unit_test(tall_1024x300),
        cmocka_unit_test(model_of_width_1024),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
