/* Errors: a failing hook names the instance, its plugin and its config line;
 * every way open can fail leaves nothing allocated (run under valgrind and
 * ASan); bad arguments. */
#include "session_test.h"

#define HEAD "buffer: {segments: 2, horizon: 2}\n" PROG "losses:\n"

static void test_hook_errors_at_open(void **state) {
    (void)state;
    open_err(HEAD "  - {name: r, plugin: recorder}\n"
                  "  - name: p\n"
                  "    plugin: probe\n"
                  "    params: {fail: create}\n",
             LP_EINVAL,
             "instance 'p' (plugin probe, t.yaml:9): create failed: probe failure in create");
    open_err(HEAD "  - {name: r, plugin: recorder}\n"
                  "  - {name: p, plugin: probe, params: {fail: fields}}\n",
             LP_EINVAL,
             "instance 'p' (plugin probe, t.yaml:9): fields failed: probe failure in fields");
    open_err(HEAD "  - {name: p, plugin: probe, params: {fail: attach}}\n", LP_EINVAL,
             "instance 'p' (plugin probe, t.yaml:8): attach failed: probe failure in attach");
    /* A service refusal becomes the message when the plugin passes the
     * status on without one of its own. */
    open_err(HEAD "  - {name: p, plugin: probe, params: {stat: \"Bad\"}}\n", LP_EINVAL,
             "instance 'p' (plugin probe, t.yaml:8): attach failed: stat_handle: key 'Bad' is "
             "not a valid name; use [a-z][a-z0-9_]*");
    open_err(HEAD "  - {name: p, plugin: probe, params: {stat: loss}}\n", LP_EINVAL,
             "instance 'p' (plugin probe, t.yaml:8): attach failed: stat_handle: key 'loss' is "
             "the host's (it records p/loss from each train result); choose another key");
}

/* A field list from a `fields` hook is checked as the loader checks a
 * descriptor's (the same validator, the same words: tests/loader), with the
 * instance, its config line and the plugin's file. */
static void test_bad_field_specs(void **state) {
    (void)state;
    static const struct {
        const char *reads, *why;
    } cases[] = {
        {"Obs:f32", "field #0: name 'Obs' is invalid: names match [a-z][a-z0-9_]* and have at most "
                    "63 characters"},
        {"a:f32,a:f32", "field 'a' is declared twice (#0 and #1)"},
        {"a:f32[0]", "field 'a': dimension 0 is 0 (sizes must be > 0)"},
        {"a:f32[2,-7]", "field 'a': dimension 1 is -7, not a size > 0 nor LP_DIM_OBS, "
                        "LP_DIM_ACTION, LP_DIM_NUM_ACTIONS or LP_DIM_POLICY"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[512], want[1024];
        snprintf(yaml, sizeof yaml, HEAD "  - {name: p, plugin: probe, params: {reads: \"%s\"}}\n",
                 cases[i].reads);
        snprintf(want, sizeof want,
                 "instance 'p' (plugin probe, t.yaml:8): its fields hook: %s; fix the plugin "
                 "(%s/probe.so)",
                 cases[i].why, LP_SESSION_PLUGINS);
        open_err(yaml, LP_EPLUGIN, want);
    }
}

static void test_hook_errors_at_run(void **state) {
    (void)state;
    static const char *const hooks[] = {"epoch_start", "rollout_start", "rollout_step",
                                        "train_start", "train",         "minibatch_end",
                                        "train_end",   "save"};
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++) {
        char yaml[1024], want[512];
        snprintf(yaml, sizeof yaml,
                 HEAD "  - {name: r, plugin: recorder}\n"
                      "  - {name: p, plugin: probe, params: {fail: %s}}\n",
                 hooks[i]);
        lp_session *s = open_ok(yaml);
        tmodel m = {0};
        lp_model model = tmodel_make(&m);
        lp_error err;
        int32_t rc = lp_session_epoch_start(s, &err);
        if (rc == LP_OK)
            rc = lp_session_rollout_start(s, &err);
        if (rc == LP_OK)
            rc = lp_session_rollout_step(s, 0, &err);
        if (rc == LP_OK)
            rc = lp_session_train(s, &model, NULL, &err);
        if (rc == LP_OK)
            rc = lp_session_save(s, LP_SESSION_TMP "/errors.ckpt", NULL, 0, &err);
        assert_int_equal(rc, LP_EINVAL);
        snprintf(want, sizeof want,
                 "instance 'p' (plugin probe, t.yaml:9): %s failed: probe failure in %s", hooks[i],
                 hooks[i]);
        assert_string_equal(err.message, want);
        lp_session_close(s);
    }
}

