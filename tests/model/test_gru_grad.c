/* lp_gru (lossplug/rnn.h) against an independent double-precision
 * reference written from torch.nn.GRU's equations: the forward (logits,
 * values, the carried memory) over [rows, horizon] with non-zero start
 * states and an episode reset inside a segment, and backpropagation through
 * time against central finite differences of
 * L = sum(dlogits * logits) + sum(dvalues * values) over every parameter.
 * Also: the initialisation (orthogonal, zero biases), accumulation, the
 * batch bound, the lp_model adapter's auxiliary pass carrying memory, and
 * the vectorised gate kernel in every ISA build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lossplug/rnn.h>

#include "lp_dispatch.h"
#include "model/gru_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 3, A = 2, E = 5, M = 4, R = 3, T = 6 };

typedef struct ref {
    size_t off[10]; /* tensor offsets in the flat array */
} ref;

static double sig(double a) {
    return 1.0 / (1.0 + exp(-a));
}

/* The reference forward in double: params p (flat, the model's layout). */
static void ref_forward(const ref *f, const double *p, const float *obs, const uint8_t *starts,
                        const float *mem0, double *logits, double *values, double *mem_out) {
    const double *we = p + f->off[0], *be = p + f->off[1], *wih = p + f->off[2],
                 *bih = p + f->off[3], *whh = p + f->off[4], *bhh = p + f->off[5],
                 *wa = p + f->off[6], *ba = p + f->off[7], *wc = p + f->off[8], *bc = p + f->off[9];
    for (int r = 0; r < R; r++) {
        double h[M];
        for (int j = 0; j < M; j++)
            h[j] = mem0[r * M + j];
        for (int t = 0; t < T; t++) {
            int s = r * T + t;
            if (starts != NULL && starts[s])
                for (int j = 0; j < M; j++)
                    h[j] = 0.0;
            double x[E];
            for (int i = 0; i < E; i++) {
                double a = be[i];
                for (int k = 0; k < D; k++)
                    a += we[i * D + k] * obs[s * D + k];
                x[i] = tanh(a);
            }
            double gi[3 * M], gh[3 * M];
            for (int i = 0; i < 3 * M; i++) {
                gi[i] = bih[i];
                gh[i] = bhh[i];
                for (int k = 0; k < E; k++)
                    gi[i] += wih[i * E + k] * x[k];
                for (int k = 0; k < M; k++)
                    gh[i] += whh[i * M + k] * h[k];
            }
            double hn[M];
            for (int j = 0; j < M; j++) {
                double rr = sig(gi[j] + gh[j]);
                double z = sig(gi[M + j] + gh[M + j]);
                double n = tanh(gi[2 * M + j] + rr * gh[2 * M + j]);
                hn[j] = (1 - z) * n + z * h[j];
            }
            memcpy(h, hn, sizeof h);
            for (int a = 0; a < A; a++) {
                double v = ba[a];
                for (int k = 0; k < M; k++)
                    v += wa[a * M + k] * h[k];
                logits[s * A + a] = v;
            }
            double v = bc[0];
            for (int k = 0; k < M; k++)
                v += wc[k] * h[k];
            values[s] = v;
        }
        if (mem_out != NULL)
            for (int j = 0; j < M; j++)
                mem_out[r * M + j] = h[j];
    }
}

static lp_gru *make(uint64_t seed, ref *f) {
    lp_gru_options o;
    lp_gru_options_init(&o);
    o.obs_dim = D;
    o.num_actions = A;
    o.encoder = E;
    o.memory = M;
    o.seed = seed;
    o.max_batch = R * T;
    o.actor_gain = 1.0; /* 0.01 would hide errors below the FD noise */
    lp_gru *m = NULL;
    lp_error err = {0};
    if (lp_gru_create(&o, &m, &err) != LP_OK)
        fail_msg("lp_gru_create: %s", err.message);
    assert_int_equal(lp_gru_tensor_count(m), 10);
    for (size_t i = 0; i < 10; i++)
        f->off[i] = lp_gru_tensor_at(m, i)->offset;
    /* Non-zero biases, so that their gradients and the gates are exercised. */
    float *p = lp_gru_params(m);
    for (size_t i = 0; i < 10; i++) {
        const lp_mlp_tensor_info *ti = lp_gru_tensor_at(m, i);
        if (ti->rank == 1)
            for (int64_t k = 0; k < ti->shape[0]; k++)
                p[ti->offset + (size_t)k] = 0.1f * (float)sin(1.0 + (double)(k + 7 * (int)i));
    }
    return m;
}

