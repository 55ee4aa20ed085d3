/* Hostile input through the config API: refused fast, cleanly, with a
 * clear message (sanitizer and valgrind runs check that nothing leaks). */
#include "cfg_test.h"

#include <time.h>
#include <unistd.h>

static void expect_len(const char *text, size_t len, const lp__config_options *opt,
                       const char *msg) {
    lp__config *cfg = (lp__config *)(uintptr_t)1;
    lp_error err = {0, ""};
    assert_int_equal(lp__config_parse_string(text, len, "h.yaml", opt, &cfg, &err), LP_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.message, msg);
}

static void test_billion_laughs(void **state) {
    (void)state;
    char doc[4096];
    size_t n =
        (size_t)snprintf(doc, sizeof doc, "env:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 9; i++) {
        n += (size_t)snprintf(doc + n, sizeof doc - n, "  a%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "%s*a%d", j ? ", " : "", i - 1);
        n += (size_t)snprintf(doc + n, sizeof doc - n, "]\n");
    }
    n += (size_t)snprintf(doc + n, sizeof doc - n, CFG_BUFFER "losses: [{plugin: ppo}]\n");
    assert_true(n < sizeof doc);
    /* root, env key, env map = 3; then 12 + 112 + 1112 + 11112 = 12351;
     * line 6's key and list: 12353; each *a3 adds 11111: the 8th (column
     * 47) crosses 100000. */
    expect_len(doc, n, NULL,
               "h.yaml:6:47: the document has more than 100000 nodes once aliases are expanded; "
               "use fewer aliases or nodes (or raise the node limit)");

    /* A node limit is an option. */
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.max_nodes = 50;
    expect_len(doc, n, &opt,
               "h.yaml:3:27: the document has more than 50 nodes once aliases are expanded; use "
               "fewer aliases or nodes (or raise the node limit)");
}

static void test_deep_nesting(void **state) {
    (void)state;
    char doc[512];
    size_t n = (size_t)snprintf(doc, sizeof doc, CFG_BUFFER "losses: [{plugin: ppo}]\nenv: ");
    for (int i = 0; i < 100; i++)
        doc[n++] = '[';
    doc[n] = '\0';
    /* The root map is level 1, so the 64th '[' is level 65. */
    expect_len(doc, n, NULL,
               "h.yaml:3:69: nesting deeper than 64 levels; flatten the structure (or raise the "
               "depth limit)");
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.max_depth = 3;
    expect_len(doc, n, &opt,
               "h.yaml:3:8: nesting deeper than 3 levels; flatten the structure (or raise the "
               "depth limit)");
}

#define EXPECT(lit, msg) expect_len(lit, sizeof(lit) - 1, NULL, msg)

static void test_text(void **state) {
    (void)state;
    EXPECT(CFG_BUFFER "losses: [{plugin: pp\xc0}]\n",
           "h.yaml:2:22: not valid UTF-8 text: invalid trailing UTF-8 octet (0x7d); save the "
           "file as UTF-8 without control characters");
    EXPECT(CFG_BUFFER "losses: [{plugin: \xed\xa0\x80}]\n",
           "h.yaml:2:19: not valid UTF-8 text: invalid Unicode character (0xd800); save the "
           "file as UTF-8 without control characters");
    EXPECT(CFG_BUFFER "losses: [{plugin: ppo}]\0\n",
           "h.yaml:2:24: NUL byte in the input; a config must be UTF-8 text");
    EXPECT("", "h.yaml:1:1: the input is empty; a config is a YAML mapping (see docs/config.md)");
    EXPECT("\n\n  # nothing\n",
           "h.yaml:1:1: the input is empty; a config is a YAML mapping (see docs/config.md)");
    EXPECT("---\n", "h.yaml:2:1: the document must be a mapping of sections, found an empty value; "
                    "start with 'buffer:' and 'losses:' (see docs/config.md)");
    EXPECT("[1, 2]",
           "h.yaml:1:1: the document must be a mapping of sections, found a list; start with "
           "'buffer:' and 'losses:' (see docs/config.md)");
    EXPECT(CFG_BUFFER "losses: [{plugin: ppo}]\n---\n" CFG_BUFFER,
           "h.yaml:3:1: a second YAML document starts here; a config is one document: remove "
           "this '---' and what follows");
}

static char *write_tmp(const char *content, size_t len, size_t pad_to) {
    char *path = malloc(32);
    assert_non_null(path);
    strcpy(path, "/tmp/lpcfgXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    char line[64];
    memset(line, '#', sizeof line);
    line[sizeof line - 1] = '\n';
    for (size_t n = len; n < pad_to;) {
        size_t k = pad_to - n < sizeof line ? pad_to - n : sizeof line;
        if (k < sizeof line)
            line[k - 1] = '\n';
        assert_int_equal(write(fd, line, k), (ssize_t)k);
        n += k;
    }
    close(fd);
    return path;
}

static void test_file_size_limit(void **state) {
    (void)state;
    const char *ok = CFG_BUFFER "losses: [{plugin: ppo}]\n";
    char *at_limit = write_tmp(ok, strlen(ok), (size_t)1 << 20);
    char *over = write_tmp(ok, strlen(ok), ((size_t)1 << 20) + 1);
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    int32_t rc = lp__config_parse_file(at_limit, NULL, &cfg, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    lp__config_free(cfg);
    cfg = (lp__config *)(uintptr_t)1;
    assert_int_equal(lp__config_parse_file(over, NULL, &cfg, &err), LP_ECONFIG);
    assert_null(cfg);
    char want[256];
    snprintf(want, sizeof want,
             "%s:1:1: the file is larger than the limit of 1048576 bytes; shorten it (or raise "
             "the size limit)",
             over);
    assert_string_equal(err.message, want);
    unlink(at_limit);
    unlink(over);
    free(at_limit);
    free(over);

    /* Files that never end are cut at the limit. */
    assert_int_equal(lp__config_parse_file("/dev/zero", NULL, &cfg, &err), LP_ECONFIG);
    assert_string_equal(err.message, "/dev/zero:1:1: the file is larger than the limit of 1048576 "
                                     "bytes; shorten it (or raise the size limit)");

    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.max_bytes = 16;
    expect_len(ok, strlen(ok), &opt,
               "h.yaml:1:1: the input is larger than the limit of 16 bytes; shorten it (or raise "
               "the size limit)");
}

/* Wide documents: 30k keys and 15k losses parse, and a duplicate at the very
 * end is still found. (That the duplicate checks stay n log n is guarded by
 * the test's ctest TIMEOUT, not by timing here: unit tests are not
 * benchmarks, and valgrind runs them 50x slower.) */
static void test_wide_documents(void **state) {
    (void)state;
    size_t cap = 2u << 20, n = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n, CFG_BUFFER "env:\n");
    for (int i = 0; i < 30000; i++)
        n += (size_t)snprintf(doc + n, cap - n, "  k%d: %d\n", i, i);
    n += (size_t)snprintf(doc + n, cap - n, "losses:\n");
    for (int i = 0; i < 15000; i++)
        n += (size_t)snprintf(doc + n, cap - n, "- {name: l%d, plugin: p}\n", i);
    assert_true(n < (1u << 20));
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    static const char *const pass[] = {"env"};
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = pass;
    opt.passthrough_count = 1;
    opt.max_nodes = 1000000; /* 135k nodes */
    int32_t rc = lp__config_parse_string(doc, n, "w.yaml", &opt, &cfg, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(cfg->loss_count, 15000);
    assert_int_equal(lp__config_section(cfg, "env")->node->count, 30000);
    lp__config_free(cfg);
    /* A duplicate at the very end is still found. */
    n += (size_t)snprintf(doc + n, cap - n, "- {name: l7, plugin: p}\n");
    cfg = (lp__config *)(uintptr_t)1;
    rc = lp__config_parse_string(doc, n, "w.yaml", &opt, &cfg, &err);
    free(doc);
    assert_int_equal(rc, LP_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.message, "w.yaml:45004:10: duplicate loss name 'l7', first used at "
                                     "line 30011; give each loss a unique name");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_text),           cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_wide_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
