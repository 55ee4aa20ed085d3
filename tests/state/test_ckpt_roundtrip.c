/* Save and read back: every dtype, ranks 0..8, strided and reversed views on
 * both sides, empty tensors, a tensor larger than one write chunk, the byte
 * layout of docs/checkpoint.md, listing and lookup, and the refusals of bad
 * names and views before any file is created. */
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

#include <unistd.h>

typedef struct fixture {
    char *dir;
    char *path;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->dir = st_mkdtemp();
    if (f->dir == NULL)
        return -1;
    f->path = st_join(f->dir, "run.ckpt");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    st_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static lp_tensor dense(void *data, int32_t dtype, int32_t rank, const int64_t *shape) {
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

/* Deterministic bytes that differ per (seed, index) and are never a
 * repetition of zeros. */
static void fill(unsigned char *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* Every dtype at ranks 0, 1, 2, 3 and 8: save, list, find, restore. */
static void every_dtype_and_rank(void **state) {
    fixture *f = *state;
    static const int32_t dtypes[] = {LP_DTYPE_F32, LP_DTYPE_F64, LP_DTYPE_I32, LP_DTYPE_I64,
                                     LP_DTYPE_U8};
    static const int64_t shapes[][8] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 2, 1, 3, 1, 2, 2}};
    static const int32_t ranks[] = {0, 1, 2, 3, 8};
    enum { ND = 5, NR = 5, N = ND * NR };
    lp__ckpt_item items[N], targets[N];
    unsigned char *src[N], *dst[N];
    char names[N][32];
    size_t sizes[N];
    lp_error err = {0};
    lp__ckpt *ck = NULL;
    lp__ckpt_report *rep = NULL;

    for (int i = 0; i < N; i++) {
        int32_t dt = dtypes[i / NR], rank = ranks[i % NR];
        size_t n = 1;
        for (int32_t d = 0; d < rank; d++)
            n *= (size_t)shapes[i % NR][d];
        sizes[i] = n * lp_dtype_size(dt);
        src[i] = malloc(sizes[i]);
        dst[i] = calloc(1, sizes[i]);
        fill(src[i], sizes[i], (uint32_t)i);
        snprintf(names[i], sizeof names[i], "loss%d/%s_r%d", i, lp_dtype_name(dt), rank);
        items[i].name = names[i];
        items[i].view = dense(src[i], dt, rank, shapes[i % NR]);
        targets[i].name = names[i];
        targets[i].view = dense(dst[i], dt, rank, shapes[i % NR]);
    }
    assert_int_equal(lp__ckpt_write(f->path, items, N, &err), LP_OK);

    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_string_equal(lp__ckpt_source(ck), f->path);
    assert_int_equal(lp__ckpt_count(ck), N);
    assert_null(lp__ckpt_entry_at(ck, N));
    for (int i = 0; i < N; i++) {
        const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, (size_t)i);
        assert_non_null(e);
        assert_string_equal(e->name, names[i]); /* file order is save order */
        assert_ptr_equal(lp__ckpt_find(ck, names[i]), e);
        assert_int_equal(e->dtype, items[i].view.dtype);
        assert_int_equal(e->rank, items[i].view.rank);
        for (int d = 0; d < LP_MAX_RANK; d++)
            assert_int_equal(e->shape[d], d < e->rank ? items[i].view.shape[d] : 0);
        assert_int_equal(e->nbytes, sizes[i]);
        assert_memory_equal(e->data, src[i], sizes[i]); /* this host is little-endian */
    }
    assert_null(lp__ckpt_find(ck, "loss0"));
    assert_null(lp__ckpt_find(ck, "zzz"));
    assert_null(lp__ckpt_find(ck, ""));

    assert_int_equal(lp__ckpt_restore(ck, targets, N, LP__CKPT_STRICT, &rep, &err), LP_OK);
    assert_non_null(rep);
    assert_int_equal(rep->restored_count, N);
    assert_int_equal(rep->missing_count + rep->unexpected_count + rep->mismatched_count, 0);
    for (int i = 0; i < N; i++) {
        assert_string_equal(rep->restored[i], names[i]);
        assert_memory_equal(dst[i], src[i], sizes[i]);
    }
    lp__ckpt_report_free(rep);
    lp__ckpt_close(ck);
    for (int i = 0; i < N; i++) {
        free(src[i]);
        free(dst[i]);
    }
}

