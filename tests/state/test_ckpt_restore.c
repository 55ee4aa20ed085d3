/* Restore: the report's exact contents (missing, unexpected, mismatched with
 * both types), strict restores nothing when anything differs, lenient
 * restores exactly the matches, and bad targets are refused up front. */
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

static const int64_t s1[1] = {1}, s2[1] = {2}, s3[1] = {3}, s4[1] = {4}, s22[2] = {2, 2};

typedef struct fixture {
    char *dir;
    char *path;
} fixture;

/* The saved run: what an earlier configuration checkpointed. */
static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    float w[4] = {1, 2, 3, 4}, b[2] = {5, 6}, shp[3] = {7, 8, 9}, dt[2] = {10, 11},
          rk[4] = {12, 13, 14, 15};
    int64_t epoch = 99;
    uint8_t x[3] = {1, 2, 3};
    lp__ckpt_item items[] = {
        {"a/w", view(w, LP_DTYPE_F32, 2, s22)},
        {"a/b", view(b, LP_DTYPE_F32, 1, s2)},
        {"host/epoch", view(&epoch, LP_DTYPE_I64, 0, NULL)},
        {"old/x", view(x, LP_DTYPE_U8, 1, s3)},
        {"m/shape", view(shp, LP_DTYPE_F32, 1, s3)},
        {"m/dtype", view(dt, LP_DTYPE_F32, 1, s2)},
        {"m/rank", view(rk, LP_DTYPE_F32, 1, s4)},
    };
    lp_error err = {0};
    f->dir = st_mkdtemp();
    if (f->dir == NULL)
        return -1;
    f->path = st_join(f->dir, "run.ckpt");
    *state = f;
    return lp__ckpt_write(f->path, items, sizeof items / sizeof items[0], &err) == LP_OK ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    st_rmtree(f->dir);
    free(f->dir);
    free(f->path);
    free(f);
    return 0;
}

/* What the current configuration wants back, filled with sentinels. */
typedef struct want {
    int64_t epoch;
    float w[4], y[1], shp[4], b[2], rk[2][2];
    double dt[2];
    char names[7][16]; /* the targets' names live here (and get scribbled on) */
    lp__ckpt_item t[7];
} want;

static void want_init(want *w) {
    static const char *names[7] = {"host/epoch", "a/w",     "new/y", "m/shape",
                                   "a/b",        "m/dtype", "m/rank"};
    w->epoch = -1;
    for (int i = 0; i < 4; i++)
        w->w[i] = w->shp[i] = w->rk[i / 2][i % 2] = -1;
    w->y[0] = w->b[0] = w->b[1] = -1;
    w->dt[0] = w->dt[1] = -1;
    for (int i = 0; i < 7; i++) {
        snprintf(w->names[i], sizeof w->names[i], "%s", names[i]);
        w->t[i].name = w->names[i];
    }
    w->t[0].view = view(&w->epoch, LP_DTYPE_I64, 0, NULL);
    w->t[1].view = view(w->w, LP_DTYPE_F32, 2, s22);
    w->t[2].view = view(w->y, LP_DTYPE_F32, 1, s1);
    w->t[3].view = view(w->shp, LP_DTYPE_F32, 1, s4);
    w->t[4].view = view(w->b, LP_DTYPE_F32, 1, s2);
    w->t[5].view = view(w->dt, LP_DTYPE_F64, 1, s2);
    w->t[6].view = view(w->rk, LP_DTYPE_F32, 2, s22);
}

static int all_sentinel(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != -1)
            return 0;
    return 1;
}

/* The three problems, the same in both modes. */
static void check_problems(const lp__ckpt_report *r) {
    const int64_t f3[8] = {3}, f2[8] = {2}, f4[8] = {4}, w4[8] = {4}, w2[8] = {2}, w22[8] = {2, 2};
    assert_int_equal(r->missing_count, 1);
    assert_string_equal(r->missing[0], "new/y");
    assert_int_equal(r->unexpected_count, 1);
    assert_string_equal(r->unexpected[0], "old/x");
    assert_int_equal(r->mismatched_count, 3);

    assert_string_equal(r->mismatched[0].name, "m/shape");
    assert_int_equal(r->mismatched[0].file_dtype, LP_DTYPE_F32);
    assert_int_equal(r->mismatched[0].file_rank, 1);
    assert_memory_equal(r->mismatched[0].file_shape, f3, sizeof f3);
    assert_int_equal(r->mismatched[0].target_dtype, LP_DTYPE_F32);
    assert_int_equal(r->mismatched[0].target_rank, 1);
    assert_memory_equal(r->mismatched[0].target_shape, w4, sizeof w4);

    assert_string_equal(r->mismatched[1].name, "m/dtype");
    assert_int_equal(r->mismatched[1].file_dtype, LP_DTYPE_F32);
    assert_memory_equal(r->mismatched[1].file_shape, f2, sizeof f2);
    assert_int_equal(r->mismatched[1].target_dtype, LP_DTYPE_F64);
    assert_int_equal(r->mismatched[1].target_rank, 1);
    assert_memory_equal(r->mismatched[1].target_shape, w2, sizeof w2);

    assert_string_equal(r->mismatched[2].name, "m/rank");
    assert_int_equal(r->mismatched[2].file_rank, 1);
    assert_memory_equal(r->mismatched[2].file_shape, f4, sizeof f4);
    assert_int_equal(r->mismatched[2].target_rank, 2);
    assert_memory_equal(r->mismatched[2].target_shape, w22, sizeof w22);
}

