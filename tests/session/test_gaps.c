/* The gaps: a duplicate state_register and an lp_loss below the 1.0 size
 * refused with their messages (the "oddball" test plugin), the strict-load
 * failure message, and each pain of the trainers lossplug's lifecycle
 * follows (Metta's, AllenAct's: silent stat collisions, last-writer-wins
 * specs, ...) shown fixed by a test named after it (grep "lifecycle.md
 * pain"). Some pains have fuller tests elsewhere, named in the comments. */
#include "session_test.h"

#include <stddef.h>
#include <unistd.h>

#define HEAD "buffer: {segments: 2, horizon: 2}\n" PROG "losses:\n"

/* ---- helpers ---------------------------------------------------------------------- */

/* Open with the oddball plugin's directory searched too. */
static int32_t open_odd(const char *yaml, lp_session **s, lp_error *err) {
    static const char *const paths[] = {LP_SESSION_PLUGINS, LP_SESSION_ODD_PLUGINS};
    lp_session_options opt;
    test_options(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 2;
    return open_yaml_opt(yaml, &opt, s, err);
}

static void odd_err(const char *yaml, int32_t code, const char *msg) {
    lp_session *s = (lp_session *)(uintptr_t)1;
    lp_error err;
    int32_t rc = open_odd(yaml, &s, &err);
    if (rc != code || strcmp(err.message, msg) != 0)
        print_error("expected %d '%s'\n     got %d '%s'\n", code, msg, rc, err.message);
    assert_int_equal(rc, code);
    assert_string_equal(err.message, msg);
    assert_null(s);
}

/* ---- refusals ------------------------------------------------------------------------ */

static void test_state_register_twice(void **state) {
    (void)state;
    /* The plugin passes the host's status on without a message: the host's
     * refusal is the message, naming the instance and its config line. */
    odd_err(HEAD "  - {name: o, plugin: oddball, params: {dup_state: create}}\n", LP_EINVAL,
            "instance 'o' (plugin oddball, t.yaml:8): create failed: state_register: 'x' is "
            "already registered by this instance; register each tensor once");
    odd_err(HEAD "  - {name: r, plugin: recorder}\n"
                 "  - {name: o, plugin: oddball, params: {dup_state: attach}}\n",
            LP_EINVAL,
            "instance 'o' (plugin oddball, t.yaml:9): attach failed: state_register: 'x' is "
            "already registered by this instance; register each tensor once");
    /* Open failed after create: every instance was destroyed, in reverse. */
    char got[512];
    tlog_join("", got, sizeof got);
    assert_non_null(strstr(got, "o: destroy|r: destroy"));
    /* The same name in two instances is two entries, not a duplicate. */
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_odd(HEAD "  - {name: a, plugin: oddball}\n"
                                   "  - {name: b, plugin: oddball, params: {dup_state: none}}\n",
                              &s, &err),
                     LP_OK);
    lp_session_close(s);
}

static void test_loss_struct_too_small(void **state) {
    (void)state;
    const size_t v1 = offsetof(lp_loss, get_extension) + sizeof(void *);
    const size_t to_destroy = offsetof(lp_loss, destroy) + sizeof(void *);
    char want[1024];
    /* Too short to reach `destroy`: refused, and nothing of it is read. */
    snprintf(want, sizeof want,
             "instance 'o' (plugin oddball, t.yaml:9): create returned an lp_loss of struct_size "
             "16, below the 1.0 size %zu; rebuild %s/oddball.so against lossplug/abi.h",
             v1, LP_SESSION_ODD_PLUGINS);
    odd_err(HEAD "  - {name: r, plugin: recorder}\n"
                 "  - {name: o, plugin: oddball, params: {short_loss: 1}}\n",
            LP_EABI, want);
    /* Long enough to hold `destroy`: refused, and destroyed (nothing leaks:
     * run under valgrind and ASan). */
    tlog_reset();
    snprintf(want, sizeof want,
             "instance 'o' (plugin oddball, t.yaml:9): create returned an lp_loss of struct_size "
             "%zu, below the 1.0 size %zu; rebuild %s/oddball.so against lossplug/abi.h",
             to_destroy, v1, LP_SESSION_ODD_PLUGINS);
    odd_err(HEAD "  - {name: r, plugin: recorder}\n"
                 "  - {name: o, plugin: oddball, params: {short_loss: 2}}\n",
            LP_EABI, want);
    char got[512];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "r: create|o: destroy|r: destroy");
}

