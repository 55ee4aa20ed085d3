/*
 * lossplug/rnn.h: the recurrent reference model (docs/model.md "Recurrent
 * model"). A one-layer tanh encoder, a GRU core and the actor and critic
 * heads of the MLP:
 *
 *   x_t = tanh(W_e obs_t + b_e)                        [E]
 *   h_t = GRU(x_t, h_{t-1}), h_{t-1} zeroed where an episode starts  [M]
 *   logits_t = W_a h_t + b_a,  value_t = W_c h_t + b_c
 *
 * with torch.nn.GRU's gate equations and parameter layout (r, z, n blocks).
 * Forward runs a [rows, horizon] minibatch from given start states; backward
 * is backpropagation through time over the horizon (truncated at the
 * minibatch's first step: no gradient flows into the start states). Matrix
 * products go through OpenBLAS's cblas_sgemm, as the MLP's. Part of
 * liblossplug-train (pkg-config lossplug-train).
 *
 * Thread rules: no threads and no global state of its own; one thread at a
 * time per model. Ownership: the model owns its parameters, gradients and
 * work buffers; every pointer it returns is valid until destroy. Callers own
 * every array they pass.
 */
#ifndef LOSSPLUG_RNN_H
#define LOSSPLUG_RNN_H

#include <lossplug/checkpoint.h>
#include <lossplug/mlp.h>
#include <lossplug/model.h>
#include <lossplug/session.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lp_gru lp_gru;

typedef struct lp_gru_options {
    uint32_t struct_size; /* set by lp_gru_options_init */
    int32_t reserved;
    int64_t obs_dim;     /* flattened f32 observation size; required (> 0) */
    int64_t num_actions; /* logits width; required (> 0) */
    int64_t encoder;     /* E: width of the tanh encoder; default 64 */
    int64_t memory;      /* M: GRU state size (memory floats per row); default 128 */
    uint64_t seed;       /* initialisation seed; default 1 */
    int64_t max_batch;   /* most rows * horizon a forward takes; default 1024 */
    double encoder_gain; /* orthogonal gain of the encoder; default sqrt 2 */
    double gru_gain;     /* of W_ih and W_hh (CleanRL's LSTM: 1); default 1 */
    double actor_gain;   /* default 0.01 */
    double critic_gain;  /* default 1.0 */
    double critic_trunk; /* factor on the critic's gradient into the GRU and the
                            encoder (the critic head always gets its own):
                            1 (default) is the plain gradient; below 1 keeps
                            large value errors from drowning the policy's
                            gradient in the shared core; 0 detaches it */
} lp_gru_options;

LP_API void lp_gru_options_init(lp_gru_options *opt);

/* Build the model: CleanRL-style initialisation (orthogonal weights with the
 * gains above, zero biases; deterministic for a seed), zero gradients, work
 * buffers for max_batch samples. On error *out is NULL. */
LP_API int32_t lp_gru_create(const lp_gru_options *opt, lp_gru **out, lp_error *err);
LP_API void lp_gru_destroy(lp_gru *m); /* NULL is a no-op */

LP_API int64_t lp_gru_memory_size(const lp_gru *m); /* M */
LP_API int64_t lp_gru_max_batch(const lp_gru *m);

/* Flat parameters and gradients (same layout, lp_gru_param_count floats). */
LP_API size_t lp_gru_param_count(const lp_gru *m);
LP_API float *lp_gru_params(lp_gru *m);
LP_API float *lp_gru_grads(lp_gru *m);
LP_API void lp_gru_zero_grad(lp_gru *m);

/* The parameter tensors ("model/encoder/w", "model/gru/w_ih", ...), as
 * lp_mlp_tensor_at; and views of them for lp_session_save/load. */
LP_API size_t lp_gru_tensor_count(const lp_gru *m);
LP_API const lp_mlp_tensor_info *lp_gru_tensor_at(const lp_gru *m, size_t index);
LP_API size_t lp_gru_named_params(lp_gru *m, lp_named_tensor *out, size_t cap);

