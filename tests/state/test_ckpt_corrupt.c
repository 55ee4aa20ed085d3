/* Damaged and hostile files: every single-byte corruption and every
 * truncation is an error that returns nothing and restores nothing; crafted
 * files with valid CRCs but lying lengths reach each structural check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state/checkpoint.h"
#include "state/crc32.h"
#include "state_test.h"

/* The fixture file (docs/checkpoint.md):
 *   0   header (28)
 *   28  entry 0 "host/epoch" i64[]      head 22, data 8, crc at 58
 *   62  entry 1 "actor/w"    f32[2,3]   head 35, data 24 at 97, crc at 121
 *   125 entry 2 "critic/b"   u8[4]      head 28, data 4 at 153, crc at 157
 *   161 footer (20), size 181 */
enum {
    E0 = 28,
    E1 = 62,
    E1_DATA = 97,
    E1_CRC = 121,
    E2 = 125,
    E2_CRC = 157,
    FOOT = 161,
    SIZE = 181
};

typedef struct fixture {
    char *dir;
    char *path;
    unsigned char *good;
    size_t size;
    int64_t epoch;
    float w[2][3];
    uint8_t b[4];
} fixture;

static lp_tensor view(void *data, int32_t dtype, int32_t rank, const int64_t *shape) {
    lp_tensor t;
    int64_t stride = 1;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    for (int32_t d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.strides[d] = stride;
        stride *= shape[d];
    }
    return t;
}

static const int64_t shape_w[2] = {2, 3}, shape_b[1] = {4};

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    lp_error err = {0};
    lp__ckpt_item items[3];
    f->dir = st_mkdtemp();
    if (f->dir == NULL)
        return -1;
    f->path = st_join(f->dir, "c.ckpt");
    f->epoch = 7;
    for (int i = 0; i < 6; i++)
        f->w[i / 3][i % 3] = 0.25f * (float)i;
    for (int i = 0; i < 4; i++)
        f->b[i] = (uint8_t)(200 + i);
    items[0] = (lp__ckpt_item){"host/epoch", view(&f->epoch, LP_DTYPE_I64, 0, NULL)};
    items[1] = (lp__ckpt_item){"actor/w", view(f->w, LP_DTYPE_F32, 2, shape_w)};
    items[2] = (lp__ckpt_item){"critic/b", view(f->b, LP_DTYPE_U8, 1, shape_b)};
    if (lp__ckpt_write(f->path, items, 3, &err) != LP_OK)
        return -1;
    f->good = st_read_file(f->path, &f->size);
    *state = f;
    return f->good != NULL && f->size == SIZE ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    st_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f->good);
    free(f);
    return 0;
}

/* Sentinel-filled targets for the fixture's three entries. */
typedef struct targets {
    int64_t epoch;
    float w[2][3];
    uint8_t b[4];
    lp__ckpt_item items[3];
} targets;

static void targets_init(targets *t) {
    t->epoch = -1;
    for (int i = 0; i < 6; i++)
        t->w[i / 3][i % 3] = -1.0f;
    memset(t->b, 0xEE, sizeof t->b);
    t->items[0] = (lp__ckpt_item){"host/epoch", view(&t->epoch, LP_DTYPE_I64, 0, NULL)};
    t->items[1] = (lp__ckpt_item){"actor/w", view(t->w, LP_DTYPE_F32, 2, shape_w)};
    t->items[2] = (lp__ckpt_item){"critic/b", view(t->b, LP_DTYPE_U8, 1, shape_b)};
}

static int targets_untouched(const targets *t) {
    if (t->epoch != -1)
        return 0;
    for (int i = 0; i < 6; i++)
        if (t->w[i / 3][i % 3] != -1.0f)
            return 0;
    for (int i = 0; i < 4; i++)
        if (t->b[i] != 0xEE)
            return 0;
    return 1;
}

