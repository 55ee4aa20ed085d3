/* Internal: the lp_gru object (lossplug/rnn.h) shared by gru.c and
 * gru_model.c. */
#ifndef LP_MODEL_GRU_IMPL_H
#define LP_MODEL_GRU_IMPL_H

#include <lossplug/rnn.h>

#include <stddef.h>
#include <stdint.h>

#define LP__GRU_MAX_DIM   (INT64_C(1) << 20) /* obs_dim, E, M, actions */
#define LP__GRU_MAX_BATCH (INT64_C(1) << 24)
#define LP__GRU_TENSORS   10

/* One forward's activations and the backward's scratch, for `cap` samples.
 * Per-sample arrays are in sample order (r * horizon + t); per-step arrays
 * are time-major ([t][r]) so that each step is one contiguous sgemm. */
typedef struct lp__gru_work {
    float *block;    /* owns everything below */
    int64_t cap;     /* samples */
    float *x;        /* [N, E]   encoder output */
    float *gi;       /* [N, 3M]  W_ih x + b_ih; backward: d(gi) */
    float *h;        /* [N, M]   states after each step; backward: dh from the heads */
    float *hp;       /* [T][R, M]  state before each step (after resets) */
    float *gate;     /* [T][R, 3M] r, z, n */
    float *ghn;      /* [T][R, M]  W_hn h + b_hn */
    float *dx;       /* [N, E]   backward: d(x) */
    float *gh;       /* [R, 3M]    one step's W_hh h + b_hh; backward d(gh) */
    float *dc;       /* [R, M]     the gradient carried to the previous step */
    uint8_t *starts; /* [N] the forward's reset flags (0 where none) */
    /* the last forward, which backward relies on; rows < 0: none */
    int64_t rows, horizon;
    int32_t did_logits, did_values;
} lp__gru_work;

struct lp_gru {
    int64_t D, A, E, M;
    float critic_trunk; /* lp_gru_options.critic_trunk */
    size_t param_count;
    float *params;
    float *grads;
    size_t we, be, wih, bih, whh, bhh, wa, ba, wc, bc; /* offsets */
    lp_mlp_tensor_info tensors[LP__GRU_TENSORS];
    lp__gru_work own; /* the model's work block */
    lp__gru_work *w;  /* the block in use: &own, or an adapter's auxiliary one */
    /* The element-wise kernels for the widest ISA the CPU runs (gru.c):
     * one step's gates for one row, and tanh in place. */
    void (*gates)(const float *gi, const float *gh, const float *h0, float *g, float *hn, float *h,
                  size_t M);
    void (*tanh)(float *x, size_t count);
};

/* A work block for `cap` samples of model `m`; LP_ENOMEM on failure (w is
 * then untouched). lp__gru_work_free releases it. */
int32_t lp__gru_work_alloc(const lp_gru *m, int64_t cap, lp__gru_work *w);
void lp__gru_work_free(lp__gru_work *w);
/* Sets m's kernels to the build for `isa` (LP__ISA_*, lp_dispatch.h), which
 * the CPU must run; lp_gru_create picks the widest. For tests. */
void lp__gru_kern_pick(lp_gru *m, int isa);

#endif
