/*
 * lossplug/model.h: what a session's train phase hands a model: the plan
 * of its minibatches (lp_train_plan) and lp_model, the callbacks through
 * which it runs the program's model (its own, or an adapter of the
 * reference models: lossplug/mlp.h, lossplug/rnn.h). Part of liblossplug.
 * Not to be confused with lossplug/ext/model.h, the host extension that
 * lets a loss call these callbacks.
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_MODEL_H
#define LOSSPLUG_MODEL_H

#include <lossplug/registry.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a minibatch is made of (the config's buffer.sample). */
typedef enum lp_sample_mode {
    /* Whole buffer rows: a minibatch is minibatch_segments rows of `horizon`
     * consecutive steps, [rows, horizon, ...]. */
    LP_SAMPLE_ROWS = 0,
    /* Single steps: each update epoch permutes all segments * horizon
     * samples and cuts the permutation into minibatches of
     * minibatch_segments * horizon samples, each gathered as a batch of
     * rows = samples, horizon = 1; lp_batch.row_index and .step_index give
     * each sample's place in the buffer. */
    LP_SAMPLE_TRANSITIONS = 1,
} lp_sample_mode;

/* What a train phase does with a minibatch whose loss or output gradient is
 * not finite after a train hook (the config's buffer.nonfinite). Either way
 * nothing of that minibatch reaches the model. */
typedef enum lp_nonfinite_mode {
    LP_NONFINITE_STOP = 0, /* lp_session_train fails with LP_ENUMERIC naming the
                              instance, output, minibatch and source */
    LP_NONFINITE_SKIP = 1, /* the minibatch is skipped with a warning; the stat
                              "nonfinite_skips" counts them per train phase */
} lp_nonfinite_mode;

/* How a train phase walks the buffer (from the config's `buffer`, the seed
 * possibly overridden by the options). */
typedef struct lp_train_plan {
    int64_t minibatch_segments; /* buffer.minibatch_segments */
    int64_t minibatches;        /* per update epoch: segments / minibatch_segments */
    int64_t update_epochs;
    int64_t seed;
    int32_t shuffle;           /* 1: shuffled per update epoch (gathered into scratch);
                                  0: contiguous minibatch views, in order (rows only) */
    int32_t sample;            /* lp_sample_mode */
    int64_t minibatch_samples; /* steps per minibatch: minibatch_segments * horizon */
    int32_t nonfinite;         /* lp_nonfinite_mode */
} lp_train_plan;

/* The model, in the train phase. Every callback returns LP_OK or fills `err`
 * and returns a negative status, which ends the train phase with that
 * error. */
typedef struct lp_model {
    void *user;
    /* Run the model on minibatch `mb` (its fields) and write each output
     * into outputs[i] (i in the order of the declared outputs; host-owned,
     * contiguous [rows, horizon, ...]). */
    int32_t (*forward)(void *user, const lp_batch *mb, const lp_tensor *outputs, lp_error *err);
    /* Backpropagate `grads` (d total_loss / d outputs[i], same order and
     * shapes) into the model's parameter gradients. */
    int32_t (*backward)(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err);
    /* Clip, step the optimizer, zero the parameter gradients. */
    int32_t (*step)(void *user, const lp_ctx *ctx, lp_error *err);

    /* Optional auxiliary passes, for losses that run the model on batches of
     * their own through the host extension "lossplug.model/1"
     * (lossplug/ext/model.h, docs/abi.md). All three or none; NULL: the
     * extension is not offered. They run during a loss's train hook, between
     * forward and backward of the minibatch, and must keep their own
     * activations (separate work buffers): the minibatch's forward state
     * must survive them for backward. */
    /* Recurrent memory floats per batch row (0 for a feed-forward model);
     * fixed for the model's life. */
    int64_t (*memory_size)(void *user);
    /* Forward `batch` (the loss's: fields by the session's handles, any
     * strides, data NULL where absent; row_index NULL) into outputs[i]
     * (session-owned, contiguous [rows, horizon, ...], declared order).
     * `starts` (u8 [rows, horizon], may be NULL): zero a row's memory before
     * each step flagged 1. `memory` (f32 [rows, memory_size], NULL when 0):
     * the state before step 0, overwritten with the state after the last
     * step. Keep what backward_aux needs. */
    int32_t (*forward_aux)(void *user, const lp_batch *batch, const uint8_t *starts, float *memory,
                           const lp_tensor *outputs, lp_error *err);
    /* Backpropagate `grads` (d total_loss / d outputs of the last
     * forward_aux, same batch) into the parameter gradients, ADDING to them;
     * no gradient flows into the initial memory. */
    int32_t (*backward_aux)(void *user, const lp_batch *batch, const lp_tensor *grads,
                            lp_error *err);
} lp_model;

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_MODEL_H */