/* ---- the strict-load message ----------------------------------------------------------- */

#define CKPT_YAML(losses)                                                                          \
    "buffer: {segments: 2, horizon: 2, minibatch_segments: 1}\n" PROG "losses:\n" losses

static const char *ckpt = LP_SESSION_TMP "/gaps.ckpt";

static void save_pq(void) {
    lp_session *s = open_ok(CKPT_YAML("  - {name: p, plugin: probe}\n"
                                      "  - {name: q, plugin: probe}\n"));
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    lp_error err;
    assert_int_equal(lp_session_save(s, ckpt, NULL, 0, &err), LP_OK);
    lp_session_close(s);
}

static void test_strict_load_message(void **state) {
    (void)state;
    save_pq();
    /* p/counter has another shape, z/counter is not in the file, q/counter
     * is in the file only: all three named, nothing restored. */
    lp_session *s =
        open_ok(CKPT_YAML("  - {name: p, plugin: probe, params: {state: 3, log: true}}\n"
                          "  - {name: z, plugin: probe}\n"));
    tlog_reset();
    lp_load_report *r = NULL;
    lp_error err;
    assert_int_equal(lp_session_load(s, ckpt, NULL, 0, 1, &r, &err), LP_ESTATE);
    char want[1024];
    snprintf(want, sizeof want,
             "checkpoint '%s' does not match the state to restore (strict: nothing was "
             "restored); 1 missing (wanted, not in the file): z/counter; 1 unexpected (in the "
             "file, not wanted): q/counter; 1 mismatched: p/counter (file f64[2], wanted "
             "f64[3])",
             ckpt);
    assert_string_equal(err.message, want);
    assert_int_equal(lp_load_report_count(r, LP_LOAD_RESTORED), 0);
    assert_string_equal(lp_load_report_name(r, LP_LOAD_MISSING, 0), "z/counter");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_UNEXPECTED, 0), "q/counter");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_MISMATCHED, 0), "p/counter");
    lp_load_report_free(r);
    assert_int_equal(lp_session_epoch(s), 0);
    assert_int_equal(g_log.count, 0); /* no load hook ran */
    lp_session_close(s);
}

/* ---- the pains of lifecycle.md ------------------------------------------------------- */

#define PAIN_HEAD                                                                                  \
    "buffer: {segments: 2, horizon: 2, minibatch_segments: 1, update_epochs: 1}\n" PROG "losses:"  \
    "\n"

/* lifecycle.md pain 1: stats keys of different losses collide and overwrite
 * each other silently. Two instances record the same key; both are kept,
 * each as "<instance>/<key>" with its own mean. (Also test_stats.c.) */
