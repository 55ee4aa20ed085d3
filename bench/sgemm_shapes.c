/* The shape limit of the reference model: every cblas_sgemm call lp_mlp
 * makes for one PPO update (separate trunks, as examples/cartpole/ppo.yaml),
 * each shape timed alone in a loop on warm data, summed per env step. The
 * model cannot run faster than this with OpenBLAS at these shapes, whatever
 * its other loops do. Also the FMA peak of one core (AVX2 and AVX-512
 * registers, dependent-chain-free loops) measured in the same run.
 *
 *   sgemm_shapes OBS HIDDEN ACTIONS ENVS HORIZON MINIBATCH_ROWS MINIBATCHES EPOCHS [REPS]
 *
 * Prints one line of key=value: flops_per_step (sgemm only, 2 M N K per
 * call), limit_ns_per_step, limit_gflops, fma_peak_avx2_gflops,
 * fma_peak_avx512_gflops (0 when the CPU lacks it), and own_ns_per_step:
 * the same calls through the model's own kernels (host/model/mlp_gemm.c,
 * the widest build this CPU runs), which the model uses at these shapes.
 * Per call (stderr) both times. One thread: run with
 * OPENBLAS_NUM_THREADS=1, pinned. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/mlp_kern.h"

static lp__mlp_kern kern; /* the widest build this CPU runs */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One call as the model makes it (host/model/mlp_pass.c): forward
 * y = x W^T (NT, beta 0), parameter gradient dW += g^T x (TN, beta 1),
 * input gradient dx = g W (NN, beta 0). */
typedef struct call {
    enum CBLAS_TRANSPOSE ta, tb;
    int m, n, k;
    float beta;
    double per_step; /* calls per env step */
} call;

static float *buf(size_t n) {
    float *p = malloc((n > 0 ? n : 1) * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "sgemm_shapes: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((int)(i % 13) - 6) * 0.01f;
    return p;
}

/* Best of `reps` rounds of the median-free minimum: the least time per
 * call over rounds of enough calls to last about a millisecond. */
/* The call through the model's kernel for it (mlp_pass.c's mapping). */
static void own_call(const call *c, const float *a, const float *b, float *y) {
    if (c->tb == CblasTrans) /* forward: y[m, n] = x[m, k] W^T */
        kern.fwd(y, (size_t)c->n, a, (size_t)c->k, b, (size_t)c->m, (size_t)c->n, (size_t)c->k);
    else if (c->ta == CblasTrans) /* dW[m, n] += g[k, m]^T x[k, n] */
        kern.grad_w(y, a, (size_t)c->m, b, (size_t)c->n, (size_t)c->k, (size_t)c->m, (size_t)c->n);
    else /* dx[m, n] = g[m, k] W[k, n] */
        kern.grad_x(y, a, (size_t)c->k, b, (size_t)c->m, (size_t)c->k, (size_t)c->n, 0);
}

static double time_call(const call *c, int reps, int own) {
    const int lda = c->ta == CblasNoTrans ? c->k : c->m;
    const int ldb = c->tb == CblasNoTrans ? c->n : c->k;
    float *a = buf((size_t)c->m * (size_t)c->k), *b = buf((size_t)c->k * (size_t)c->n);
    float *y = buf((size_t)c->m * (size_t)c->n);
    int inner = 1;
    for (;;) {
        double t0 = now();
        for (int i = 0; i < inner; i++) {
            if (own)
                own_call(c, a, b, y);
            else
                cblas_sgemm(CblasRowMajor, c->ta, c->tb, c->m, c->n, c->k, 1.0f, a, lda, b, ldb,
                            c->beta, y, c->n);
        }
        if (now() - t0 > 1e-3 || inner > (1 << 20))
            break;
        inner *= 2;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) {
            if (own)
                own_call(c, a, b, y);
            else
                cblas_sgemm(CblasRowMajor, c->ta, c->tb, c->m, c->n, c->k, 1.0f, a, lda, b, ldb,
                            c->beta, y, c->n);
        }
        double t = (now() - t0) / inner;
        if (t < best)
            best = t;
    }
    free(a);
    free(b);
    free(y);
    return best;
}

