/* Schedules at run time: per-phase gates by epoch and by step, and annealed
 * params as the plugin sees them (brought up to date at epoch start, rollout
 * start and train start). */
#include "session_test.h"

static void test_gates(void **state) {
    (void)state;
    lp_session *s = open_ok("buffer: {segments: 2, horizon: 2}\n" PROG "losses:\n"
                            "  - name: late\n"
                            "    plugin: recorder\n"
                            "    schedule: {train: [{from_epoch: 1}], rollout: []}\n"
                            "  - name: cycle\n"
                            "    plugin: recorder\n"
                            "    schedule: {train: [{every_epochs: 3, on_epochs: 1}]}\n"
                            "  - name: early\n"
                            "    plugin: recorder\n"
                            "    schedule: {train: [{to_step: 8}]}\n");
    tmodel m = {0};
    char got[4096];
    for (int e = 0; e < 4; e++)
        run_epoch(s, &m, NULL);
    /* late: never in rollout, trains from epoch 1 on. */
    tlog_join("late: rollout", got, sizeof got);
    assert_string_equal(got, "");
    tlog_join("late: train_start", got, sizeof got);
    assert_string_equal(got, "late: train_start|late: train_start|late: train_start");
    /* cycle: epochs 0 and 3. */
    tlog_join("cycle: train_start", got, sizeof got);
    assert_string_equal(got, "cycle: train_start|cycle: train_start");
    /* early: env_steps at train start are 4, 8, 12, 16: only epoch 0. */
    tlog_join("early: train_start", got, sizeof got);
    assert_string_equal(got, "early: train_start");
    /* epoch_start reaches everyone. */
    tlog_join("late: epoch_start", got, sizeof got);
    assert_string_equal(got, "late: epoch_start:0|late: epoch_start:1|late: epoch_start:2|"
                             "late: epoch_start:3");
    double v;
    assert_int_equal(lp_session_stat(s, "early/loss", &v), LP_OK);
    assert_true(isnan(v));
    lp_session_close(s);
}

static void test_anneal(void **state) {
    (void)state;
    /* coef 0.5 -> 1.5 linearly over epochs [0, 2]; steps 10 -> 0 over
     * environment steps [0, 8] (8 steps per epoch: 4 segments x 2). */
    lp_session *s = open_ok("buffer: {segments: 4, horizon: 2}\n" PROG "losses:\n"
                            "  - name: p\n"
                            "    plugin: probe\n"
                            "    params: {log: true}\n"
                            "    schedule:\n"
                            "      anneal:\n"
                            "        coef: {to: 1.5, epochs: [0, 2]}\n"
                            "        steps: {to: 0, steps: [0, 8], shape: cosine}\n");
    tmodel m = {0};
    for (int e = 0; e < 3; e++)
        run_epoch(s, &m, NULL);
    char got[4096];
    tlog_join("p: epoch_start", got, sizeof got);
    assert_string_equal(got, "p: epoch_start:epoch=0:coef=0.5:steps=10|"
                             "p: epoch_start:epoch=1:coef=1:steps=0|"
                             "p: epoch_start:epoch=2:coef=1.5:steps=0");
    tlog_join("p: rollout_start", got, sizeof got);
    assert_string_equal(got, "p: rollout_start:epoch=0:coef=0.5:steps=10|"
                             "p: rollout_start:epoch=1:coef=1:steps=0|"
                             "p: rollout_start:epoch=2:coef=1.5:steps=0");
    /* At train start of epoch 0, 8 steps were collected: steps is 0. */
    tlog_join("p: train_start", got, sizeof got);
    assert_string_equal(got, "p: train_start:epoch=0:coef=0.5:steps=0|"
                             "p: train_start:epoch=1:coef=1:steps=0|"
                             "p: train_start:epoch=2:coef=1.5:steps=0");
    lp_session_close(s);
}

static void test_anneal_midway(void **state) {
    (void)state;
    /* Halfway through a step range: cosine gives the midpoint too. */
    lp_session *s = open_ok("buffer: {segments: 2, horizon: 2}\n" PROG "losses:\n"
                            "  - name: p\n"
                            "    plugin: probe\n"
                            "    params: {log: true, steps: 100}\n"
                            "    schedule: {anneal: {steps: {to: 0, steps: [0, 8], shape: "
                            "cosine}}}\n");
    tmodel m = {0};
    run_epoch(s, &m, NULL); /* train start at 4 steps: 50 */
    char got[4096];
    tlog_join("p: train_start", got, sizeof got);
    assert_string_equal(got, "p: train_start:epoch=0:coef=0.5:steps=50");
    lp_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_gates, teardown_log),
        cmocka_unit_test_teardown(test_anneal, teardown_log),
        cmocka_unit_test_teardown(test_anneal_midway, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
