/* embed_minimal: the smallest program that trains with lossplug's losses
 * through the session API (docs/embedding.md), with its own model instead of
 * the reference MLP and its own environment instead of the training loop.
 *
 * The task: a one-step bandit. The observation is +1 or -1; action 1 earns a
 * reward of 1 when the observation is +1, action 0 when it is -1. The model
 * is linear: logits = w * obs + b, value = v * obs + c. The losses (gae, a2c,
 * value) are plugins found at run time; the program never sees their code.
 *
 * usage: embed_minimal PLUGIN_DIR    (e.g. build/plugins); exit 0 when the
 * policy learned the task. */
#include <lossplug/host.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ENVS  16
#define STEPS 8

/* The composition: swap a2c for ppo here (and declare logprobs) and nothing
 * else changes. Every field a loss reads must be written by someone: the
 * program declares what it writes below. */
static const char config[] =
    "buffer: {segments: 16, horizon: 8, minibatch_segments: 4, update_epochs: 1}\n"
    "losses:\n"
    "  - {plugin: gae}\n"
    "  - {plugin: a2c, params: {ent_coef: 0.01}}\n"
    "  - {plugin: value, params: {vf_coef: 0.5, clip_vloss: false}}\n";

/* The model: its parameters and gradients, [w0, w1, b0, b1, v, c]. */
typedef struct linear {
    float p[6], g[6];
    float lr;
} linear;

/* Forward on a minibatch: mb->fields[h] are [rows, horizon, ...] views with
 * strides; outputs[0] is logits [rows, horizon, 2], outputs[1] values. */
static int32_t lin_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                           lp_error *err) {
    (void)err;
    const linear *m = user;
    const lp_tensor *obs = &mb->fields[0]; /* handle 0: declared first */
    float *logits = outputs[0].data, *values = outputs[1].data;
    for (int64_t r = 0; r < mb->rows; r++)
        for (int64_t t = 0; t < mb->horizon; t++) {
            float x = ((const float *)obs->data)[r * obs->strides[0] + t * obs->strides[1]];
            int64_t i = r * mb->horizon + t;
            logits[2 * i] = m->p[0] * x + m->p[2];
            logits[2 * i + 1] = m->p[1] * x + m->p[3];
            values[i] = m->p[4] * x + m->p[5];
        }
    return LP_OK;
}

/* Backward: grads[k] = d total_loss / d outputs[k]; accumulate into m->g. */
static int32_t lin_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)err;
    linear *m = user;
    const lp_tensor *obs = &mb->fields[0];
    const float *gl = grads[0].data, *gv = grads[1].data;
    for (int64_t r = 0; r < mb->rows; r++)
        for (int64_t t = 0; t < mb->horizon; t++) {
            float x = ((const float *)obs->data)[r * obs->strides[0] + t * obs->strides[1]];
            int64_t i = r * mb->horizon + t;
            m->g[0] += gl[2 * i] * x, m->g[2] += gl[2 * i];
            m->g[1] += gl[2 * i + 1] * x, m->g[3] += gl[2 * i + 1];
            m->g[4] += gv[i] * x, m->g[5] += gv[i];
        }
    return LP_OK;
}

/* The optimizer step: plain SGD, then zero the gradients. */
static int32_t lin_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)ctx, (void)err;
    linear *m = user;
    for (int k = 0; k < 6; k++)
        m->p[k] -= m->lr * m->g[k], m->g[k] = 0.0f;
    return LP_OK;
}

