/* A session loads only the plugin files its config names. Next to the test
 * plugins, fixtures/trap provides fixture_trap; with LPT_TRAP_INIT set its
 * init would crash this process, so a session that opens and trains here
 * never loaded it. Its id still counts: a typo of it is suggested. Both with
 * the session's own scan and from a cache an earlier scan left. */
#include "session_test.h"

#include <stdlib.h>
#include <sys/stat.h>

static const char *const YAML_OK =
    "buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 1, seed: 7}\n" PROG
    "losses:\n"
    "  - {name: a, plugin: recorder}\n";

static const char *const YAML_TYPO =
    "buffer: {segments: 4, horizon: 3, minibatch_segments: 2, update_epochs: 1, seed: 7}\n" PROG
    "losses:\n"
    "  - {name: a, plugin: recorder}\n"
    "  - {name: t, plugin: fixture_trp}\n";

static void options(lp_session_options *o, int scan) {
    static const char *const paths[] = {LP_SESSION_PLUGINS, LP_TRAP_DIR};
    test_options(o);
    o->plugin_paths = paths;
    o->plugin_path_count = 2;
    o->scan_plugins = scan;
}

static void test_trap_not_loaded(void **state) {
    (void)state;
    char cache[512];
    snprintf(cache, sizeof cache, "%s/only-needed-cache", LP_SESSION_TMP);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(setenv("XDG_CACHE_HOME", cache, 1), 0);
    for (int scan = 1; scan >= 0; scan--) { /* a scan, then its cache alone */
        lp_session_options o;
        options(&o, scan);
        lp_session *s = NULL;
        lp_error err;
        int32_t rc = open_yaml_opt(YAML_OK, &o, &s, &err);
        if (rc != LP_OK)
            fail_msg("open (scan %d): %s", scan, err.message);
        tmodel m;
        memset(&m, 0, sizeof m);
        lp_train_summary sum;
        run_epoch(s, &m, &sum);
        lp_session_close(s);
        assert_int_equal(open_yaml_opt(YAML_TYPO, &o, &s, &err), LP_ECONFIG);
        assert_null(s);
        assert_non_null(strstr(err.message, "unknown plugin 'fixture_trp'; did you mean "
                                            "'fixture_trap'?"));
        /* From here on, loading trap.so would end this process. */
        assert_int_equal(setenv("LPT_TRAP_INIT", "1", 1), 0);
    }
    assert_int_equal(unsetenv("LPT_TRAP_INIT"), 0);
    assert_int_equal(unsetenv("XDG_CACHE_HOME"), 0);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_trap_not_loaded, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
