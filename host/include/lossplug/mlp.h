/*
 * lossplug/mlp.h: the reference model, an MLP with actor and critic heads,
 * and its lp_model adapter for lp_session_train (docs/model.md). Part of
 * liblossplug-train (pkg-config lossplug-train), which links OpenBLAS.
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_MLP_H
#define LOSSPLUG_MLP_H

#include <lossplug/checkpoint.h>
#include <lossplug/model.h>
#include <lossplug/session.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A ready model for discrete-action policies (docs/model.md): an MLP with an
 * actor head (logits) and a critic head (value), CleanRL's orthogonal
 * initialisation, forward and backward on whole minibatches with OpenBLAS
 * sgemm. Parameters and gradients are two flat f32 arrays of the same layout.
 * No threads of its own and no global state; OpenBLAS's thread count is the
 * program's choice (OPENBLAS_NUM_THREADS). Not thread-safe: one thread at a
 * time per model. */
typedef struct lp_mlp lp_mlp;

typedef enum lp_activation {
    LP_ACTIVATION_TANH = 1,
    LP_ACTIVATION_RELU = 2,
} lp_activation;

#define LP_MLP_MAX_HIDDEN 16 /* hidden layers per trunk */

typedef struct lp_mlp_options {
    uint32_t struct_size;  /* set by lp_mlp_options_init */
    int64_t obs_dim;       /* flattened f32 observation size; required (> 0) */
    int64_t num_actions;   /* width of the policy output per step (lp_env_info.
                              policy_width); required (> 0): the number of
                              actions, the sum of the multi-discrete counts,
                              or 2 x the box dimensions */
    const int64_t *hidden; /* hidden layer sizes, input side first; copied.
                              Default {64, 64}; count 0: linear heads */
    size_t hidden_count;   /* <= LP_MLP_MAX_HIDDEN */
    int32_t activation;    /* lp_activation; default tanh */
    int32_t shared_trunk;  /* 0: separate actor and critic trunks (default,
                              CleanRL); 1: one trunk feeds both heads */
    uint64_t seed;         /* initialisation seed; default 1 */
    int64_t max_batch;     /* most rows a forward takes; default 1024 (see
                              lp_mlp_reserve) */
    double hidden_gain;    /* orthogonal gain of hidden layers; default sqrt 2 */
    double actor_gain;     /* of the actor head; default 0.01 */
    double critic_gain;    /* of the critic head; default 1.0 */
    /* The policy head per action space (docs/model.md). DISCRETE (default)
     * and MULTI_DISCRETE: one linear head of num_actions logits (multi-
     * discrete: the components' logits concatenated). BOX: a diagonal
     * Gaussian as CleanRL's ppo_continuous_action: the head computes the
     * num_actions / 2 means and a state-independent parameter vector
     * "model/actor/log_std" gives the log-stds, written after the means. */
    int32_t action_space; /* lp_action_space */
    int32_t reserved;
    double log_std_init; /* BOX: the log-stds' initial value; default 0 */
} lp_mlp_options;

LP_API void lp_mlp_options_init(lp_mlp_options *opt);

/* Build the model, initialise its parameters (deterministic for a seed, on
 * every machine), zero its gradients and allocate every work buffer for
 * `max_batch` rows. On error *out is NULL. */
LP_API int32_t lp_mlp_create(const lp_mlp_options *opt, lp_mlp **out, lp_error *err);

/* NULL is a no-op. */
LP_API void lp_mlp_destroy(lp_mlp *m);

/* Grow the work buffers to take batches of `max_batch` rows (never shrinks).
 * The only call after create that allocates; on failure the model is
 * unchanged. */
LP_API int32_t lp_mlp_reserve(lp_mlp *m, int64_t max_batch, lp_error *err);

LP_API int64_t lp_mlp_obs_dim(const lp_mlp *m);
LP_API int64_t lp_mlp_num_actions(const lp_mlp *m);
LP_API int64_t lp_mlp_max_batch(const lp_mlp *m);

/* The flat parameter and gradient arrays: lp_mlp_param_count floats each,
 * model-owned, valid until destroy, never moved. */
LP_API size_t lp_mlp_param_count(const lp_mlp *m);
LP_API float *lp_mlp_params(lp_mlp *m);
LP_API float *lp_mlp_grads(lp_mlp *m);

/* One parameter tensor of the flat arrays: name ("model/actor/0/w"),
 * offset in floats, shape (weights [out, in], row-major as torch's Linear;
 * biases [out]). Model-owned, valid until destroy. NULL when out of range. */
typedef struct lp_mlp_tensor_info {
    const char *name;
    size_t offset;
    int32_t rank; /* 2 for weights, 1 for biases */
    int32_t reserved;
    int64_t shape[2];
} lp_mlp_tensor_info;

