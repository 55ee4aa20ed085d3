/*
 * Host extension "lossplug.model/1": run the model on a batch of the loss's
 * own and add gradients with respect to its outputs.
 *
 * An off-policy loss (AllenAct's `loss(step_count, model, batch, memory)`)
 * draws batches from somewhere other than the experience buffer, e.g. an
 * expert dataset. During its `train` hook it hands such a batch to the host,
 * gets the model's outputs for it, and ADDS weight * d(loss)/d(output) into
 * the gradient views it gets back. The host backpropagates those gradients
 * into the model's parameter gradients before the optimizer step of the
 * current minibatch, together with the minibatch's own; the minibatch's
 * outputs and the model's state for them are left as they were.
 *
 *     const lp_model_ext *mx = host->get_extension(host, LP_EXT_MODEL);
 *     if (mx == NULL) ...            // the program's model cannot do it
 *     int64_t msize = mx->memory_size(host);
 *     ...in train:
 *     lp_model_pass pass = {.struct_size = sizeof pass};
 *     rc = mx->forward(host, &my_batch, starts, memory, &pass);
 *     // pass.outputs[h] by output handle; add into pass.grads[h].data
 *
 * Recurrent models: a model may carry memory from step to step (an RNN's
 * hidden state). It says how many floats per batch row with memory_size
 * (0 for a feed-forward model). The loss owns the memory, [rows,
 * memory_size] f32, and carries it from one of its batches to the next; the
 * model resets a row's memory to zero before every step whose episode-start
 * flag is set and writes the memory after the batch's last step back in
 * place. No gradient flows into the memory a batch started from (truncated
 * backpropagation through time, as AllenAct detaches memory between
 * batches).
 *
 * Look it up with host->get_extension(host, LP_EXT_MODEL) from create or
 * attach. It is NULL when the host has no model with auxiliary passes (the
 * embedding program's model does not implement them); a loss that needs it
 * should then fail with a message saying so. The table is host-owned and
 * valid as long as the lp_host it came from. Every function takes that
 * lp_host (the instance's table) as its first argument.
 */
#ifndef LOSSPLUG_EXT_MODEL_H
#define LOSSPLUG_EXT_MODEL_H

#include "../abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LP_EXT_MODEL "lossplug.model/1"

/* What forward hands back. The caller allocates it and sets struct_size;
 * the host fills the fields that fit. */
typedef struct lp_model_pass {
    uint32_t struct_size;
    uint32_t output_count; /* = the number of model outputs (output handles) */
    /* outputs[h]: the model's output h for the batch, f32 (or the output's
     * declared dtype), contiguous [rows, horizon, ...]. Read-only. */
    const lp_tensor *outputs;
    /* grads[h]: zeroed, same shapes: ADD weight * d(loss)/d(outputs[h]). */
    const lp_tensor *grads;
} lp_model_pass;

typedef struct lp_model_ext {
    uint32_t struct_size;
    uint32_t reserved;

    /* Floats of recurrent memory per batch row: >= 0, 0 for a feed-forward
     * model, fixed for the life of the table. A negative status when the
     * table is not an instance's. [main-thread], from create on. */
    int64_t (*memory_size)(const lp_host *host);

    /* Run the model on `batch`, [main-thread], during this instance's
     * `train` hook only (anywhere else it fails with LP_ESTATE and a
     * message, and changes nothing).
     *
     * `batch`: the loss's own lp_batch. rows >= 1 and horizon >= 1; fields[h]
     * is the data for the session's field h (handles from field_handle),
     * shaped [rows, horizon, per-step shape of the field], of the field's
     * dtype, any strides; fields the loss does not provide have data NULL
     * (and field_count may stop after the last one it provides). Provide
     * what the model reads (typically the observation field). outputs,
     * grads and row_index are ignored. The host copies the batch, data
     * included, before the model sees it: the loss may change or reuse its
     * buffers as soon as forward returns.
     *
     * `starts`: NULL, or u8 [rows, horizon] contiguous: 1 where an episode
     * starts at that step (the model zeroes the row's memory before it).
     * `memory`: f32 [rows, memory_size] contiguous, loss-owned; NULL when
     * memory_size is 0. Read as the state before step 0, overwritten with
     * the state after step horizon - 1.
     *
     * On success, `out` gets views of the outputs and of their zeroed
     * gradients: host-owned, valid until the next forward on this table or
     * the end of the hook, whichever comes first. Add the gradient before
     * either: at that point the host backpropagates it. Several forwards in
     * one hook are fine; each is backpropagated in turn. Returns LP_OK, or a
     * negative status with the message already reported (pass it on). */
    int32_t (*forward)(const lp_host *host, const lp_batch *batch, const uint8_t *starts,
                       float *memory, lp_model_pass *out);
} lp_model_ext;

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_EXT_MODEL_H */