/* Forward `rows` sequences of `horizon` steps. Sample (r, t) is row
 * r * horizon + t everywhere: obs at obs + (r * horizon + t) * ld_obs
 * (ld_obs >= obs_dim), logits [rows * horizon, num_actions], values
 * [rows * horizon] (either may be NULL: that head is skipped). `starts`
 * (u8 [rows, horizon], NULL: none): a row's state is zeroed before each step
 * flagged non-zero. `memory` (f32 [rows, M], required): the states before
 * step 0, overwritten with the states after the last step. Keeps what
 * lp_gru_backward needs. rows * horizon > max_batch is LP_ERANGE.
 * Allocates nothing. */
LP_API int32_t lp_gru_forward(lp_gru *m, const float *obs, int64_t ld_obs, int64_t rows,
                              int64_t horizon, const uint8_t *starts, float *memory, float *logits,
                              float *values, lp_error *err);

/* Backpropagation through time of dlogits and dvalues (shapes of the last
 * forward's outputs; NULL: zero) through the LAST forward, which must have
 * computed the heads given here; same obs. ADDS into the gradients. No
 * gradient flows into the start states, nor across a step flagged in
 * `starts`. Allocates nothing. */
LP_API int32_t lp_gru_backward(lp_gru *m, const float *obs, int64_t ld_obs, const float *dlogits,
                               const float *dvalues, lp_error *err);

/* ---- the lp_model adapter ---------------------------------------------------
 * For lp_session_train and the "lossplug.model/1" extension. On the
 * session's minibatches it reads three fields by handle: the observations
 * (f32 [rows, horizon, obs...]), `dones` (u8 [rows, horizon]: the episode
 * ended after that step, so the state is zeroed before the next) and
 * `memory_start` (f32 [rows, horizon, M]; step 0 of each row holds the
 * state before the row's first step, as the rollout computed it). Training
 * therefore needs whole buffer rows (buffer.sample: rows). Auxiliary passes
 * (forward_aux) take `starts` and `memory` from the loss instead, and run in
 * a work block of their own. memory_size is M. */
typedef struct lp_gru_model_options {
    uint32_t struct_size;  /* set by lp_gru_model_options_init */
    int32_t obs_handle;    /* required */
    int32_t dones_handle;  /* required for minibatches (-1: refused there) */
    int32_t memory_handle; /* the memory_start field; as dones_handle */
    int32_t logits_output; /* default 0 */
    int32_t values_output; /* default 1; -1: none */
    lp_optim_step_fn step; /* required */
    void *step_user;
    int32_t bind_later; /* as lp_mlp_model_options.bind_later, with
                           lp_gru_model_bind; default 0 (lossplug 0.2) */
    int32_t reserved;
} lp_gru_model_options;

typedef struct lp_gru_model lp_gru_model;

LP_API void lp_gru_model_options_init(lp_gru_model_options *opt);
/* Wrap `m` (borrowed). On error *out is NULL. */
LP_API int32_t lp_gru_model_create(lp_gru *m, const lp_gru_model_options *opt, lp_gru_model **out,
                                   lp_error *err);
LP_API void lp_gru_model_destroy(lp_gru_model *a); /* NULL is a no-op */
LP_API lp_model lp_gru_model_callbacks(lp_gru_model *a);
/* Take the handles from the open session `s` (borrowed for the call): the
 * fields "obs" (f32, obs_dim values per step; required), "dones" (u8, one)
 * and "memory_start" (f32, M per step), each -1 when absent (minibatches
 * then fail, as with -1 at create), and the outputs "logits" (required) and
 * "values" (-1 when absent), as lp_mlp_model_bind. Replaces what create was
 * given; on error the adapter is unchanged. (Added in lossplug 0.2.) */
LP_API int32_t lp_gru_model_bind(lp_gru_model *a, const lp_session *s, lp_error *err);

#ifdef __cplusplus
}
#endif

#endif
