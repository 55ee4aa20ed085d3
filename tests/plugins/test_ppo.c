/*
 * Unit tests of plugins/ppo, through its built .so and the mock host of
 * tests/support (lpt.h).
 *
 *   ratio = exp(min(log p_a - old_logp, 20))
 *   L = mean max(-A ratio, -A clip(ratio, 1-eps, 1+eps)) - ent_coef mean H
 *   dL/dz_j = -(A ratio m / M)(1[j=a] - p_j) + (ent_coef / M) p_j (log p_j + H)
 */
#include <lpt_assert.h>
#include <lpt_catref.h>

#include "../../plugins/common/lp_vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LPT_PLUGIN_GROUP("ppo")

/* ---- a minibatch owned by the test ------------------------------------------ */

typedef struct mb {
    int64_t R, T, A, M;
    float *z, *g;           /* logits [R, T, A] and their gradient */
    float *adv, *old, *rat; /* [R, T] */
    int32_t *a;             /* [R, T] */
    lpt_inst *in;
    lpt_mb m; /* owns the instance and the arrays */
} mb;

static void mb_init(mb *b, int64_t R, int64_t T, int64_t A) {
    b->R = R, b->T = T, b->A = A, b->M = R * T;
    b->in = lpt_mb_init(&b->m, g_desc, "actor", R, T);
    b->adv = lpt_mb_field(&b->m, "advantages", LP_DTYPE_F32, 0);
    b->a = lpt_mb_field(&b->m, "actions", LP_DTYPE_I32, 0);
    b->old = lpt_mb_field(&b->m, "logprobs", LP_DTYPE_F32, 0);
    b->rat = lpt_mb_field(&b->m, "ratios", LP_DTYPE_F32, 0);
    b->z = lpt_mb_logits(&b->m, A, &b->g);
}

static void mb_start(mb *b) {
    assert_create_attach(b->in);
}

static void mb_done(mb *b) {
    lpt_mb_done(&b->m);
}

/* ---- a double-precision reference, written from the formula ------------------ */

typedef struct ref {
    int64_t M, A;
    const int32_t *a;
    const float *old;
    double *an; /* advantages as the loss uses them (normalised or not) */
    double eps, ent;
} ref;

static void ref_advantages(ref *r, const float *adv, int norm) {
    double mean = 0.0, ss = 0.0;
    for (int64_t i = 0; i < r->M; i++)
        mean += adv[i];
    mean /= (double)r->M;
    for (int64_t i = 0; i < r->M; i++)
        ss += (adv[i] - mean) * (adv[i] - mean);
    const double std = r->M > 1 ? sqrt(ss / (double)(r->M - 1)) : 0.0;
    for (int64_t i = 0; i < r->M; i++)
        r->an[i] = norm ? (adv[i] - mean) / (std + 1e-8) : adv[i];
}

/* log-ratio of sample i (clamped at 20, as the plugin documents), and the
 * softmax pieces. */
static double ref_logratio(const ref *r, const double *zi, int64_t i, double *ls_out,
                           double *m_out) {
    double m = zi[0], s = 0.0;
    for (int64_t j = 1; j < r->A; j++)
        m = fmax(m, zi[j]);
    for (int64_t j = 0; j < r->A; j++)
        s += exp(zi[j] - m);
    *ls_out = log(s);
    *m_out = m;
    return (zi[r->a[i]] - m - log(s)) - r->old[i];
}

static double ref_loss(const double *z, size_t n, void *ctx) {
    const ref *r = ctx;
    (void)n;
    double pg = 0.0, ent = 0.0;
    for (int64_t i = 0; i < r->M; i++) {
        const double *zi = z + i * r->A;
        double ls, m;
        const double lr = fmin(ref_logratio(r, zi, i, &ls, &m), 20.0);
        const double ratio = exp(lr);
        const double rc = fmin(fmax(ratio, 1.0 - r->eps), 1.0 + r->eps);
        pg += fmax(-r->an[i] * ratio, -r->an[i] * rc);
        for (int64_t j = 0; j < r->A; j++) {
            const double lp = zi[j] - m - ls;
            if (lp > -INFINITY) /* a masked action (-inf logit) adds 0 log 0 = 0 */
                ent -= exp(lp) * lp;
        }
    }
    return pg / (double)r->M - r->ent * ent / (double)r->M;
}

/* The gradient of ref_loss from the formula at the top of this file, in
 * double: dL/dz_j = -(A ratio m / M)(1[j = a] - p_j) + (ent / M) p_j (log p_j + H),
 * m = 0 where the clipped term is the strict max or the log-ratio is past its
 * clamp; masked actions (p_j = 0) get 0. */
static void ref_grad(const ref *r, const double *z, double *g) {
    for (int64_t i = 0; i < r->M; i++) {
        const double *zi = z + i * r->A;
        double ls, m;
        const double lr_raw = ref_logratio(r, zi, i, &ls, &m);
        const double ratio = exp(fmin(lr_raw, 20.0));
        const double rc = fmin(fmax(ratio, 1.0 - r->eps), 1.0 + r->eps);
        const double u = -r->an[i] * ratio, c = -r->an[i] * rc;
        const double kp = u < c || lr_raw > 20.0 ? 0.0 : r->an[i] * ratio / (double)r->M;
        double H = 0.0;
        for (int64_t j = 0; j < r->A; j++) {
            const double lp = zi[j] - m - ls;
            if (lp > -INFINITY)
                H -= exp(lp) * lp;
        }
        for (int64_t j = 0; j < r->A; j++) {
            const double lp = zi[j] - m - ls, p = exp(lp);
            double gj = -kp * ((j == r->a[i] ? 1.0 : 0.0) - p);
            if (p > 0.0)
                gj += r->ent / (double)r->M * p * (lp + H);
            g[i * r->A + j] = gj;
        }
    }
}

/* ---- the descriptor ------------------------------------------------------------ */

static void test_descriptor(void **state) {
    (void)state;
    const lp_entry *e = lpt_plugin_entry(g_plugin);
    assert_int_equal(e->abi_major, LP_ABI_MAJOR);
    assert_int_equal(e->loss_count(), 1);
    assert_string_equal(g_desc->id, "ppo");
    assert_true(g_desc->summary != NULL && g_desc->summary[0] != '\0');

    static const struct {
        const char *name;
        int32_t type;
        double def, min, max;
    } want[] = {{"clip_coef", LP_PARAM_FLOAT, 0.2, 0.0, 10.0},
                {"ent_coef", LP_PARAM_FLOAT, 0.01, 0.0, 1e6},
                {"norm_adv", LP_PARAM_BOOL, 1, 0, 0},
                {"target_kl", LP_PARAM_FLOAT, 0.0, 0.0, 1e6}};
    assert_int_equal(g_desc->param_count, 4);
    for (size_t k = 0; k < 4; k++) {
        const lp_param_spec *p = &g_desc->params[k];
        assert_string_equal(p->name, want[k].name);
        assert_int_equal(p->type, want[k].type);
        assert_true(p->doc != NULL && p->doc[0] != '\0');
        if (p->type == LP_PARAM_BOOL) {
            assert_int_equal(p->default_bool, 1);
        } else {
            assert_near(p->default_float, want[k].def, 0.0);
            assert_near(p->min, want[k].min, 0.0);
            assert_near(p->max, want[k].max, 0.0);
        }
    }

    static const struct {
        const char *name;
        uint32_t access;
        int32_t dtype;
    } fw[] = {{"advantages", LP_FIELD_READ, LP_DTYPE_F32},
              {"actions", LP_FIELD_READ, LP_DTYPE_I32},
              {"logprobs", LP_FIELD_READ, LP_DTYPE_F32},
              {"ratios", LP_FIELD_WRITE, LP_DTYPE_F32}};
    assert_int_equal(g_desc->field_count, 5);
    assert_mask_field(&g_desc->fields[4]);
    for (size_t k = 0; k < 4; k++) {
        const lp_field_spec *f = &g_desc->fields[k];
        assert_string_equal(f->name, fw[k].name);
        assert_int_equal(f->access, fw[k].access);
        assert_int_equal(f->dtype, fw[k].dtype);
        assert_int_equal(f->phase, LP_PHASE_TRAIN);
        assert_int_equal(f->rank, 0);
    }
    assert_string_equal(g_desc->outputs[0], "logits");
    assert_null(g_desc->outputs[1]);
}

