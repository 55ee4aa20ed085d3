/* Internal: the model's element-wise loops (bias, activations and their
 * derivatives, the bias gradient), built for the baseline ISA, AVX2+FMA and
 * AVX-512 from one source (plugins/common/lp_dispatch.h). lp_mlp_create
 * picks the widest table the CPU runs, once; a pass then calls through the
 * table, one indirect call per layer, no lookup per call.
 *
 * Every build computes the same bits: the loops are element-wise or sum in
 * the same order in each (the column sums run over rows in row order), and
 * nothing is contracted into FMA (C11, no -ffp-contract), so a run gives the
 * same numbers whichever table the CPU gets (tests/model/test_mlp_kern.c). */
#ifndef LP_MODEL_MLP_KERN_H
#define LP_MODEL_MLP_KERN_H

#include <stddef.h>
#include <stdint.h>

enum { LP__ACT_NONE = 0 }; /* else LP_ACTIVATION_TANH or LP_ACTIVATION_RELU */

typedef struct lp__mlp_kern {
    int isa; /* LP__ISA_BASE, LP__ISA_AVX2 or LP__ISA_AVX512 */
    /* y[i, j] = act(y[i, j] + b[j]) over rows x out, y contiguous. */
    void (*bias_act)(float *y, size_t rows, size_t out, const float *b, int32_t act);
    /* g[i] *= act'(h[i]) from the kept outputs h (1 - h^2, or h > 0). */
    void (*act_grad)(float *g, const float *h, size_t count, int32_t act);
    /* gb[j] += sum over rows i of g[i, j], rows in order. */
    void (*bias_grad)(float *gb, const float *g, size_t rows, size_t out);
    /* Matrix products (mlp_gemm.c), for the small shapes where OpenBLAS's
     * sgemm is slow (mlp_pass.c says which go here). W is [out, in]. Each
     * output's sum runs in an order fixed by the source, the same in every
     * build: the three builds give the same bits, which differ from
     * sgemm's.
     * y[n, out] (row distance ldy) = x[n, in] W^T, x's row distance ldx. */
    void (*fwd)(float *y, size_t ldy, const float *x, size_t ldx, const float *w, size_t n,
                size_t out, size_t in);
    /* gw[out, in] += g[n, out]^T x[n, in]: each sum over the rows in order
     * from 0, then added to gw. */
    void (*grad_w)(float *gw, const float *g, size_t ldg, const float *x, size_t ldx, size_t n,
                   size_t out, size_t in);
    /* dx[n, in] = g[n, out] W, or dx += that when accumulate. */
    void (*grad_x)(float *dx, const float *g, size_t ldg, const float *w, size_t n, size_t out,
                   size_t in, int accumulate);
} lp__mlp_kern;

/* Sets the matrix products of `k` for `isa` (called by lp__mlp_kern_get). */
void lp__mlp_gemm_set(int isa, lp__mlp_kern *k);

/* The table for `isa` (LP__ISA_*); 0 when this CPU or build lacks it. */
int lp__mlp_kern_get(int isa, lp__mlp_kern *out);
/* The widest table this CPU runs. */
void lp__mlp_kern_best(lp__mlp_kern *out);

#endif
