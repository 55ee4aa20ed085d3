/* The CLI's JSON writer: escaping, nesting, numbers. */
#include "cli/json.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* What lp__json_write_string prints for `in`, in a static buffer. */
static const char *escaped(const char *in) {
    static char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    lp__json_write_string(f, in);
    fclose(f);
    return buf;
}

static void test_plain_and_quotes(void **state) {
    (void)state;
    assert_string_equal(escaped("coef"), "\"coef\"");
    assert_string_equal(escaped("a \"b\" \\ c"), "\"a \\\"b\\\" \\\\ c\"");
    assert_string_equal(escaped(""), "\"\"");
    assert_string_equal(escaped(NULL), "null");
}

static void test_control_characters(void **state) {
    (void)state;
    assert_string_equal(escaped("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
    assert_string_equal(escaped("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
}

static void test_utf8(void **state) {
    (void)state;
    /* Well-formed sequences pass through. */
    assert_string_equal(escaped("\xc3\xa9t\xc3\xa9"), "\"\xc3\xa9t\xc3\xa9\"");
    assert_string_equal(escaped("\xe2\x82\xac"), "\"\xe2\x82\xac\"");
    assert_string_equal(escaped("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    /* Stray, overlong, surrogate, cut short: U+FFFD per bad byte. */
    assert_string_equal(escaped("a\xffz"), "\"a\\ufffdz\"");
    assert_string_equal(escaped("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
    assert_string_equal(escaped("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
    assert_string_equal(escaped("\xe2\x82"), "\"\\ufffd\\ufffd\"");
    assert_string_equal(escaped("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void test_document(void **state) {
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    lp__json j;
    lp__json_init(&j, f);
    lp__json_object_begin(&j);
    lp__json_kv_string(&j, "id", "x");
    lp__json_key(&j, "empty");
    lp__json_array_begin(&j);
    lp__json_array_end(&j);
    lp__json_key(&j, "nums");
    lp__json_array_begin(&j);
    lp__json_int(&j, -3);
    lp__json_double(&j, 0.1);
    lp__json_double(&j, 1e6);
    lp__json_double(&j, 2.5e-7);
    lp__json_double(&j, INFINITY);
    lp__json_double(&j, NAN);
    lp__json_array_end(&j);
    lp__json_kv_bool(&j, "ok", 1);
    lp__json_key(&j, "none");
    lp__json_null(&j);
    lp__json_object_end(&j);
    lp__json_finish(&j);
    fclose(f);
    assert_string_equal(buf, "{\n"
                             "  \"id\": \"x\",\n"
                             "  \"empty\": [],\n"
                             "  \"nums\": [\n"
                             "    -3,\n"
                             "    0.1,\n"
                             "    1000000,\n"
                             "    2.5e-07,\n"
                             "    null,\n"
                             "    null\n"
                             "  ],\n"
                             "  \"ok\": true,\n"
                             "  \"none\": null\n"
                             "}\n");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_quotes),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