static void fixture_layout(void **state) {
    fixture *f = *state;
    lp__ckpt *ck = NULL;
    lp_error err = {0};
    assert_int_equal(lp__ckpt_parse(f->good, f->size, "mem", &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_entry_at(ck, 0)->offset, E0);
    assert_int_equal(lp__ckpt_entry_at(ck, 1)->offset, E1);
    assert_int_equal(lp__ckpt_entry_at(ck, 2)->offset, E2);
    lp__ckpt_close(ck);
}

/* Parse a damaged copy: must fail with LP_ECORRUPT and hand out nothing. */
static int32_t parse_bad(const unsigned char *b, size_t n, lp_error *err) {
    lp__ckpt *ck = (lp__ckpt *)(uintptr_t)1; /* must be reset to NULL */
    int32_t rc;
    memset(err, 0, sizeof *err);
    rc = lp__ckpt_parse(b, n, "mem", &ck, err);
    assert_null(ck);
    assert_int_equal(err->code, rc);
    assert_true(err->message[0] != '\0');
    return rc;
}

/* Every byte, three different damages each. */
static void every_byte_flipped(void **state) {
    fixture *f = *state;
    static const unsigned char masks[] = {0x01, 0x80, 0xFF};
    unsigned char *b = malloc(f->size);
    lp_error err;
    for (size_t i = 0; i < f->size; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(b, f->good, f->size);
            b[i] ^= masks[m];
            if (parse_bad(b, f->size, &err) != LP_ECORRUPT)
                fail_msg("byte %zu ^ 0x%02X: %s", i, masks[m], err.message);
        }
    }
    free(b);
}

/* Every length short of the whole file, and one byte too many. */
static void every_truncation(void **state) {
    fixture *f = *state;
    unsigned char *b = malloc(f->size + 1);
    lp_error err;
    memcpy(b, f->good, f->size);
    for (size_t n = 0; n < f->size; n++)
        if (parse_bad(b, n, &err) != LP_ECORRUPT)
            fail_msg("length %zu: %s", n, err.message);
    assert_int_equal(parse_bad(b, 10, &err), LP_ECORRUPT);
    assert_string_equal(err.message, "checkpoint 'mem' is truncated: 10 bytes, less than the 48 "
                                     "of an empty checkpoint");
    assert_int_equal(parse_bad(b, 100, &err), LP_ECORRUPT);
    assert_string_equal(err.message,
                        "checkpoint 'mem' is truncated or corrupt: entry 1 at offset 62: its data "
                        "needs 24 bytes at offset 97, but the file ends at 100 (entry 'actor/w')");
    assert_int_equal(parse_bad(b, E1_CRC + 2, &err), LP_ECORRUPT);
    assert_string_equal(err.message,
                        "checkpoint 'mem' is truncated or corrupt: entry 1 at offset 62: its "
                        "CRC32 needs 4 bytes at offset 121, but the file ends at 123 (entry "
                        "'actor/w')");
    assert_int_equal(parse_bad(b, FOOT, &err), LP_ECORRUPT);
    assert_string_equal(err.message, "checkpoint 'mem' is truncated: the footer needs 20 bytes at "
                                     "offset 161, but the file ends at 161");
    assert_int_equal(parse_bad(b, FOOT + 19, &err), LP_ECORRUPT);
    assert_string_equal(err.message, "checkpoint 'mem' is truncated: the footer needs 20 bytes at "
                                     "offset 161, but the file ends at 180");
    b[f->size] = 0;
    assert_int_equal(parse_bad(b, f->size + 1, &err), LP_ECORRUPT);
    assert_string_equal(err.message, "checkpoint 'mem' is corrupt: the footer at offset 161 "
                                     "records a file of 181 bytes, but it has 182");
    free(b);
}

/* Damage in each part, through the file and a full load: the right check
 * fires, nothing is restored, in strict and lenient mode alike. */
