/* Stats: "<instance>/<key>" (two instances of one plugin recording the same
 * key keep both: pain 1), "<instance>/loss", "total_loss"; means over a train
 * phase, reset each phase; NaN when nothing was recorded; CSV and JSON
 * Lines files. */
#include "session_test.h"

#include <unistd.h>

#define STATS_YAML                                                                                 \
    "buffer: {segments: 4, horizon: 2, minibatch_segments: 2, update_epochs: 2}\n" PROG            \
    "losses:\n"                                                                                    \
    "  - {name: p, plugin: probe, params: {stat_base: 10, loss: 3}}\n"                             \
    "  - {name: q, plugin: probe, weight: 0.5, params: {stat_base: 20, loss: 1}}\n"                \
    "  - {name: off, plugin: probe, schedule: {train: []}}\n"

static void test_keys_and_means(void **state) {
    (void)state;
    lp_session *s = open_ok(STATS_YAML);
    static const char *const names[] = {"p/loss",   "q/loss",     "off/loss",  "p/metric",
                                        "q/metric", "off/metric", "total_loss"};
    assert_int_equal(lp_session_stat_count(s), 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(lp_session_stat_name(s, i), names[i]);
    tmodel m = {0};
    for (int e = 0; e < 2; e++) {
        run_epoch(s, &m, NULL);
        double v;
        /* 4 train calls per phase: base + 0, 1, 2, 3 -> base + 1.5, reset
         * each phase. */
        assert_int_equal(lp_session_stat(s, "p/metric", &v), LP_OK);
        assert_true(fabs(v - 11.5) < 1e-12);
        assert_int_equal(lp_session_stat(s, "q/metric", &v), LP_OK);
        assert_true(fabs(v - 21.5) < 1e-12);
        assert_int_equal(lp_session_stat(s, "p/loss", &v), LP_OK);
        assert_true(fabs(v - 3.0) < 1e-12);
        assert_int_equal(lp_session_stat(s, "total_loss", &v), LP_OK);
        assert_true(fabs(v - 3.5) < 1e-12); /* 1 * 3 + 0.5 * 1 */
        assert_int_equal(lp_session_stat(s, "off/loss", &v), LP_OK);
        assert_true(isnan(v));
        assert_true(isnan(lp_session_stat_value(s, 5)));
    }
    double v;
    assert_int_equal(lp_session_stat(s, "metric", &v), LP_ENOENT);
    lp_session_close(s);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void run_with_stats(const char *path, int epochs) {
    lp_session_options opt;
    test_options(&opt);
    opt.stats_path = path;
    lp_session *s = NULL;
    lp_error err;
    int32_t rc = open_yaml_opt(STATS_YAML, &opt, &s, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    tmodel m = {0};
    for (int e = 0; e < epochs; e++)
        run_epoch(s, &m, NULL);
    lp_session_close(s);
}

static void test_csv(void **state) {
    (void)state;
    const char *path = LP_SESSION_TMP "/stats.csv";
    unlink(path);
    run_with_stats(path, 2);
    run_with_stats(path, 1); /* appends, no second header */
    assert_string_equal(slurp(path),
                        "epoch,env_steps,p/loss,q/loss,off/loss,p/metric,q/metric,off/metric,"
                        "total_loss\n"
                        "0,8,3,1,,11.5,21.5,,3.5\n"
                        "1,16,3,1,,11.5,21.5,,3.5\n"
                        "0,8,3,1,,11.5,21.5,,3.5\n");
}

/* A stats file that cannot take the line (a full disk): the train phase
 * reports what and where, the epoch still advances, and the file holds no
 * partial line. */
static void test_append_fails_cleanly(void **state) {
    (void)state;
    const char *path = LP_SESSION_TMP "/full.csv";
    unlink(path);
    assert_int_equal(symlink("/dev/full", path), 0);
    lp_session_options opt;
    test_options(&opt);
    opt.stats_path = path;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(STATS_YAML, &opt, &s, &err), LP_OK);
    tmodel m = {0};
    lp_model model = tmodel_make(&m);
    assert_int_equal(lp_session_epoch_start(s, &err), LP_OK);
    assert_int_equal(lp_session_rollout_start(s, &err), LP_OK);
    for (int64_t t = 0; t < lp_session_env(s)->horizon; t++)
        assert_int_equal(lp_session_rollout_step(s, t, &err), LP_OK);
    assert_int_equal(lp_session_train(s, &model, NULL, &err), LP_EIO);
    char want[512];
    snprintf(want, sizeof want,
             "%s: cannot append the stats of epoch 0: No space left on device; nothing was "
             "written",
             path);
    assert_string_equal(err.message, want);
    assert_int_equal(lp_session_epoch(s), 1);
    lp_session_close(s);
    unlink(path);
}

static void test_jsonl(void **state) {
    (void)state;
    const char *path = LP_SESSION_TMP "/stats.jsonl";
    unlink(path);
    run_with_stats(path, 2);
    assert_string_equal(slurp(path), "{\"epoch\":0,\"env_steps\":8,\"p/loss\":3,\"q/loss\":1,"
                                     "\"p/metric\":11.5,\"q/metric\":21.5,\"total_loss\":3.5}\n"
                                     "{\"epoch\":1,\"env_steps\":16,\"p/loss\":3,\"q/loss\":1,"
                                     "\"p/metric\":11.5,\"q/metric\":21.5,\"total_loss\":3.5}\n");
}

static void test_bad_paths(void **state) {
    (void)state;
    open_err("buffer: {segments: 4, horizon: 2}\n" PROG "stats: {path: " LP_SESSION_TMP
             "/no/such/dir/s.csv}\n"
             "losses: [{plugin: probe}]\n",
             LP_EIO,
             LP_SESSION_TMP "/no/such/dir/s.csv: cannot open the stats file for appending "
                            "(stats.path at t.yaml:7:15): No such file or directory; check that "
                            "its directory exists and is writable");
    lp_session_options opt;
    test_options(&opt);
    opt.stats_path = "run/stats.txt";
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(STATS_YAML, &opt, &s, &err), LP_EINVAL);
    assert_string_equal(err.message, "stats path 'run/stats.txt' "
                                     "(lp_session_options.stats_path) has no known format; end "
                                     "it in .csv or .jsonl");
    assert_null(s);
}

/* Program stats: registered once after open, recorded by handle, the mean of
 * what was recorded during the epoch (rollout and train phase), written with
 * the others; bad names, clashes and late registration refused. */
static void test_program_stats(void **state) {
    (void)state;
    const char *path = LP_SESSION_TMP "/program_stats.csv";
    unlink(path);
    lp_session_options opt;
    test_options(&opt);
    opt.stats_path = path;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(STATS_YAML, &opt, &s, &err), LP_OK);
    int32_t ret = -5, sps = -5, h = -5;
    assert_int_equal(lp_session_stat_register(s, "episode_return", &ret, &err), LP_OK);
    assert_int_equal(ret, 7);
    assert_int_equal(lp_session_stat_register(s, "run/sps_2", &sps, &err), LP_OK);
    assert_int_equal(sps, 8);
    assert_int_equal(lp_session_stat_count(s), 9);
    assert_string_equal(lp_session_stat_name(s, 8), "run/sps_2");

    assert_int_equal(lp_session_stat_register(s, "episode_return", &h, &err), LP_EINVAL);
    assert_int_equal(h, -1);
    assert_string_equal(err.message, "lp_session_stat_register: statistic 'episode_return' "
                                     "already exists (registered by the program); choose another "
                                     "name, e.g. 'program/episode_return'");
    assert_int_equal(lp_session_stat_register(s, "p/metric", &h, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_stat_register: statistic 'p/metric' already "
                                     "exists (an instance's); choose another name, e.g. "
                                     "'program/p/metric'");
    assert_int_equal(lp_session_stat_register(s, "total_loss", &h, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_stat_register: statistic 'total_loss' already "
                                     "exists (the host's); choose another name, e.g. "
                                     "'program/total_loss'");
    assert_int_equal(lp_session_stat_register(s, "env_steps", &h, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_stat_register: 'env_steps' is a column the "
                                     "stats file always has; choose another name");
    static const char *const bad[] = {"", "Return", "9lives", "a-b", "_x", "a b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lp_session_stat_register(s, bad[i], &h, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_session_stat_register: bad statistic name 'a b'; use "
                                     "[a-z][a-z0-9_/]*, at most 127 characters (e.g. "
                                     "\"episode_return\")");
    assert_int_equal(lp_session_stat_register(s, NULL, &h, &err), LP_EINVAL);

    /* Recording: only program stats' handles, finite values. */
    assert_int_equal(lp_session_stat_record(s, 0, 1.0), LP_EINVAL); /* p/loss */
    assert_int_equal(lp_session_stat_record(s, 9, 1.0), LP_EINVAL);
    assert_int_equal(lp_session_stat_record(s, -1, 1.0), LP_EINVAL);
    assert_int_equal(lp_session_stat_record(NULL, ret, 1.0), LP_EINVAL);
    assert_int_equal(lp_session_stat_record(s, ret, NAN), LP_ERANGE);
    assert_int_equal(lp_session_stat_record(s, ret, INFINITY), LP_ERANGE);

    /* Epoch 0: two values before the train phase (during the rollout). */
    tmodel m = {0};
    assert_int_equal(lp_session_stat_record(s, ret, 10.0), LP_OK);
    assert_int_equal(lp_session_stat_record(s, ret, 20.0), LP_OK);
    assert_int_equal(lp_session_stat_record(s, sps, 5.0), LP_OK);
    run_epoch(s, &m, NULL);
    double v;
    assert_int_equal(lp_session_stat(s, "episode_return", &v), LP_OK);
    assert_true(v == 15.0);
    assert_int_equal(lp_session_stat(s, "run/sps_2", &v), LP_OK);
    assert_true(v == 5.0);
    /* Epoch 1: one value; nothing for sps -> NaN. Epoch 2: nothing. */
    assert_int_equal(lp_session_stat_record(s, ret, 40.0), LP_OK);
    run_epoch(s, &m, NULL);
    assert_true(lp_session_stat_value(s, (size_t)ret) == 40.0);
    assert_true(isnan(lp_session_stat_value(s, (size_t)sps)));
    run_epoch(s, &m, NULL);
    assert_true(isnan(lp_session_stat_value(s, (size_t)ret)));

    /* Too late now: the file's columns are fixed. */
    assert_int_equal(lp_session_stat_register(s, "late", &h, &err), LP_ESTATE);
    assert_string_equal(err.message, "lp_session_stat_register: statistic 'late' registered "
                                     "after the first train phase; the stats file's columns are "
                                     "fixed by then: register every program statistic right "
                                     "after lp_session_open");
    lp_session_close(s);
    assert_string_equal(slurp(path),
                        "epoch,env_steps,p/loss,q/loss,off/loss,p/metric,q/metric,off/metric,"
                        "total_loss,episode_return,run/sps_2\n"
                        "0,8,3,1,,11.5,21.5,,3.5,15,5\n"
                        "1,16,3,1,,11.5,21.5,,3.5,40,\n"
                        "2,24,3,1,,11.5,21.5,,3.5,,\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_keys_and_means, teardown_log),
        cmocka_unit_test_teardown(test_csv, teardown_log),
        cmocka_unit_test_teardown(test_append_fails_cleanly, teardown_log),
        cmocka_unit_test_teardown(test_jsonl, teardown_log),
        cmocka_unit_test_teardown(test_bad_paths, teardown_log),
        cmocka_unit_test_teardown(test_program_stats, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
