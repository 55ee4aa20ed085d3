/* The trainer's model as the rest of host/train sees it: the MLP or, with
 * model.type: gru, the recurrent lp_gru (lossplug/rnn.h). For the GRU the
 * trainer carries each environment's state across steps (t->mem), zeroes it
 * when the environment's episode ends, and stores the state before a
 * rollout's first step in the buffer's memory_start field, from which the
 * update epochs recompute the whole rows (docs/model.md "Recurrent model"). */
#include "train/train_impl.h"

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

int32_t lp__model_build_gru(lp__trainer *t, int64_t max_batch, lp_error *err) {
    const lp__model_cfg *mc = &t->tc.model;
    if (mc->hidden_set && mc->hidden_count != 1)
        return lp__cfgerr(err, mc->hidden_seq_pos,
                          "model.hidden has %zu entries; with model.type: gru it is the width "
                          "of the one tanh encoder layer before the GRU: give one, e.g. [64]",
                          mc->hidden_count);
    lp_gru_options go;
    lp_gru_options_init(&go);
    go.obs_dim = t->obs_dim;
    go.num_actions = t->A;
    go.encoder = mc->hidden_set ? mc->hidden[0] : 64;
    go.memory = mc->memory;
    go.seed = (uint64_t)(mc->seed_set ? mc->seed : t->seed);
    go.max_batch = max_batch;
    go.encoder_gain = mc->hidden_gain;
    go.actor_gain = mc->actor_gain;
    go.critic_gain = mc->critic_gain;
    go.critic_trunk = mc->critic_trunk;
    int32_t rc = lp_gru_create(&go, &t->gru, err);
    if (rc != LP_OK)
        return rc;
    size_t bytes = (size_t)t->n * (size_t)mc->memory * sizeof(float);
    t->mem = calloc(1, bytes);
    t->mem_boot = calloc(1, bytes);
    if (t->mem == NULL || t->mem_boot == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_train_run: out of memory for the recurrent states (%zu bytes)",
                             2 * bytes);
    return LP_OK;
}

float *lp__model_params(lp__trainer *t) {
    return t->gru != NULL ? lp_gru_params(t->gru) : lp_mlp_params(t->mlp);
}

size_t lp__model_param_count(const lp__trainer *t) {
    return t->gru != NULL ? lp_gru_param_count(t->gru) : lp_mlp_param_count(t->mlp);
}

size_t lp__model_tensor_count(const lp__trainer *t) {
    return t->gru != NULL ? lp_gru_tensor_count(t->gru) : lp_mlp_tensor_count(t->mlp);
}

size_t lp__model_named_params(lp__trainer *t, lp_named_tensor *out, size_t cap) {
    return t->gru != NULL ? lp_gru_named_params(t->gru, out, cap)
                          : lp_mlp_named_params(t->mlp, out, cap);
}

int32_t lp__model_act(lp__trainer *t, const float *obs, lp_error *err) {
    if (t->gru == NULL)
        return lp_mlp_forward(t->mlp, obs, t->obs_dim, t->n, t->logits, t->values, err);
    return lp_gru_forward(t->gru, obs, t->obs_dim, t->n, 1, NULL, t->mem, t->logits, t->values,
                          err);
}

int32_t lp__model_values(lp__trainer *t, const float *obs, const int64_t *rows, int64_t count,
                         float *values, lp_error *err) {
    if (t->gru == NULL)
        return lp_mlp_forward(t->mlp, obs, t->obs_dim, count, NULL, values, err);
    const int64_t M = lp_gru_memory_size(t->gru);
    for (int64_t i = 0; i < count; i++)
        memcpy(t->mem_boot + i * M, t->mem + (rows != NULL ? rows[i] : i) * M,
               (size_t)M * sizeof(float));
    return lp_gru_forward(t->gru, obs, t->obs_dim, count, 1, NULL, t->mem_boot, NULL, values, err);
}

void lp__model_store_start(lp__trainer *t) {
    if (t->gru == NULL || t->f.memory_start == NULL)
        return;
    const int64_t M = lp_gru_memory_size(t->gru);
    for (int64_t r = 0; r < t->n; r++)
        memcpy(t->f.memory_start + r * t->horizon * M, t->mem + r * M, (size_t)M * sizeof(float));
}

void lp__model_reset_done(lp__trainer *t) {
    if (t->gru == NULL)
        return;
    const int64_t M = lp_gru_memory_size(t->gru);
    for (int64_t r = 0; r < t->n; r++)
        if (t->terminated[r] != 0 || t->truncated[r] != 0)
            memset(t->mem + r * M, 0, (size_t)M * sizeof(float));
}
