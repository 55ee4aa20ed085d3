/* The real host keeps what abi.h guarantees ("what the host guarantees"):
 * the "contract" test plugin asserts every guarantee at every hook (struct
 * layouts and services, params in type and range, annealed ones included,
 * declared fields' dtype and shape, handles from attach, contiguous outputs
 * and zeroed gradients), through sessions that anneal to the ends of the
 * params' ranges and sample minibatches each way (rows in order, shuffled
 * rows, shuffled transitions). A breach fails the hook, and so the epoch;
 * the plugin's "checked N" line shows that every hook ran. */
#include "session_test.h"

#define CONTRACT_PROG                                                                              \
    "program:\n"                                                                                   \
    "  observation: {dtype: f32, shape: [3, 2]}\n"                                                 \
    "  action: {dtype: i32, shape: [], num_actions: 4}\n"                                          \
    "  fields: {obs: \"f32[OBS]\", actions: i32}\n"                                                \
    "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"

/* coef 0.3 -> 0.1 (its minimum) linearly over epochs [0, 2]; steps 7 -> 1
 * (its minimum) by cosine over environment steps [0, 24] (12 per epoch). */
#define CONTRACT_LOSS                                                                              \
    "losses:\n"                                                                                    \
    "  - name: c\n"                                                                                \
    "    plugin: contract\n"                                                                       \
    "    params: {flag: false, mode: b, tag: y}\n"                                                 \
    "    schedule:\n"                                                                              \
    "      anneal:\n"                                                                              \
    "        coef: {to: 0.1, epochs: [0, 2]}\n"                                                    \
    "        steps: {to: 1, steps: [0, 24], shape: cosine}\n"

static void run(const char *buffer) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s" CONTRACT_PROG CONTRACT_LOSS, buffer);
    lp_session_options opt;
    test_options(&opt);
    static const char *const paths[] = {LP_SESSION_CONTRACT_PLUGINS};
    opt.plugin_paths = paths;
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml_opt(yaml, &opt, &s, &err);
    if (rc != LP_OK)
        print_error("open: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    const lp_train_plan *plan = lp_session_train_plan(s);
    const int64_t hor = lp_session_env(s)->horizon;
    /* Per epoch: epoch_start, rollout_start, a rollout_step per step,
     * train_start, per update epoch its start and per minibatch train and
     * minibatch_end, train_end. */
    const int64_t per_epoch = 3 + hor + 1 + plan->update_epochs * (1 + 2 * plan->minibatches);
    char want[64];
    snprintf(want, sizeof want, "c: checked %lld", (long long)per_epoch);
    tmodel m = {0};
    lp_model model = tmodel_make(&m);
    for (int e = 0; e < 4; e++) {
        size_t from = g_log.count;
        assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
        assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
        for (int64_t t = 0; t < hor; t++)
            assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
        rc = lp_session_train(s, &model, NULL, &err);
        if (rc != LP_OK)
            print_error("epoch %d: %s\n", e, err.message);
        assert_int_equal(rc, LP_OK);
        assert_true(tlog_find(want, from) >= 0);
    }
    assert_int_equal(m.forwards, 4 * plan->update_epochs * plan->minibatches);
    lp_session_close(s);
    tlog_reset();
}

static void test_rows_in_order(void **state) {
    (void)state;
    run("buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 2, "
        "shuffle: false}\n");
}

static void test_rows_shuffled(void **state) {
    (void)state;
    run("buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 2}\n");
}

static void test_transitions(void **state) {
    (void)state;
    run("buffer: {segments: 4, horizon: 3, minibatch_segments: 1, update_epochs: 3, "
        "sample: transitions}\n");
}

/* An anneal target outside the param's range never reaches the plugin: the
 * host refuses the config. */
static void test_out_of_range_refused_by_host(void **state) {
    (void)state;
    lp_session_options opt;
    test_options(&opt);
    static const char *const paths[] = {LP_SESSION_CONTRACT_PLUGINS};
    opt.plugin_paths = paths;
    const char *yaml = "buffer: {segments: 4, horizon: 3}\n" CONTRACT_PROG "losses:\n"
                       "  - name: c\n"
                       "    plugin: contract\n"
                       "    schedule: {anneal: {coef: {to: 0.05, epochs: [0, 2]}}}\n";
    lp_session *s = (lp_session *)(uintptr_t)1;
    lp_error err;
    assert_int_equal(open_yaml_opt(yaml, &opt, &s, &err), LP_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(err.message, "coef.to = 0.05 is out of range"));
    tlog_reset();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_in_order),
        cmocka_unit_test(test_rows_shuffled),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_out_of_range_refused_by_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