static void inputs(float *obs, float *mem, uint8_t *starts) {
    for (int i = 0; i < R * T * D; i++)
        obs[i] = (float)sin(0.37 * i + 0.2);
    for (int i = 0; i < R * M; i++)
        mem[i] = 0.5f * (float)cos(0.9 * i);
    memset(starts, 0, R * T);
    starts[0 * T + 3] = 1; /* an episode ended after step 2 of row 0 */
    starts[2 * T + 1] = 1;
    starts[2 * T + 4] = 1; /* two resets in row 2 */
}

static void test_forward_matches_reference(void **state) {
    (void)state;
    ref f;
    lp_gru *m = make(3, &f);
    float obs[R * T * D], mem[R * M], logits[R * T * A], values[R * T];
    uint8_t starts[R * T];
    inputs(obs, mem, starts);
    size_t n = lp_gru_param_count(m);
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = lp_gru_params(m)[i];
    double rl[R * T * A], rv[R * T], rm[R * M];
    ref_forward(&f, p, obs, starts, mem, rl, rv, rm);
    lp_error err = {0};
    assert_int_equal(lp_gru_forward(m, obs, D, R, T, starts, mem, logits, values, &err), LP_OK);
    for (int i = 0; i < R * T * A; i++)
        assert_true(fabs(logits[i] - rl[i]) < 1e-5);
    for (int i = 0; i < R * T; i++)
        assert_true(fabs(values[i] - rv[i]) < 1e-5);
    for (int i = 0; i < R * M; i++)
        assert_true(fabs(mem[i] - rm[i]) < 1e-5);
    /* The reset matters: without it row 0's later outputs differ. */
    double nl[R * T * A], nv[R * T];
    float mem0[R * M];
    inputs(obs, mem0, starts);
    ref_forward(&f, p, obs, NULL, mem0, nl, nv, NULL);
    assert_true(fabs(nv[0 * T + 4] - rv[0 * T + 4]) > 1e-4);
    free(p);
    lp_gru_destroy(m);
}

/* Central differences of the double reference over every parameter. */
static void test_bptt_matches_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        ref f;
        lp_gru *m = make(seed, &f);
        float obs[R * T * D], mem[R * M], logits[R * T * A], values[R * T];
        float dl[R * T * A], dv[R * T];
        uint8_t starts[R * T];
        inputs(obs, mem, starts);
        float mem0[R * M];
        memcpy(mem0, mem, sizeof mem0);
        for (int i = 0; i < R * T * A; i++)
            dl[i] = (float)cos(1.3 * i + seed);
        for (int i = 0; i < R * T; i++)
            dv[i] = (float)sin(0.7 * i + seed);
        lp_error err = {0};
        lp_gru_zero_grad(m);
        assert_int_equal(lp_gru_forward(m, obs, D, R, T, starts, mem, logits, values, &err), LP_OK);
        assert_int_equal(lp_gru_backward(m, obs, D, dl, dv, &err), LP_OK);
        size_t n = lp_gru_param_count(m);
        double *p = malloc(n * sizeof *p);
        for (size_t i = 0; i < n; i++)
            p[i] = lp_gru_params(m)[i];
        double rl[R * T * A], rv[R * T];
        double worst = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double h = 1e-5, keep = p[i];
            double L[2];
            for (int s = 0; s < 2; s++) {
                p[i] = keep + (s == 0 ? h : -h);
                ref_forward(&f, p, obs, starts, mem0, rl, rv, NULL);
                double sum = 0.0;
                for (int k = 0; k < R * T * A; k++)
                    sum += dl[k] * rl[k];
                for (int k = 0; k < R * T; k++)
                    sum += dv[k] * rv[k];
                L[s] = sum;
            }
            p[i] = keep;
            double fd = (L[0] - L[1]) / (2 * h);
            double g = lp_gru_grads(m)[i];
            double e = fabs(fd - g) / (1e-2 + fabs(fd));
            if (e > worst)
                worst = e;
            if (e > 2e-3)
                fail_msg("seed %llu, parameter %zu: analytic %.7g, finite differences %.7g",
                         (unsigned long long)seed, i, g, fd);
        }
        assert_true(worst < 2e-3);
        free(p);
        lp_gru_destroy(m);
    }
}

/* Gradients accumulate; the initial state of each step gets none across a
 * reset (checked through the reference above); zero_grad clears them. */
