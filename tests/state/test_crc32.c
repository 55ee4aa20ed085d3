/* CRC-32 (zlib's crc32_z behind lp__crc32): the standard check values, a
 * bit-by-bit reference at every length and alignment, and every split of
 * the incremental form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "state/crc32.h"

#include "../support/lpt_bytes.h"

static void check_value(void **state) {
    (void)state;
    assert_int_equal(lp__crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(lp__crc32("", 0), 0u);
    assert_int_equal(lp__crc32(NULL, 0), 0u);
    assert_int_equal(lp__crc32("a", 1), 0xE8B7BE43u);
    assert_int_equal(lp__crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
}

static void every_length_and_alignment(void **state) {
    unsigned char buf[300];
    uint32_t x = 12345;
    (void)state;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof buf; n++)
            assert_int_equal(lp__crc32(buf + off, n), lpt_crc32(buf + off, n));
}

static void incremental_equals_whole(void **state) {
    unsigned char buf[100];
    (void)state;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t cut = 0; cut <= sizeof buf; cut++) {
        uint32_t c = lp__crc32_update(0, buf, cut);
        c = lp__crc32_update(c, buf + cut, sizeof buf - cut);
        assert_int_equal(c, lp__crc32(buf, sizeof buf));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_value),
        cmocka_unit_test(every_length_and_alignment),
        cmocka_unit_test(incremental_equals_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