LP_API size_t lp_mlp_tensor_count(const lp_mlp *m);
LP_API const lp_mlp_tensor_info *lp_mlp_tensor_at(const lp_mlp *m, size_t index);

/* Fill out[0 .. min(count, cap)) with views of the parameters for
 * lp_session_save/load (names and data model-owned); returns the count. */
LP_API size_t lp_mlp_named_params(lp_mlp *m, lp_named_tensor *out, size_t cap);

/* Forward `n` observations (row i at obs + i * ld_obs, ld_obs >= obs_dim)
 * into logits [n, num_actions] (BOX: means then log-stds per row) and
 * values [n], both caller-owned and
 * contiguous. Either output may be NULL to skip its head (and its trunk).
 * Keeps the activations for lp_mlp_backward. n > max_batch is LP_ERANGE:
 * call lp_mlp_reserve first. Allocates nothing. */
LP_API int32_t lp_mlp_forward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n, float *logits,
                              float *values, lp_error *err);

/* Backpropagate dlogits [n, num_actions] and dvalues [n] (either may be NULL:
 * zero) through the activations of the LAST forward, which must have been on
 * the same `obs` and `n` and have computed the heads given here. ADDS into
 * the gradient array (accumulates across calls); lp_mlp_zero_grad clears it.
 * Allocates nothing. */
LP_API int32_t lp_mlp_backward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n,
                               const float *dlogits, const float *dvalues, lp_error *err);

LP_API void lp_mlp_zero_grad(lp_mlp *m);

/* An optimizer step over a flat parameter array and its gradients: may
 * modify grads (clipping); returns LP_OK or fills err. */
typedef int32_t (*lp_optim_step_fn)(void *user, float *params, float *grads, size_t count,
                                    const lp_ctx *ctx, lp_error *err);

/* The lp_model adapter of an lp_mlp for lp_session_train. Order contract:
 * the session passes outputs[] and grads[] in the order of its declared
 * outputs (lp_session_output_at); the adapter takes the indices of "logits"
 * ([rows, horizon, num_actions] f32) and "values" ([rows, horizon] or
 * [rows, horizon, 1] f32) in that order and the handle of the observation
 * field ([rows, horizon, obs...] f32, any strides): from the program, or
 * from the session by name (lp_mlp_model_bind): see docs/model.md. */
typedef struct lp_mlp_model_options {
    uint32_t struct_size;  /* set by lp_mlp_model_options_init */
    const char *obs_field; /* the observation field's name, for messages;
                              default "obs"; copied */
    int32_t obs_handle;    /* lp_session_field_handle(s, obs_field); required */
    int32_t logits_output; /* index of "logits" among the outputs; default 0 */
    int32_t values_output; /* index of "values"; default 1; -1: none */
    int32_t reserved;
    lp_optim_step_fn step; /* called by lp_model.step, then the gradients are
                              zeroed; required (e.g. lp_adam_step_fn) */
    void *step_user;       /* e.g. the lp_adam */
    /* 1: obs_handle, logits_output and values_output are not read; the
     * adapter is created before lp_session_open (its lp_model may then be
     * lp_session_options.model) and lp_mlp_model_bind takes them from the
     * session after open. Until then every callback but memory_size and
     * step fails with LP_ESTATE. Default 0. (Added in lossplug 0.2.) */
    int32_t bind_later;
    int32_t reserved2;
} lp_mlp_model_options;

typedef struct lp_mlp_model lp_mlp_model;

LP_API void lp_mlp_model_options_init(lp_mlp_model_options *opt);

/* Wrap `m` (borrowed: it must outlive the adapter). Allocates a gather
 * buffer for max_batch observations (used when a minibatch's observations
 * are not evenly spaced rows). On error *out is NULL. */
LP_API int32_t lp_mlp_model_create(lp_mlp *m, const lp_mlp_model_options *opt, lp_mlp_model **out,
                                   lp_error *err);

/* NULL is a no-op. */
LP_API void lp_mlp_model_destroy(lp_mlp_model *a);

/* The callbacks to pass to lp_session_train (or once, as
 * lp_session_options.model); user is the adapter. */
LP_API lp_model lp_mlp_model_callbacks(lp_mlp_model *a);

/* Take the adapter's handles from the open session `s` (borrowed for the
 * call, not kept): obs_handle = the handle of obs_field (f32 with obs_dim
 * values per step), logits_output and values_output = the indices of the
 * outputs named "logits" (f32, num_actions values per sample; required) and
 * "values" (f32, one value; -1 when absent). Replaces what create was given.
 * Call it after lp_session_open, before the first lp_session_train. On error
 * the adapter is unchanged. (Added in lossplug 0.2.) */
LP_API int32_t lp_mlp_model_bind(lp_mlp_model *a, const lp_session *s, lp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_MLP_H */
