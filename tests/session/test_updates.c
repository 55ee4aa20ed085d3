/*
 * ABI 1.1 field updates and the 1.0 fixture, in real sessions:
 *  - a plugin built against the frozen ABI 1.0 headers
 *    (tests/fixtures/abi-1.0) loads, runs its hooks and gets its numbers
 *    right under this host;
 *  - reward_norm (LP_FIELD_UPDATE at rollout) rewrites `rewards` before the
 *    1.0 loss reads them at train: the loss is the float64 reference's;
 *  - a declared read that writes (fixture read_writes) passes silently
 *    without lp_session_options.check_fields and fails the hook with it,
 *    and the test support's field check catches it too.
 */
#include "session_test.h"

#include <lpt.h>

#define UPROG                                                                                      \
    "program:\n"                                                                                   \
    "  observation: {dtype: f32, shape: [3]}\n"                                                    \
    "  action: {dtype: i32, shape: [], num_actions: 2}\n"                                          \
    "  fields: {obs: \"f32[OBS]\", actions: i32, rewards: f32, dones: u8}\n"                       \
    "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"

enum { SEG = 4, HOR = 8 };

static void uoptions(lp_session_options *opt) {
    static const char *const paths[] = {LP_FIXTURES "/abi_1_0", LP_FIXTURES "/read_writes",
                                        LP_BUILTIN_PLUGINS};
    lp_session_options_init(opt);
    opt->plugin_paths = paths;
    opt->plugin_path_count = 3;
    opt->use_env_path = 0;
    opt->use_install_dir = 0;
    opt->log = test_log;
}

static lp_session *uopen(const char *yaml, int check_fields) {
    lp_session_options opt;
    uoptions(&opt);
    opt.check_fields = check_fields;
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml_opt(yaml, &opt, &s, &err);
    if (rc != LP_OK)
        print_error("open: %s\n", err.message);
    assert_int_equal(rc, LP_OK);
    return s;
}

/* Fill rewards and dones of step t (the program's part of a rollout step). */
static void write_step(lp_session *s, int64_t t, float *raw, uint8_t *done) {
    int32_t hr = lp_session_field_handle(s, "rewards"), hd = lp_session_field_handle(s, "dones");
    for (int64_t r = 0; r < SEG; r++) {
        float v = (float)(0.37 * (double)((r * 7 + t * 3) % 11) - 1.1);
        uint8_t d = (uint8_t)(((r + t) % 5) == 4);
        *(float *)lp_session_step_ptr(s, hr, r, t) = v;
        *(uint8_t *)lp_session_step_ptr(s, hd, r, t) = d;
        raw[r * HOR + t] = v;
        done[r * HOR + t] = d;
    }
}

static double stat_of(const lp_session *s, const char *name) {
    double v = NAN;
    assert_int_equal(lp_session_stat(s, name, &v), LP_OK);
    return v;
}

/* Run one epoch writing the fields; the 1.0 loss's mean loss and the model's
 * gradient sum. */
static void run(lp_session *s, float *raw, uint8_t *done, tmodel *m) {
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    for (int64_t t = 0; t < HOR; t++) {
        write_step(s, t, raw, done);
        int32_t rc = lp_session_rollout_step(s, t, &err);
        if (rc != LP_OK)
            print_error("rollout_step: %s\n", err.message);
        assert_int_equal(rc, LP_OK);
    }
    lp_model model = tmodel_make(m);
    lp_train_summary sum = {.struct_size = sizeof sum};
    assert_int_equal(lp_session_train(s, &model, &sum, &err), LP_OK);
}

#define BUF "buffer: {segments: 4, horizon: 8, minibatch_segments: 4, update_epochs: 1, seed: 1}\n"

static void test_abi_1_0_plugin_runs(void **state) {
    (void)state;
    lp_session *s =
        uopen(BUF UPROG "losses:\n"
                        "  - {name: old, plugin: fixture_v10_mse, params: {coef: 0.5}}\n",
              0);
    float raw[SEG * HOR];
    uint8_t done[SEG * HOR];
    tmodel m = {0};
    run(s, raw, done, &m);
    /* The model's values are all 0.25: L = coef 0.5 mean((0.25 - r)^2). */
    double want = 0.0, gsum = 0.0;
    for (int i = 0; i < SEG * HOR; i++) {
        want += (0.25 - (double)raw[i]) * (0.25 - (double)raw[i]);
        gsum += 0.5 * (0.25 - (double)raw[i]) / (SEG * HOR);
    }
    want = 0.5 * 0.5 * want / (SEG * HOR);
    assert_true(fabs(stat_of(s, "old/loss") - want) <= 1e-6 * want);
    assert_true(fabs(m.grad_sum - gsum) <= 1e-5);
    assert_true(stat_of(s, "old/steps") == HOR);       /* its rollout_step ran */
    assert_true(stat_of(s, "old/num_actions") == 2.0); /* its 1.0 lp_env_info read */
    lp_session_close(s);
}