static uint32_t rng = 12345u; /* the program's own; lossplug has no globals */
static float uniform(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) * 0x1.0p-24f;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: embed_minimal PLUGIN_DIR\n");
        return 2;
    }
    /* 1. What the program writes at each rollout step, and what its model
     *    outputs. Shapes are per step; the buffer prepends [segments, horizon]. */
    const lp_decl fields[] = {
        {"obs", LP_DTYPE_F32, 1, {LP_DIM_OBS}}, {"actions", LP_DTYPE_I32, 0, {0}},
        {"rewards", LP_DTYPE_F32, 0, {0}},      {"dones", LP_DTYPE_U8, 0, {0}},
        {"values", LP_DTYPE_F32, 0, {0}},       {"next_values", LP_DTYPE_F32, 0, {0}},
    };
    const lp_decl outputs[] = {{"logits", LP_DTYPE_F32, 1, {LP_DIM_NUM_ACTIONS}},
                               {"values", LP_DTYPE_F32, 0, {0}}};
    const char *dirs[] = {argv[1]};
    lp_session_options opt;
    lp_session_options_init(&opt);
    opt.plugin_paths = dirs, opt.plugin_path_count = 1;
    opt.env_set = 1;
    opt.env.obs_dtype = LP_DTYPE_F32, opt.env.obs_rank = 1, opt.env.obs_shape[0] = 1;
    opt.env.action_dtype = LP_DTYPE_I32, opt.env.num_actions = 2;
    opt.fields = fields, opt.field_count = 6;
    opt.outputs = outputs, opt.output_count = 2;

    /* 2. Open: the YAML, the plugins and the merged spec are checked here. */
    lp_session *s = NULL;
    lp_error err;
    if (lp_session_open_string(config, strlen(config), "embed.yaml", &opt, &s, &err) != LP_OK) {
        fprintf(stderr, "embed_minimal: %s\n", err.message);
        return 1;
    }
    /* 3. Where each field lives: whole-field views, [ENVS, STEPS], contiguous. */
    float *obs = lp_session_field(s, lp_session_field_handle(s, "obs")).data;
    int32_t *act = lp_session_field(s, lp_session_field_handle(s, "actions")).data;
    float *rew = lp_session_field(s, lp_session_field_handle(s, "rewards")).data;
    uint8_t *done = lp_session_field(s, lp_session_field_handle(s, "dones")).data;
    float *val = lp_session_field(s, lp_session_field_handle(s, "values")).data;
    float *nval = lp_session_field(s, lp_session_field_handle(s, "next_values")).data;

    linear m = {{0}, {0}, 0.05f};
    lp_model model;
    memset(&model, 0, sizeof model); /* optional callbacks left NULL */
    model.user = &m, model.forward = lin_forward;
    model.backward = lin_backward, model.step = lin_step;
    double mean_reward = 0.0;
    int rc = 0;
    for (int epoch = 0; epoch < 150 && rc == 0; epoch++) {
        rc = lp_session_epoch_start(s, &err) || lp_session_rollout_start(s, &err);
        double sum = 0.0;
        for (int t = 0; t < STEPS && rc == 0; t++) {
            /* 4. Act in every environment, write step t of every row. */
            for (int e = 0; e < ENVS; e++) {
                int i = e * STEPS + t;
                float x = uniform() < 0.5f ? -1.0f : 1.0f;
                float z0 = m.p[0] * x + m.p[2], z1 = m.p[1] * x + m.p[3];
                float p1 = 1.0f / (1.0f + expf(z0 - z1));
                obs[i] = x;
                act[i] = uniform() < p1 ? 1 : 0;
                rew[i] = (act[i] == 1) == (x > 0) ? 1.0f : 0.0f;
                done[i] = 1; /* one-step episodes: nothing to bootstrap */
                val[i] = m.p[4] * x + m.p[5];
                nval[i] = 0.0f;
                sum += rew[i];
            }
            rc = lp_session_rollout_step(s, t, &err);
        }
        /* 5. The train phase: forward, every loss, backward, step. */
        if (rc == 0)
            rc = lp_session_train(s, &model, NULL, &err);
        mean_reward = sum / (ENVS * STEPS);
        if (rc == 0 && epoch % 30 == 0) {
            double loss = NAN;
            lp_session_stat(s, "total_loss", &loss);
            printf("epoch %3d: mean reward %.3f, total_loss %.4f\n", epoch, mean_reward, loss);
        }
    }
    if (rc != 0)
        fprintf(stderr, "embed_minimal: %s\n", err.message);
    lp_session_close(s);
    printf("final mean reward %.3f\n", mean_reward);
    return rc != 0 ? 1 : mean_reward > 0.9 ? 0 : 1;
}