static void strict_refuses_and_writes_nothing(void **state) {
    fixture *f = *state;
    want w;
    lp__ckpt_report *r = NULL;
    lp_error err = {0};
    char expect[1024];
    want_init(&w);
    assert_int_equal(lp__ckpt_load(f->path, w.t, 7, LP__CKPT_STRICT, &r, &err), LP_ESTATE);
    assert_int_equal(err.code, LP_ESTATE);
    snprintf(expect, sizeof expect,
             "checkpoint '%s' does not match the state to restore (strict: nothing was "
             "restored); 1 missing (wanted, not in the file): new/y; 1 unexpected (in the file, "
             "not wanted): old/x; 3 mismatched: m/shape (file f32[3], wanted f32[4]), m/dtype "
             "(file f32[2], wanted f64[2]), m/rank (file f32[4], wanted f32[2,2])",
             f->path);
    assert_string_equal(err.message, expect);
    assert_non_null(r);
    /* The report owns its names: scribble over the targets' first. */
    memset(w.names, 'X', sizeof w.names);
    assert_int_equal(r->restored_count, 0);
    check_problems(r);
    lp__ckpt_report_free(r);

    assert_true(w.epoch == -1);
    assert_true(all_sentinel(w.w, 4) && all_sentinel(w.y, 1) && all_sentinel(w.shp, 4));
    assert_true(all_sentinel(w.b, 2) && all_sentinel(&w.rk[0][0], 4));
    assert_true(w.dt[0] == -1 && w.dt[1] == -1);
}

static void lenient_restores_the_matches(void **state) {
    fixture *f = *state;
    want w;
    lp__ckpt *ck = NULL;
    lp__ckpt_report *r = NULL;
    lp_error err = {0};
    want_init(&w);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_restore(ck, w.t, 7, LP__CKPT_LENIENT, &r, &err), LP_OK);
    lp__ckpt_close(ck);                   /* the report outlives the checkpoint... */
    memset(w.names, 'X', sizeof w.names); /* ...and the targets' names */
    assert_non_null(r);
    assert_int_equal(r->restored_count, 3);
    assert_string_equal(r->restored[0], "host/epoch");
    assert_string_equal(r->restored[1], "a/w");
    assert_string_equal(r->restored[2], "a/b");
    check_problems(r);
    lp__ckpt_report_free(r);

    assert_true(w.epoch == 99);
    assert_true(w.w[0] == 1 && w.w[1] == 2 && w.w[2] == 3 && w.w[3] == 4);
    assert_true(w.b[0] == 5 && w.b[1] == 6);
    /* Missing and mismatched targets keep what they had. */
    assert_true(all_sentinel(w.y, 1) && all_sentinel(w.shp, 4) && all_sentinel(&w.rk[0][0], 4));
    assert_true(w.dt[0] == -1 && w.dt[1] == -1);
}