static void test_accumulate_and_bounds(void **state) {
    (void)state;
    ref f;
    lp_gru *m = make(5, &f);
    float obs[R * T * D], mem[R * M], logits[R * T * A], values[R * T], dl[R * T * A], dv[R * T];
    uint8_t starts[R * T];
    inputs(obs, mem, starts);
    for (int i = 0; i < R * T * A; i++)
        dl[i] = 0.3f;
    for (int i = 0; i < R * T; i++)
        dv[i] = -0.2f;
    lp_error err = {0};
    size_t n = lp_gru_param_count(m);
    float *once = malloc(n * sizeof *once);
    float m0[R * M];
    memcpy(m0, mem, sizeof m0);
    assert_int_equal(lp_gru_forward(m, obs, D, R, T, starts, mem, logits, values, &err), LP_OK);
    assert_int_equal(lp_gru_backward(m, obs, D, dl, dv, &err), LP_OK);
    memcpy(once, lp_gru_grads(m), n * sizeof *once);
    /* backward consumed the activations */
    assert_int_equal(lp_gru_backward(m, obs, D, dl, dv, &err), LP_ESTATE);
    memcpy(mem, m0, sizeof m0);
    assert_int_equal(lp_gru_forward(m, obs, D, R, T, starts, mem, logits, values, &err), LP_OK);
    assert_int_equal(lp_gru_backward(m, obs, D, dl, dv, &err), LP_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(fabsf(lp_gru_grads(m)[i] - 2 * once[i]) <= 1e-5f * (1 + fabsf(once[i])));
    lp_gru_zero_grad(m);
    for (size_t i = 0; i < n; i++)
        assert_true(lp_gru_grads(m)[i] == 0.0f);
    /* more samples than max_batch */
    assert_int_equal(lp_gru_forward(m, obs, D, R, T + 1, NULL, mem, logits, values, &err),
                     LP_ERANGE);
    assert_non_null(strstr(err.message, "max_batch"));
    free(once);
    lp_gru_destroy(m);
}

/* Orthogonal weights with the requested gains, zero biases. */
static void test_init(void **state) {
    (void)state;
    lp_gru_options o;
    lp_gru_options_init(&o);
    o.obs_dim = 4;
    o.num_actions = 2;
    o.encoder = 8;
    o.memory = 6;
    lp_gru *m = NULL;
    lp_error err = {0};
    assert_int_equal(lp_gru_create(&o, &m, &err), LP_OK);
    const double gains[10] = {sqrt(2.0), 0, 1, 0, 1, 0, 0.01, 0, 1, 0};
    for (size_t i = 0; i < 10; i++) {
        const lp_mlp_tensor_info *ti = lp_gru_tensor_at(m, i);
        const float *w = lp_gru_params(m) + ti->offset;
        if (ti->rank == 1) {
            for (int64_t k = 0; k < ti->shape[0]; k++)
                assert_true(w[k] == 0.0f);
            continue;
        }
        int64_t rows = ti->shape[0], cols = ti->shape[1];
        /* tall: W^T W = g^2 I; wide: W W^T = g^2 I */
        int tall = rows >= cols;
        int64_t k = tall ? cols : rows, inner = tall ? rows : cols;
        for (int64_t a = 0; a < k; a++)
            for (int64_t b = 0; b < k; b++) {
                double s = 0;
                for (int64_t q = 0; q < inner; q++)
                    s += tall ? (double)w[q * cols + a] * w[q * cols + b]
                              : (double)w[a * cols + q] * w[b * cols + q];
                double want = a == b ? gains[i] * gains[i] : 0.0;
                assert_true(fabs(s - want) < 1e-5);
            }
    }
    lp_gru_destroy(m);
    o.memory = 0;
    assert_int_equal(lp_gru_create(&o, &m, &err), LP_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.message, "memory"));
}

static int32_t no_step(void *user, float *p, float *g, size_t n, const lp_ctx *ctx, lp_error *err) {
    (void)user, (void)p, (void)g, (void)n, (void)ctx, (void)err;
    return LP_OK;
}

/* The adapter's auxiliary pass: memory in, memory out, carried from one
 * call to the next equals one long forward; it does not disturb the
 * minibatch's activations (a backward after it still works). */
