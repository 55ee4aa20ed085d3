/* Checkpoints of a session: round trip of every instance's registered state,
 * the counters and the program's tensors; a corrupted file loads nothing;
 * strict refuses a different set of losses, lenient restores the instances
 * whose names match and reports the rest; a resumed run shuffles as the
 * original. */
#include "session_test.h"

#include "../support/lpt_ckpt_patch.h"

#include <unistd.h>

#define YAML(losses)                                                                               \
    "buffer: {segments: 4, horizon: 2, minibatch_segments: 2, update_epochs: 2, seed: 3}\n" PROG   \
    "losses:\n" losses

#define PQ                                                                                         \
    "  - {name: p, plugin: probe, params: {log: true}}\n"                                          \
    "  - {name: q, plugin: probe}\n"

static const char *ckpt = LP_SESSION_TMP "/persist.ckpt";

static void save_after_one_epoch(void) {
    lp_session *s = open_ok(YAML(PQ));
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    float w[3] = {1.5f, 2.5f, 3.5f};
    int64_t shape[1] = {3};
    lp_named_tensor extra[1] = {{"model/w", {w, LP_DTYPE_F32, 1, {3}, {1}}}};
    (void)shape;
    lp_error err;
    assert_int_equal(lp_session_save(s, ckpt, extra, 1, &err), LP_OK);
    lp_session_close(s);
}

static void test_round_trip(void **state) {
    (void)state;
    save_after_one_epoch();
    lp_session *s = open_ok(YAML(PQ));
    tlog_reset();
    float w[3] = {0};
    lp_named_tensor extra[1] = {{"model/w", {w, LP_DTYPE_F32, 1, {3}, {1}}}};
    lp_load_report *r = NULL;
    lp_error err;
    assert_int_equal(lp_session_load(s, ckpt, extra, 1, 1, &r, &err), LP_OK);
    assert_int_equal(lp_session_epoch(s), 1);
    assert_int_equal(lp_session_env_steps(s), 8);
    assert_true(w[0] == 1.5f && w[1] == 2.5f && w[2] == 3.5f);
    assert_int_equal(lp_load_report_count(r, LP_LOAD_RESTORED), 5);
    assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, 0), "p/counter");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, 1), "q/counter");
    assert_int_equal(lp_load_report_count(r, LP_LOAD_MISSING), 0);
    assert_int_equal(lp_load_report_count(r, LP_LOAD_UNEXPECTED), 0);
    lp_load_report_free(r);
    /* The probe saw its counter (4 train calls) restored. */
    char got[1024];
    tlog_join("p: load", got, sizeof got);
    assert_string_equal(got, "p: load:counter=4");
    lp_session_close(s);
}

static void test_corrupted(void **state) {
    (void)state;
    save_after_one_epoch();
    FILE *f = fopen(ckpt, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 60, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, 60, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
    lp_session *s = open_ok(YAML(PQ));
    tlog_reset();
    float w[3] = {9, 9, 9};
    lp_named_tensor extra[1] = {{"model/w", {w, LP_DTYPE_F32, 1, {3}, {1}}}};
    lp_load_report *r = (lp_load_report *)(uintptr_t)1;
    lp_error err;
    assert_int_equal(lp_session_load(s, ckpt, extra, 1, 0, &r, &err), LP_ECORRUPT);
    assert_null(r);
    assert_non_null(strstr(err.message, ckpt));
    assert_int_equal(lp_session_epoch(s), 0);
    assert_true(w[0] == 9 && w[1] == 9 && w[2] == 9);
    char got[1024];
    tlog_join("p: load", got, sizeof got);
    assert_string_equal(got, "");
    lp_session_close(s);
}

static void test_other_losses(void **state) {
    (void)state;
    save_after_one_epoch();
    const char *yaml = YAML("  - {name: p, plugin: probe, params: {log: true}}\n"
                            "  - {name: z, plugin: probe, params: {log: true}}\n"
                            "  - {name: r, plugin: recorder}\n");
    lp_session *s = open_ok(yaml);
    tlog_reset();
    lp_load_report *r = NULL;
    lp_error err;
    /* Strict: refused, nothing restored, the report says why. */
    assert_int_equal(lp_session_load(s, ckpt, NULL, 0, 1, &r, &err), LP_ESTATE);
    assert_non_null(r);
    assert_int_equal(lp_load_report_count(r, LP_LOAD_RESTORED), 0);
    lp_load_report_free(r);
    assert_int_equal(lp_session_epoch(s), 0);
    /* Lenient: p and the counters restored; z missing; q and model/w
     * unexpected. Only p's load hook runs. */
    assert_int_equal(lp_session_load(s, ckpt, NULL, 0, 0, &r, &err), LP_OK);
    assert_int_equal(lp_load_report_count(r, LP_LOAD_RESTORED), 3);
    assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, 0), "p/counter");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, 1), "host/epoch");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_RESTORED, 2), "host/env_steps");
    assert_int_equal(lp_load_report_count(r, LP_LOAD_MISSING), 1);
    assert_string_equal(lp_load_report_name(r, LP_LOAD_MISSING, 0), "z/counter");
    assert_int_equal(lp_load_report_count(r, LP_LOAD_UNEXPECTED), 2);
    assert_string_equal(lp_load_report_name(r, LP_LOAD_UNEXPECTED, 0), "q/counter");
    assert_string_equal(lp_load_report_name(r, LP_LOAD_UNEXPECTED, 1), "model/w");
    assert_null(lp_load_report_name(r, LP_LOAD_UNEXPECTED, 2));
    lp_load_report_free(r);
    assert_int_equal(lp_session_epoch(s), 1);
    char got[1024];
    tlog_join("z: load", got, sizeof got);
    assert_string_equal(got, "");
    tlog_join("p: load", got, sizeof got);
    assert_string_equal(got, "p: load:counter=4");
    lp_session_close(s);
}