/* ---- hand-computed minibatches -------------------------------------------------- */

/*
 * rows 1, horizon 2, A 2, clip 0.2, ent_coef 0.1, norm_adv off, M = 2.
 *   sample 0: z = (0, 0):    p = (1/2, 1/2), a = 0, log p_a = -ln 2
 *             old = -ln 3 -> ratio = (1/2) / (1/3) = 1.5, A = 2
 *             max(-2 * 1.5, -2 * 1.2) = max(-3, -2.4) = -2.4 (clipped, m = 0)
 *   sample 1: z = (ln 3, 0): p = (3/4, 1/4), a = 1, log p_a = -ln 4
 *             old = ln(0.25 / 0.9) -> ratio = 0.9, A = 1
 *             max(-0.9, -0.9) = -0.9 (inside the range, m = 1)
 *   L_pg = (-2.4 - 0.9) / 2 = -1.65
 *   H0 = ln 2, H1 = -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623351446188083
 *   L = -1.65 - 0.1 (H0 + H1) / 2 = -1.65 - 0.0627741... = -1.7127741...
 *   gradient (weight 1):
 *     sample 0: policy part 0 (m = 0); entropy part
 *               0.05 * p_j (log p_j + H0) = 0.05 * 1/2 (-ln 2 + ln 2) = 0
 *     sample 1: policy part -(1 * 0.9 / 2) (onehot(1) - p) = -0.45 (-3/4, 3/4)
 *                           = (0.3375, -0.3375)
 *               entropy part 0.05 (3/4 (ln 3/4 + H1), 1/4 (ln 1/4 + H1))
 *                           = 0.05 (0.2059895, -0.2059895) = (0.0102995, -0.0102995)
 *   stats: approx_kl = ((1.5 - 1 - ln 1.5) + (0.9 - 1 - ln 0.9)) / 2 = 0.0499477
 *          old_approx_kl = (-ln 1.5 - ln 0.9) / 2 = -0.1500523
 *          clipfrac = 1/2 (1.5 is outside [0.8, 1.2]), importance = 1.2
 */
static void hand_batch(mb *b) {
    mb_init(b, 1, 2, 2);
    b->z[0] = 0.0f, b->z[1] = 0.0f;
    b->z[2] = (float)log(3.0), b->z[3] = 0.0f;
    b->a[0] = 0, b->a[1] = 1;
    b->old[0] = (float)-log(3.0);
    b->old[1] = (float)log(0.25 / 0.9);
    b->adv[0] = 2.0f, b->adv[1] = 1.0f;
    assert_int_equal(lpt_set_b(b->in, "norm_adv", 0), 0);
    assert_int_equal(lpt_set_f(b->in, "ent_coef", 0.1), 0);
    mb_start(b);
}

static double hand_h1(void) {
    return -(0.75 * log(0.75) + 0.25 * log(0.25));
}

static void test_hand_value_gradient_stats(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double h0 = log(2.0), h1 = hand_h1();
    assert_near(res.loss, -1.65 - 0.1 * (h0 + h1) / 2.0, 1e-6);
    assert_int_equal(res.stop, 0);
    const double e1 = 0.05 * 0.75 * (log(0.75) + h1);
    const double want[4] = {0.0, 0.0, 0.3375 + e1, -0.3375 - e1};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], want[k], 1e-6);
    assert_near(b.rat[0], 1.5, 1e-6);
    assert_near(b.rat[1], 0.9, 1e-6);
    assert_near(stat_last(b.in, "policy_loss"), -1.65, 1e-6);
    assert_near(stat_last(b.in, "entropy"), (h0 + h1) / 2.0, 1e-6);
    assert_near(stat_last(b.in, "approx_kl"), ((0.5 - log(1.5)) + (-0.1 - log(0.9))) / 2.0, 1e-6);
    assert_near(stat_last(b.in, "old_approx_kl"), (-log(1.5) - log(0.9)) / 2.0, 1e-6);
    assert_near(stat_last(b.in, "clipfrac"), 0.5, 0.0);
    assert_near(stat_last(b.in, "importance"), 1.2, 1e-6);
    mb_done(&b);
}

/*
 * The same minibatch with norm_adv on and ent_coef 0: advantages (2, 1) have
 * mean 1.5 and unbiased std sqrt(0.25 + 0.25) = 0.70710678, so
 * A_n = +-0.5 / (0.70710678 + 1e-8) = +-0.70710677.
 *   sample 0: A = +0.7071, ratio 1.5 -> clipped: -0.7071 * 1.2 = -0.8485281
 *   sample 1: A = -0.7071, ratio 0.9 (inside): 0.7071 * 0.9 = 0.6363961
 *   L = (-0.8485281 + 0.6363961) / 2 = -0.1060660
 *   gradient of sample 1: -(-0.7071 * 0.9 / 2)(onehot(1) - p)
 *                       = 0.3181981 (-3/4, 3/4) = (-0.2386485, 0.2386485)
 */
static void test_hand_normalised(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 1), 0);
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    const double an = 0.5 / (sqrt(0.5) + 1e-8);
    assert_near(res.loss, (-an * 1.2 + an * 0.9) / 2.0, 1e-6);
    const double g1 = an * 0.9 / 2.0 * 0.75;
    const double want[4] = {0.0, 0.0, -g1, g1};
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], want[k], 1e-6);
    mb_done(&b);
}

/* ---- gradient against central differences, many seeds ---------------------------- */

/* log p(a_i) of sample i under the batch's logits, in double (ref_logratio
 * with an old log-probability of 0). */
static double ref_logp_of(const mb *b, int64_t i) {
    double zi[64], ls, m;
    for (int64_t j = 0; j < b->A; j++)
        zi[j] = b->z[i * b->A + j];
    const float zero = 0.0f;
    const ref r0 = {1, b->A, &b->a[i], &zero, NULL, 0, 0};
    return ref_logratio(&r0, zi, 0, &ls, &m);
}