static void test_pain1_stats_do_not_collide(void **state) {
    (void)state;
    lp_session *s = open_ok(PAIN_HEAD "  - {name: a, plugin: probe, params: {stat_base: 10}}\n"
                                      "  - {name: b, plugin: probe, params: {stat_base: 20}}\n");
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    static const char *const names[] = {"a/loss", "b/loss", "a/metric", "b/metric", "total_loss"};
    assert_int_equal(lp_session_stat_count(s), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(lp_session_stat_name(s, i), names[i]);
    double v;
    assert_int_equal(lp_session_stat(s, "a/metric", &v), LP_OK);
    assert_true(v == 10.5); /* two minibatches: base + 0, base + 1 */
    assert_int_equal(lp_session_stat(s, "b/metric", &v), LP_OK);
    assert_true(v == 20.5);
    lp_session_close(s);
}

/* lifecycle.md pain 2: experience specs merge last-writer-wins, so a shape
 * clash goes unnoticed. A dtype clash between two instances is refused,
 * naming both and their config lines. (Shape clashes: test_spec.c.) */
static void test_pain2_spec_clash_refused(void **state) {
    (void)state;
    open_err(HEAD "  - {name: p, plugin: probe, params: {writes: \"adv:f32\"}}\n"
                  "  - {name: q, plugin: probe, params: {reads: \"adv:f64\"}}\n",
             LP_ESPEC,
             "t.yaml:9:5: field 'adv' clashes: instance 'q' (plugin probe, t.yaml:9:5) declares "
             "it f64, instance 'p' (plugin probe, t.yaml:8:5) declares it f32; make both declare "
             "the same dtype and shape");
}

/* lifecycle.md pain 3: who writes each field is implicit; two losses
 * storing one step corrupts the buffer. Every field has one declared
 * writer; two writers in different phases are refused too. (Read by
 * nobody, written by two in one phase: test_spec.c.) */
static void test_pain3_one_declared_writer(void **state) {
    (void)state;
    lp_session *s = open_ok(HEAD "  - {name: p, plugin: probe, params: {writes: \"adv:f32\"}}\n"
                                 "  - {name: q, plugin: probe, params: {reads: \"adv:f32\"}}\n");
    const lp_field_info *f = lp_session_field_at(s, (size_t)lp_session_field_handle(s, "adv"));
    assert_string_equal(f->writer, "p");
    assert_string_equal(f->readers, "q");
    assert_int_equal(f->write_phase, LP_PHASE_TRAIN);
    lp_session_close(s);
    open_err(HEAD "  - {name: p, plugin: probe, params: {rollout_writes: \"adv:f32\"}}\n"
                  "  - {name: q, plugin: probe, params: {writes: \"adv:f32\"}}\n",
             LP_ESPEC,
             "t.yaml:9:5: field 'adv' is written by two: instance 'q' (plugin probe, t.yaml:9:5) "
             "in the train phase and instance 'p' (plugin probe, t.yaml:8:5) in the rollout "
             "phase; each field has one writer: remove the write from one of them (or rename "
             "the field)");
}

/* lifecycle.md pain 4: fixed loss order; a loss cannot be used twice. The
 * same plugin twice under two names with different params: both run, in
 * config order (not name order), each seeing its own params. (The full
 * hook order with two recorders: test_lifecycle.c.) */
static void test_pain4_same_plugin_twice(void **state) {
    (void)state;
    lp_session *s = open_ok(
        PAIN_HEAD "  - {name: zeta, plugin: probe, params: {log: true, coef: 0.25, steps: 3, "
                  "loss: 1}}\n"
                  "  - {name: alpha, plugin: probe, weight: 2, params: {log: true, coef: 0.75, "
                  "steps: 7, loss: 4}}\n");
    assert_string_equal(lp_session_instance_name(s, 0), "zeta");
    assert_string_equal(lp_session_instance_name(s, 1), "alpha");
    assert_string_equal(lp_session_instance_plugin(s, 0), "probe");
    assert_string_equal(lp_session_instance_plugin(s, 1), "probe");
    tlog_reset();
    tmodel m = {0};
    lp_train_summary sum = {.struct_size = sizeof sum};
    run_epoch(s, &m, &sum);
    char got[2048];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "zeta: epoch_start:epoch=0:coef=0.25:steps=3|"
                             "alpha: epoch_start:epoch=0:coef=0.75:steps=7|"
                             "zeta: rollout_start:epoch=0:coef=0.25:steps=3|"
                             "alpha: rollout_start:epoch=0:coef=0.75:steps=7|"
                             "zeta: train_start:epoch=0:coef=0.25:steps=3|"
                             "alpha: train_start:epoch=0:coef=0.75:steps=7|"
                             "zeta: train:0.0:rows=0:coef=0.25:steps=3|"
                             "alpha: train:0.0:rows=0:coef=0.75:steps=7|"
                             "zeta: train:0.1:rows=1:coef=0.25:steps=3|"
                             "alpha: train:0.1:rows=1:coef=0.75:steps=7|"
                             "zeta: train_end:epoch=0:coef=0.25:steps=3|"
                             "alpha: train_end:epoch=0:coef=0.75:steps=7");
    double v;
    assert_int_equal(lp_session_stat(s, "zeta/loss", &v), LP_OK);
    assert_true(v == 1.0);
    assert_int_equal(lp_session_stat(s, "alpha/loss", &v), LP_OK);
    assert_true(v == 4.0);
    assert_true(sum.total_loss == 9.0); /* 1 * 1 + 2 * 4 */
    lp_session_close(s);
}

