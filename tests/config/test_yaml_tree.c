/* The YAML node tree: shapes, positions, aliases, and what it refuses. */
#include "cfg_test.h"

#include "config/yaml_tree.h"

#include <time.h>

static const lp__ylimits limits = {1u << 20, 64, 100000};

typedef struct tree {
    lp__arena *a;
    const lp__ynode *root;
    lp_error err;
    int32_t rc;
} tree;

static tree parse_lim(const char *text, size_t len, const lp__ylimits *lim) {
    tree t;
    memset(&t, 0, sizeof t);
    t.a = lp__arena_new();
    assert_non_null(t.a);
    t.rc = lp__ytree_parse(t.a, "y.yaml", text, len, lim, &t.root, &t.err);
    return t;
}

static tree parse(const char *text) {
    return parse_lim(text, strlen(text), &limits);
}

static void expect_fail(const char *text, size_t len, const lp__ylimits *lim, const char *msg) {
    tree t = parse_lim(text, len, lim != NULL ? lim : &limits);
    assert_int_equal(t.rc, LP_ECONFIG);
    assert_null(t.root);
    assert_string_equal(t.err.message, msg);
    lp__arena_free(t.a);
}

/* `{}` and `[]` as the first collection closed: no child has been pushed
 * yet (this was NULL + 0, undefined behaviour, found by fuzzing). */
static void test_empty_collections(void **state) {
    (void)state;
    const char *texts[] = {"{}", "[]", "{}\n", "a: {}\n", "[[], {}]"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        tree t = parse(texts[i]);
        assert_int_equal(t.rc, LP_OK);
        assert_non_null(t.root);
        assert_int_equal(t.root->kind, texts[i][0] == '[' ? LP__Y_SEQ : LP__Y_MAP);
        if (i < 3)
            assert_int_equal(t.root->count, 0);
        lp__arena_free(t.a);
    }
}

static void test_shapes_and_positions(void **state) {
    (void)state;
    tree t = parse("a: 1\nb:\n  - x\n  - 'y'\n  - c: |\n      lit\nd:\n");
    assert_int_equal(t.rc, LP_OK);
    const lp__ynode *r = t.root;
    assert_int_equal(r->kind, LP__Y_MAP);
    assert_int_equal(r->count, 3);
    assert_int_equal(r->line, 1);
    assert_int_equal(r->col, 1);
    const lp__ynode *a = lp__ymap_get(r, "a");
    assert_int_equal(a->kind, LP__Y_SCALAR);
    assert_string_equal(a->text, "1");
    assert_int_equal(a->plain, 1);
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    const lp__ynode *b = lp__ymap_get(r, "b");
    assert_int_equal(b->kind, LP__Y_SEQ);
    assert_int_equal(b->count, 3);
    assert_int_equal(b->height, 2);
    assert_int_equal(b->items[0]->line, 3);
    assert_int_equal(b->items[0]->col, 5);
    assert_string_equal(b->items[1]->text, "y");
    assert_int_equal(b->items[1]->plain, 0);
    const lp__ynode *c = lp__ymap_get(b->items[2], "c");
    assert_string_equal(c->text, "lit\n");
    assert_int_equal(c->plain, 0);
    const lp__ynode *d = lp__ymap_get(r, "d");
    assert_string_equal(lp__ykind_name(d), "an empty value");
    assert_string_equal(lp__ykind_name(a), "a scalar");
    assert_string_equal(lp__ykind_name(b), "a list");
    assert_string_equal(lp__ykind_name(r), "a mapping");
    assert_null(lp__ymap_get(r, "zz"));
    assert_null(lp__ymap_get(b, "a"));
    /* 1 map + 4 keys... every node once: r, a, 1, b, seq, x, y, map, c, lit, d, empty */
    assert_int_equal(r->weight, 12);
    lp__arena_free(t.a);
}

static void test_alias_shares_and_counts(void **state) {
    (void)state;
    tree t = parse("base: &b {x: 1, y: [2, 3]}\nuse: *b\nuse2: *b\n");
    assert_int_equal(t.rc, LP_OK);
    const lp__ynode *base = lp__ymap_get(t.root, "base");
    assert_ptr_equal(lp__ymap_get(t.root, "use"), base);
    assert_ptr_equal(lp__ymap_get(t.root, "use2"), base);
    assert_int_equal(base->weight, 7);
    /* root + 3 keys + 3 copies of a 7-node subtree */
    assert_int_equal(t.root->weight, 1 + 3 + 3 * 7);
    lp__arena_free(t.a);

    /* A scalar anchor, redefined: the later definition wins. */
    t = parse("a: &v one\nb: &v two\nc: *v\n");
    assert_int_equal(t.rc, LP_OK);
    assert_string_equal(lp__ymap_get(t.root, "c")->text, "two");
    lp__arena_free(t.a);
}

