/*
 * lpt_catref: a float64 reference of a masked categorical, written from
 * docs/losses (and the design's "Distributions" section) alone, for the
 * plugins' masked-input tests. Header-only.
 *
 * An action j of a row is allowed when its logit is not -inf and, with a
 * mask (may be NULL), mask[j] != 0. Over the allowed actions only:
 *   log p_j = z_j - log sum_k exp(z_k);  H = -sum_j p_j log p_j;
 *   KL(q || p) = sum_{j: q_j > 0} q_j (log q_j - log p_j).
 * Masked actions have p_j = 0 and take no part in any sum.
 */
#ifndef LPT_CATREF_H
#define LPT_CATREF_H

#include <lpt.h>

#include <math.h>
#include <stdint.h>

static inline int lpt_ref_allowed(const double *z, const uint8_t *mask, int64_t j) {
    return z[j] != -INFINITY && (mask == NULL || mask[j] != 0);
}

/* log sum over allowed j of exp(z_j), shifted by the allowed maximum. */
static inline double lpt_ref_lse(const double *z, const uint8_t *mask, int64_t n) {
    double m = -INFINITY, s = 0.0;
    for (int64_t j = 0; j < n; j++)
        if (lpt_ref_allowed(z, mask, j) && z[j] > m)
            m = z[j];
    for (int64_t j = 0; j < n; j++)
        if (lpt_ref_allowed(z, mask, j))
            s += exp(z[j] - m);
    return m + log(s);
}

static inline double lpt_ref_logp(const double *z, const uint8_t *mask, int64_t n, int64_t k) {
    return z[k] - lpt_ref_lse(z, mask, n);
}

static inline double lpt_ref_entropy(const double *z, const uint8_t *mask, int64_t n) {
    const double l = lpt_ref_lse(z, mask, n);
    double h = 0.0;
    for (int64_t j = 0; j < n; j++)
        if (lpt_ref_allowed(z, mask, j))
            h -= exp(z[j] - l) * (z[j] - l);
    return h;
}

/* KL(q || p), q = softmax(zq), p = softmax(zp), both under `mask`. */
static inline double lpt_ref_kl(const double *zq, const double *zp, const uint8_t *mask,
                                int64_t n) {
    const double lq = lpt_ref_lse(zq, mask, n), lp = lpt_ref_lse(zp, mask, n);
    double kl = 0.0;
    for (int64_t j = 0; j < n; j++)
        if (lpt_ref_allowed(zq, mask, j))
            kl += exp(zq[j] - lq) * ((zq[j] - lq) - (zp[j] - lp));
    return kl;
}

/* A masked minibatch [R = 2, T = 3, A = 5] (M = 6 samples):
 *   sample 0: logits -inf at two actions
 *   sample 1: every action but the taken one at -inf
 *   sample 2, 5: nothing masked
 *   sample 3: (with_mask) mask 0 at two actions, one of them a NaN logit
 *             (a masked logit is ignored, whatever it holds)
 *   sample 4: (with_mask) mask 0 at every action but the taken one
 * The taken actions (act) are always allowed. */
#define LPT_MC_R 2
#define LPT_MC_T 3
#define LPT_MC_A 5
#define LPT_MC_M (LPT_MC_R * LPT_MC_T)
#define LPT_MC_N (LPT_MC_M * LPT_MC_A)
typedef struct lpt_masked_case {
    float z[LPT_MC_N];
    uint8_t mask[LPT_MC_N]; /* all 1 without with_mask */
    int32_t act[LPT_MC_M];
    int with_mask;
} lpt_masked_case;

static inline void lpt_masked_case_make(lpt_masked_case *c, int with_mask, uint64_t seed) {
    lpt_rng rng = lpt_rng_seed(seed);
    const int64_t A = LPT_MC_A;
    c->with_mask = with_mask;
    for (int64_t k = 0; k < LPT_MC_N; k++) {
        c->z[k] = (float)(2.0 * lpt_rng_normal(&rng));
        c->mask[k] = 1;
    }
    for (int64_t i = 0; i < LPT_MC_M; i++)
        c->act[i] = (int32_t)lpt_rng_int(&rng, 0, A - 1);
    c->act[0] = 0;
    c->z[0 * A + 1] = c->z[0 * A + 3] = -INFINITY;
    for (int64_t j = 0; j < A; j++)
        if (j != c->act[1])
            c->z[1 * A + j] = -INFINITY;
    if (with_mask) {
        c->act[3] = 2;
        c->mask[3 * A + 0] = c->mask[3 * A + 4] = 0;
        c->z[3 * A + 4] = NAN;
        for (int64_t j = 0; j < A; j++)
            if (j != c->act[4])
                c->mask[4 * A + j] = 0;
    }
}

/* The case's mask row of sample i for the reference (NULL without). */
static inline const uint8_t *lpt_mc_mask(const lpt_masked_case *c, int64_t i) {
    return c->with_mask ? c->mask + i * LPT_MC_A : NULL;
}

/* Whether entry k (sample k / A, action k % A) is masked. */
static inline int lpt_mc_masked(const lpt_masked_case *c, int64_t k) {
    return c->z[k] == -INFINITY || (c->with_mask && c->mask[k] == 0);
}

/* Compares a plugin's gradient g with a numeric reference num: allowed
 * entries within tol, masked ones exactly 0. Returns the number of
 * failures; *worst the first failing entry. */
static inline int lpt_mc_grad_check(const lpt_masked_case *c, const float *g, const double *num,
                                    double tol, int64_t *worst) {
    int bad = 0;
    for (int64_t k = 0; k < LPT_MC_N; k++) {
        const int ok = lpt_mc_masked(c, k) ? g[k] == 0.0f : fabs((double)g[k] - num[k]) <= tol;
        if (!ok && bad++ == 0)
            *worst = k;
    }
    return bad;
}

/* Central differences of `loss` (ctx `ref`) at x with step h into num, then
 * lpt_mc_grad_check of the plugin's gradient g against them. */
static inline int lpt_mc_fd_check(const lpt_masked_case *c, lpt_scalar_fn loss, void *ref,
                                  double *x, double h, const float *g, double *num, double tol,
                                  int64_t *worst) {
    lpt_fd_grad(loss, ref, x, LPT_MC_N, h, num);
    return lpt_mc_grad_check(c, g, num, tol, worst);
}

/* The mean over the case's samples of the reference entropy of logits x. */
static inline double lpt_mc_mean_entropy(const lpt_masked_case *c, const double *x) {
    double ent = 0.0;
    for (int64_t i = 0; i < LPT_MC_M; i++)
        ent += lpt_ref_entropy(x + i * LPT_MC_A, lpt_mc_mask(c, i), LPT_MC_A);
    return ent / LPT_MC_M;
}

/* Makes sample i's taken action masked: with a mask, the action becomes 0
 * and its mask byte 0; without, its logit becomes -inf. */
static inline void lpt_mc_mask_taken(lpt_masked_case *c, int64_t i) {
    if (c->with_mask) {
        c->act[i] = 0;
        c->mask[i * LPT_MC_A + 0] = 0;
    } else {
        c->z[i * LPT_MC_A + c->act[i]] = -INFINITY;
    }
}

#endif /* LPT_CATREF_H */