static void test_extra_names(void **state) {
    (void)state;
    lp_session *s = open_ok(YAML(PQ));
    int64_t v = 0;
    lp_named_tensor bad[1] = {{"host/x", {&v, LP_DTYPE_I64, 0, {0}, {0}}}};
    lp_error err;
    assert_int_equal(lp_session_save(s, ckpt, bad, 1, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_save: extra[0] 'host/x' is under \"host/\", which the "
                        "session uses for its counters; choose another prefix such as \"model/\"");
    bad[0].name = "q/x";
    assert_int_equal(lp_session_load(s, ckpt, bad, 1, 0, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_load: extra[0] 'q/x' is under \"q/\", the prefix of instance "
                        "'q'; choose another prefix such as \"model/\"");
    lp_session_close(s);
}

/* Rows of the probe's minibatches logged so far. */
static void rows(char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g_log.count; i++) {
        const char *r = strstr(g_log.lines[i], ":rows=");
        if (r != NULL && len < size)
            len +=
                (size_t)snprintf(out + len, size - len, "%.*s;", (int)strcspn(r + 6, ":"), r + 6);
    }
}

static void test_resume_reproduces_shuffle(void **state) {
    (void)state;
    char straight[1024], resumed[1024];
    tmodel m = {0};
    lp_session *s = open_ok(YAML(PQ));
    run_epoch(s, &m, NULL);
    tlog_reset();
    run_epoch(s, &m, NULL);
    rows(straight, sizeof straight);
    lp_session_close(s);

    save_after_one_epoch();
    s = open_ok(YAML(PQ));
    lp_error err;
    assert_int_equal(lp_session_load(s, ckpt, NULL, 0, 0, NULL, &err), LP_OK);
    tlog_reset();
    run_epoch(s, &m, NULL);
    rows(resumed, sizeof resumed);
    lp_session_close(s);
    assert_string_equal(straight, resumed);
}

/* A checkpoint whose CRCs hold but whose counter cannot be: refused naming
 * the entry and the file, and the session is exactly as before the call
 * (a save after the refusal has the same bytes as one before it; no load
 * hook ran). */
static void test_bad_counter_refused(void **state) {
    (void)state;
    save_after_one_epoch();
    const char *bad = LP_SESSION_TMP "/persist_bad.ckpt", *before = LP_SESSION_TMP "/before.ckpt",
               *after = LP_SESSION_TMP "/after.ckpt";
    lp_session *s = open_ok(YAML(PQ));
    tmodel m = {0};
    run_epoch(s, &m, NULL);
    run_epoch(s, &m, NULL);
    float w[3] = {7.0f, 8.0f, 9.0f};
    lp_named_tensor extra[1] = {{"model/w", {w, LP_DTYPE_F32, 1, {3}, {1}}}};
    lp_error err;
    assert_int_equal(lp_session_save(s, before, extra, 1, &err), LP_OK);
    const int64_t values[2] = {INT64_MAX, -1};
    const char *names[2] = {"host/epoch", "host/env_steps"};
    for (int k = 0; k < 2; k++) {
        char name[300];
        assert_int_equal(lpt_ckpt_patch(ckpt, bad, names[k], 0, &values[k], 8, name, sizeof name),
                         0);
        tlog_reset();
        lp_load_report *r = NULL;
        assert_int_equal(lp_session_load(s, bad, extra, 1, 0, &r, &err), LP_ECORRUPT);
        assert_null(r);
        assert_non_null(strstr(err.message, names[k]));
        assert_non_null(strstr(err.message, bad));
        assert_int_equal(lp_session_epoch(s), 2);
        assert_true(w[0] == 7.0f && w[1] == 8.0f && w[2] == 9.0f);
        char got[256];
        tlog_join("p: load", got, sizeof got);
        assert_string_equal(got, "");
        assert_int_equal(lp_session_save(s, after, extra, 1, &err), LP_OK);
        size_t na = 0, nb = 0;
        FILE *fa = fopen(before, "rb"), *fb = fopen(after, "rb");
        assert_true(fa != NULL && fb != NULL);
        unsigned char ba[4096], bb[4096];
        na = fread(ba, 1, sizeof ba, fa);
        nb = fread(bb, 1, sizeof bb, fb);
        fclose(fa);
        fclose(fb);
        assert_true(na == nb && na > 0 && na < sizeof ba);
        assert_memory_equal(ba, bb, na);
    }
    lp_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_round_trip, teardown_log),
        cmocka_unit_test_teardown(test_corrupted, teardown_log),
        cmocka_unit_test_teardown(test_other_losses, teardown_log),
        cmocka_unit_test_teardown(test_extra_names, teardown_log),
        cmocka_unit_test_teardown(test_resume_reproduces_shuffle, teardown_log),
        cmocka_unit_test(test_bad_counter_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(ckpt);
    return rc;
}