static void test_escapes_keep_nul_length(void **state) {
    (void)state;
    tree t = parse("a: \"x\\0y\"\n");
    assert_int_equal(t.rc, LP_OK);
    const lp__ynode *a = lp__ymap_get(t.root, "a");
    assert_int_equal(a->len, 3);
    assert_memory_equal(a->text, "x\0y", 3);
    lp__arena_free(t.a);
}

static void test_tags_are_kept(void **state) {
    (void)state;
    tree t = parse("a: !!str 12\n");
    assert_int_equal(t.rc, LP_OK);
    assert_string_equal(lp__ymap_get(t.root, "a")->tag, "tag:yaml.org,2002:str");
    lp__arena_free(t.a);
}

static void test_utf8_bom_is_skipped(void **state) {
    (void)state;
    tree t = parse("\xef\xbb\xbf"
                   "a: \xc3\xa9t\xc3\xa9\nb: 2\n");
    assert_int_equal(t.rc, LP_OK);
    const lp__ynode *a = lp__ymap_get(t.root, "a");
    assert_string_equal(a->text, "\xc3\xa9t\xc3\xa9");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    lp__arena_free(t.a);
    /* Columns count characters, not bytes: the second colon is the 9th. */
    expect_fail("\xef\xbb\xbf"
                "\xc3\xa9: 1\n\xc3\xa9\xc3\xa9: 2, \xc3\xa9: 3\n",
                24, NULL,
                "y.yaml:2:9: YAML syntax error: mapping values are not allowed in this context; "
                "check the indentation, quotes and brackets here");
}

static void test_refusals(void **state) {
    (void)state;
    expect_fail("a: 1\nb: 2\na: 3\n", 15, NULL,
                "y.yaml:3:1: duplicate key 'a' (first at line 1, column 1); remove one of them");
    expect_fail("{b: 1, a: 2, b: 3, a: 4}", 24, NULL,
                "y.yaml:1:14: duplicate key 'b' (first at line 1, column 2); remove one of them");
    expect_fail("? [a]\n: 1\n", 10, NULL,
                "y.yaml:1:3: a mapping key must be a scalar, found a list; use a plain name as the "
                "key");
    expect_fail("a: *nope\n", 9, NULL,
                "y.yaml:1:4: alias '*nope' refers to no anchor defined before it; define '&nope' "
                "on an earlier node");
    expect_fail("a: &x [1, *x]\n", 14, NULL,
                "y.yaml:1:11: alias '*x' refers to no anchor defined before it; define '&x' on "
                "an earlier node");
    expect_fail("a: 1\n---\nb: 2\n", 14, NULL,
                "y.yaml:2:1: a second YAML document starts here; a config is one document: remove "
                "this '---' and what follows");
    expect_fail("", 0, NULL,
                "y.yaml:1:1: the input is empty; a config is a YAML mapping (see docs/config.md)");
    expect_fail("# only a comment\n\n", 18, NULL,
                "y.yaml:1:1: the input is empty; a config is a YAML mapping (see docs/config.md)");
    expect_fail("a: [1, 2\nb: 3\n", 14, NULL,
                "y.yaml:2:2: YAML syntax error: did not find expected ',' or ']' (while parsing a "
                "flow sequence at line 1, column 4); check the indentation, quotes and brackets "
                "here");
    expect_fail("a: 1\n b: 2\n", 11, NULL,
                "y.yaml:2:3: YAML syntax error: mapping values are not allowed in this context; "
                "check the indentation, quotes and brackets here");
    expect_fail("a: 'x\n", 6, NULL,
                "y.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a "
                "quoted scalar at line 1, column 4); check the indentation, quotes and brackets "
                "here");
}