static void exact_match_and_no_match(void **state) {
    fixture *f = *state;
    lp__ckpt *ck = NULL;
    lp__ckpt_report *r = NULL;
    lp_error err = {0};
    float w[4] = {0}, b[2] = {0}, shp[3] = {0}, dt[2] = {0}, rk[4] = {0};
    int64_t epoch = 0;
    uint8_t x[3] = {0};
    lp__ckpt_item all[] = {
        {"m/rank", view(rk, LP_DTYPE_F32, 1, s4)},
        {"a/b", view(b, LP_DTYPE_F32, 1, s2)},
        {"old/x", view(x, LP_DTYPE_U8, 1, s3)},
        {"m/shape", view(shp, LP_DTYPE_F32, 1, s3)},
        {"host/epoch", view(&epoch, LP_DTYPE_I64, 0, NULL)},
        {"m/dtype", view(dt, LP_DTYPE_F32, 1, s2)},
        {"a/w", view(w, LP_DTYPE_F32, 2, s22)},
    };
    float other = -1;
    lp__ckpt_item none = {"b/z", view(&other, LP_DTYPE_F32, 1, s1)};

    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);
    assert_int_equal(lp__ckpt_restore(ck, all, 7, LP__CKPT_STRICT, &r, &err), LP_OK);
    assert_int_equal(r->restored_count, 7);
    assert_string_equal(r->restored[0], "m/rank"); /* targets' order */
    assert_int_equal(r->missing_count + r->unexpected_count + r->mismatched_count, 0);
    assert_true(epoch == 99 && x[2] == 3 && rk[3] == 15 && shp[0] == 7 && dt[1] == 11);
    lp__ckpt_report_free(r);

    /* Without a report, and in lenient mode with nothing in common. */
    assert_int_equal(lp__ckpt_restore(ck, all, 7, LP__CKPT_STRICT, NULL, &err), LP_OK);
    assert_int_equal(lp__ckpt_restore(ck, &none, 1, LP__CKPT_LENIENT, &r, &err), LP_OK);
    assert_int_equal(r->restored_count, 0);
    assert_int_equal(r->missing_count, 1);
    assert_int_equal(r->unexpected_count, 7);
    assert_string_equal(r->unexpected[0], "a/w"); /* file order */
    assert_string_equal(r->unexpected[6], "m/rank");
    assert_true(other == -1);
    lp__ckpt_report_free(r);

    /* No targets at all: everything in the file is unexpected. */
    assert_int_equal(lp__ckpt_restore(ck, NULL, 0, LP__CKPT_STRICT, &r, &err), LP_ESTATE);
    assert_int_equal(r->unexpected_count, 7);
    lp__ckpt_report_free(r);
    lp__ckpt_close(ck);
}

static void bad_targets_are_refused(void **state) {
    fixture *f = *state;
    want w;
    lp__ckpt *ck = NULL;
    lp__ckpt_report *r = (lp__ckpt_report *)(uintptr_t)1;
    lp_error err = {0};
    want_init(&w);
    assert_int_equal(lp__ckpt_open(f->path, &ck, &err), LP_OK);

    snprintf(w.names[6], sizeof w.names[6], "a/w"); /* twice */
    assert_int_equal(lp__ckpt_restore(ck, w.t, 7, LP__CKPT_LENIENT, &r, &err), LP_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.message, "targets 1 and 6 are both named 'a/w'"));
    assert_true(w.epoch == -1 && all_sentinel(w.w, 4));

    want_init(&w);
    w.t[3].view.dtype = 0;
    assert_int_equal(lp__ckpt_restore(ck, w.t, 7, LP__CKPT_LENIENT, &r, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "target 3 ('m/shape'): unknown dtype 0"));
    assert_true(w.epoch == -1);

    want_init(&w);
    w.t[2].name = "";
    assert_int_equal(lp__ckpt_restore(ck, w.t, 7, LP__CKPT_LENIENT, &r, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "target 2: the name is empty"));

    want_init(&w);
    assert_int_equal(lp__ckpt_restore(ck, w.t, 7, (lp__ckpt_mode)7, &r, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "unknown mode 7"));
    assert_int_equal(lp__ckpt_restore(NULL, w.t, 7, LP__CKPT_LENIENT, &r, &err), LP_EINVAL);
    assert_int_equal(lp__ckpt_restore(ck, NULL, 7, LP__CKPT_LENIENT, &r, &err), LP_EINVAL);
    assert_true(w.epoch == -1);
    lp__ckpt_close(ck);

    assert_int_equal(lp__ckpt_load("/nonexistent/dir/x.ckpt", w.t, 7, LP__CKPT_LENIENT, &r, &err),
                     LP_EIO);
    assert_null(r);
    lp__ckpt_report_free(NULL);
}

/* A long list is cut to fit the message, visibly. */
static void long_message_is_cut(void **state) {
    fixture *f = *state;
    enum { N = 300 };
    char names[N][24];
    float v[N];
    lp__ckpt_item t[N];
    lp__ckpt_report *r = NULL;
    lp_error err = {0};
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "loss/param_%03d", i);
        v[i] = -1;
        t[i].name = names[i];
        t[i].view = view(&v[i], LP_DTYPE_F32, 1, s1);
    }
    assert_int_equal(lp__ckpt_load(f->path, t, N, LP__CKPT_STRICT, &r, &err), LP_ESTATE);
    assert_int_equal(strlen(err.message), sizeof err.message - 1);
    assert_string_equal(err.message + sizeof err.message - 4, "...");
    assert_non_null(strstr(err.message, "300 missing (wanted, not in the file): loss/param_000, "
                                        "loss/param_001"));
    assert_int_equal(r->missing_count, N); /* the report has them all */
    assert_string_equal(r->missing[N - 1], "loss/param_299");
    lp__ckpt_report_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(strict_refuses_and_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(lenient_restores_the_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(exact_match_and_no_match, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_targets_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(long_message_is_cut, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