/* Independent FMA chains (more than latency x throughput of them), no
 * memory traffic: flops per second of one core. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define FMA_PEAK(name, vec, lanes, isa, set1, fmadd, first)                                        \
    __attribute__((target(isa))) static double name(long iters) {                                  \
        vec a0 = set1(1e-7f), a1 = set1(2e-7f), a2 = set1(3e-7f), a3 = set1(4e-7f);                \
        vec a4 = set1(5e-7f), a5 = set1(6e-7f), a6 = set1(7e-7f), a7 = set1(8e-7f);                \
        vec a8 = set1(9e-7f), a9 = set1(1e-6f), a10 = set1(2e-6f), a11 = set1(3e-6f);              \
        const vec x = set1(0.999f), y = set1(1e-7f);                                               \
        double t0 = now();                                                                         \
        for (long i = 0; i < iters; i++) {                                                         \
            a0 = fmadd(a0, x, y);                                                                  \
            a1 = fmadd(a1, x, y);                                                                  \
            a2 = fmadd(a2, x, y);                                                                  \
            a3 = fmadd(a3, x, y);                                                                  \
            a4 = fmadd(a4, x, y);                                                                  \
            a5 = fmadd(a5, x, y);                                                                  \
            a6 = fmadd(a6, x, y);                                                                  \
            a7 = fmadd(a7, x, y);                                                                  \
            a8 = fmadd(a8, x, y);                                                                  \
            a9 = fmadd(a9, x, y);                                                                  \
            a10 = fmadd(a10, x, y);                                                                \
            a11 = fmadd(a11, x, y);                                                                \
        }                                                                                          \
        double t = now() - t0;                                                                     \
        vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                       \
        if (first(s) == 12345.0f)                                                                  \
            puts("");                                                                              \
        return 2.0 * lanes * 12.0 * (double)iters / t / 1e9;                                       \
    }
FMA_PEAK(peak_avx2, __m256, 8, "avx2,fma", _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
FMA_PEAK(peak_avx512, __m512, 16, "avx512f,fma", _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
#endif

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr,
                "usage: %s OBS HIDDEN ACTIONS ENVS HORIZON MINIBATCH_ROWS MINIBATCHES "
                "EPOCHS [REPS]\n",
                argv[0]);
        return 2;
    }
    const int obs = atoi(argv[1]), h = atoi(argv[2]), act = atoi(argv[3]), envs = atoi(argv[4]);
    const int horizon = atoi(argv[5]), mb = atoi(argv[6]), mbs = atoi(argv[7]);
    const int epochs = atoi(argv[8]), reps = argc > 9 ? atoi(argv[9]) : 20;
    if (obs <= 0 || h <= 0 || act <= 0 || envs <= 0 || horizon <= 0 || mb <= 0 || mbs <= 0 ||
        epochs <= 0 || reps <= 0) {
        fprintf(stderr, "%s: every argument is a positive integer\n", argv[0]);
        return 2;
    }
    const double steps = (double)envs * horizon;       /* env steps per update */
    const double roll = horizon / steps;               /* rollout forwards per env step */
    const double train = (double)epochs * mbs / steps; /* minibatches per env step */
    const CBLAS_TRANSPOSE N = CblasNoTrans, T = CblasTrans;
    call calls[32];
    int nc = 0;
    for (int trunk = 0; trunk < 2; trunk++) {
        const int head = trunk == 0 ? act : 1;
        /* rollout forward on ENVS rows; minibatch forward on MB rows */
        const int rows[2] = {envs, mb};
        const double per[2] = {roll, train};
        for (int f = 0; f < 2; f++) {
            calls[nc++] = (call){N, T, rows[f], h, obs, 0.0f, per[f]};
            calls[nc++] = (call){N, T, rows[f], h, h, 0.0f, per[f]};
            calls[nc++] = (call){N, T, rows[f], head, h, 0.0f, per[f]};
        }
        /* backward of a minibatch */
        calls[nc++] = (call){T, N, head, h, mb, 1.0f, train}; /* head dW */
        calls[nc++] = (call){N, N, mb, h, head, 0.0f, train}; /* head dx */
        calls[nc++] = (call){T, N, h, h, mb, 1.0f, train};    /* layer 1 dW */
        calls[nc++] = (call){N, N, mb, h, h, 0.0f, train};    /* layer 1 dx */
        calls[nc++] = (call){T, N, h, obs, mb, 1.0f, train};  /* layer 0 dW */
    }
    lp__mlp_kern_best(&kern);
    double flops = 0.0, ns = 0.0, own_ns = 0.0;
    for (int i = 0; i < nc; i++) {
        const call *c = &calls[i];
        const double t = time_call(c, reps, 0), to = time_call(c, reps, 1);
        const double f = 2.0 * c->m * c->n * c->k;
        flops += f * c->per_step;
        ns += t * 1e9 * c->per_step;
        own_ns += to * 1e9 * c->per_step;
        fprintf(stderr,
                "  %c%c m=%-4d n=%-4d k=%-4d beta=%g: sgemm %8.0f ns %6.1f GFLOP/s, own %8.0f ns "
                "%6.1f GFLOP/s (%.2fx), %.3f per step\n",
                c->ta == N ? 'N' : 'T', c->tb == N ? 'N' : 'T', c->m, c->n, c->k, c->beta, t * 1e9,
                f / t / 1e9, to * 1e9, f / to / 1e9, t / to, c->per_step);
    }
    double p2 = 0.0, p5 = 0.0;
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        for (int r = 0; r < 40; r++) {
            double p = peak_avx2(300000);
            p2 = p > p2 ? p : p2;
        }
    if (__builtin_cpu_supports("avx512f"))
        for (int r = 0; r < 40; r++) {
            double p = peak_avx512(300000);
            p5 = p > p5 ? p : p5;
        }
#endif
    printf("flops_per_step=%.0f limit_ns_per_step=%.2f limit_gflops=%.2f fma_peak_avx2_gflops=%.1f "
           "fma_peak_avx512_gflops=%.1f own_ns_per_step=%.2f own_gflops=%.2f\n",
           flops, ns, flops / ns, p2, p5, own_ns, flops / own_ns);
    return 0;
}