/* Random logits (mode 0..3 as in action_supervised's test: 3 is +-1e4 with
 * ties), actions, advantages, and old log-probs that put the ratios on both
 * sides of the clip range, sometimes near 0 and sometimes beyond the
 * log-ratio clamp; never within `margin` of a kink, where a central
 * difference would straddle it. */
static void fill_random(mb *b, lpt_rng *rng, int mode, double eps) {
    const double scale = mode == 0 ? 0.5 : mode == 1 ? 3.0 : 20.0;
    for (int64_t k = 0; k < b->M * b->A; k++)
        b->z[k] = mode == 3 ? (float)(lpt_rng_int(rng, 0, 2) - 1) * 1e4f
                            : (float)(scale * lpt_rng_normal(rng));
    const double margin = mode == 3 ? 0.02 : 2e-3;
    for (int64_t i = 0; i < b->M; i++) {
        b->a[i] = (int32_t)lpt_rng_int(rng, 0, b->A - 1);
        b->adv[i] = (float)(lpt_rng_normal(rng) * 2.0 + 0.3);
        const double logp = ref_logp_of(b, i);
        for (;;) {
            const int kind = (int)lpt_rng_int(rng, 0, 9);
            const double lr = kind == 0   ? 25.0 + lpt_rng_uniform(rng, 0, 5)
                              : kind == 1 ? -30.0
                                          : 0.35 * lpt_rng_normal(rng);
            b->old[i] = (float)(logp - lr);
            const double lr_f = logp - (double)b->old[i];
            const double ratio = exp(fmin(lr_f, 20.0));
            if (fabs(ratio - (1.0 + eps)) > margin && fabs(ratio - (1.0 - eps)) > margin &&
                fabs(lr_f - 20.0) > 0.05)
                break;
        }
    }
}

static void test_gradient_finite_differences(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        lpt_rng rng = lpt_rng_seed(seed);
        const int64_t R = lpt_rng_int(&rng, 1, 4), T = lpt_rng_int(&rng, 1, 5);
        const int64_t A = lpt_rng_int(&rng, 1, 20);
        const int mode = (int)(seed % 4);
        const double eps = lpt_rng_uniform(&rng, 0.05, 0.4);
        const double ent = seed % 5 == 0 ? 0.0 : lpt_rng_uniform(&rng, 0.0, 0.5);
        const int norm = seed % 3 != 0;
        const float weight = (float)lpt_rng_uniform(&rng, 0.1, 3.0);
        mb b;
        mb_init(&b, R, T, A);
        fill_random(&b, &rng, mode, eps);
        assert_int_equal(lpt_set_f(b.in, "clip_coef", eps), 0);
        assert_int_equal(lpt_set_f(b.in, "ent_coef", ent), 0);
        assert_int_equal(lpt_set_b(b.in, "norm_adv", norm), 0);
        mb_start(&b);
        lp_train_result res;
        assert_int_equal(lpt_train(b.in, weight, &res), LP_OK);

        const size_t n = (size_t)(b.M * A);
        double *x = malloc(n * sizeof *x), *fd = malloc(n * sizeof *fd);
        double *an = malloc(n * sizeof *an), *adv = malloc((size_t)b.M * sizeof *adv);
        assert_true(x && fd && an && adv);
        for (size_t k = 0; k < n; k++) {
            x[k] = b.z[k];
            an[k] = b.g[k];
        }
        ref r = {b.M, A, b.a, b.old, adv, eps, ent};
        ref_advantages(&r, b.adv, norm);
        const double want = ref_loss(x, n, &r);
        const double rtol = mode == 3 ? 1e-2 : 1e-4;
        if (!(fabs(res.loss - want) <= 1e-5 + rtol * fabs(want)))
            fail_msg("seed %llu: loss %.9g, reference %.9g", (unsigned long long)seed, res.loss,
                     want);
        double amax = 0.0;
        for (int64_t i = 0; i < b.M; i++) {
            double ls, m;
            const double lr = fmin(ref_logratio(&r, x + i * A, i, &ls, &m), 20.0);
            if (!(fabs(b.rat[i] - exp(lr)) <= rtol * exp(lr)))
                fail_msg("seed %llu: ratio[%lld] %.9g, reference %.9g", (unsigned long long)seed,
                         (long long)i, (double)b.rat[i], exp(lr));
            amax = fmax(amax, fabs(adv[i]) * exp(lr));
        }
        lpt_fd_grad(ref_loss, &r, x, n, 1e-5, fd);
        for (size_t k = 0; k < n; k++)
            fd[k] *= weight;
        const double scale = weight * (amax + ent + 1.0) / (double)b.M;
        size_t worst;
        double max_abs;
        size_t bad = lpt_grad_compare(an, fd, n, 2e-5 * scale, rtol, &worst, &max_abs);
        if (bad != 0)
            fail_msg("seed %llu (R %lld T %lld A %lld mode %d): %zu gradient elements off; worst "
                     "[%zu] analytic %.9g, finite differences %.9g",
                     (unsigned long long)seed, (long long)R, (long long)T, (long long)A, mode, bad,
                     worst, an[worst], fd[worst]);
        for (size_t k = 0; k < n; k++)
            if (!isfinite(b.g[k]))
                fail_msg("seed %llu: gradient [%zu] is %g", (unsigned long long)seed, k,
                         (double)b.g[k]);
        free(x);
        free(fd);
        free(an);
        free(adv);
        mb_done(&b);
    }
}

/* The plugin's own loss, differentiated numerically (in f32, so a coarse
 * step), agrees with its own gradient: value and gradient are one function. */
static void test_gradient_of_plugin_loss(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        lpt_rng rng = lpt_rng_seed(500 + seed);
        mb b;
        mb_init(&b, lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 1, 3), lpt_rng_int(&rng, 2, 6));
        fill_random(&b, &rng, 0, 0.2);
        /* ratios well inside or well outside the range: a step of 1e-2 in
         * the logits moves a ratio by about 1% */
        for (int64_t i = 0; i < b.M; i++) {
            const double lrs[3] = {0.0, 0.5, -0.5};
            b.old[i] = (float)(ref_logp_of(&b, i) - lrs[i % 3]);
        }
        assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.05), 0);
        mb_start(&b);
        lpt_own_grad og;
        const size_t bad = lpt_check_own_gradient(b.in, b.z, b.g, (size_t)(b.M * b.A), 1e-2,
                                                  2e-3 / (double)b.M, 2e-3, &og);
        assert_int_equal(og.rc, LP_OK);
        if (bad != 0)
            fail_msg("seed %llu: [%zu] analytic %.9g, plugin finite differences %.9g",
                     (unsigned long long)seed, og.worst, og.analytic, og.numeric);
        mb_done(&b);
    }
}

/* ---- ratios exactly on the clip boundary ------------------------------------------ */

/* Moves old_logp one f32 step at a time until the plugin's own ratio equals
 * `target` exactly (the plugin's exp is its own, so the test searches with
 * it rather than predicting it). Weight 0: nothing is added to the
 * gradient while searching. */
