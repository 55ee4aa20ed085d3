/*
 * lpt_assert: cmocka glue shared by the plugin unit tests (tests/plugins).
 * Header-only; includes lpt.h and cmocka (with what cmocka needs first).
 *
 *     LPT_PLUGIN_GROUP("my_loss")   // g_plugin, g_desc, group_setup/teardown
 *     ...
 *     assert_near(res.loss, 0.25, 1e-6);
 *     assert_contains(lpt_last_error(in), "'teacher_actions'");
 *     lpt_mb m;                     // a minibatch the test owns
 *     lpt_inst *in = lpt_mb_init(&m, g_desc, "mine", R, T);
 *     float *adv = lpt_mb_field(&m, "advantages", LP_DTYPE_F32, 0);
 *     float *g, *z = lpt_mb_logits(&m, A, &g);
 *     ...
 *     lpt_mb_done(&m);              // contract kept; everything freed
 *     return cmocka_run_group_tests_name("my_loss", tests, group_setup,
 *                                        group_teardown);
 */
#ifndef LPT_ASSERT_H
#define LPT_ASSERT_H

#include <lpt.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* |actual - expected| <= tol (so NaN fails), with both values in the
 * message. */
#define assert_near(actual, expected, tol)                                                         \
    do {                                                                                           \
        const double a_ = (actual), e_ = (expected), t_ = (tol);                                   \
        if (!(fabs(a_ - e_) <= t_))                                                                \
            fail_msg("%s = %.17g, expected %.17g (tolerance %g)", #actual, a_, e_, t_);            \
    } while (0)

/* `needle` occurs in the string `haystack`. */
#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (strstr(h_, n_) == NULL)                                                                \
            fail_msg("\"%s\" does not contain \"%s\"", h_, n_);                                    \
    } while (0)

/* Every element of v[0..n) is finite. */
static inline void assert_all_finite(const float *v, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(v[k]))
            fail_msg("element %lld is %g", (long long)k, (double)v[k]);
}

/* f is the optional action mask every categorical policy loss declares:
 * u8 [num_actions], read in the train phase, optional. */
static inline void assert_mask_field(const lp_field_spec *f) {
    assert_string_equal(f->name, "action_mask");
    assert_int_equal(f->dtype, LP_DTYPE_U8);
    assert_int_equal(f->rank, 1);
    assert_int_equal(f->shape[0], LP_DIM_NUM_ACTIONS);
    assert_int_equal(f->access, LP_FIELD_READ | LP_FIELD_OPTIONAL);
    assert_int_equal(f->phase, LP_PHASE_TRAIN);
}

/* The mock host saw no contract breach (lpt_violations) from `in`. */
static inline void assert_contract_kept(const lpt_inst *in) {
    if (lpt_violations(in) != 0)
        fail_msg("contract violation: %s", lpt_last_violation(in));
}

/* lpt_create and lpt_attach of `in` both succeed. */
#define assert_create_attach(in)                                                                   \
    do {                                                                                           \
        lpt_inst *in_ = (in);                                                                      \
        assert_int_equal(lpt_create(in_), LP_OK);                                                  \
        assert_int_equal(lpt_attach(in_), LP_OK);                                                  \
    } while (0)

/* Adds the output "logits" [R, T, A] (f32 values z, gradient g) to `in` and
 * sets the environment's num_actions to A. */
#define assert_add_logits(in, z, g, R, T, A)                                                       \
    do {                                                                                           \
        lpt_inst *il_ = (in);                                                                      \
        const int64_t R_ = (R), T_ = (T), A_ = (A);                                                \
        assert_true(lpt_add_output(il_, "logits", LPT_VIEW(z, LP_DTYPE_F32, R_, T_, A_),           \
                                   LPT_VIEW(g, LP_DTYPE_F32, R_, T_, A_)) >= 0);                   \
        lpt_env(il_)->num_actions = A_;                                                            \
    } while (0)

/* ---- a minibatch owned by the test --------------------------------------------- */

#define LPT_MB_SLOTS 16

/* The minibatch a plugin test builds: an instance of the loss under test and
 * zeroed per-step arrays, [R, T] or [R, T, width], each added to the
 * instance as a field or an output (with its gradient), all freed together
 * by lpt_mb_done. The test keeps typed pointers to the arrays it fills. */
typedef struct lpt_mb {
    lpt_inst *in;
    int64_t R, T;
    void *mem[LPT_MB_SLOTS];
    int n;
} lpt_mb;

/* A new instance `name` of `desc` for minibatches of R rows of T steps;
 * returns the instance (also in m->in). create is not called. */
static inline lpt_inst *lpt_mb_init(lpt_mb *m, const lp_loss_desc *desc, const char *name,
                                    int64_t R, int64_t T) {
    memset(m, 0, sizeof *m);
    m->R = R, m->T = T;
    m->in = lpt_inst_new(desc, name);
    assert_non_null(m->in);
    return m->in;
}

