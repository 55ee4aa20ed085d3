/*
 * lpt_assert: cmocka glue shared by the plugin unit tests (tests/plugins).
 * Header-only; includes lpt.h and cmocka (with what cmocka needs first).
 *
 *     LPT_PLUGIN_GROUP("my_loss")   // g_plugin, g_desc, group_setup/teardown
 *     ...
 *     assert_near(res.loss, 0.25, 1e-6);
 *     assert_contains(lpt_last_error(in), "'teacher_actions'");
 *     ...
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