static void land_ratio_on(mb *b, float target) {
    for (int it = 0; it < 100000; it++) {
        assert_int_equal(lpt_train(b->in, 0.0f, NULL), LP_OK);
        if (b->rat[0] == target)
            return;
        b->old[0] = nextafterf(b->old[0], b->rat[0] < target ? -INFINITY : INFINITY);
    }
    fail_msg("no f32 old_logp gives a ratio of exactly %.9g", (double)target);
}

/*
 * One sample, A = 3, z = (3, -0.2, 0.1), a = 0 (log p_a = -0.0914, so that
 * old_logp is small and its f32 steps move the ratio by less than one ulp), advantage +-1.5
 * (norm_adv off), ent_coef 0, clip 0.2. At ratio == 1 + eps (A > 0) and ratio == 1 - eps (A < 0)
 * both terms of the max are equal; the plugin takes the unclipped one, as losses.md's mask says (m
 * = 0 only strictly outside), so the gradient is -(A ratio)(onehot - p) and clipfrac counts
 * nothing. One f32 step further out, m = 0: no policy gradient, clipfrac 1.
 */
static void boundary_case(float adv, int upper) {
    mb b;
    mb_init(&b, 1, 1, 3);
    const float z[3] = {3.0f, -0.2f, 0.1f};
    memcpy(b.z, z, sizeof z);
    b.a[0] = 0;
    b.adv[0] = adv;
    double p[3], s = 0.0;
    for (int j = 0; j < 3; j++)
        s += (p[j] = exp((double)z[j]));
    for (int j = 0; j < 3; j++)
        p[j] /= s;
    const float bound = upper ? (float)(1.0 + 0.2) : (float)(1.0 - 0.2);
    b.old[0] = (float)(log(p[0]) - log((double)bound));
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 0), 0);
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
    mb_start(&b);
    land_ratio_on(&b, bound);

    lp_train_result res;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_true(b.rat[0] == bound);
    for (int j = 0; j < 3; j++)
        assert_near(b.g[j], -(adv * (double)bound) * ((j == 0) - p[j]), 1e-6);
    assert_near(res.loss, -(double)adv * (double)bound, 1e-6);
    assert_near(stat_last(b.in, "clipfrac"), 0.0, 0.0);

    /* one f32 step further out (the old log-prob one step the other way) */
    memset(b.g, 0, sizeof(float) * 3);
    const float old_at = b.old[0];
    while (b.rat[0] == bound) {
        b.old[0] = nextafterf(b.old[0], upper ? -INFINITY : INFINITY);
        assert_int_equal(lpt_train(b.in, 0.0f, NULL), LP_OK);
    }
    assert_true(upper ? b.rat[0] > bound : b.rat[0] < bound);
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    for (int j = 0; j < 3; j++)
        assert_near(b.g[j], 0.0, 0.0);
    assert_near(res.loss, -(double)adv * (double)bound, 1e-6); /* the clipped term */
    assert_near(stat_last(b.in, "clipfrac"), 1.0, 0.0);
    (void)old_at;
    mb_done(&b);
}

static void test_ratio_on_upper_bound(void **state) {
    (void)state;
    boundary_case(1.5f, 1);
}

static void test_ratio_on_lower_bound(void **state) {
    (void)state;
    boundary_case(-1.5f, 0);
}

/* ---- target_kl ---------------------------------------------------------------------- */

/* The hand batch has approx_kl = 0.0499477. */
static void test_target_kl_stop_at_last_minibatch(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    lp_ctx *ctx = lpt_ctx(b.in);
    lp_train_result res;
    ctx->minibatch_count = 4;

    /* default 0: disabled, even at the last minibatch */
    ctx->minibatch = 3;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_int_equal(res.stop, 0);

    assert_int_equal(lpt_set_f(b.in, "target_kl", 0.01), 0);
    for (int k = 0; k < 3; k++) {
        ctx->minibatch = k;
        assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
        assert_int_equal(res.stop, 0); /* not the last minibatch */
    }
    ctx->minibatch = 3;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_int_equal(res.stop, 1);

    /* above the minibatch's approx_kl: no stop */
    assert_int_equal(lpt_set_f(b.in, "target_kl", 0.06), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_int_equal(res.stop, 0);
    assert_int_equal(lpt_set_f(b.in, "target_kl", 0.049), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_int_equal(res.stop, 1);

    /* one minibatch per epoch: every call is the last */
    ctx->minibatch_count = 1;
    ctx->minibatch = 0;
    assert_int_equal(lpt_train(b.in, 1.0f, &res), LP_OK);
    assert_int_equal(res.stop, 1);
    mb_done(&b);
}

/* ---- weight, parameters read at call time -------------------------------------------- */

static void random_batch(mb *b, uint64_t seed, int64_t R, int64_t T, int64_t A) {
    lpt_rng rng = lpt_rng_seed(seed);
    mb_init(b, R, T, A);
    fill_random(b, &rng, 1, 0.2);
}

static void test_weight_scaling(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 7, 3, 4, 5);
    mb_start(&b);
    const size_t n = (size_t)(b.M * b.A);
    float g1[60];
    lp_train_result r1, r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r1), LP_OK);
    memcpy(g1, b.g, n * sizeof *g1);
    double norm = 0.0;
    for (size_t k = 0; k < n; k++)
        norm += fabs(g1[k]);
    assert_true(norm > 1e-3);
    const float weights[] = {2.5f, 0.0f, -1.0f, 1e-3f};
    for (size_t w = 0; w < LP_COUNT_OF(weights); w++) {
        memset(b.g, 0, n * sizeof *b.g);
        assert_int_equal(lpt_train(b.in, weights[w], &r), LP_OK);
        assert_near(r.loss, r1.loss, 1e-12);
        for (size_t k = 0; k < n; k++)
            assert_near(b.g[k], weights[w] * g1[k], 1e-5 * (fabs(weights[w] * g1[k]) + 1e-6));
    }
    mb_done(&b);
}

/* The host anneals parameters in place after create: each train call reads
 * them again. */
static void test_params_read_at_call_time(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 11, 2, 3, 4);
    mb_start(&b);
    const size_t n = (size_t)(b.M * b.A);
    double x[24], adv[6];
    for (size_t k = 0; k < n; k++)
        x[k] = b.z[k];
    const struct {
        double eps, ent;
        int norm;
    } cases[] = {{0.2, 0.01, 1}, {0.05, 0.0, 1}, {0.3, 0.5, 0}, {0.1, 0.2, 1}};
    for (size_t c = 0; c < LP_COUNT_OF(cases); c++) {
        assert_int_equal(lpt_set_f(b.in, "clip_coef", cases[c].eps), 0);
        assert_int_equal(lpt_set_f(b.in, "ent_coef", cases[c].ent), 0);
        assert_int_equal(lpt_set_b(b.in, "norm_adv", cases[c].norm), 0);
        lp_train_result r;
        memset(b.g, 0, n * sizeof *b.g);
        assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
        ref rf = {b.M, b.A, b.a, b.old, adv, cases[c].eps, cases[c].ent};
        ref_advantages(&rf, b.adv, cases[c].norm);
        assert_near(r.loss, ref_loss(x, n, &rf), 1e-5 * (1.0 + fabs(r.loss)));
    }
    mb_done(&b);
}