/* lifecycle.md pain 5: most loss state is never checkpointed. Every
 * registered tensor of every instance is in the checkpoint, and a change
 * to any byte of the file is caught: the load fails and restores nothing.
 * (Round trip, strict and lenient: test_persist.c.) */
static void test_pain5_all_state_checkpointed(void **state) {
    (void)state;
    const char *yaml = PAIN_HEAD "  - {name: a, plugin: probe, params: {state: 3, log: true}}\n"
                                 "  - {name: b, plugin: probe, params: {state: 5, log: true}}\n";
    lp_session *s = open_ok(yaml);
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    lp_error err;
    assert_int_equal(lp_session_save(s, ckpt, NULL, 0, &err), LP_OK);
    lp_session_close(s);

    s = open_ok(yaml);
    tlog_reset();
    lp_load_report *r = NULL;
    assert_int_equal(lp_session_load(s, ckpt, NULL, 0, 1, &r, &err), LP_OK);
    static const char *const names[] = {"a/counter", "b/counter", "host/epoch", "host/env_steps"};
    assert_int_equal(lp_load_report_count(r, LP_LOAD_RESTORED), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, i), names[i]);
    lp_load_report_free(r);
    char got[256];
    tlog_join("", got, sizeof got);
    assert_string_equal(got, "a: load:counter=2|b: load:counter=2");
    lp_session_close(s);

    /* Every byte, one bit flipped at a time. */
    FILE *f = fopen(ckpt, "rb");
    assert_non_null(f);
    unsigned char bytes[4096];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    assert_true(n > 48 && n < sizeof bytes);
    const char *bad = LP_SESSION_TMP "/gaps-bad.ckpt";
    s = open_ok(yaml);
    tlog_reset();
    for (size_t i = 0; i < n; i++) {
        bytes[i] ^= 0x10;
        f = fopen(bad, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, n, f), n);
        fclose(f);
        bytes[i] ^= 0x10;
        int32_t rc = lp_session_load(s, bad, NULL, 0, 0, NULL, &err);
        if (rc == LP_OK)
            print_error("a flipped bit at byte %zu was not caught\n", i);
        assert_int_not_equal(rc, LP_OK);
    }
    assert_int_equal(lp_session_epoch(s), 0);
    assert_int_equal(g_log.count, 0); /* no load hook ran */
    lp_session_close(s);
    unlink(bad);
}

/* lifecycle.md pain 6: config errors surface as Python exceptions mid-run.
 * The whole composition is checked at open, before any lifecycle hook, and
 * the error names file, line and column. (Every kind of config error:
 * tests/config; every merge refusal: test_spec.c.) */
static void test_pain6_errors_up_front(void **state) {
    (void)state;
    tlog_reset();
    /* An error in the last loss's params, after two good instances. */
    open_err(HEAD "  - {name: a, plugin: recorder}\n"
                  "  - {name: b, plugin: recorder}\n"
                  "  - {name: p, plugin: probe, params: {coef: 11}}\n",
             LP_ECONFIG,
             "t.yaml:10:45: losses.p.params.coef = 11 is out of range; use a value in [0, 10]");
    /* An error in a later loss's schedule. */
    open_err(HEAD
             "  - {name: a, plugin: recorder}\n"
             "  - {name: p, plugin: probe, schedule: {train: [{from_epoch: 3, to_epoch: 2}]}}\n",
             LP_ECONFIG,
             "t.yaml:9:75: losses.p.schedule.train[0].to_epoch = 2 is not after from_epoch = 3; "
             "use to_epoch > from_epoch");
    /* Params and schedules of every loss are checked before any plugin code
     * runs: not even the recorders' create was called. */
    for (size_t i = 0; i < g_log.count; i++)
        if (g_log.lines[i][0] != '/')
            fail_msg("plugin code ran before the config error was found: %s", g_log.lines[i]);
}

/* program.sections: top-level sections the config gives its program. A
 * program must read each (nothing in a config is silently ignored); a tool
 * without the program (lossplug check) may trust the list. */
#define OWNED                                                                                      \
    "buffer: {segments: 2, horizon: 2}\n" PROG "  sections: [env]\n"                               \
    "env: {num_envs: 4}\n"                                                                         \
    "losses:\n"                                                                                    \
    "  - {name: a, plugin: recorder}\n"

