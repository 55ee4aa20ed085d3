/*
 * The session's non-finite guard (docs/training.md "Non-finite values"):
 * a program-owned lp_model whose optimizer is a plain SGD written here, the
 * test plugin "probe" adding the program's rewards (grad_from) or a NaN of
 * its own (grad_nan_at) to the gradient of "values". A refused minibatch
 * leaves the parameters bit for bit as they were, and the message names the
 * instance, the output, the minibatch and the source.
 */
#include "session_test.h"

/* y = w[0] for every "values" sample and logit; backward sums the output
 * gradients into gw[0]; step: w -= lr * gw (plain SGD), then gw = 0. */
typedef struct sgd {
    double w[2], gw[2];
    int steps;
} sgd;

static int32_t sgd_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                           lp_error *err) {
    (void)err;
    const sgd *m = user;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        int64_t n = 1;
        for (int32_t k = 0; k < outputs[i].rank; k++)
            n *= outputs[i].shape[k];
        for (int64_t e = 0; e < n; e++)
            ((float *)outputs[i].data)[e] = (float)m->w[0];
    }
    return LP_OK;
}

static int32_t sgd_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)err;
    sgd *m = user;
    for (uint32_t i = 0; i < mb->output_count; i++) {
        int64_t n = 1;
        for (int32_t k = 0; k < grads[i].rank; k++)
            n *= grads[i].shape[k];
        for (int64_t e = 0; e < n; e++)
            m->gw[i % 2] += ((const float *)grads[i].data)[e];
    }
    return LP_OK;
}

static int32_t sgd_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)ctx;
    (void)err;
    sgd *m = user;
    for (int k = 0; k < 2; k++) {
        m->w[k] -= 0.01 * m->gw[k];
        m->gw[k] = 0.0;
    }
    m->steps++;
    return LP_OK;
}

#define GUARD_YAML(extra, params)                                                                  \
    "buffer: {segments: 2, horizon: 3, minibatch_segments: 1, shuffle: false" extra "}\n" PROG     \
    "losses:\n"                                                                                    \
    "  - {name: critic, plugin: probe, params: {reads: \"rewards:f32\", grad: 0.5, " params "}}\n"

