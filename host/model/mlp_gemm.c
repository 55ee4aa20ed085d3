/* The model's small matrix products (mlp_kern.h, "matrix products"), in
 * three builds from one source (baseline, AVX2+FMA, AVX-512).
 *
 * The code is written on 16-float vectors of GCC's vector extensions: the
 * AVX-512 build keeps one in a register, the AVX2 build two, the baseline
 * four. Nothing is contracted into FMA (C11 without GNU extensions) and
 * every sum runs in an order fixed by the source, not by the vector width,
 * so the three builds give the same bits:
 *   - nn (C = A B, B's rows contiguous): each output is a sequential sum
 *     over the inner index, from 0, then added to C in the accumulate mode;
 *   - nt (C = A B^T, dot products of contiguous rows): each output is the
 *     sum of 16 lane partials (inner index k in lane k mod 16, in order),
 *     folded by halves (lane l + lane l+8, then +4, +2, +1).
 * Register tiles of 4 rows x 4 vectors (nn) or 4 x 4 outputs (nt); edge
 * tiles repeat a valid row or column and store only the valid ones. */
#include "model/mlp_kern.h"

#include "lp_dispatch.h"

#include <string.h>

/* Every function taking or returning a vector is inlined into a kernel of
 * one target: no call passes one across builds. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
/* Clang contracts a * b + c into an FMA by default (GCC in ISO C mode does
 * not): off, or the builds would round differently. */
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));

#define LDV(p)      ((v16)(*(const v16u *)(const void *)(p)))
#define STV(p, v)   (*(v16u *)(void *)(p) = (v))
#define SPLAT(x)    ((v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x})
#define GEMM_INLINE static inline __attribute__((always_inline))

/* The first `cnt` floats at p (cnt < 16), the other lanes zero. */
GEMM_INLINE v16 load_part(const float *p, size_t cnt) {
    v16 v = {0};
    memcpy(&v, p, cnt * sizeof(float));
    return v;
}
GEMM_INLINE void store_part(float *p, v16 v, size_t cnt) {
    memcpy(p, &v, cnt * sizeof(float));
}

/* ---- nn: C[m, n] (=, +=, or continued) sum over c < k of A(r, c) B[c, :]
 * A(r, c) = a[r * ars + c * acs]; B row c at b + c * ldb; C row r at
 * c + r * ldc. mode: NN_SET C = sum; NN_ADD C = C + sum; NN_CONT the sum
 * continues from C (a later chunk of the inner index). */
enum { NN_SET = 0, NN_ADD = 1, NN_CONT = 2 };

/* One tile: rows r[0..3] (pointers to A's row starts), nv vectors of
 * columns from j (the last one `tail` wide, 16 when full). */