static void test_program_sections(void **state) {
    (void)state;
    /* A program that reads no section: the config's claim is refused. */
    open_err(OWNED, LP_ECONFIG,
             "t.yaml:7:14: program.sections lists 'env', which this program does not read (it "
             "reads: no sections); remove it, or use the program that reads it");

    /* A program that reads `env` gets it. */
    static const char *const env[] = {"env"};
    lp_session_options opt;
    test_options(&opt);
    opt.sections = env;
    opt.section_count = 1;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(OWNED, &opt, &s, &err), LP_OK);
    int line = 0, col = 0;
    const char *v = lp_session_section_scalar(s, "env.num_envs", &line, &col);
    assert_non_null(v);
    assert_string_equal(v, "4");
    assert_int_equal(line, 8);
    lp_session_close(s);

    /* A tool that trusts the list (lossplug check) accepts it unread. */
    test_options(&opt);
    opt.trust_config_sections = 1;
    s = NULL;
    assert_int_equal(open_yaml_opt(OWNED, &opt, &s, &err), LP_OK);
    lp_session_close(s);

    /* Still, a key listed nowhere is an error, with a suggestion. */
    open_err("buffer: {segments: 2, horizon: 2}\n" PROG "  sections: [env]\n"
             "envv: {num_envs: 4}\n"
             "losses:\n"
             "  - {name: a, plugin: recorder}\n",
             LP_ECONFIG, "t.yaml:8:1: unknown key 'envv' at the top level; did you mean 'env'?");
    /* lossplug's own sections cannot be claimed, nor one twice. */
    open_err("buffer: {segments: 2, horizon: 2}\n" PROG "  sections: [buffer]\n"
             "losses:\n"
             "  - {name: a, plugin: recorder}\n",
             LP_ECONFIG,
             "t.yaml:7:14: program.sections lists 'buffer', a lossplug section; list only the "
             "sections your program reads (e.g. env)");
    open_err("buffer: {segments: 2, horizon: 2}\n" PROG "  sections: [env, env]\n"
             "losses:\n"
             "  - {name: a, plugin: recorder}\n",
             LP_ECONFIG,
             "t.yaml:7:19: program.sections lists 'env' twice (first at line 7); remove one");
}

/* lifecycle.md pain 7: losses are Python classes: swapping one means
 * editing the trainer's code. Here one program (the function below, fixed)
 * runs two configs that differ only in the plugin behind instance 'x'.
 * (The embedding example does the same: test_embed.c.) */
static double program(const char *yaml, const char **plugin) {
    lp_session *s = open_ok(yaml);
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    double v = NAN;
    assert_int_equal(lp_session_stat(s, "x/loss", &v), LP_OK);
    static char id[64];
    snprintf(id, sizeof id, "%s", lp_session_instance_plugin(s, 0));
    *plugin = id;
    lp_session_close(s);
    return v;
}

static void test_pain7_swap_is_a_config_edit(void **state) {
    (void)state;
    const char *plugin = NULL;
    assert_true(
        program(PAIN_HEAD "  - {name: x, plugin: recorder, params: {loss: 3}}\n", &plugin) == 3.0);
    assert_string_equal(plugin, "recorder");
    assert_true(program(PAIN_HEAD "  - {name: x, plugin: probe, params: {loss: 5}}\n", &plugin) ==
                5.0);
    assert_string_equal(plugin, "probe");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_state_register_twice, teardown_log),
        cmocka_unit_test_teardown(test_loss_struct_too_small, teardown_log),
        cmocka_unit_test_teardown(test_strict_load_message, teardown_log),
        cmocka_unit_test_teardown(test_pain1_stats_do_not_collide, teardown_log),
        cmocka_unit_test_teardown(test_pain2_spec_clash_refused, teardown_log),
        cmocka_unit_test_teardown(test_pain3_one_declared_writer, teardown_log),
        cmocka_unit_test_teardown(test_pain4_same_plugin_twice, teardown_log),
        cmocka_unit_test_teardown(test_pain5_all_state_checkpointed, teardown_log),
        cmocka_unit_test_teardown(test_pain6_errors_up_front, teardown_log),
        cmocka_unit_test_teardown(test_pain7_swap_is_a_config_edit, teardown_log),
        cmocka_unit_test_teardown(test_program_sections, teardown_log),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(ckpt);
    return rc;
}