/* ---- fields: written ratios, strided views, accumulation --------------------------- */

static void test_strided_fields_and_accumulation(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 5, 2, 3, 4);
    /* every per-sample field interleaved with a sentinel */
    int32_t pa[12];
    float padv[12], pold[12], prat[12];
    for (int64_t i = 0; i < b.M; i++) {
        pa[2 * i] = b.a[i], pa[2 * i + 1] = 99;
        padv[2 * i] = b.adv[i], padv[2 * i + 1] = 1e30f;
        pold[2 * i] = b.old[i], pold[2 * i + 1] = NAN;
        prat[2 * i] = -1.0f, prat[2 * i + 1] = -7.0f;
    }
    const int64_t shape[2] = {2, 3};
    lp_tensor va = lp_tensor_make(pa, LP_DTYPE_I32, 2, shape);
    lp_tensor vd = lp_tensor_make(padv, LP_DTYPE_F32, 2, shape);
    lp_tensor vo = lp_tensor_make(pold, LP_DTYPE_F32, 2, shape);
    lp_tensor vr = lp_tensor_make(prat, LP_DTYPE_F32, 2, shape);
    lp_tensor *vs[4] = {&va, &vd, &vo, &vr};
    for (int k = 0; k < 4; k++)
        vs[k]->strides[0] = 6, vs[k]->strides[1] = 2;
    assert_true(lpt_add_field(b.in, "actions", va) >= 0);
    assert_true(lpt_add_field(b.in, "advantages", vd) >= 0);
    assert_true(lpt_add_field(b.in, "logprobs", vo) >= 0);
    assert_true(lpt_add_field(b.in, "ratios", vr) >= 0);
    mb_start(&b);
    for (int k = 0; k < 24; k++)
        b.g[k] = 7.0f;
    lp_train_result rs;
    assert_int_equal(lpt_train(b.in, 1.0f, &rs), LP_OK);

    double x[24], adv[6];
    for (int k = 0; k < 24; k++)
        x[k] = b.z[k];
    ref r = {b.M, b.A, b.a, b.old, adv, 0.2, 0.01};
    ref_advantages(&r, b.adv, 1);
    const double want = ref_loss(x, 24, &r);
    assert_near(rs.loss, want, 1e-6 * (1.0 + fabs(want)));
    for (int64_t i = 0; i < b.M; i++) {
        double ls, m;
        const double rt = exp(fmin(ref_logratio(&r, x + i * 4, i, &ls, &m), 20.0));
        assert_near(prat[2 * i], rt, 1e-5 * rt);
        assert_near(prat[2 * i + 1], -7.0, 0.0); /* the sentinel is untouched */
    }
    /* The gradient was added to what was there. */
    float g1[24];
    memcpy(g1, b.g, sizeof g1);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_OK);
    for (int k = 0; k < 24; k++)
        assert_near(b.g[k] - 7.0, 2.0 * (g1[k] - 7.0), 1e-5 * (1.0 + fabs(g1[k] - 7.0)));
    mb_done(&b);
}

/* ---- edge cases ------------------------------------------------------------------------ */

/*
 * Logits +-1e4, norm_adv off, ent_coef 0.01, clip 0.2, M = 3, A = 2:
 *   sample 0: z = (1e4, -1e4), a = 1: log p_a = -2e4, old = 0:
 *             log-ratio -2e4, ratio 0; A = 1: max(-0, -0.8) = 0
 *             approx_kl term (0 - 1) + 2e4 = 19999, old_approx_kl term 2e4
 *   sample 1: z = (1e4, -1e4), a = 0: log p_a = 0, old = -2e4: log-ratio 2e4,
 *             clamped at 20: ratio e^20; A = -1: max(e^20, 1.2) = e^20 and no
 *             gradient (beyond the clamp); approx_kl term e^20 - 21
 *   sample 2: z = (1e4, 1e4), a = 0: p = (1/2, 1/2), old = -ln 2: ratio 1;
 *             A = 2: -2, gradient -(2/3)(1/2, -1/2)
 *   entropy: 0, 0, ln 2
 */
static void test_extreme_logits(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 3, 2);
    const float z[6] = {1e4f, -1e4f, 1e4f, -1e4f, 1e4f, 1e4f};
    memcpy(b.z, z, sizeof z);
    const int32_t a[3] = {1, 0, 0};
    memcpy(b.a, a, sizeof a);
    b.old[0] = 0.0f, b.old[1] = -2e4f, b.old[2] = (float)-log(2.0);
    b.adv[0] = 1.0f, b.adv[1] = -1.0f, b.adv[2] = 2.0f;
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 0), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    const double e20 = exp(20.0);
    assert_true(isfinite(r.loss));
    assert_near(r.loss, (0.0 + e20 - 2.0) / 3.0 - 0.01 * log(2.0) / 3.0, 1e-6 * e20);
    assert_all_finite(b.g, 6);
    assert_all_finite(b.rat, 3);
    assert_near(b.rat[0], 0.0, 0.0);
    assert_near(b.rat[1], e20, 1e-6 * e20);
    assert_near(b.rat[2], 1.0, 1e-6);
    const double want[6] = {0.0, 0.0, 0.0, 0.0, -1.0 / 3.0, 1.0 / 3.0};
    for (int k = 0; k < 6; k++)
        assert_near(b.g[k], want[k], 1e-6);
    assert_near(stat_last(b.in, "approx_kl"), (19999.0 + (e20 - 21.0) + 0.0) / 3.0, 1e-6 * e20);
    assert_near(stat_last(b.in, "old_approx_kl"), (2e4 - 20.0) / 3.0, 1e-2);
    assert_near(stat_last(b.in, "entropy"), log(2.0) / 3.0, 1e-6);
    assert_near(stat_last(b.in, "clipfrac"), 2.0 / 3.0, 0.0);
    mb_done(&b);
}

/* One action: log p = 0, p = 1: the gradient is exactly 0, entropy 0. */
static void test_one_action(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 2, 2, 1);
    const float z[4] = {1e4f, -1e4f, 0.0f, 3.5f};
    memcpy(b.z, z, sizeof z);
    const float old[4] = {0.0f, -0.1f, 0.1f, -50.0f};
    memcpy(b.old, old, sizeof old);
    const float adv[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    memcpy(b.adv, adv, sizeof adv);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 2.0f, &r), LP_OK);
    assert_true(isfinite(r.loss));
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 0.0, 0.0);
    assert_near(stat_last(b.in, "entropy"), 0.0, 0.0);
    assert_near(b.rat[0], 1.0, 0.0);
    assert_near(b.rat[3], exp(20.0), 1e-6 * exp(20.0)); /* log-ratio 50, clamped */
    b.a[3] = 1;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_ERANGE);
    mb_done(&b);
}

/* Equal advantages: std 0, so every normalised advantage is 0 / 1e-8 = 0:
 * no policy loss or gradient, only the entropy term; and a one-sample
 * minibatch, whose std is defined as 0, the same. */
