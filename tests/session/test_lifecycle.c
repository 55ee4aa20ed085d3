/* The full lifecycle, hook by hook, against docs/abi.md "Order of calls":
 * two instances of one plugin (pain 4: a loss used twice), 2 epochs, 2
 * update epochs, 2 minibatches; weights, losses and the stop request. */
#include "session_test.h"

static const char *const lifecycle_yaml =
    "buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 2, seed: 7}\n" PROG
    "losses:\n"
    "  - {name: a, plugin: recorder}\n"
    "  - {name: b, plugin: recorder, weight: 0.5, params: {loss: 2.0}}\n";

/* Append the expected lines of one epoch. */
static void expect_epoch(char *out, size_t size, int e) {
    size_t len = strlen(out);
#define ADD(...) len += (size_t)snprintf(out + len, size - len, __VA_ARGS__)
    ADD("a: epoch_start:%d|b: epoch_start:%d|a: rollout_start:%d|b: rollout_start:%d|", e, e, e, e);
    for (int t = 0; t < 3; t++)
        ADD("a: rollout_step:%d|b: rollout_step:%d|", t, t);
    ADD("a: train_start|b: train_start|");
    for (int u = 0; u < 2; u++) {
        ADD("a: update_epoch_start:%d|b: update_epoch_start:%d|", u, u);
        for (int m = 0; m < 2; m++)
            ADD("model:forward|a: train:%d.%d:w=1|b: train:%d.%d:w=0.5|model:backward|"
                "model:step:%d.%d|a: minibatch_end:%d.%d|b: minibatch_end:%d.%d|",
                u, m, u, m, u, m, u, m, u, m);
    }
    ADD("a: train_end|b: train_end|");
#undef ADD
}

static void test_order(void **state) {
    (void)state;
    lp_session *s = open_ok(lifecycle_yaml);
    char got[16384], want[16384];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "a: create|b: create|a: fields|b: fields|a: attach:4|b: attach:4");
    tlog_reset();
    tmodel m = {.log = 1};
    lp_train_summary sum = {.struct_size = sizeof sum};
    run_epoch(s, &m, &sum);
    run_epoch(s, &m, &sum);
    lp_error err;
    assert_int_equal(lp_session_save(s, LP_SESSION_TMP "/order.ckpt", NULL, 0, &err), LP_OK);
    lp_session_close(s);
    want[0] = '\0';
    expect_epoch(want, sizeof want, 0);
    expect_epoch(want, sizeof want, 1);
    strcat(want, "a: save|b: save|b: destroy|a: destroy");
    tlog_join("", got, sizeof got);
    assert_string_equal(got, want);
    assert_int_equal(sum.minibatches, 4);
    assert_int_equal(sum.update_epochs, 2);
    assert_int_equal(sum.stopped, 0);
    assert_null(sum.stopped_by);
    assert_true(fabs(sum.total_loss - 2.0) < 1e-12); /* 1 * 1 + 0.5 * 2 */
}

