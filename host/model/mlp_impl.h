/* Internal: the lp_mlp object shared by the model's files. */
#ifndef LP_MODEL_MLP_IMPL_H
#define LP_MODEL_MLP_IMPL_H

#include <lossplug/host.h>

#include "model/mlp_kern.h"

#include <stddef.h>
#include <stdint.h>

/* Bounds that keep every size product far from overflow and every BLAS
 * dimension inside a 32-bit int. */
#define LP__MLP_MAX_DIM   (INT64_C(1) << 24) /* obs_dim, hidden sizes */
#define LP__MLP_MAX_BATCH (INT64_C(1) << 24)

/* One affine layer y = x W^T + b; W [out, in] and b [out] live at the
 * offsets w and b of the flat arrays. */
typedef struct lp__layer {
    int64_t in;
    int64_t out;
    size_t w;
    size_t b;
    float *act; /* hidden layers: post-activation outputs [max_batch, out] */
} lp__layer;

#define LP__MLP_MAX_LAYERS  (2 * LP_MLP_MAX_HIDDEN + 2)
#define LP__MLP_MAX_TENSORS (2 * LP__MLP_MAX_LAYERS + 1) /* + the Gaussian log-std */

struct lp_mlp {
    int64_t obs_dim;
    int64_t num_actions; /* the policy output's width per step */
    /* LP_ACTION_BOX: the actor head computes the num_actions / 2 means and
     * the state-independent log-stds follow them from the parameter vector
     * at log_std; otherwise the head computes every logit. */
    int32_t action_space;
    size_t log_std; /* BOX: offset of "model/actor/log_std" [num_actions / 2] */
    int64_t max_batch;
    int32_t activation;
    int32_t shared;
    size_t hidden_count;
    int64_t hidden[LP_MLP_MAX_HIDDEN];
    int64_t max_hidden; /* widest hidden layer; 0 without hidden layers */
    size_t trunk_count; /* 1 shared, 2 separate (actor trunk 0, critic trunk 1) */
    /* Trunk t's layer l at layers[t * hidden_count + l], then the actor head
     * and the critic head. */
    lp__layer layers[LP__MLP_MAX_LAYERS];
    size_t param_count;
    float *params;
    float *grads;
    float *work;    /* every activation buffer, then the two below */
    float *dbuf[2]; /* backward ping-pong [max_batch, max_hidden] */
    lp_mlp_tensor_info tensors[LP__MLP_MAX_TENSORS];
    size_t tensor_count;
    char names[LP__MLP_MAX_TENSORS][48];
    lp__mlp_kern kern; /* element-wise loops for this CPU, picked at create */
    /* The last forward, which backward relies on. */
    int64_t fwd_rows; /* -1: none */
    int32_t fwd_actor;
    int32_t fwd_critic;
};

/* A set of work buffers and the record of the forward that filled them:
 * the model's own, or the lp_model adapter's for auxiliary passes
 * (mlp_model.c swaps them). */
typedef struct lp__mlp_work {
    float *work;
    int64_t rows; /* max_batch of this block */
    float *act[LP__MLP_MAX_LAYERS];
    float *dbuf[2];
    int64_t fwd_rows;
    int32_t fwd_actor;
    int32_t fwd_critic;
} lp__mlp_work;

static inline lp__layer *lp__trunk_layer(lp_mlp *m, size_t trunk, size_t l) {
    return &m->layers[trunk * m->hidden_count + l];
}
static inline lp__layer *lp__actor_head(lp_mlp *m) {
    return &m->layers[m->trunk_count * m->hidden_count];
}
static inline lp__layer *lp__critic_head(lp_mlp *m) {
    return &m->layers[m->trunk_count * m->hidden_count + 1];
}
static inline size_t lp__critic_trunk(const lp_mlp *m) {
    return m->shared ? 0 : 1;
}

#endif