static void equal_advantages_case(int64_t R, int64_t T) {
    mb b;
    random_batch(&b, 13, R, T, 5);
    for (int64_t i = 0; i < b.M; i++)
        b.adv[i] = 0.1f;
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    assert_near(stat_last(b.in, "policy_loss"), 0.0, 0.0);
    for (int64_t k = 0; k < b.M * b.A; k++)
        assert_near(b.g[k], 0.0, 0.0);

    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.3), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, -0.3 * stat_last(b.in, "entropy"), 1e-12);
    assert_all_finite(b.g, b.M * b.A);
    mb_done(&b);
}

static void test_equal_advantages(void **state) {
    (void)state;
    equal_advantages_case(3, 4);
}

static void test_one_sample(void **state) {
    (void)state;
    equal_advantages_case(1, 1);
    /* norm_adv off: the one advantage is used as it is */
    mb b;
    random_batch(&b, 17, 1, 1, 3);
    b.adv[0] = 2.0f;
    assert_int_equal(lpt_set_b(b.in, "norm_adv", 0), 0);
    assert_int_equal(lpt_set_f(b.in, "ent_coef", 0.0), 0);
    mb_start(&b);
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    const double rt = b.rat[0];
    const double rc = fmin(fmax(rt, 0.8), 1.2);
    assert_near(r.loss, fmax(-2.0 * rt, -2.0 * rc), 1e-6);
    mb_done(&b);
}

static void test_empty_minibatch(void **state) {
    (void)state;
    mb b;
    mb_init(&b, 1, 1, 3);
    mb_start(&b);
    static float zz[1], gg[1], ff[1];
    static int32_t aa[1];
    lpt_add_field(b.in, "actions", LPT_VIEW(aa, LP_DTYPE_I32, 0, 1));
    lpt_add_field(b.in, "advantages", LPT_VIEW(ff, LP_DTYPE_F32, 0, 1));
    lpt_add_field(b.in, "logprobs", LPT_VIEW(ff, LP_DTYPE_F32, 0, 1));
    lpt_add_field(b.in, "ratios", LPT_VIEW(ff, LP_DTYPE_F32, 0, 1));
    lpt_add_output(b.in, "logits", LPT_VIEW(zz, LP_DTYPE_F32, 0, 1, 3),
                   LPT_VIEW(gg, LP_DTYPE_F32, 0, 1, 3));
    lp_train_result r;
    assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
    assert_near(r.loss, 0.0, 0.0);
    mb_done(&b);
}

/* A minibatch larger than one chunk, with a width that is not specialised,
 * against the reference (chunk boundaries, padding, the generic path). */
/* Several chunks with tails (M = 205), every row-width path of the kernel
 * (A < 8 per row; A >= 8 in lanes of 8, or of 16 for A >= 16 in the
 * AVX-512 build, with tails past the last whole block), strided log-probs
 * for some, masked actions (-inf logits, or the action_mask field) for
 * others: loss, ratios and the whole gradient against the double-precision
 * formula. */
static void test_many_samples(void **state) {
    (void)state;
    const int64_t widths[] = {8, 16, 7, 37, 24, 32, 64, 17, 3};
    for (size_t w = 0; w < LP_COUNT_OF(widths); w++) {
        mb b;
        lpt_rng rng = lpt_rng_seed(77 + (uint64_t)w);
        mb_init(&b, 5, 41, widths[w]);
        /* From width 24 on, about a quarter of the untaken actions are
         * masked: by -inf logits, or (width 32) by the action_mask field
         * with the logits left finite. */
        const int masked = w >= 4, by_field = w == 5;
        static uint8_t mask[5 * 41 * 64];
        static float zkeep[5 * 41 * 64];
        fill_random(&b, &rng, 1, 0.2);
        if (masked) {
            for (int64_t i = 0; i < b.M; i++)
                for (int64_t j = 0; j < b.A; j++) {
                    const int64_t k = i * b.A + j;
                    mask[k] = !(j != b.a[i] && lpt_rng_int(&rng, 0, 3) == 0);
                    zkeep[k] = b.z[k];
                    if (!mask[k])
                        b.z[k] = -INFINITY;
                }
            /* old log-probs again, from the masked softmax, near the new ones */
            for (int64_t i = 0; i < b.M; i++)
                b.old[i] = (float)(ref_logp_of(&b, i) - 0.05);
            if (by_field) {
                memcpy(b.z, zkeep, (size_t)(b.M * b.A) * sizeof *b.z);
                assert_true(lpt_add_field(b.in, "action_mask",
                                          LPT_VIEW(mask, LP_DTYPE_U8, b.R, b.T, b.A)) >= 0);
            }
        }
        /* widths 7 and 37 read the log-probs through a strided view (the
         * gather path across several chunks) */
        float padded[2 * 5 * 41];
        if (w == 2 || w == 3) {
            for (int64_t i = 0; i < b.M; i++)
                padded[2 * i] = b.old[i], padded[2 * i + 1] = NAN;
            lp_tensor v = LPT_VIEW(padded, LP_DTYPE_F32, b.R, b.T);
            v.strides[0] = 2 * b.T, v.strides[1] = 2;
            assert_true(lpt_add_field(b.in, "logprobs", v) >= 0);
        }
        mb_start(&b);
        lp_train_result r;
        assert_int_equal(lpt_train(b.in, 1.0f, &r), LP_OK);
        const size_t n = (size_t)(b.M * b.A);
        double *x = malloc(n * sizeof *x), *adv = malloc((size_t)b.M * sizeof *adv);
        double *gr = malloc(n * sizeof *gr);
        assert_true(x && adv && gr);
        for (size_t k = 0; k < n; k++)
            x[k] = masked && !mask[k] ? -INFINITY : b.z[k];
        ref rf = {b.M, b.A, b.a, b.old, adv, 0.2, 0.01};
        ref_advantages(&rf, b.adv, 1);
        const double want = ref_loss(x, n, &rf);
        if (!(fabs(r.loss - want) <= 1e-5 * (1.0 + fabs(want))))
            fail_msg("A %lld: loss %.9g, reference %.9g", (long long)b.A, r.loss, want);
        double amax = 0.0;
        for (int64_t i = 0; i < b.M; i++) {
            double ls, m;
            const double rt = exp(fmin(ref_logratio(&rf, x + i * b.A, i, &ls, &m), 20.0));
            if (!(fabs(b.rat[i] - rt) <= 1e-5 * rt))
                fail_msg("A %lld: ratio[%lld] %.9g, reference %.9g", (long long)b.A, (long long)i,
                         (double)b.rat[i], rt);
            amax = fmax(amax, fabs(adv[i]) * rt);
        }
        ref_grad(&rf, x, gr);
        const double tol = 2e-6 * (amax + 1.0) / (double)b.M;
        for (size_t k = 0; k < n; k++) {
            if (!(fabs(b.g[k] - gr[k]) <= tol + 1e-4 * fabs(gr[k])))
                fail_msg("A %lld: gradient [%zu] (row %zu, action %zu) %.9g, reference %.9g",
                         (long long)b.A, k, k / (size_t)b.A, k % (size_t)b.A, (double)b.g[k],
                         gr[k]);
            if (x[k] == -INFINITY && b.g[k] != 0.0f)
                fail_msg("A %lld: masked gradient [%zu] is %g, not 0", (long long)b.A, k,
                         (double)b.g[k]);
        }
        free(x);
        free(adv);
        free(gr);
        mb_done(&b);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_out_of_range_action(void **state) {
    (void)state;
    mb b;
    random_batch(&b, 3, 2, 3, 4);
    mb_start(&b);
    for (int k = 0; k < 24; k++)
        b.g[k] = 0.5f;
    for (int k = 0; k < 6; k++)
        b.rat[k] = -3.0f;
    b.a[5] = 4; /* row 1, step 2 */
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_ERANGE);
    const char *msg = lpt_last_error(b.in);
    assert_contains(msg, "action 4 at sample 5 (row 1, step 2)");
    assert_contains(msg, "[0, 4)");
    assert_contains(msg, "'actor'");
    for (int k = 0; k < 24; k++)
        assert_near(b.g[k], 0.5, 0.0);
    for (int k = 0; k < 6; k++)
        assert_near(b.rat[k], -3.0, 0.0);
    b.a[5] = 0;
    b.a[2] = -1;
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LP_ERANGE);
    assert_contains(lpt_last_error(b.in), "action -1 at sample 2");
    mb_done(&b);
}