static void test_counters(void **state) {
    (void)state;
    lp_session *s = open_ok(lifecycle_yaml);
    tmodel m = {0};
    assert_int_equal(lp_session_epoch(s), 0);
    run_epoch(s, &m, NULL);
    assert_int_equal(lp_session_epoch(s), 1);
    assert_int_equal(lp_session_env_steps(s), 12); /* 3 steps x 4 segments */
    assert_int_equal(m.forwards, 4);
    assert_int_equal(m.backwards, 4);
    assert_int_equal(m.steps, 4);
    lp_error err;
    assert_int_equal(lp_session_rollout_step(s, 3, &err), LP_ERANGE);
    assert_string_equal(err.message, "lp_session_rollout_step: step 3 is outside the horizon [0, "
                                     "3); pass t from 0 to buffer.horizon - 1");
    /* No model at open: lp_session_train needs one, and it may differ from
     * one train phase to the next (test_model_ext.c: a model given at open). */
    assert_int_equal(lp_session_train(s, NULL, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_train: the model or its forward callback is NULL; pass an "
                        "lp_model with forward (backward and step may be NULL), or give it once "
                        "as lp_session_options.model at open and pass NULL here");
    assert_int_equal(lp_session_epoch(s), 1);
    tmodel m2 = {0};
    run_epoch(s, &m2, NULL);
    assert_int_equal(m2.forwards, 4);
    assert_int_equal(m.forwards, 4);
    lp_session_close(s);
}

static void test_stop(void **state) {
    (void)state;
    /* The probe asks to stop at its 2nd train call (update epoch 0,
     * minibatch 1): that minibatch completes, for every instance, then the
     * phase ends. */
    lp_session *s = open_ok("buffer: {segments: 4, horizon: 2, minibatch_segments: 1, "
                            "update_epochs: 3}\n" PROG "losses:\n"
                            "  - {name: a, plugin: recorder}\n"
                            "  - {name: p, plugin: probe, params: {stop_at: 1}}\n"
                            "  - {name: c, plugin: recorder}\n");
    tlog_reset();
    tmodel m = {.log = 1};
    lp_train_summary sum = {.struct_size = sizeof sum};
    run_epoch(s, &m, &sum);
    assert_int_equal(sum.stopped, 1);
    assert_string_equal(sum.stopped_by, "p");
    assert_int_equal(sum.minibatches, 2);
    assert_int_equal(sum.update_epochs, 1);
    char got[8192];
    tlog_join("c:", got, sizeof got);
    assert_string_equal(got, "c: epoch_start:0|c: rollout_start:0|c: rollout_step:0|"
                             "c: rollout_step:1|c: train_start|c: update_epoch_start:0|"
                             "c: train:0.0:w=1|c: minibatch_end:0.0|c: train:0.1:w=1|"
                             "c: minibatch_end:0.1|c: train_end");
    assert_int_equal(m.steps, 2);
    lp_session_close(s);
}

static void test_grads_summed(void **state) {
    (void)state;
    /* Two probes add weight * grad into the one "values" gradient buffer:
     * 1 * 0.5 + 2 * 0.25 = 1 per element; [2 rows, 3 steps] per minibatch,
     * 2 minibatches. The buffer is zeroed per minibatch. */
    lp_session *s =
        open_ok("buffer: {segments: 4, horizon: 3, minibatch_segments: 2}\n" PROG "losses:\n"
                "  - {name: p, plugin: probe, params: {grad: 0.5}}\n"
                "  - {name: q, plugin: probe, weight: 2, params: {grad: 0.25}}\n");
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    assert_true(fabs(m.grad_sum - 12.0) < 1e-9);
    lp_session_close(s);
}

/* lp_train_summary is written only up to the caller's struct_size: a
 * program built when the struct ended at total_loss gets those fields and
 * nothing past them; a struct_size below that layout is refused before
 * anything runs; a larger struct gets this library's fields. */
static void test_summary_sizes(void **state) {
    (void)state;
    lp_session *s = open_ok(lifecycle_yaml);
    tmodel m = {0};
    const size_t v1 = offsetof(lp_train_summary, total_loss) + sizeof(double);
    unsigned char old[sizeof(lp_train_summary) + 16];
    memset(old, 0xA5, sizeof old);
    uint32_t size = (uint32_t)v1;
    memcpy(old, &size, sizeof size);
    run_epoch(s, &m, (lp_train_summary *)(void *)old);
    lp_train_summary got;
    memcpy(&got, old, v1);
    assert_int_equal(got.struct_size, v1);
    assert_int_equal(got.minibatches, 4);
    assert_true(fabs(got.total_loss - 2.0) < 1e-12);
    for (size_t i = v1; i < sizeof old; i++)
        assert_int_equal(old[i], 0xA5); /* nothing past the caller's struct */

    /* Too small (an uninitialised or zeroed struct_size): refused, nothing
     * runs (the train-phase hooks are not called). */
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    for (int64_t t = 0; t < lp_session_env(s)->horizon; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
    tlog_reset();
    lp_train_summary zero = {0};
    lp_model model = tmodel_make(&m);
    assert_int_equal(lp_session_train(s, &model, &zero, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "summary->struct_size is 0"));
    assert_non_null(strstr(err.message, "sizeof sum"));
    char log[256];
    tlog_join("", log, sizeof log);
    assert_string_equal(log, "");
    assert_int_equal(zero.minibatches, 0);

    /* Larger than this library knows: its fields, struct_size its own. */
    struct {
        lp_train_summary sum;
        int32_t newer;
    } big;
    memset(&big, 0x5A, sizeof big);
    big.sum.struct_size = sizeof big;
    assert_int_equal(lp_session_train(s, &model, &big.sum, &err), LP_OK);
    assert_int_equal(big.sum.struct_size, sizeof(lp_train_summary));
    assert_int_equal(big.sum.minibatches, 4);
    assert_int_equal(big.sum.skipped, 0);
    int32_t untouched;
    memset(&untouched, 0x5A, sizeof untouched);
    assert_memory_equal(&big.newer, &untouched, sizeof untouched);
    lp_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_order, teardown_log),
        cmocka_unit_test_teardown(test_counters, teardown_log),
        cmocka_unit_test_teardown(test_stop, teardown_log),
        cmocka_unit_test_teardown(test_grads_summed, teardown_log),
        cmocka_unit_test_teardown(test_summary_sizes, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
