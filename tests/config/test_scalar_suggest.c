/* Scalar literals and "did you mean". */
#include "cfg_test.h"

#include "util/message.h"
#include "config/scalar.h"
#include "util/suggest.h"

#include <locale.h>

static lp__lit pint(const char *s, int64_t *v) {
    return lp__parse_int(s, strlen(s), v);
}
static lp__lit pflt(const char *s, double *v) {
    return lp__parse_float(s, strlen(s), v);
}

static void test_ints(void **state) {
    (void)state;
    int64_t v = 7;
    assert_int_equal(pint("0", &v), LP__LIT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(pint("+42", &v), LP__LIT_OK);
    assert_int_equal(v, 42);
    assert_int_equal(pint("-17", &v), LP__LIT_OK);
    assert_int_equal(v, -17);
    assert_int_equal(pint("9223372036854775807", &v), LP__LIT_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(pint("-9223372036854775808", &v), LP__LIT_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(pint("9223372036854775808", &v), LP__LIT_RANGE);
    assert_int_equal(pint("-9223372036854775809", &v), LP__LIT_RANGE);
    assert_int_equal(pint("99999999999999999999999", &v), LP__LIT_RANGE);
    const char *bad[] = {"", "-", "+", "1.0", "1e3", "0x10", " 1", "1 ", "one", "1_000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pint(bad[i], &v), LP__LIT_SYNTAX);
}

static void test_floats(void **state) {
    (void)state;
    double v = -1;
    assert_int_equal(pflt("0.25", &v), LP__LIT_OK);
    assert_true(v == 0.25);
    assert_int_equal(pflt("3", &v), LP__LIT_OK);
    assert_true(v == 3.0);
    assert_int_equal(pflt("-.5", &v), LP__LIT_OK);
    assert_true(v == -0.5);
    assert_int_equal(pflt("2.", &v), LP__LIT_OK);
    assert_true(v == 2.0);
    assert_int_equal(pflt("1e-3", &v), LP__LIT_OK);
    assert_true(v == 1e-3);
    assert_int_equal(pflt("+1.5E+2", &v), LP__LIT_OK);
    assert_true(v == 150.0);
    assert_int_equal(pflt("1e999", &v), LP__LIT_RANGE);
    assert_int_equal(pflt("-1e999", &v), LP__LIT_RANGE);
    const char *bad[] = {"",    ".",   "-",     "e3", "1e",    "1e+", ".inf",
                         "nan", "inf", "0x1p3", " 1", "1.0.0", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(pflt(bad[i], &v), LP__LIT_SYNTAX);
}

/* The decimal point is '.', whatever LC_NUMERIC says. */
static void test_floats_ignore_locale(void **state) {
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE"};
    int comma = 0;
    for (size_t i = 0; i < 5 && !comma; i++)
        comma = setlocale(LC_NUMERIC, names[i]) != NULL &&
                strcmp(localeconv()->decimal_point, ",") == 0;
    if (!comma) {
        setlocale(LC_NUMERIC, "C");
        skip(); /* no locale with a decimal comma is installed */
    }
    double v = 0;
    assert_int_equal(pflt("0.75", &v), LP__LIT_OK);
    assert_true(v == 0.75);
    setlocale(LC_NUMERIC, "C");
}

static void test_bools(void **state) {
    (void)state;
    int32_t b = 5;
    assert_int_equal(lp__parse_bool("true", 4, &b), LP__LIT_OK);
    assert_int_equal(b, 1);
    assert_int_equal(lp__parse_bool("false", 5, &b), LP__LIT_OK);
    assert_int_equal(b, 0);
    const char *bad[] = {"yes", "no", "True", "FALSE", "1", "0", "on", "tru"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lp__parse_bool(bad[i], strlen(bad[i]), &b), LP__LIT_SYNTAX);
}

static void test_edit_distance(void **state) {
    (void)state;
    assert_int_equal(lp__edit_distance("abc", 3, "abc"), 0);
    assert_int_equal(lp__edit_distance("", 0, "abc"), 3);
    assert_int_equal(lp__edit_distance("segmnts", 7, "segments"), 1);
    assert_int_equal(lp__edit_distance("hroizon", 7, "horizon"), 1); /* a swap costs 1 */
    assert_int_equal(lp__edit_distance("kitten", 6, "sitting"), 3);
    char longw[80];
    memset(longw, 'a', sizeof longw);
    assert_true(lp__edit_distance(longw, sizeof longw, "a") == SIZE_MAX);
}

static void test_suggest(void **state) {
    (void)state;
    const char *keys[] = {"segments", "horizon", "seed", "update_epochs"};
    assert_string_equal(lp__suggest("segmnts", 7, keys, 4), "segments");
    assert_string_equal(lp__suggest("sed", 3, keys, 4), "seed");
    assert_string_equal(lp__suggest("update_epoch", 12, keys, 4), "update_epochs");
    assert_null(lp__suggest("foo", 3, keys, 4));
    assert_null(lp__suggest("xyzzy", 5, keys, 4));
    assert_null(lp__suggest("s", 1, keys, 0));
}

static void test_quote(void **state) {
    (void)state;
    char q[LP__QUOTE_MAX];
    assert_string_equal(lp__quote(q, "a\nb'c\\", 6), "a\\x0ab\\'c\\\\");
    char longs[200];
    memset(longs, 'x', sizeof longs);
    lp__quote(q, longs, sizeof longs);
    assert_int_equal(strlen(q), LP__QUOTE_MAX - 5 + 3);
    assert_string_equal(q + strlen(q) - 3, "...");
    /* A cut never splits a UTF-8 sequence. */
    char utf[200];
    for (size_t i = 0; i < sizeof utf; i += 2) {
        utf[i] = (char)0xc3;
        utf[i + 1] = (char)0xa9;
    }
    lp__quote(q, utf, sizeof utf);
    size_t n = strlen(q) - 3;
    assert_int_equal(n % 2, 0);
    assert_int_equal((unsigned char)q[n - 1], 0xa9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_floats_ignore_locale),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
