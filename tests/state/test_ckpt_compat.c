/* Checkpoints written before the CRC moved to zlib still load: the fixture
 * tests/fixtures/checkpoints/v1_before_zlib.ckpt was written by the build
 * with the hand-written CRC table (five entries of every dtype, values below).
 * Opening it verifies every CRC of the file with zlib's crc32_z; rewriting
 * the same entries now gives the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/checkpoint.h"
#include "state_test.h"

/* What the fixture holds (the program that wrote it used these values). */
static float a[3] = {1.5f, -2.0f, 0.25f};
static int64_t b[4] = {1, 2, 3, -4};
static double c = 3.141592653589793;
static unsigned char d[5] = {'h', 'e', 'l', 'l', 'o'};
static int32_t e[257];

static size_t fixture_items(lp__ckpt_item it[5]) {
    for (int i = 0; i < 257; i++)
        e[i] = i * i - 1000;
    memset(it, 0, 5 * sizeof *it);
    it[0].name = "model/a";
    it[0].view = (lp_tensor){a, LP_DTYPE_F32, 1, {3}, {1}};
    it[1].name = "model/b";
    it[1].view = (lp_tensor){b, LP_DTYPE_I64, 2, {2, 2}, {2, 1}};
    it[2].name = "host/c";
    it[2].view = (lp_tensor){&c, LP_DTYPE_F64, 0, {0}, {0}};
    it[3].name = "host/d";
    it[3].view = (lp_tensor){d, LP_DTYPE_U8, 1, {5}, {1}};
    it[4].name = "opt/e";
    it[4].view = (lp_tensor){e, LP_DTYPE_I32, 1, {257}, {1}};
    return 5;
}

static void old_file_loads(void **state) {
    (void)state;
    lp__ckpt_item it[5];
    size_t n = fixture_items(it);
    lp__ckpt *ck = NULL;
    lp_error err;
    int32_t rc = lp__ckpt_open(LP_CKPT_FIXTURE, &ck, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(lp__ckpt_count(ck), n);
    for (size_t i = 0; i < n; i++) {
        const lp__ckpt_entry *en = lp__ckpt_find(ck, it[i].name);
        assert_non_null(en);
        assert_int_equal(en->dtype, it[i].view.dtype);
        assert_int_equal(en->rank, it[i].view.rank);
        size_t bytes = lp_dtype_size(en->dtype);
        for (int32_t k = 0; k < en->rank; k++)
            bytes *= (size_t)en->shape[k];
        assert_int_equal(en->nbytes, bytes);
        /* Little-endian on disk, as on this machine (x86-64). */
        assert_memory_equal(en->data, it[i].view.data, bytes);
    }
    lp__ckpt_close(ck);
}

static void rewrite_is_bit_identical(void **state) {
    (void)state;
    lp__ckpt_item it[5];
    size_t n = fixture_items(it);
    char *dir = st_mkdtemp();
    assert_non_null(dir);
    char *path = st_join(dir, "rewrite.ckpt");
    assert_non_null(path);
    lp_error err;
    assert_int_equal(lp__ckpt_write(path, it, n, &err), LP_OK);
    size_t old_size, new_size;
    unsigned char *old_bytes = st_read_file(LP_CKPT_FIXTURE, &old_size);
    unsigned char *new_bytes = st_read_file(path, &new_size);
    assert_non_null(old_bytes);
    assert_non_null(new_bytes);
    assert_int_equal(new_size, old_size);
    assert_memory_equal(new_bytes, old_bytes, old_size);
    free(old_bytes);
    free(new_bytes);
    free(path);
    st_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_file_loads),
        cmocka_unit_test(rewrite_is_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