/* The documented layout: header, one entry, footer, byte for byte. */
static void byte_layout(void **state) {
    fixture *f = *state;
    int32_t v = 0x01020304;
    int64_t shape[1] = {1};
    lp__ckpt_item it = {"ab", dense(&v, LP_DTYPE_I32, 1, shape)};
    lp_error err = {0};
    size_t size = 0;
    unsigned char *b;
    static const unsigned char expect_head[] = {
        0x89, 'L', 'P', 'C', 'K', 'P', 'T', '\n', 1, 0, 0, 0, 0, 0, 0, 0, /* magic, v1, flags */
        1,    0,   0,   0,   0,   0,   0,   0,                            /* 1 entry */
    };
    static const unsigned char expect_entry[] = {
        2, 0, 'a', 'b', LP_DTYPE_I32,
        1, /* name length, name, dtype, rank */
        1, 0, 0,   0,   0,
        0, 0, 0, /* shape[0] = 1 */
        4, 0, 0,   0,   0,
        0, 0, 0,      /* 4 data bytes */
        4, 3, 2,   1, /* the data, little-endian */
    };

    assert_int_equal(lp__ckpt_write(f->path, &it, 1, &err), LP_OK);
    b = st_read_file(f->path, &size);
    assert_non_null(b);
    assert_int_equal(size, 28 + sizeof expect_entry + 4 + 20);
    assert_memory_equal(b, expect_head, sizeof expect_head);
    assert_memory_equal(b + 28, expect_entry, sizeof expect_entry);
    assert_memory_equal(b + size - 20, "\x89LPCEND\n", 8);
    assert_int_equal(b[size - 12], size); /* footer: the file size, u64 LE */
    for (int i = 1; i < 8; i++)
        assert_int_equal(b[size - 12 + i], 0);
    free(b);
}

/* Source views with strides: a transpose, every other column, a reversed
 * row; a destination view with strides leaves the gaps alone. */
static void strided_views(void **state) {
    fixture *f = *state;
    float m[4][6], t_out[6][4], cols_out[4][3], rev_out[6];
    int64_t sh_t[2] = {6, 4}, sh_c[2] = {4, 3}, sh_r[1] = {6};
    lp__ckpt_item items[3];
    lp_error err = {0};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++)
            m[r][c] = (float)(r * 10 + c);

    items[0].name = "model/transposed";
    items[0].view = dense(m, LP_DTYPE_F32, 2, sh_t);
    items[0].view.strides[0] = 1; /* [c][r] -> m[r][c] */
    items[0].view.strides[1] = 6;
    items[1].name = "model/even_cols";
    items[1].view = dense(m, LP_DTYPE_F32, 2, sh_c);
    items[1].view.strides[0] = 6;
    items[1].view.strides[1] = 2;
    items[2].name = "model/row2_reversed";
    items[2].view = dense(&m[2][5], LP_DTYPE_F32, 1, sh_r);
    items[2].view.strides[0] = -1;
    assert_int_equal(lp__ckpt_write(f->path, items, 3, &err), LP_OK);

    {
        lp__ckpt_item targets[3] = {
            {"model/transposed", dense(t_out, LP_DTYPE_F32, 2, sh_t)},
            {"model/even_cols", dense(cols_out, LP_DTYPE_F32, 2, sh_c)},
            {"model/row2_reversed", dense(rev_out, LP_DTYPE_F32, 1, sh_r)},
        };
        assert_int_equal(lp__ckpt_load(f->path, targets, 3, LP__CKPT_STRICT, NULL, &err), LP_OK);
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++)
            assert_true(t_out[c][r] == m[r][c]);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            assert_true(cols_out[r][c] == m[r][2 * c]);
    for (int c = 0; c < 6; c++)
        assert_true(rev_out[c] == m[2][5 - c]);

    /* Restore the transposed entry into a strided destination: the even
     * columns of an 6x8 buffer; odd columns must keep their sentinel. */
    {
        float big[6][8];
        lp__ckpt_item t = {"model/transposed", dense(big, LP_DTYPE_F32, 2, sh_t)};
        t.view.strides[0] = 8;
        t.view.strides[1] = 2;
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 8; c++)
                big[r][c] = -1.0f;
        assert_int_equal(lp__ckpt_load(f->path, &t, 1, LP__CKPT_LENIENT, NULL, &err), LP_OK);
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 8; c++)
                assert_true(big[r][c] == (c % 2 ? -1.0f : m[c / 2][r]));
    }
}

/* More than one 1 MiB write chunk, gathered from a strided view so that the
 * chunk boundaries fall inside rows. */