static void damaged_file_restores_nothing(void **state) {
    fixture *f = *state;
    static const struct {
        size_t at;
        unsigned char mask;
        const char *msg; /* a part of the message */
    } cases[] = {
        {0, 0x01, "is not a lossplug checkpoint (no magic number at offset 0)"},
        {9, 0x01, "is corrupt: header CRC32 mismatch (offset 24 holds"},
        {17, 0x40, "header CRC32 mismatch"},
        {25, 0x01, "header CRC32 mismatch"},
        {E0 + 5, 0x20, "entry 0 at offset 28: CRC32 mismatch (offset 58 holds"},
        {E1, 0x01, "entry 1 at offset 62: its data needs 768 bytes at offset 88"}, /* name len */
        {E1 + 3, 0x01, "entry 1 at offset 62: CRC32 mismatch"},                    /* name */
        {E1 + 9, 0x01, "entry 1 at offset 62: CRC32 mismatch"},                    /* dtype */
        {E1 + 10, 0xF0, "entry 1 at offset 62: rank 242 at offset 72"},            /* rank */
        {E1 + 11, 0x01, "entry 1 at offset 62: CRC32 mismatch"},                   /* shape */
        {E1 + 33, 0x01, "entry 1 at offset 62: its data needs 281474976710680 bytes"},
        {E1_DATA + 23, 0x80, "entry 1 at offset 62: CRC32 mismatch (offset 121 holds"},
        {E1_CRC, 0x01, "entry 1 at offset 62: CRC32 mismatch"},
        {E2_CRC + 3, 0x01, "entry 2 at offset 125: CRC32 mismatch"},
        {FOOT, 0x01, "no footer magic at offset 161, after the last of 3 entries"},
        {FOOT + 8, 0x01, "footer CRC32 mismatch (offset 177 holds"},
        {FOOT + 18, 0x01, "footer CRC32 mismatch"},
    };
    unsigned char *b = malloc(f->size);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int mode = 0; mode < 2; mode++) {
            targets t;
            lp__ckpt_report *rep = (lp__ckpt_report *)(uintptr_t)1;
            lp_error err = {0};
            memcpy(b, f->good, f->size);
            b[cases[c].at] ^= cases[c].mask;
            assert_int_equal(st_write_file(f->path, b, f->size), 0);
            targets_init(&t);
            assert_int_equal(lp__ckpt_load(f->path, t.items, 3,
                                           mode ? LP__CKPT_LENIENT : LP__CKPT_STRICT, &rep, &err),
                             LP_ECORRUPT);
            assert_null(rep);
            if (strstr(err.message, cases[c].msg) == NULL)
                fail_msg("byte %zu: '%s' lacks '%s'", cases[c].at, err.message, cases[c].msg);
            assert_non_null(strstr(err.message, f->path));
            assert_true(targets_untouched(&t));
        }
    }
    /* And the intact file restores every value. */
    {
        targets t;
        lp_error err = {0};
        assert_int_equal(st_write_file(f->path, f->good, f->size), 0);
        targets_init(&t);
        assert_int_equal(lp__ckpt_load(f->path, t.items, 3, LP__CKPT_STRICT, NULL, &err), LP_OK);
        assert_true(t.epoch == 7 && t.w[1][2] == 1.25f && t.b[3] == 203);
    }
    free(b);
}

/* Truncated files on disk restore nothing either. */
static void truncated_file_restores_nothing(void **state) {
    fixture *f = *state;
    for (size_t n = 0; n < f->size; n += 7) {
        targets t;
        lp_error err = {0};
        assert_int_equal(st_write_file(f->path, f->good, n), 0);
        targets_init(&t);
        assert_int_equal(lp__ckpt_load(f->path, t.items, 3, LP__CKPT_LENIENT, NULL, &err),
                         LP_ECORRUPT);
        assert_true(targets_untouched(&t));
    }
}

/* ---- crafted files: correct CRCs, lying fields ---- */