/* A rollout whose rewards are all 1 except `bad` at buffer row 1, step 2. */
static void rollout(lp_session *s, float bad) {
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    lp_tensor r = lp_session_field(s, lp_session_field_handle(s, "rewards"));
    float *d = r.data;
    for (int64_t k = 0; k < 6; k++)
        d[k] = 1.0f;
    d[1 * 3 + 2] = bad;
    for (int64_t t = 0; t < 3; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
}

static int32_t train(lp_session *s, sgd *m, lp_train_summary *sum, lp_error *err) {
    lp_model model = {
        .user = m, .forward = sgd_forward, .backward = sgd_backward, .step = sgd_step};
    memset(err, 0, sizeof *err);
    return lp_session_train(s, &model, sum, err);
}

static void test_finite_trains(void **state) {
    (void)state;
    lp_session *s = open_ok(GUARD_YAML("", "grad_from: rewards"));
    sgd m = {{0.5, 0.25}, {0}, 0};
    rollout(s, 1.0f);
    lp_error err;
    assert_int_equal(train(s, &m, NULL, &err), LP_OK);
    assert_int_equal(m.steps, 2);
    /* each minibatch: 3 samples, gradient 0.5 + 1 each, on output 0
     * ("logits", 2 per sample) nothing, on "values" 4.5 */
    assert_true(m.w[0] != 0.5 || m.w[1] != 0.25);
    lp_session_close(s);
}

static void test_nan_reward_refused(void **state) {
    (void)state;
    lp_session *s = open_ok(GUARD_YAML("", "grad_from: rewards"));
    sgd m = {{0.5, 0.25}, {0}, 0};
    sgd before = m;
    rollout(s, NAN);
    lp_error err;
    /* Minibatch 0 (buffer row 0) is finite and trains; minibatch 1 holds the NaN. */
    assert_int_equal(train(s, &m, NULL, &err), LP_ENUMERIC);
    assert_int_equal(m.steps, 1);
    assert_non_null(strstr(err.message, "instance 'critic'"));
    assert_non_null(strstr(err.message, "minibatch 1"));
    assert_non_null(strstr(err.message, "gradient of output 'values' is nan"));
    assert_non_null(strstr(err.message,
                           "source: field 'rewards' (written by the program) is nan at buffer "
                           "row 1, step 2"));
    /* Nothing of minibatch 1 reached the parameters: they are what the one
     * finite minibatch made of them, bit for bit, and no gradient is
     * pending. */
    assert_true(m.gw[0] == 0.0 && m.gw[1] == 0.0);
    sgd replay = before;
    /* minibatch 0 = buffer row 0: 3 "values" samples (output 1), each with
     * gradient 0.5 + reward 1; nothing on "logits" (output 0) */
    replay.w[1] -= 0.01 * (3 * (0.5 + 1.0));
    assert_memory_equal(m.w, replay.w, sizeof m.w);
    lp_session_close(s);
}

static void test_nan_in_loss_gradient(void **state) {
    (void)state;
    lp_session *s = open_ok(GUARD_YAML("", "grad_nan_at: 0"));
    sgd m = {{0.5, 0.25}, {0}, 0};
    const sgd before = m;
    rollout(s, 1.0f);
    lp_error err;
    assert_int_equal(train(s, &m, NULL, &err), LP_ENUMERIC);
    assert_int_equal(m.steps, 0);
    assert_memory_equal(m.w, before.w, sizeof m.w);
    assert_true(m.gw[0] == 0.0 && m.gw[1] == 0.0);
    assert_non_null(strstr(err.message, "instance 'critic'"));
    assert_non_null(strstr(err.message, "minibatch 0"));
    assert_non_null(strstr(err.message, "gradient of output 'values' is nan at buffer row 0, "
                                        "step 0"));
    assert_non_null(strstr(err.message, "source: the loss's own arithmetic"));
    lp_session_close(s);
}

static void test_skip_mode(void **state) {
    (void)state;
    lp_session *s = open_ok(GUARD_YAML(", nonfinite: skip", "grad_from: rewards"));
    sgd m = {{0.5, 0.25}, {0}, 0};
    rollout(s, NAN);
    lp_error err;
    lp_train_summary sum = {.struct_size = sizeof sum};
    tlog_reset();
    assert_int_equal(train(s, &m, &sum, &err), LP_OK);
    assert_int_equal(m.steps, 1); /* minibatch 1 skipped */
    assert_int_equal(sum.skipped, 1);
    assert_true(isfinite(m.w[0]) && isfinite(m.w[1]));
    int warned = 0;
    for (size_t i = 0; i < g_log.count; i++)
        warned |= strstr(g_log.lines[i], "skipping the minibatch") != NULL &&
                  strstr(g_log.lines[i], "field 'rewards'") != NULL;
    assert_true(warned);
    double skips = -1.0;
    assert_int_equal(lp_session_stat(s, "nonfinite_skips", &skips), LP_OK);
    assert_true(skips == 1.0);
    lp_session_close(s);
}

static void test_config_errors(void **state) {
    (void)state;
    open_err("buffer: {segments: 2, horizon: 3, nonfinite: skp}\n" PROG
             "losses:\n  - {plugin: probe}\n",
             LP_ECONFIG,
             "t.yaml:1:46: buffer.nonfinite 'skp' is not a mode; did you mean 'skip'? use stop "
             "(the train phase fails on a non-finite loss or gradient) or skip (the minibatch is "
             "skipped with a warning)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_trains),        cmocka_unit_test(test_nan_reward_refused),
        cmocka_unit_test(test_nan_in_loss_gradient), cmocka_unit_test(test_skip_mode),
        cmocka_unit_test(test_config_errors),
    };
    int rc = cmocka_run_group_tests_name("session.guard", tests, NULL, NULL);
    tlog_reset();
    return rc;
}
