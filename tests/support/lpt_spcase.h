/*
 * lpt_spcase: what the tests of the policy losses on the multi-discrete and
 * box spaces (tests/plugins/test_spaces_*.c) share, next to the float64
 * reference of lpt_spaceref.h: drawing a random sample, and the checks of a
 * value, a stat, a gradient (against central differences of the test's
 * float64 reference, and the plugin's own loss against its gradient) and of
 * the field list. Header-only; each check fails the test with a message
 * naming what and the repetition.
 */
#ifndef LPT_SPCASE_H
#define LPT_SPCASE_H

#include <lpt_assert.h>
#include <lpt_spaceref.h>

/* One sample: outputs z[width] (f32) drawn by lpt_sp_random, zd the same
 * values read back in f64; the action as i32 (ai), f32 (af) and f64 (ad:
 * for a box the f32 value, so that the reference sees what the plugin
 * sees). ai and af may be NULL (a sample without an action). */
static inline void lpt_sp_draw(const lpt_sp *s, lpt_rng *r, float *z, double *zd, int32_t *ai,
                               float *af, double *ad) {
    double a[LPT_SP_MAX];
    lpt_sp_random(s, r, zd, a);
    for (int64_t j = 0; j < s->width; j++) {
        z[j] = (float)zd[j];
        zd[j] = z[j];
    }
    for (int32_t k = 0; k < s->dims; k++) {
        if (ai != NULL)
            ai[k] = (int32_t)a[k];
        if (af != NULL)
            af[k] = (float)a[k];
        if (ad != NULL)
            ad[k] = s->space == LP_ACTION_BOX ? (double)(float)a[k] : a[k];
    }
}

/* |got - want| <= 1e-5 * max(1, |want|). */
static inline void lpt_sp_expect_near(const char *what, double got, double want, int rep) {
    if (!(fabs(got - want) <= 1e-5 * fmax(1.0, fabs(want))))
        fail_msg("%s %.9g, reference %.9g (rep %d)", what, got, want, rep);
}

/* The stat `key` equals the mean over the M samples of zd (rows of width)
 * of the reference entropy (mask: rows of width, may be NULL). */
static inline void lpt_sp_expect_entropy(lpt_inst *in, const char *key, const lpt_sp *s,
                                         const double *zd, const uint8_t *mask, int M, int rep) {
    double H = 0.0, stat = 0.0;
    for (int i = 0; i < M; i++)
        H += lpt_sp_entropy(s, zd + i * s->width, mask != NULL ? mask + i * s->width : NULL);
    assert_int_equal(lpt_stat(in, key, &stat, NULL), 1);
    lpt_sp_expect_near(key, stat, H / M, rep);
}

/* Multi-discrete: how many of the M samples have every component's argmax
 * (over its allowed actions, ties to the lowest index) equal to the
 * action ai (rows of dims); mask (rows of width) may be NULL. */
static inline int lpt_sp_exact_matches(const lpt_sp *s, const double *zd, const uint8_t *mask,
                                       const int32_t *ai, int M) {
    int correct = 0;
    for (int i = 0; i < M; i++) {
        int all = 1;
        int64_t o = 0;
        for (int32_t k = 0; k < s->dims; o += s->nvec[k], k++) {
            int64_t best = -1;
            for (int64_t j = 0; j < s->nvec[k]; j++) {
                const int64_t q = i * s->width + o + j;
                if ((mask == NULL || mask[q]) && (best < 0 || zd[q] > zd[i * s->width + o + best]))
                    best = j;
            }
            all &= best == ai[i * s->dims + k];
        }
        correct += all;
    }
    return correct;
}

/* The analytic gradient g[n] (f32, as the plugin wrote it, times
 * inv_weight) against central differences (h 1e-6) of the float64
 * reference ref at x[n], within 1e-5 relative (of the largest entry, for
 * the absolute part). mask (may be NULL): where 0, the reference ignores
 * the entry and the gradient must be exactly 0. */
static inline void lpt_sp_expect_grad(const char *what, lpt_scalar_fn ref, void *ctx, double *x,
                                      const float *g, size_t n, double inv_weight,
                                      const uint8_t *mask, int rep) {
    double *num = calloc(n, sizeof *num), *ga = calloc(n, sizeof *ga), gmax = 0.0;
    assert_true(num != NULL && ga != NULL);
    lpt_fd_grad(ref, ctx, x, n, 1e-6, num);
    for (size_t j = 0; j < n; j++) {
        if (mask != NULL && mask[j] == 0) {
            assert_true(g[j] == 0.0f);
            num[j] = 0.0;
        }
        ga[j] = (double)g[j] * inv_weight;
        gmax = fmax(gmax, fabs(num[j]));
    }
    size_t worst = 0;
    double maxabs = 0.0;
    const size_t bad = lpt_grad_compare(ga, num, n, 1e-5 * gmax, 1e-5, &worst, &maxabs);
    const double w_ana = ga[worst], w_num = num[worst];
    free(num);
    free(ga);
    if (bad != 0)
        fail_msg("%s gradient element %zu: %.9g, reference %.9g (rep %d)", what, worst, w_ana,
                 w_num, rep);
}

/* The plugin's own loss, differentiated numerically through out[n] (f32:
 * h 1e-2), against the gradient it writes into grad[n] (zeroed here). */
static inline void lpt_sp_expect_own_grad(lpt_inst *in, const char *what, float *out, float *grad,
                                          size_t n, int rep) {
    memset(grad, 0, n * sizeof *grad);
    lpt_own_grad og;
    if (lpt_check_own_gradient(in, out, grad, n, 1e-2, 2e-3, 2e-2, &og) != 0)
        fail_msg("own %s gradient element %zu: %.6g vs %.6g (rc %d, rep %d)", what, og.worst,
                 og.analytic, og.numeric, (int)og.rc, rep);
}

/* The field list follows the space: `action` (NULL: none) is i32 [ACTION]
 * (multi-discrete) or f32 [ACTION] (box), action_mask is declared on a
 * multi-discrete space only (when the loss has one: has_mask), and no field
 * keeps the NUM_ACTIONS dimension (POLICY instead). */
static inline void lpt_sp_expect_fields(lpt_inst *in, const char *action, const lpt_sp *s,
                                        int has_mask) {
    const lp_field_spec *specs = NULL;
    uint32_t count = 0;
    assert_int_equal(lpt_fields(in, &specs, &count), LP_OK);
    int saw_mask = 0, saw_action = 0;
    for (uint32_t i = 0; i < count; i++) {
        const int is_mask = strcmp(specs[i].name, "action_mask") == 0;
        if (action != NULL && strcmp(specs[i].name, action) == 0) {
            saw_action = 1;
            assert_int_equal(specs[i].dtype,
                             s->space == LP_ACTION_BOX ? LP_DTYPE_F32 : LP_DTYPE_I32);
            assert_int_equal(specs[i].rank, 1);
            assert_true(specs[i].shape[0] == LP_DIM_ACTION);
        }
        for (int32_t d = 0; !is_mask && d < specs[i].rank; d++)
            assert_true(specs[i].shape[d] != LP_DIM_NUM_ACTIONS);
        saw_mask |= is_mask;
    }
    assert_int_equal(saw_action, action != NULL);
    assert_int_equal(saw_mask, has_mask && s->space == LP_ACTION_MULTI_DISCRETE);
}

#endif /* LPT_SPCASE_H */
