/*
 * lossplug/adam.h: the Adam optimizer of the reference trainer, with
 * gradient-norm clipping and learning-rate annealing (docs/model.md). Part
 * of liblossplug-train (pkg-config lossplug-train).
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_ADAM_H
#define LOSSPLUG_ADAM_H

#include <lossplug/checkpoint.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Adam as torch.optim.Adam (bias correction included), after global
 * gradient-norm clipping as torch.nn.utils.clip_grad_norm_ (norm in f64),
 * with a learning rate the program anneals. docs/model.md has the math. */
typedef struct lp_adam lp_adam;

typedef struct lp_adam_options {
    uint32_t struct_size; /* set by lp_adam_options_init */
    int32_t reserved;
    double lr;            /* base learning rate; default 2.5e-4 */
    double beta1;         /* default 0.9 */
    double beta2;         /* default 0.999 */
    double eps;           /* default 1e-5 (CleanRL; torch's is 1e-8) */
    double max_grad_norm; /* clip the global L2 norm to this; default 0.5;
                             0: no clipping */
} lp_adam_options;

LP_API void lp_adam_options_init(lp_adam_options *opt);

/* Moments zeroed, step 0, lr = opt->lr. On error *out is NULL. */
LP_API int32_t lp_adam_create(const lp_adam_options *opt, size_t param_count, lp_adam **out,
                              lp_error *err);

/* NULL is a no-op. */
LP_API void lp_adam_destroy(lp_adam *a);

/* Clip `grads` in place, then update `params` (both `count` = param_count
 * floats). A non-finite gradient norm is LP_ENUMERIC and changes nothing. */
LP_API int32_t lp_adam_step(lp_adam *a, float *params, float *grads, size_t count, lp_error *err);

/* lp_adam_step as an lp_optim_step_fn: `user` is the lp_adam. */
LP_API int32_t lp_adam_step_fn(void *user, float *params, float *grads, size_t count,
                               const lp_ctx *ctx, lp_error *err);

/* The learning rate in use, and setting it: absolutely, or as a fraction
 * (0 .. 1) of the base lr (annealing). LP_ERANGE for a negative or non-finite
 * value or a fraction above 1. */
LP_API double lp_adam_lr(const lp_adam *a);
LP_API int32_t lp_adam_set_lr(lp_adam *a, double lr, lp_error *err);
LP_API int32_t lp_adam_set_lr_fraction(lp_adam *a, double fraction, lp_error *err);

/* CleanRL's linear annealing: 1 - (update - 1) / num_updates for update 1 ..
 * num_updates (clamped to [0, 1]; 1.0 when num_updates <= 0). */
LP_API double lp_lr_linear_fraction(int64_t update, int64_t num_updates);

/* Steps taken, and the global gradient norm before clipping at the last step
 * (NaN before the first). */
LP_API int64_t lp_adam_step_count(const lp_adam *a);
LP_API double lp_adam_grad_norm(const lp_adam *a);

/* Zero the moments and the step count (the lr is kept). */
LP_API void lp_adam_reset(lp_adam *a);

/* Fill out[0..3) with "optimizer/m" [count] f32, "optimizer/v" [count] f32
 * and "optimizer/step" (i64 scalar): views of the optimizer's own state for
 * lp_session_save/load, valid until destroy. Returns LP_ADAM_TENSOR_COUNT. */
#define LP_ADAM_TENSOR_COUNT 3
LP_API size_t lp_adam_named_tensors(lp_adam *a, lp_named_tensor *out);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_ADAM_H */
