/* The example of docs/embedding.md, compiled and run: a program that
 * declares its fields and outputs in code, writes rollout steps, supplies
 * the model, reads stats and checkpoints. Run with two configs that use
 * different losses: swapping a loss is a config edit (pain 7). */
#include "session_test.h"

/* ---- the example (docs/embedding.md) ---------------------------------------- */

/* A toy "model": one parameter per output, gradient descent. */
typedef struct toy_model {
    float bias[2];
    float lr;
} toy_model;

static int32_t toy_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                           lp_error *err) {
    (void)err;
    toy_model *m = user;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        float *d = outputs[i].data;
        int64_t n = 1;
        for (int32_t k = 0; k < outputs[i].rank; k++)
            n *= outputs[i].shape[k];
        for (int64_t e = 0; e < n; e++)
            d[e] = m->bias[i];
    }
    return LP_OK;
}

static int32_t toy_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)err;
    toy_model *m = user;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        const float *g = grads[i].data;
        int64_t n = 1;
        for (int32_t k = 0; k < grads[i].rank; k++)
            n *= grads[i].shape[k];
        double sum = 0;
        for (int64_t e = 0; e < n; e++)
            sum += g[e];
        m->bias[i] -= m->lr * (float)(sum / (double)n);
    }
    return LP_OK;
}

static int32_t toy_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)user;
    (void)ctx;
    (void)err;
    return LP_OK; /* the update happened in backward */
}

/* Run `epochs` epochs of the config at `yaml`; returns 0 or prints why not. */
static int run_program(const char *yaml, const char *plugin_dir, int epochs, const char *ckpt) {
    /* 1. What the program provides: the environment, the fields it writes
     *    at every step, the outputs its model computes. */
    const char *const dirs[] = {plugin_dir};
    lp_decl fields[] = {
        {"obs", LP_DTYPE_F32, 1, {LP_DIM_OBS}},
        {"actions", LP_DTYPE_I32, 0, {0}},
        {"rewards", LP_DTYPE_F32, 0, {0}},
        {"values", LP_DTYPE_F32, 0, {0}},
    };
    lp_decl outputs[] = {
        {"logits", LP_DTYPE_F32, 1, {LP_DIM_NUM_ACTIONS}},
        {"values", LP_DTYPE_F32, 0, {0}},
    };
    lp_session_options opt;
    lp_session_options_init(&opt);
    opt.plugin_paths = dirs;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.env_set = 1;
    opt.env.obs_dtype = LP_DTYPE_F32;
    opt.env.obs_rank = 1;
    opt.env.obs_shape[0] = 3;
    opt.env.action_dtype = LP_DTYPE_I32;
    opt.env.action_rank = 0;
    opt.env.num_actions = 2;
    opt.fields = fields;
    opt.field_count = 4;
    opt.outputs = outputs;
    opt.output_count = 2;
    /* The model, handed over once: every train phase trains it. */
    toy_model m = {{0.0f, 0.0f}, 0.1f};
    lp_model model = {
        .user = &m, .forward = toy_forward, .backward = toy_backward, .step = toy_step};
    opt.model = &model;

    /* 2. Open: every check happens here. */
    lp_session *s = NULL;
    lp_error err;
    if (lp_session_open_string(yaml, strlen(yaml), "run.yaml", &opt, &s, &err) != LP_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    /* 3. Resolve the handles of the fields the program writes, once. */
    int32_t h_obs = lp_session_field_handle(s, "obs");
    int32_t h_act = lp_session_field_handle(s, "actions");
    int32_t h_rew = lp_session_field_handle(s, "rewards");
    int32_t h_val = lp_session_field_handle(s, "values");
    const lp_env_info *env = lp_session_env(s);

    int rc = 0;
    for (int e = 0; e < epochs && rc == 0; e++) {
        rc = lp_session_epoch_start(s, &err) != LP_OK || lp_session_rollout_start(s, &err) != LP_OK;
        for (int64_t t = 0; t < env->horizon && rc == 0; t++) {
            /* 4. Write step t of every row, then tell the session. */
            for (int64_t row = 0; row < env->segments; row++) {
                float *obs = lp_session_step_ptr(s, h_obs, row, t);
                for (int k = 0; k < 3; k++)
                    obs[k] = (float)(row + k);
                *(int32_t *)lp_session_step_ptr(s, h_act, row, t) = (int32_t)(t % 2);
                *(float *)lp_session_step_ptr(s, h_rew, row, t) = 1.0f;
                *(float *)lp_session_step_ptr(s, h_val, row, t) = m.bias[1];
            }
            rc = lp_session_rollout_step(s, t, &err) != LP_OK;
        }
        /* 5. The train phase of the model given at open: forward, each
         * loss, backward, step. */
        lp_train_summary sum = {.struct_size = sizeof sum};
        if (rc == 0)
            rc = lp_session_train(s, NULL, &sum, &err) != LP_OK;
        /* 6. Stats of the phase, by name. */
        double total;
        if (rc == 0 && lp_session_stat(s, "total_loss", &total) == LP_OK)
            printf("epoch %d: total_loss %g over %d minibatches\n", e, total, sum.minibatches);
    }
    /* 7. A checkpoint with the model's own tensor. */
    lp_named_tensor extra[] = {{"model/bias", {m.bias, LP_DTYPE_F32, 1, {2}, {1}}}};
    if (rc == 0 && ckpt != NULL)
        rc = lp_session_save(s, ckpt, extra, 1, &err) != LP_OK;
    if (rc != 0)
        fprintf(stderr, "%s\n", err.message);
    lp_session_close(s);
    return rc;
}

/* ---- the tests ------------------------------------------------------------------ */

static void test_example(void **state) {
    (void)state;
    const char *yaml = "buffer: {segments: 4, horizon: 8, minibatch_segments: 2}\n"
                       "losses:\n"
                       "  - {name: critic, plugin: probe, params: {grad: 1.0}}\n";
    assert_int_equal(run_program(yaml, LP_SESSION_PLUGINS, 3, LP_SESSION_TMP "/embed.ckpt"), 0);
}

static void test_swap_by_config(void **state) {
    (void)state;
    /* The same program, another loss: only the config changed. */
    const char *a = "buffer: {segments: 4, horizon: 8}\n"
                    "losses: [{name: x, plugin: recorder}]\n";
    const char *b = "buffer: {segments: 4, horizon: 8}\n"
                    "losses: [{name: x, plugin: probe, params: {reads: \"obs:f32[OBS]\"}}, "
                    "{name: y, plugin: recorder}]\n";
    assert_int_equal(run_program(a, LP_SESSION_PLUGINS, 1, NULL), 0);
    assert_int_equal(run_program(b, LP_SESSION_PLUGINS, 1, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_swap_by_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