static void larger_than_a_chunk(void **state) {
    fixture *f = *state;
    enum { R = 1001, C = 301 };
    double *base = malloc(sizeof(double) * R * C * 2), *out = malloc(sizeof(double) * R * C);
    int64_t shape[2] = {R, C};
    lp__ckpt_item it = {"optimizer/moments", dense(base, LP_DTYPE_F64, 2, shape)};
    lp__ckpt_item t = {"optimizer/moments", dense(out, LP_DTYPE_F64, 2, shape)};
    lp_error err = {0};
    for (size_t i = 0; i < (size_t)R * C * 2; i++)
        base[i] = (double)i * 0.5;
    it.view.strides[0] = 2 * C;
    it.view.strides[1] = 2;
    assert_int_equal(lp__ckpt_write(f->path, &it, 1, &err), LP_OK);
    assert_int_equal(lp__ckpt_load(f->path, &t, 1, LP__CKPT_STRICT, NULL, &err), LP_OK);
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < C; c++)
            assert_true(out[r * C + c] == base[r * 2 * C + 2 * c]);
    free(base);
    free(out);
}

/* No entries at all, and tensors with no elements (NULL data allowed). */
static void empty_things(void **state) {
    fixture *f = *state;
    lp_error err = {0};
    lp__ckpt *ck = NULL;
    int64_t shape[2] = {0, 5};
    lp__ckpt_item it = {"host/nothing", dense(NULL, LP_DTYPE_F32, 2, shape)};
    size_t size = 0;
    unsigned char *b;

    assert_int_equal(lp__ckpt_write(f->path, NULL, 0, &err), LP_OK);
    b = st_read_file(f->path, &size);
    assert_int_equal(size, 48);
    free(b);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_count(ck), 0);
    assert_null(lp__ckpt_find(ck, "x"));
    lp__ckpt_close(ck);

    assert_int_equal(lp__ckpt_write(f->path, &it, 1, &err), LP_OK);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_entry_at(ck, 0)->nbytes, 0);
    assert_int_equal(lp__ckpt_entry_at(ck, 0)->shape[1], 5);
    assert_int_equal(lp__ckpt_restore(ck, &it, 1, LP__CKPT_STRICT, NULL, &err), LP_OK);
    lp__ckpt_close(ck);
}

/* The host's counters as i64 scalars, read one by one with find + copy. */
static void lookup_and_copy(void **state) {
    fixture *f = *state;
    int64_t epoch = 41, steps = 123456789012345, got = 0;
    double wrong = 0;
    lp__ckpt_item items[2] = {{"host/epoch", dense(&epoch, LP_DTYPE_I64, 0, NULL)},
                              {"host/env_steps", dense(&steps, LP_DTYPE_I64, 0, NULL)}};
    lp_tensor t = dense(&got, LP_DTYPE_I64, 0, NULL), tw = dense(&wrong, LP_DTYPE_F64, 0, NULL);
    lp_error err = {0};
    lp__ckpt *ck = NULL;

    assert_int_equal(lp__ckpt_write(f->path, items, 2, &err), LP_OK);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_entry_copy(lp__ckpt_find(ck, "host/env_steps"), &t, &err), LP_OK);
    assert_true(got == steps);
    assert_int_equal(lp__ckpt_entry_copy(lp__ckpt_find(ck, "host/epoch"), &tw, &err), LP_ESTATE);
    assert_string_equal(err.message,
                        "cannot copy checkpoint entry 'host/epoch': it is i64[] but the target is "
                        "f64[]");
    assert_true(wrong == 0);
    lp__ckpt_close(ck);
}

/* Bad names and views are refused before anything touches the disk; an
 * existing checkpoint stays as it was. */