/* Zeroed memory for R * T * (width, or 1 when width is 0) elements of
 * `dtype`, freed by lpt_mb_done. */
static inline void *lpt_mb_alloc(lpt_mb *m, int32_t dtype, int64_t width) {
    assert_true(m->n < LPT_MB_SLOTS);
    const size_t n = (size_t)(m->R * m->T * (width > 0 ? width : 1));
    void *p = calloc(n > 0 ? n : 1, lp_dtype_size(dtype));
    assert_non_null(p);
    m->mem[m->n++] = p;
    return p;
}

/* A per-step field `name` of `dtype`, [R, T] (width 0) or [R, T, width]:
 * zeroed, added to the instance; returns its data. */
static inline void *lpt_mb_field(lpt_mb *m, const char *name, int32_t dtype, int64_t width) {
    void *p = lpt_mb_alloc(m, dtype, width);
    lp_tensor v =
        width > 0 ? LPT_VIEW(p, dtype, m->R, m->T, width) : LPT_VIEW(p, dtype, m->R, m->T);
    assert_true(lpt_add_field(m->in, name, v) >= 0);
    return p;
}

/* A model output `name`, f32 [R, T] (width 0) or [R, T, width], and its
 * gradient (*grad): zeroed, added to the instance; returns the values. */
static inline float *lpt_mb_output(lpt_mb *m, const char *name, int64_t width, float **grad) {
    float *v = lpt_mb_alloc(m, LP_DTYPE_F32, width);
    float *g = lpt_mb_alloc(m, LP_DTYPE_F32, width);
    lp_tensor tv = width > 0 ? LPT_VIEW(v, LP_DTYPE_F32, m->R, m->T, width)
                             : LPT_VIEW(v, LP_DTYPE_F32, m->R, m->T);
    lp_tensor tg = width > 0 ? LPT_VIEW(g, LP_DTYPE_F32, m->R, m->T, width)
                             : LPT_VIEW(g, LP_DTYPE_F32, m->R, m->T);
    assert_true(lpt_add_output(m->in, name, tv, tg) >= 0);
    *grad = g;
    return v;
}

/* The output "logits" [R, T, A] (see lpt_mb_output), with the
 * environment's num_actions set to A. */
static inline float *lpt_mb_logits(lpt_mb *m, int64_t A, float **grad) {
    float *z = lpt_mb_output(m, "logits", A, grad);
    lpt_env(m->in)->num_actions = A;
    return z;
}

/* Asserts the plugin kept the contract (assert_contract_kept), then
 * destroys the instance and frees every array. */
static inline void lpt_mb_done(lpt_mb *m) {
    assert_contract_kept(m->in);
    lpt_inst_free(m->in);
    for (int i = 0; i < m->n; i++)
        free(m->mem[i]);
    memset(m, 0, sizeof *m);
}

/* The last value recorded for statistic `key`; fails the test when there is
 * none. */
static inline double stat_last(const lpt_inst *in, const char *key) {
    double v;
    if (lpt_stat(in, key, &v, NULL) < 1)
        fail_msg("no value recorded for stat '%s'", key);
    return v;
}

/* Loads the plugin file `path` and finds its loss `id`: 0, or -1 with the
 * reason on stderr (a group setup's return value). */
static inline int lpt_group_open(const char *path, const char *id, lpt_plugin **pl,
                                 const lp_loss_desc **desc) {
    char err[512];
    *pl = lpt_plugin_open(path, err, sizeof err);
    if (*pl == NULL) {
        fprintf(stderr, "cannot load the plugin: %s\n", err);
        return -1;
    }
    *desc = lpt_plugin_find(*pl, id);
    return *desc != NULL ? 0 : -1;
}

/* For a test of one loss of the plugin the build names in LP_TEST_PLUGIN
 * (tests/plugins/CMakeLists.txt): defines `g_plugin` and `g_desc` (the loss
 * `id`), filled by `group_setup`, which fails the group when either is
 * missing, and `group_teardown`, which closes the plugin. */
#define LPT_PLUGIN_GROUP(id)                                                                       \
    static lpt_plugin *g_plugin;                                                                   \
    static const lp_loss_desc *g_desc;                                                             \
    static int group_setup(void **state) {                                                         \
        (void)state;                                                                               \
        return lpt_group_open(LP_TEST_PLUGIN, (id), &g_plugin, &g_desc);                           \
    }                                                                                              \
    static int group_teardown(void **state) {                                                      \
        (void)state;                                                                               \
        lpt_plugin_close(g_plugin);                                                                \
        return 0;                                                                                  \
    }

#endif /* LPT_ASSERT_H */