static void test_text_refusals(void **state) {
    (void)state;
    expect_fail("a: 1\nbb: x\0y\n", 12, NULL,
                "y.yaml:2:6: NUL byte in the input; a config must be UTF-8 text");
    expect_fail("a: 1\nb: \xc3\xa9\xff\n", 11, NULL,
                "y.yaml:2:5: not valid UTF-8 text: invalid leading UTF-8 octet (0xff); save the "
                "file as UTF-8 without control characters");
    expect_fail("a: \xc3", 4, NULL,
                "y.yaml:1:4: not valid UTF-8 text: incomplete UTF-8 octet sequence; save the file "
                "as UTF-8 without control characters");
    expect_fail("a: \x01\n", 5, NULL,
                "y.yaml:1:4: not valid UTF-8 text: control characters are not allowed (0x1); save "
                "the file as UTF-8 without control characters");
    /* UTF-16 with a BOM is not sniffed: it is not UTF-8. */
    expect_fail("\xff\xfe"
                "a\0:\0 \0"
                "1\0",
                10, NULL, "y.yaml:1:4: NUL byte in the input; a config must be UTF-8 text");
    expect_fail("\xfe\xff", 2, NULL,
                "y.yaml:1:1: not valid UTF-8 text: invalid leading UTF-8 octet (0xfe); save the "
                "file as UTF-8 without control characters");
}

static void test_size_limit(void **state) {
    (void)state;
    lp__ylimits lim = limits;
    lim.max_bytes = 8;
    expect_fail("a: 12345\n", 9, &lim,
                "y.yaml:1:1: the input is larger than the limit of 8 bytes; shorten it (or raise "
                "the size limit)");
    tree t = parse_lim("a: 1234\n", 8, &lim);
    assert_int_equal(t.rc, LP_OK);
    lp__arena_free(t.a);
}

static char *nested(size_t depth) {
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void **state) {
    (void)state;
    char *ok = nested(64), *bad = nested(65);
    tree t = parse(ok);
    assert_int_equal(t.rc, LP_OK);
    assert_int_equal(t.root->height, 64);
    lp__arena_free(t.a);
    expect_fail(bad, strlen(bad), NULL,
                "y.yaml:1:65: nesting deeper than 64 levels; flatten the structure (or raise the "
                "depth limit)");
    free(ok);
    free(bad);

    /* An alias counts with its own height where it is used. */
    lp__ylimits lim = limits;
    lim.max_depth = 4;
    expect_fail("a: &d [[[1]]]\nb: [*d]\n", 22, &lim,
                "y.yaml:2:5: nesting deeper than 4 levels; flatten the structure (or raise the "
                "depth limit)");
    t = parse_lim("a: &d [[[1]]]\nb: *d\n", 20, &lim);
    assert_int_equal(t.rc, LP_OK);
    lp__arena_free(t.a);
}

/* lol0: &a0 [lol x 10]; lolN: &aN [*a(N-1) x 10] up to lol9: 10^10 nodes
 * expanded. */
static char *billion_laughs(void) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    n += (size_t)snprintf(s + n, cap - n,
                          "lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i <= 9; i++) {
        n += (size_t)snprintf(s + n, cap - n, "lol%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(s + n, cap - n, "%s*a%d", j == 0 ? "" : ", ", i - 1);
        n += (size_t)snprintf(s + n, cap - n, "]\n");
    }
    assert_true(n < cap);
    return s;
}

static void test_billion_laughs(void **state) {
    (void)state;
    char *doc = billion_laughs();
    clock_t t0 = clock();
    /* Nodes so far: root 1, lines 1-4 = 12 + 112 + 1112 + 11112; line 5's
     * key and list 2 more; each *a3 adds 11111, and the 8th (column 47)
     * crosses 100000. */
    expect_fail(doc, strlen(doc), NULL,
                "y.yaml:5:47: the document has more than 100000 nodes once aliases are expanded; "
                "use fewer aliases or nodes (or raise the node limit)");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
    /* With a node limit large enough for 4 levels, it parses, shared. */
    lp__ylimits lim = limits;
    lim.max_nodes = 12350;
    tree t = parse_lim(doc, (size_t)(strstr(doc, "lol4") - doc), &lim);
    assert_int_equal(t.rc, LP_OK);
    assert_int_equal(t.root->weight, 12349);
    lp__arena_free(t.a);
    free(doc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_positions),
        cmocka_unit_test(test_alias_shares_and_counts),
        cmocka_unit_test(test_escapes_keep_nul_length),
        cmocka_unit_test(test_tags_are_kept),
        cmocka_unit_test(test_utf8_bom_is_skipped),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_text_refusals),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_empty_collections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