GEMM_INLINE void nn_tile(float *const crow[4], int rows, const float *const arow[4], size_t acs,
                         const float *b, size_t ldb, size_t k, size_t j, int nv, size_t tail,
                         int mode) {
    v16 acc[4][4];
#pragma GCC unroll 16
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
        for (int v = 0; v < 4; v++) {
            acc[r][v] = (v16){0};
            if (mode == NN_CONT && r < rows && v < nv) {
                const float *p = crow[r] + j + 16 * (size_t)v;
                acc[r][v] = v == nv - 1 && tail < 16 ? load_part(p, tail) : LDV(p);
            }
        }
    if (nv == 4 && tail == 16) {
        for (size_t c = 0; c < k; c++) {
            const float *bp = b + c * ldb + j;
            const v16 b0 = LDV(bp), b1 = LDV(bp + 16), b2 = LDV(bp + 32), b3 = LDV(bp + 48);
#pragma GCC unroll 16
            for (int r = 0; r < 4; r++) {
                const float as = arow[r][c * acs];
                const v16 a = SPLAT(as);
                acc[r][0] += a * b0;
                acc[r][1] += a * b1;
                acc[r][2] += a * b2;
                acc[r][3] += a * b3;
            }
        }
    } else {
        for (size_t c = 0; c < k; c++) {
            const float *bp = b + c * ldb + j;
            v16 bv[4];
#pragma GCC unroll 16
            for (int v = 0; v < 4; v++)
                bv[v] = v < nv - 1 ? LDV(bp + 16 * v)
                        : v == nv - 1
                            ? (tail < 16 ? load_part(bp + 16 * v, tail) : LDV(bp + 16 * v))
                            : (v16){0};
#pragma GCC unroll 16
            for (int r = 0; r < 4; r++) {
                const float as = arow[r][c * acs];
                const v16 a = SPLAT(as);
#pragma GCC unroll 16
                for (int v = 0; v < 4; v++)
                    acc[r][v] += a * bv[v];
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            if (r >= rows || v >= nv)
                continue;
            float *p = crow[r] + j + 16 * (size_t)v;
            const size_t w = v == nv - 1 ? tail : 16;
            v16 s = acc[r][v];
            if (mode == NN_ADD)
                s = (w < 16 ? load_part(p, w) : LDV(p)) + s;
            if (w < 16)
                store_part(p, s, w);
            else
                STV(p, s);
        }
}

GEMM_INLINE void nn_body(float *c, size_t ldc, const float *a, size_t ars, size_t acs,
                         const float *b, size_t ldb, size_t m, size_t n, size_t k, int mode) {
    for (size_t i = 0; i < m; i += 4) {
        const int rows = m - i < 4 ? (int)(m - i) : 4;
        float *crow[4];
        const float *arow[4];
#pragma GCC unroll 16
        for (int r = 0; r < 4; r++) {
            const size_t ii = i + (size_t)(r < rows ? r : rows - 1);
            crow[r] = c + ii * ldc;
            arow[r] = a + ii * ars;
        }
        size_t j = 0;
        for (; j + 64 <= n; j += 64)
            nn_tile(crow, rows, arow, acs, b, ldb, k, j, 4, 16, mode);
        if (j < n) {
            const size_t left = n - j;
            const int nv = (int)((left + 15) / 16);
            const size_t tail = left - 16 * (size_t)(nv - 1);
            nn_tile(crow, rows, arow, acs, b, ldb, k, j, nv, tail, mode);
        }
    }
}

/* ---- nt: C[m, n] = A[m, k] B[n, k]^T, rows of A and B contiguous. */

/* lo + hi halves of two vectors: [a0..7 + a8..15, b0..7 + b8..15] etc. */
#define FOLD8(x, y)                                                                                \
    (__builtin_shufflevector(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +       \
     __builtin_shufflevector(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
#define FOLD4(x, y)                                                                                \
    (__builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +     \
     __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31))
#define FOLD2(x, y)                                                                                \
    (__builtin_shufflevector(x, y, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +     \
     __builtin_shufflevector(x, y, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31))
#define FOLD1(x, y)                                                                                \
    (__builtin_shufflevector(x, y, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +    \
     __builtin_shufflevector(x, y, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31))

/* The 16 sums of acc[0..15], in order, each folded by halves. */
GEMM_INLINE v16 reduce16(const v16 acc[16]) {
    v16 h[8], q[4], d[2];
#pragma GCC unroll 16
    for (int t = 0; t < 8; t++)
        h[t] = FOLD8(acc[2 * t], acc[2 * t + 1]);
#pragma GCC unroll 16
    for (int t = 0; t < 4; t++)
        q[t] = FOLD4(h[2 * t], h[2 * t + 1]);
#pragma GCC unroll 16
    for (int t = 0; t < 2; t++)
        d[t] = FOLD2(q[2 * t], q[2 * t + 1]);
    return FOLD1(d[0], d[1]);
}

GEMM_INLINE void nt_body(float *c, size_t ldc, const float *a, size_t lda, const float *b,
                         size_t ldb, size_t m, size_t n, size_t k) {
    const size_t kfull = k / 16 * 16, ktail = k - kfull;
    for (size_t i = 0; i < m; i += 4) {
        const int rows = m - i < 4 ? (int)(m - i) : 4;
        const float *ar[4];
#pragma GCC unroll 16
        for (int r = 0; r < 4; r++)
            ar[r] = a + (i + (size_t)(r < rows ? r : rows - 1)) * lda;
        for (size_t j = 0; j < n; j += 4) {
            const int cols = n - j < 4 ? (int)(n - j) : 4;
            const float *br[4];
#pragma GCC unroll 16
            for (int q = 0; q < 4; q++)
                br[q] = b + (j + (size_t)(q < cols ? q : cols - 1)) * ldb;
            v16 acc[16];
#pragma GCC unroll 16
            for (int t = 0; t < 16; t++)
                acc[t] = (v16){0};
            for (size_t p = 0; p < kfull; p += 16) {
                v16 av[4], bv[4];
#pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
                    av[r] = LDV(ar[r] + p);
#pragma GCC unroll 16
                for (int q = 0; q < 4; q++)
                    bv[q] = LDV(br[q] + p);
#pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
                    for (int q = 0; q < 4; q++)
                        acc[4 * r + q] += av[r] * bv[q];
            }
            if (ktail > 0) {
                v16 av[4], bv[4];
#pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
                    av[r] = load_part(ar[r] + kfull, ktail);
#pragma GCC unroll 16
                for (int q = 0; q < 4; q++)
                    bv[q] = load_part(br[q] + kfull, ktail);
#pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
#pragma GCC unroll 16
                    for (int q = 0; q < 4; q++)
                        acc[4 * r + q] += av[r] * bv[q];
            }
            float s[16];
            const v16 sum = reduce16(acc);
            memcpy(s, &sum, sizeof s);
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++)
                    c[(i + (size_t)r) * ldc + j + (size_t)q] = s[4 * r + q];
        }
    }
}

/* ---- The three products of a layer. */

/* Columns of W^T packed per block: PACK_COLS outputs, PACK_K inputs. */
enum { PACK_COLS = 64, PACK_K = 128 };

/* y[n, out] = x[n, in] W^T, W [out, in]. Few rows (a rollout step) or a
 * narrow output (the heads): dot products of the rows (nt). Otherwise W^T
 * is packed block by block and the rows are broadcast over it (nn), with
 * the inner index in chunks continuing the same sequential sum. */
GEMM_INLINE void fwd_body(float *y, size_t ldy, const float *x, size_t ldx, const float *w,
                          size_t n, size_t out, size_t in) {
    if (out < 16 || (n <= 8 && in >= 16)) {
        nt_body(y, ldy, x, ldx, w, in, n, out, in);
        return;
    }
    float pack[PACK_K * PACK_COLS];
    for (size_t j = 0; j < out; j += PACK_COLS) {
        const size_t cols = out - j < PACK_COLS ? out - j : PACK_COLS;
        for (size_t k0 = 0; k0 < in; k0 += PACK_K) {
            const size_t kk = in - k0 < PACK_K ? in - k0 : PACK_K;
            const float *wb = w + j * in + k0;
            for (size_t c = 0; c < kk; c++)
                for (size_t q = 0; q < cols; q++)
                    pack[c * PACK_COLS + q] = wb[q * in + c];
            nn_body(y + j, ldy, x + k0, ldx, 1, pack, PACK_COLS, n, cols, kk,
                    k0 == 0 ? NN_SET : NN_CONT);
        }
    }
}

/* gw[out, in] += g[n, out]^T x[n, in] (g's row distance ldg), each sum over
 * the rows in order from 0, then added. A wide input: the vectors run
 * along the input (nn with A = g^T). A narrow one (the first layer's
 * observations): along the output, into a transposed block, then added. */
GEMM_INLINE void grad_w_body(float *gw, const float *g, size_t ldg, const float *x, size_t ldx,
                             size_t n, size_t out, size_t in) {
    if (in >= 16 || out < 16) {
        nn_body(gw, in, g, 1, ldg, x, ldx, out, in, n, NN_ADD);
        return;
    }
    float tr[16 * PACK_COLS];
    for (size_t j = 0; j < out; j += PACK_COLS) {
        const size_t cols = out - j < PACK_COLS ? out - j : PACK_COLS;
        nn_body(tr, PACK_COLS, x, 1, ldx, g + j, ldg, in, cols, n, NN_SET);
        for (size_t q = 0; q < cols; q++)
            for (size_t c = 0; c < in; c++)
                gw[(j + q) * in + c] += tr[c * PACK_COLS + q];
    }
}

/* dx[n, in] (=, or +=) g[n, out] W, W [out, in]. */
GEMM_INLINE void grad_x_body(float *dx, const float *g, size_t ldg, const float *w, size_t n,
                             size_t out, size_t in, int accumulate) {
    nn_body(dx, in, g, ldg, 1, w, in, n, in, out, accumulate ? NN_ADD : NN_SET);
}

LP__DEFINE_ISA_VARIANTS(gemm_fwd, void,
                        (float *y, size_t ldy, const float *x, size_t ldx, const float *w, size_t n,
                         size_t out, size_t in),
                        { fwd_body(y, ldy, x, ldx, w, n, out, in); })
LP__DEFINE_ISA_VARIANTS(gemm_grad_w, void,
                        (float *gw, const float *g, size_t ldg, const float *x, size_t ldx,
                         size_t n, size_t out, size_t in),
                        { grad_w_body(gw, g, ldg, x, ldx, n, out, in); })
LP__DEFINE_ISA_VARIANTS(gemm_grad_x, void,
                        (float *dx, const float *g, size_t ldg, const float *w, size_t n,
                         size_t out, size_t in, int accumulate),
                        { grad_x_body(dx, g, ldg, w, n, out, in, accumulate); })

void lp__mlp_gemm_set(int isa, lp__mlp_kern *k) {
    k->fwd = gemm_fwd_base;
    k->grad_w = gemm_grad_w_base;
    k->grad_x = gemm_grad_x_base;
#if LP__HAVE_ISA_VARIANTS
    if (isa == LP__ISA_AVX2) {
        k->fwd = gemm_fwd_avx2;
        k->grad_w = gemm_grad_w_avx2;
        k->grad_x = gemm_grad_x_avx2;
    } else if (isa == LP__ISA_AVX512) {
        k->fwd = gemm_fwd_avx512;
        k->grad_w = gemm_grad_w_avx512;
        k->grad_x = gemm_grad_x_avx512;
    }
#else
    (void)isa;
#endif
}