static int32_t failing_forward(void *user, const lp_batch *mb, const lp_tensor *out,
                               lp_error *err) {
    (void)user;
    (void)mb;
    (void)out;
    snprintf(err->message, sizeof err->message, "no weights loaded");
    return LP_EINVAL;
}

static void test_model_error(void **state) {
    (void)state;
    lp_session *s = open_ok(HEAD "  - {name: r, plugin: recorder}\n");
    lp_model model = {.forward = failing_forward};
    lp_error err;
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message, "the model's forward failed at epoch 0, update epoch 0, "
                                     "minibatch 0: no weights loaded");
    lp_session_close(s);
}

/* Every failure of open, early and late: nothing leaks (valgrind, ASan). */
static void test_open_failures(void **state) {
    (void)state;
    open_err("buffer: [\n", LP_ECONFIG,
             "t.yaml:2:1: YAML syntax error: did not find expected node content (while parsing a "
             "flow node at line 2, column 1); check the indentation, quotes and brackets here");
    open_err(HEAD "  - {name: p, plugin: prob}\n", LP_ECONFIG,
             "t.yaml:8:23: unknown plugin 'prob'; did you mean 'probe'? (known plugins: probe, "
             "recorder)");
    open_err(HEAD "  - {name: p, plugin: probe, params: {coef: 11}}\n", LP_ECONFIG,
             "t.yaml:8:45: losses.p.params.coef = 11 is out of range; use a value in [0, 10]");
    open_err(HEAD "  - {name: p, plugin: probe, params: {reads: \"x:f32\"}}\n"
                  "  - {name: q, plugin: probe}\n",
             LP_ESPEC,
             "t.yaml:8:5: field 'x' is read by instance 'p' (plugin probe, t.yaml:8:5) in the "
             "rollout and train phase, but nobody writes it; declare it in program.fields (the "
             "program writes it at rollout) or add a loss that writes it");
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(lp_session_open(LP_SESSION_TMP "/no-such.yaml", NULL, &s, &err), LP_EIO);
    assert_null(s);
    assert_int_equal(lp_session_open(NULL, NULL, &s, &err), LP_EINVAL);
    assert_int_equal(lp_session_open_string("x", 1, NULL, NULL, NULL, &err), LP_EINVAL);
    lp_session_options opt;
    test_options(&opt);
    opt.struct_size = 8;
    assert_int_equal(open_yaml_opt(HEAD "  - {plugin: probe}\n", &opt, &s, &err), LP_EINVAL);
    assert_null(s);
    lp_session_close(NULL);
}

/* lp_session_options.registry: the plugin search from registry options,
 * the session's own search fields not read. */
static void test_registry_options(void **state) {
    (void)state;
    static const char *const plugins[] = {LP_SESSION_PLUGINS};
    static const char *const empty[] = {LP_SESSION_TMP};
    lp_registry_options ro;
    lp_registry_options_init(&ro);
    ro.plugin_paths = plugins;
    ro.plugin_path_count = 1;
    ro.use_env_path = 0;
    ro.use_install_dir = 0;
    lp_session_options opt;
    test_options(&opt);
    opt.plugin_paths = NULL; /* not read: a NULL array with a count is not refused */
    opt.plugin_path_count = 3;
    opt.registry = &ro;
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml_opt(HEAD "  - {plugin: probe}\n", &opt, &s, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_string_equal(lp_session_instance_plugin(s, 0), "probe");
    lp_session_close(s);

    /* The registry's directories replace the session's: probe is not found. */
    test_options(&opt);
    ro.plugin_paths = empty;
    opt.registry = &ro;
    s = (lp_session *)(uintptr_t)1;
    rc = open_yaml_opt(HEAD "  - {plugin: probe}\n", &opt, &s, &err);
    assert_int_equal(rc, LP_ECONFIG);
    assert_non_null(strstr(err.message, "unknown plugin 'probe'"));
    assert_null(s);

    /* A registry struct older than 1.0 is refused, naming it. */
    ro.plugin_paths = plugins;
    ro.struct_size = 8;
    rc = open_yaml_opt(HEAD "  - {plugin: probe}\n", &opt, &s, &err);
    assert_int_equal(rc, LP_EINVAL);
    assert_non_null(strstr(err.message, "options.registry"));
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_hook_errors_at_open, teardown_log),
        cmocka_unit_test_teardown(test_bad_field_specs, teardown_log),
        cmocka_unit_test_teardown(test_hook_errors_at_run, teardown_log),
        cmocka_unit_test_teardown(test_model_error, teardown_log),
        cmocka_unit_test_teardown(test_open_failures, teardown_log),
        cmocka_unit_test_teardown(test_registry_options, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