static void test_adapter_aux_carries_memory(void **state) {
    (void)state;
    ref f;
    lp_gru *m = make(7, &f);
    lp_gru_model_options ao;
    lp_gru_model_options_init(&ao);
    ao.obs_handle = 0;
    ao.step = no_step;
    lp_gru_model *a = NULL;
    lp_error err = {0};
    assert_int_equal(lp_gru_model_create(m, &ao, &a, &err), LP_OK);
    lp_model cb = lp_gru_model_callbacks(a);
    assert_int_equal(cb.memory_size(cb.user), M);

    /* One row of 2 * 3 steps in two calls of 3, against one call of 6. */
    float obs[1 * T * D], logits[T * A], values[T];
    for (int i = 0; i < T * D; i++)
        obs[i] = (float)cos(0.5 * i);
    float mem[M] = {0}, whole[M] = {0};
    float all_logits[T * A], all_values[T];
    assert_int_equal(lp_gru_forward(m, obs, D, 1, T, NULL, whole, all_logits, all_values, &err),
                     LP_OK);
    for (int half = 0; half < 2; half++) {
        lp_tensor fv = {0}, ov[2] = {{0}, {0}};
        fv.data = obs + half * 3 * D;
        fv.dtype = LP_DTYPE_F32;
        fv.rank = 3;
        fv.shape[0] = 1, fv.shape[1] = 3, fv.shape[2] = D;
        fv.strides[0] = 3 * D, fv.strides[1] = D, fv.strides[2] = 1;
        ov[0].data = logits;
        ov[0].dtype = LP_DTYPE_F32;
        ov[0].rank = 3;
        ov[0].shape[0] = 1, ov[0].shape[1] = 3, ov[0].shape[2] = A;
        ov[1].data = values;
        ov[1].dtype = LP_DTYPE_F32;
        ov[1].rank = 2;
        ov[1].shape[0] = 1, ov[1].shape[1] = 3;
        lp_batch b = {0};
        b.struct_size = sizeof b;
        b.field_count = 1;
        b.fields = &fv;
        b.output_count = 2;
        b.outputs = ov;
        b.rows = 1;
        b.horizon = 3;
        assert_int_equal(cb.forward_aux(cb.user, &b, NULL, mem, ov, &err), LP_OK);
        for (int k = 0; k < 3; k++)
            assert_true(fabsf(values[k] - all_values[half * 3 + k]) < 1e-5f);
        b.grads = ov;
        assert_int_equal(cb.backward_aux(cb.user, &b, ov, &err), LP_OK);
    }
    for (int j = 0; j < M; j++)
        assert_true(fabsf(mem[j] - whole[j]) < 1e-5f);
    lp_gru_model_destroy(a);
    lp_gru_destroy(m);
}

/* The gate kernel (gru.c) in every build this CPU runs (baseline,
 * AVX2+FMA, AVX-512): against the double formulas of torch.nn.GRU, and
 * every build giving the baseline's bits. 67 units cover the vector bodies
 * and their scalar tails; the pre-activations reach +-40, where the
 * sigmoids and tanh saturate. */
static void test_gate_kernels(void **state) {
    (void)state;
    enum { W = 67 };
    ref f;
    lp_gru *m = make(5, &f);
    float gi[3 * W], gh[3 * W], h0[W];
    for (int i = 0; i < 3 * W; i++) {
        gi[i] = (float)(20.0 * sin(1.3 * i + 0.1));
        gh[i] = (float)(20.0 * cos(0.7 * i));
    }
    for (int j = 0; j < W; j++)
        h0[j] = (float)sin(2.1 * j);
    gi[0] = 0.0f;
    gh[0] = -0.0f;
    float bg[3 * W], bhn[W], bh[W];
    lp__gru_kern_pick(m, LP__ISA_BASE);
    m->gates(gi, gh, h0, bg, bhn, bh, W);
    for (int j = 0; j < W; j++) {
        const double ar = (double)(float)(gi[j] + gh[j]),
                     az = (double)(float)(gi[W + j] + gh[W + j]);
        const double rr = sig(ar), z = sig(az);
        const double an = (double)(float)(gi[2 * W + j] + bg[j] * gh[2 * W + j]);
        const double n = tanh(an);
        assert_true(fabs(bg[j] - rr) < 2e-7);
        assert_true(fabs(bg[W + j] - z) < 2e-7);
        assert_true(fabs(bg[2 * W + j] - n) <= 1e-6 * fabs(n) + 1e-37);
        assert_true(bhn[j] == gh[2 * W + j]);
        const double h = (1 - (double)bg[W + j]) * bg[2 * W + j] + (double)bg[W + j] * h0[j];
        assert_true(fabs(bh[j] - h) < 1e-6);
    }
    float x[3 * W], bx[3 * W];
    memcpy(x, gi, sizeof x);
    m->tanh(x, 3 * W);
    for (int i = 0; i < 3 * W; i++)
        assert_true(fabs(x[i] - tanh((double)gi[i])) <= 1e-6 * fabs(tanh((double)gi[i])) + 1e-37);
    memcpy(bx, x, sizeof bx);
    for (int isa = LP__ISA_AVX2; isa <= lp__isa_level(); isa++) {
        float g[3 * W], hn[W], h[W];
        lp__gru_kern_pick(m, isa);
        m->gates(gi, gh, h0, g, hn, h, W);
        assert_memory_equal(g, bg, sizeof g);
        assert_memory_equal(hn, bhn, sizeof hn);
        assert_memory_equal(h, bh, sizeof h);
        memcpy(x, gi, sizeof x);
        m->tanh(x, 3 * W);
        assert_memory_equal(x, bx, sizeof x);
    }
    lp_gru_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_bptt_matches_finite_differences),
        cmocka_unit_test(test_accumulate_and_bounds),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_adapter_aux_carries_memory),
        cmocka_unit_test(test_gate_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