static void test_missing_field_and_dtype(void **state) {
    (void)state;
    float z[3], g[3], f[1];
    int32_t a[1];
    lpt_inst *in = lpt_inst_new(g_desc, "actor");
    assert_non_null(in);
    lpt_add_output(in, "logits", LPT_VIEW(z, LP_DTYPE_F32, 1, 1, 3),
                   LPT_VIEW(g, LP_DTYPE_F32, 1, 1, 3));
    lpt_add_field(in, "actions", LPT_VIEW(a, LP_DTYPE_I32, 1, 1));
    lpt_add_field(in, "logprobs", LPT_VIEW(f, LP_DTYPE_F32, 1, 1));
    lpt_add_field(in, "ratios", LPT_VIEW(f, LP_DTYPE_F32, 1, 1));
    assert_int_equal(lpt_create(in), LP_OK);
    assert_int_equal(lpt_attach(in), LP_ESPEC);
    assert_contains(lpt_last_error(in), "no field 'advantages'");
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_EINVAL);
    lpt_add_field(in, "advantages", LPT_VIEW(a, LP_DTYPE_I32, 1, 1));
    /* The host never passes a field of another dtype than the loss
     * declared (abi.h; tests/session/test_spec.c): the support refuses it. */
    assert_int_equal(lpt_attach(in), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(in), "'advantages' is i32, the loss declared f32");
    assert_int_equal(lpt_violations(in), 0);
    lpt_inst_free(in);
}