/* reward_norm before the 1.0 reader: the reader sees the scaled rewards. */
static void test_update_chain_runs(void **state) {
    (void)state;
    lp_session *s = uopen(BUF UPROG "losses:\n"
                                    "  - {name: rn, plugin: reward_norm, params: {gamma: 0.9}}\n"
                                    "  - {name: old, plugin: fixture_v10_mse}\n",
                          1);
    const lp_field_info *f = lp_session_field_at(s, (size_t)lp_session_field_handle(s, "rewards"));
    assert_string_equal(f->chain, "program (rollout) -> rn (rollout, update) -> old (train)");
    assert_string_equal(f->updaters, "rn");
    float raw[SEG * HOR];
    uint8_t done[SEG * HOR];
    tmodel m = {0};
    run(s, raw, done, &m);
    /* float64 reference of the scaling, step by step over the rows */
    double G[SEG] = {0}, n = 1e-4, mean = 0.0, m2 = 1e-4, want = 0.0;
    for (int t = 0; t < HOR; t++) {
        for (int r = 0; r < SEG; r++) {
            G[r] = 0.9 * G[r] + raw[r * HOR + t];
            double d = G[r] - mean;
            n += 1.0;
            mean += d / n;
            m2 += d * (G[r] - mean);
        }
        for (int r = 0; r < SEG; r++) {
            double v = raw[r * HOR + t] / sqrt(m2 / n + 1e-8);
            v = v > 10.0 ? 10.0 : v < -10.0 ? -10.0 : v;
            want += (0.25 - v) * (0.25 - v);
            if (done[r * HOR + t])
                G[r] = 0.0;
        }
    }
    want = 0.5 * want / (SEG * HOR);
    assert_true(fabs(stat_of(s, "old/loss") - want) <= 1e-5 * want);
    assert_true(fabs(stat_of(s, "rn/scale") - 1.0 / sqrt(m2 / n + 1e-8)) <= 1e-9);
    lp_session_close(s);
}

static const char *const rw_yaml = BUF UPROG "losses:\n"
                                             "  - {name: sly, plugin: fixture_read_writes}\n"
                                             "  - {name: old, plugin: fixture_v10_mse}\n";

static void test_declared_read_that_writes(void **state) {
    (void)state;
    /* off: nothing notices (the cost of the check is not paid) */
    lp_session *s = uopen(rw_yaml, 0);
    float raw[SEG * HOR];
    uint8_t done[SEG * HOR];
    tmodel m = {0};
    run(s, raw, done, &m);
    lp_session_close(s);
    /* on: the first rollout step fails, naming instance, hook and field */
    s = uopen(rw_yaml, 1);
    lp_error err;
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    write_step(s, 0, raw, done);
    assert_int_equal(lp_session_rollout_step(s, 0, &err), LP_EPLUGIN);
    assert_non_null(strstr(err.message, "instance 'sly' (plugin fixture_read_writes, t.yaml:"));
    assert_non_null(strstr(err.message, "rollout_step changed field 'rewards', which it declares "
                                        "read-only (LP_FIELD_READ) in the rollout phase"));
    lp_session_close(s);
}

/* The test support's own check catches the same plugin. */
static void test_lpt_catches_it(void **state) {
    (void)state;
    char why[512];
    lpt_plugin *pl = lpt_plugin_open(LP_FIXTURES "/read_writes/read_writes.so", why, sizeof why);
    assert_non_null(pl);
    lpt_inst *in = lpt_inst_new(lpt_plugin_find(pl, "fixture_read_writes"), "sly");
    assert_non_null(in);
    float rew[3] = {1, 2, 3};
    assert_true(lpt_add_field(in, "rewards",
                              lp_tensor_make(rew, LP_DTYPE_F32, 2, (const int64_t[]){3, 1})) >= 0);
    lpt_field_check_soft(in, 1);
    assert_int_equal(lpt_create(in), LP_OK);
    assert_int_equal(lpt_attach(in), LP_OK);
    assert_int_equal(lpt_violations(in), 0);
    assert_int_equal(lpt_rollout_step(in), LP_OK);
    assert_int_equal(lpt_violations(in), 1);
    assert_string_equal(lpt_last_violation(in),
                        "plugin 'fixture_read_writes' (instance 'sly'): rollout_step changed "
                        "field 'rewards', which it declares read-only (LP_FIELD_READ) in the "
                        "rollout phase");
    lpt_inst_free(in);
    lpt_plugin_close(pl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_abi_1_0_plugin_runs, teardown_log),
        cmocka_unit_test_teardown(test_update_chain_runs, teardown_log),
        cmocka_unit_test_teardown(test_declared_read_that_writes, teardown_log),
        cmocka_unit_test_teardown(test_lpt_catches_it, teardown_log),
    };
    return cmocka_run_group_tests_name("session updates", tests, NULL, NULL);
}
