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
} lp__mlp_kern;

/* The table for `isa` (LP__ISA_*); 0 when this CPU or build lacks it. */
int lp__mlp_kern_get(int isa, lp__mlp_kern *out);
/* The widest table this CPU runs. */
void lp__mlp_kern_best(lp__mlp_kern *out);

#endif