static void test_bad_params(void **state) {
    (void)state;
    mb b;
    hand_batch(&b);
    /* The host never passes a value outside the schema (abi.h;
     * tests/config/test_params.c): the support refuses it. */
    assert_int_equal(lpt_set_f(b.in, "clip_coef", NAN), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'clip_coef'");
    assert_int_equal(lpt_set_f(b.in, "clip_coef", 0.2), 0);
    assert_int_equal(lpt_set_f(b.in, "target_kl", -1.0), 0);
    assert_int_equal(lpt_train(b.in, 1.0f, NULL), LPT_EFIXTURE);
    assert_contains(lpt_fixture_error(b.in), "'target_kl'");
    for (int k = 0; k < 4; k++)
        assert_near(b.g[k], 0.0, 0.0);
    mb_done(&b);
}

/* ---- the vectorisable exp and log of plugins/common -------------------------------- */

static void test_vmath_accuracy(void **state) {
    (void)state;
    double worst_e = 0.0, worst_l = 0.0;
    for (int k = -200000; k <= 200000; k++) {
        const float x = (float)k * 4.4e-4f; /* [-88, 88] */
        const double want = exp((double)x), got = lp__expf(x);
        if (x >= -86.5f) /* below: 0 by design */
            worst_e = fmax(worst_e, fabs(got - want) / want);
        const float y = ldexpf(1.0f + (float)(k + 200000) / 400001.0f, k % 250 - 125);
        const double wl = log((double)y), gl = lp__logf(y);
        worst_l = fmax(worst_l, fabs(gl - wl) / fmax(fabs(wl), 1e-30));
    }
    if (worst_e > 2.5e-7 || worst_l > 2.5e-7)
        fail_msg("exp worst relative error %g, log %g", worst_e, worst_l);
    assert_true(lp__expf(0.0f) == 1.0f);
    assert_true(lp__logf(1.0f) == 0.0f);
    assert_true(lp__expf(-1e4f) == 0.0f);
    assert_true(isinf(lp__expf(89.0f)) && lp__expf(89.0f) > 0);
    assert_true(isnan(lp__expf(NAN)));
    assert_true(isinf(lp__logf(0.0f)) && lp__logf(0.0f) < 0);
    assert_true(isnan(lp__logf(-1.0f)) && isnan(lp__logf(NAN)));
    assert_true(isinf(lp__logf(INFINITY)));
    assert_near(lp__logf(1e-40f), log(1e-40), 1e-4); /* subnormal */

    /* lp__expf_nonpos (the softmax's exponential) builds 2^n where lp__expf
     * builds 2^(n-1) and doubles: for every x <= 0 the same bits, down to
     * the results below the normal range and the cut-off at -86.5. */
    uint32_t bad = 0;
    for (uint32_t u = 0x80000000u; u <= 0xc2b00000u; u += 97u) { /* -0 .. -88, every 97th */
        const float x = lp__bits_f32(u);
        if (lp__f32_bits(lp__expf_nonpos(x)) != lp__f32_bits(lp__expf(x)))
            bad = bad == 0 ? u : bad;
    }
    if (bad != 0)
        fail_msg("lp__expf_nonpos(%a) = %a, lp__expf gives %a", (double)lp__bits_f32(bad),
                 (double)lp__expf_nonpos(lp__bits_f32(bad)), (double)lp__expf(lp__bits_f32(bad)));
    const float edge[] = {0.0f, -0.0f, -86.5f, nextafterf(-86.5f, 0.0f), -86.6f, -1e30f, -INFINITY};
    for (size_t k = 0; k < LP_COUNT_OF(edge); k++)
        assert_true(lp__f32_bits(lp__expf_nonpos(edge[k])) == lp__f32_bits(lp__expf(edge[k])));
    assert_true(isnan(lp__expf_nonpos(NAN)));
}

/* ---- masked actions against a float64 reference ----------------------------- */

typedef struct ppo_ref {
    const lpt_masked_case *c;
    const double *adv, *old; /* advantages normalised in f64 */
    double eps, ent_coef;
} ppo_ref;

/* mean(max(-A r, -A clip(r))) - ent_coef mean(H), float64, allowed actions. */
static double ppo_ref_loss(const double *x, size_t n, void *vctx) {
    (void)n;
    const ppo_ref *r = vctx;
    double pg = 0.0, ent = 0.0;
    for (int64_t i = 0; i < LPT_MC_M; i++) {
        const double *zi = x + i * LPT_MC_A;
        const uint8_t *m = lpt_mc_mask(r->c, i);
        const double ratio = exp(lpt_ref_logp(zi, m, LPT_MC_A, r->c->act[i]) - r->old[i]);
        const double rc = fmin(fmax(ratio, 1.0 - r->eps), 1.0 + r->eps);
        pg += fmax(-r->adv[i] * ratio, -r->adv[i] * rc);
        ent += lpt_ref_entropy(zi, m, LPT_MC_A);
    }
    return pg / LPT_MC_M - r->ent_coef * ent / LPT_MC_M;
}

static void test_masked_reference(void **state) {
    (void)state;
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
        lpt_masked_case c;
        lpt_masked_case_make(&c, with_mask, 17 + (uint64_t)with_mask);
        float g[LPT_MC_N] = {0}, adv[LPT_MC_M], old[LPT_MC_M], rat[LPT_MC_M];
        double advd[LPT_MC_M], oldd[LPT_MC_M], x[LPT_MC_N], num[LPT_MC_N];
        for (int64_t k = 0; k < LPT_MC_N; k++)
            x[k] = c.z[k];
        /* Advantages around a large mean with a small spread (the f32-mean
         * trap), old log-probabilities near the new ones. */
        lpt_rng rng = lpt_rng_seed(3);
        double sum = 0.0, ss = 0.0;
        for (int64_t i = 0; i < LPT_MC_M; i++) {
            adv[i] = (float)(1e4 + 0.01 * lpt_rng_normal(&rng));
            sum += adv[i];
            const double lp =
                lpt_ref_logp(x + i * LPT_MC_A, lpt_mc_mask(&c, i), LPT_MC_A, c.act[i]);
            old[i] = (float)(lp + lpt_rng_uniform(&rng, -0.5, 0.5));
            oldd[i] = old[i];
        }
        for (int64_t i = 0; i < LPT_MC_M; i++)
            ss += (adv[i] - sum / LPT_MC_M) * (adv[i] - sum / LPT_MC_M);
        const double sd = sqrt(ss / (LPT_MC_M - 1));
        for (int64_t i = 0; i < LPT_MC_M; i++)
            advd[i] = (adv[i] - sum / LPT_MC_M) / (sd + 1e-8);

        lpt_inst *in = lpt_inst_new(g_desc, "actor");
        assert_non_null(in);
        assert_true(
            lpt_add_field(in, "advantages", LPT_VIEW(adv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
        assert_true(
            lpt_add_field(in, "actions", LPT_VIEW(c.act, LP_DTYPE_I32, LPT_MC_R, LPT_MC_T)) >= 0);
        assert_true(
            lpt_add_field(in, "logprobs", LPT_VIEW(old, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
        assert_true(lpt_add_field(in, "ratios", LPT_VIEW(rat, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >=
                    0);
        if (with_mask)
            assert_true(
                lpt_add_field(in, "action_mask",
                              LPT_VIEW(c.mask, LP_DTYPE_U8, LPT_MC_R, LPT_MC_T, LPT_MC_A)) >= 0);
        assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
        assert_int_equal(lpt_set_f(in, "ent_coef", 0.05), 0);
        assert_int_equal(lpt_set_b(in, "norm_adv", 1), 0);
        assert_create_attach(in);
        lp_train_result res;
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_OK);

        ppo_ref r = {&c, advd, oldd, 0.2, 0.05};
        assert_near(res.loss, ppo_ref_loss(x, LPT_MC_N, &r), 1e-5);
        assert_near(stat_last(in, "entropy"), lpt_mc_mean_entropy(&c, x), 1e-5);
        int64_t worst = -1;
        if (lpt_mc_fd_check(&c, ppo_ref_loss, &r, x, 1e-5, g, num, 1e-5, &worst) != 0)
            fail_msg("mask %d: gradient entry %lld is %g, reference %g", with_mask,
                     (long long)worst, (double)g[worst], num[worst]);

        /* A taken action that is masked: an error naming row and step. */
        lpt_mc_mask_taken(&c, 5);
        assert_int_equal(lpt_train(in, 1.0f, &res), LP_ERANGE);
        assert_contains(lpt_last_error(in), "row 1, step 2 has probability 0");
        assert_contract_kept(in);
        lpt_inst_free(in);
    }
}

/* Non-finite inputs and logits: LP_ENUMERIC naming what and where. */
static void test_nonfinite(void **state) {
    (void)state;
    lpt_masked_case c;
    lpt_masked_case_make(&c, 0, 9);
    float g[LPT_MC_N] = {0}, adv[LPT_MC_M] = {1, -1, 0.5f, 2, 0, 1}, old[LPT_MC_M] = {0},
          rat[LPT_MC_M];
    lpt_inst *in = lpt_inst_new(g_desc, "actor");
    assert_true(lpt_add_field(in, "advantages", LPT_VIEW(adv, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >=
                0);
    assert_true(lpt_add_field(in, "actions", LPT_VIEW(c.act, LP_DTYPE_I32, LPT_MC_R, LPT_MC_T)) >=
                0);
    assert_true(lpt_add_field(in, "logprobs", LPT_VIEW(old, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >=
                0);
    assert_true(lpt_add_field(in, "ratios", LPT_VIEW(rat, LP_DTYPE_F32, LPT_MC_R, LPT_MC_T)) >= 0);
    assert_add_logits(in, c.z, g, LPT_MC_R, LPT_MC_T, LPT_MC_A);
    assert_create_attach(in);
    c.z[4 * LPT_MC_A + 2] = NAN;
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(in), "output 'logits'");
    assert_contains(lpt_last_error(in), "row 1, step 1");
    c.z[4 * LPT_MC_A + 2] = 0.0f;
    old[2] = NAN;
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(in), "field 'logprobs' is nan (not finite) at row 0, step 2");
    old[2] = 0.0f;
    adv[3] = -INFINITY;
    assert_int_equal(lpt_train(in, 1.0f, NULL), LP_ENUMERIC);
    assert_contains(lpt_last_error(in), "field 'advantages' is -inf (not finite) at row 1, step 0");
    lpt_inst_free(in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_hand_value_gradient_stats),
        cmocka_unit_test(test_hand_normalised),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_gradient_of_plugin_loss),
        cmocka_unit_test(test_ratio_on_upper_bound),
        cmocka_unit_test(test_ratio_on_lower_bound),
        cmocka_unit_test(test_target_kl_stop_at_last_minibatch),
        cmocka_unit_test(test_weight_scaling),
        cmocka_unit_test(test_params_read_at_call_time),
        cmocka_unit_test(test_strided_fields_and_accumulation),
        cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_one_action),
        cmocka_unit_test(test_equal_advantages),
        cmocka_unit_test(test_one_sample),
        cmocka_unit_test(test_empty_minibatch),
        cmocka_unit_test(test_many_samples),
        cmocka_unit_test(test_out_of_range_action),
        cmocka_unit_test(test_missing_field_and_dtype),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_vmath_accuracy),
        cmocka_unit_test(test_masked_reference),
        cmocka_unit_test(test_nonfinite),
    };
    return cmocka_run_group_tests_name("ppo", tests, group_setup, group_teardown);
}