static void refusals_create_nothing(void **state) {
    fixture *f = *state;
    float x = 1;
    char longname[300];
    lp__ckpt_item it[2];
    lp_error err = {0};
    size_t before_size = 0, after_size = 0;
    unsigned char *before, *after;
    int64_t shape[1] = {1}, neg[1] = {-2};

    it[0].name = "keep";
    it[0].view = dense(&x, LP_DTYPE_F32, 1, shape);
    assert_int_equal(lp__ckpt_write(f->path, it, 1, &err), LP_OK);
    before = st_read_file(f->path, &before_size);

#define REFUSE(n, msg)                                                                             \
    do {                                                                                           \
        memset(&err, 0, sizeof err);                                                               \
        assert_int_equal(lp__ckpt_write(f->path, it, n, &err), LP_EINVAL);                         \
        assert_int_equal(err.code, LP_EINVAL);                                                     \
        assert_non_null(strstr(err.message, msg));                                                 \
        assert_int_equal(st_count_prefix(f->dir, "run.ckpt.tmp"), 0);                              \
    } while (0)

    memset(longname, 'a', 256);
    longname[256] = '\0';
    it[0].name = longname;
    REFUSE(1, "item 0: the name is longer than 255 bytes");
    longname[255] = '\0'; /* exactly 255: fine */
    assert_int_equal(lp__ckpt_write(f->path, it, 1, &err), LP_OK);
    assert_int_equal(lp__ckpt_write(f->path, NULL, 0, &err), LP_OK);
    assert_int_equal(lp__ckpt_write(f->path, it, 0, &err), LP_OK);

    it[0].name = "";
    REFUSE(1, "item 0: the name is empty");
    it[0].name = NULL;
    REFUSE(1, "item 0: the name is NULL");
    it[0].name = "bad\xC0\xAFutf8"; /* overlong '/' */
    REFUSE(1, "the name is not valid UTF-8");
    it[0].name = "surrogate\xED\xA0\x80";
    REFUSE(1, "the name is not valid UTF-8");
    it[0].name = "tab\there";
    REFUSE(1, "the name contains a control character");
    it[0].name = "caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80"; /* valid: e-acute, euro, emoji */
    assert_int_equal(lp__ckpt_write(f->path, it, 1, &err), LP_OK);

    it[0].name = "a/x";
    it[1].name = "a/x";
    it[1].view = it[0].view;
    REFUSE(2, "items 0 and 1 are both named 'a/x'");
    it[1].name = "a/y";
    it[1].view.dtype = 99;
    REFUSE(2, "item 1 ('a/y'): unknown dtype 99");
    it[1].view = dense(&x, LP_DTYPE_F32, 1, neg);
    REFUSE(2, "item 1 ('a/y'): shape[0] is -2, negative");
    it[1].view = dense(&x, LP_DTYPE_F32, 1, shape);
    it[1].view.rank = 9;
    REFUSE(2, "item 1 ('a/y'): rank 9 is outside 0..8");
    it[1].view = dense(NULL, LP_DTYPE_F32, 1, shape);
    REFUSE(2, "item 1 ('a/y'): data is NULL");
    {
        int64_t huge[3] = {INT64_MAX / 2, 4, 1};
        it[1].view = dense(&x, LP_DTYPE_F32, 3, huge);
        REFUSE(2, "item 1 ('a/y'): the element count overflows");
        huge[1] = 1;
        it[1].view = dense(&x, LP_DTYPE_F64, 3, huge);
        REFUSE(2, "item 1 ('a/y'): the byte size overflows");
    }
    memset(&err, 0, sizeof err);
    assert_int_equal(lp__ckpt_write("", it, 1, &err), LP_EINVAL);
    assert_int_equal(lp__ckpt_write(f->path, NULL, 1, &err), LP_EINVAL);
#undef REFUSE

    /* The refused saves left the last good one alone. */
    it[0].name = "caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80";
    it[0].view = dense(&x, LP_DTYPE_F32, 1, shape);
    assert_int_equal(lp__ckpt_write(f->path, it, 1, &err), LP_OK);
    free(before);
    before = st_read_file(f->path, &before_size);
    x = 2;
    it[1].name = "caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80";
    it[1].view = it[0].view;
    assert_int_equal(lp__ckpt_write(f->path, it, 2, &err), LP_EINVAL);
    after = st_read_file(f->path, &after_size);
    assert_int_equal(before_size, after_size);
    assert_memory_equal(before, after, before_size);
    free(before);
    free(after);
}

/* Parsing a copy in memory gives what opening the file gives. */
static void parse_from_memory(void **state) {
    fixture *f = *state;
    uint8_t bytes[3] = {7, 8, 9};
    int64_t shape[1] = {3};
    lp__ckpt_item it = {"buffer/flags", dense(bytes, LP_DTYPE_U8, 1, shape)};
    lp_error err = {0};
    size_t size = 0;
    unsigned char *b;
    lp__ckpt *ck = NULL;
    assert_int_equal(lp__ckpt_write(f->path, &it, 1, &err), LP_OK);
    b = st_read_file(f->path, &size);
    assert_int_equal(lp__ckpt_parse(b, size, "in-memory", &ck, &err), LP_OK);
    free(b); /* parse copied it */
    assert_string_equal(lp__ckpt_source(ck), "in-memory");
    assert_memory_equal(lp__ckpt_find(ck, "buffer/flags")->data, bytes, 3);
    lp__ckpt_close(ck);
    lp__ckpt_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_dtype_and_rank, setup, teardown),
        cmocka_unit_test_setup_teardown(byte_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(strided_views, setup, teardown),
        cmocka_unit_test_setup_teardown(larger_than_a_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_things, setup, teardown),
        cmocka_unit_test_setup_teardown(lookup_and_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_create_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(parse_from_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