typedef struct fb {
    unsigned char p[1024];
    size_t n;
    uint32_t all; /* CRC over the entry CRCs */
} fb;

static void put(fb *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

static void fb_header(fb *b, uint32_t version, uint32_t flags, uint64_t count) {
    memset(b, 0, sizeof *b);
    memcpy(b->p, "\x89LPCKPT\n", 8);
    b->n = 8;
    put(b, version, 4);
    put(b, flags, 4);
    put(b, count, 8);
    put(b, lp__crc32(b->p, 24), 4);
}

/* An entry with the given fields, `data_len` bytes of data, and its CRC. */
static void fb_entry(fb *b, const char *name, uint16_t name_len, uint8_t dtype, uint8_t rank,
                     const uint64_t *shape, uint64_t nbytes, size_t data_len) {
    size_t start = b->n;
    unsigned char crc[4];
    put(b, name_len, 2);
    memcpy(b->p + b->n, name, strlen(name));
    b->n += strlen(name);
    put(b, dtype, 1);
    put(b, rank, 1);
    for (int d = 0; d < rank; d++)
        put(b, shape[d], 8);
    put(b, nbytes, 8);
    for (size_t i = 0; i < data_len; i++)
        put(b, i & 0xFF, 1);
    put(b, lp__crc32(b->p + start, b->n - start), 4);
    memcpy(crc, b->p + b->n - 4, 4);
    b->all = lp__crc32_update(b->all, crc, 4);
}

static void fb_footer(fb *b, uint64_t size) {
    size_t start = b->n;
    memcpy(b->p + b->n, "\x89LPCEND\n", 8);
    b->n += 8;
    put(b, size ? size : b->n + 12, 8);
    put(b, lp__crc32_update(b->all, b->p + start, 16), 4);
}

static void expect(const fb *b, int32_t code, const char *msg) {
    lp_error err;
    assert_int_equal(parse_bad(b->p, b->n, &err), code);
    if (strcmp(err.message, msg) != 0)
        fail_msg("got '%s'\nwant '%s'", err.message, msg);
}

static void crafted_files(void **state) {
    fb b;
    uint64_t one[1] = {3}, sixteen[1] = {16}, big[1] = {(uint64_t)1 << 63};
    uint64_t over[3] = {(uint64_t)1 << 62, (uint64_t)1 << 62, 4};
    uint64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    (void)state;

    /* Sanity: the builder makes valid files. */
    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "a", 1, LP_DTYPE_F32, 1, one, 12, 12);
    fb_footer(&b, 0);
    {
        lp__ckpt *ck = NULL;
        lp_error err = {0};
        assert_int_equal(lp__ckpt_parse(b.p, b.n, "mem", &ck, &err), LP_OK);
        lp__ckpt_close(ck);
    }

    fb_header(&b, 1, 0, UINT64_MAX);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt or truncated: the header announces 18446744073709551615 "
           "entries, more than 48 bytes can hold");

    fb_header(&b, 2, 0, 0);
    fb_footer(&b, 0);
    expect(&b, LP_EUNSUPPORTED,
           "checkpoint 'mem' has format version 2; this build reads version 1");

    fb_header(&b, 1, 4, 0);
    fb_footer(&b, 0);
    expect(&b, LP_EUNSUPPORTED,
           "checkpoint 'mem' sets unknown flags 0x00000004; this build knows none");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "", 0, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 at offset 28: name length 0 is outside 1..255");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 300, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 at offset 28: name length 300 is outside 1..255");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, LP_DTYPE_U8, 9, nine, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 at offset 28: rank 9 at offset 34 is more than "
           "8");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, LP_DTYPE_U8, 1, big, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 at offset 28: shape[0] at offset 35 is out of "
           "range");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, LP_DTYPE_U8, 1, one, UINT64_MAX, 3);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is truncated or corrupt: entry 0 at offset 28: its data needs "
           "18446744073709551615 bytes at offset 51, but the file ends at 78 (entry 'abc')");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, LP_DTYPE_F32, 1, one, 8, 8);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 ('abc') at offset 28: 8 data bytes do not fit "
           "its type f32[3]");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, LP_DTYPE_U8, 3, over, 16, 16);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 ('abc') at offset 28: 16 data bytes do not fit "
           "its type u8[4611686018427387904,4611686018427387904,4]");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "abc", 3, 9, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 ('abc') at offset 28: unknown dtype 9");

    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "a\xFF", 2, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 0 at offset 28: the name is not valid UTF-8");

    fb_header(&b, 1, 0, 3);
    fb_entry(&b, "a", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_entry(&b, "b", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_entry(&b, "a", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT, "checkpoint 'mem' is corrupt: entries 0 and 2 are both named 'a'");

    /* The header announces more entries than there are: the footer is read
     * as an entry (its magic makes a name length of 19593). */
    fb_header(&b, 1, 0, 2);
    fb_entry(&b, "a", 1, LP_DTYPE_U8, 1, sixteen, 16, 16);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: entry 1 at offset 69: name length 19593 is outside "
           "1..255");

    /* Fewer: the second entry stands where the footer should. */
    fb_header(&b, 1, 0, 1);
    fb_entry(&b, "a", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_entry(&b, "b", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
    fb_footer(&b, 0);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: no footer magic at offset 46, after the last of 1 "
           "entries");

    fb_header(&b, 1, 0, 0);
    fb_footer(&b, 4096);
    expect(&b, LP_ECORRUPT,
           "checkpoint 'mem' is corrupt: the footer at offset 28 records a file of 4096 bytes, "
           "but it has 48");

    /* Two valid entries swapped after the fact: each entry CRC still holds,
     * the footer's CRC over the sequence of entry CRCs does not. */
    {
        fb x;
        unsigned char tmp[18];
        fb_header(&x, 1, 0, 2);
        fb_entry(&x, "a", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
        fb_entry(&x, "b", 1, LP_DTYPE_U8, 0, NULL, 1, 1);
        fb_footer(&x, 0);
        memcpy(tmp, x.p + 28, 18);
        memmove(x.p + 28, x.p + 46, 18);
        memcpy(x.p + 46, tmp, 18);
        {
            lp_error err;
            assert_int_equal(parse_bad(x.p, x.n, &err), LP_ECORRUPT);
            assert_non_null(strstr(err.message, "footer CRC32 mismatch"));
        }
    }
}

static void not_a_checkpoint(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    lp__ckpt *ck = NULL;
    char *missing = st_join(f->dir, "nope.ckpt");
    const char *text = "this is a text file, not a checkpoint; long enough to have a footer\n";

    assert_int_equal(lp__ckpt_open(missing, &ck, &err), LP_EIO);
    assert_null(ck);
    assert_non_null(strstr(err.message, "cannot open checkpoint '"));
    assert_non_null(strstr(err.message, "nope.ckpt': No such file or directory"));
    free(missing);

    assert_int_equal(lp__ckpt_open(f->dir, &ck, &err), LP_EIO);
    assert_non_null(strstr(err.message, "': not a regular file"));

    assert_int_equal(st_write_file(f->path, text, strlen(text)), 0);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_ECORRUPT);
    assert_non_null(strstr(err.message, "is not a lossplug checkpoint"));
    assert_null(ck);

    assert_int_equal(lp__ckpt_parse(NULL, 1, "x", &ck, &err), LP_EINVAL);
    assert_int_equal(lp__ckpt_open(NULL, &ck, &err), LP_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fixture_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(every_byte_flipped, setup, teardown),
        cmocka_unit_test_setup_teardown(every_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(damaged_file_restores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_file_restores_nothing, setup, teardown),
        cmocka_unit_test(crafted_files),
        cmocka_unit_test_setup_teardown(not_a_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
