/*
 * Action distributions for policy losses: log-probabilities, entropies, KLs
 * and their gradients with respect to the model's outputs, safe for masked
 * actions. Header-only (static inline); plugin.h includes it, a plugin links
 * nothing of lossplug. docs/writing-a-plugin.md ("Masked actions") shows use.
 *
 * One family per action space, each with the same shape of API, one sample
 * (one row of outputs) per call, f32 in and out, sums in f32:
 *
 *   <fam>_softmax / setup      the row's pieces (here: lp_cat)
 *   <fam>_log_prob             log pi(a)
 *   <fam>_entropy              H
 *   <fam>_kl                   KL(q || p), q the target (teacher), p the policy
 *   <fam>_grad_log_prob        g += scale * d log pi(a) / d outputs
 *   <fam>_grad_entropy         g += scale * dH / d outputs
 *   <fam>_grad_kl              g += scale * d KL(q || p) / d (p's outputs)
 *
 * Only the categorical (lp_cat_*) is here today; multi-discrete and
 * diagonal-Gaussian families are meant to sit next to it with the same
 * verbs.
 *
 * ---- Categorical ----------------------------------------------------------
 *
 * Logits z[0..n), n >= 1, p = softmax(z). An action j is masked when
 * z[j] == -INFINITY or, when a mask is given, mask[j] == 0 (its logit is
 * then ignored, whatever it holds). Masked actions have p_j = 0 exactly; the
 * term p_j log p_j is 0 (its limit); every gradient below is exactly 0 at
 * them. log p of a masked action is -INFINITY: a policy loss must report a
 * taken action with that log-probability as an error (the distribution
 * cannot have produced it), never use it.
 *
 * A row in which every action is masked has no distribution: lp_cat_softmax
 * returns max == -INFINITY (test with lp_cat_empty) and p all zero; report it.
 *
 * Non-finite logits on unmasked actions (NaN, +Inf) are not repaired: they
 * make the results NaN, so that a caller that checks the loss for
 * finiteness sees them. No result is clamped in a way that turns NaN into a
 * number.
 *
 * Every row is shifted by its largest unmasked logit before exp(), so any
 * finite logits give finite results (the normaliser lies in [1, n]).
 * Pointers given as `restrict` must not alias.
 */
#ifndef LOSSPLUG_DIST_H
#define LOSSPLUG_DIST_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
#define LP_DIST_RESTRICT __restrict
extern "C" {
#else
#define LP_DIST_RESTRICT restrict
#endif

/* The shift and log-normaliser of one row:
 * log p_j = (z_j - max) - log_sum on unmasked j. */
typedef struct lp_cat {
    float max;     /* the largest unmasked logit; -INFINITY when all are masked */
    float log_sum; /* log sum over unmasked j of exp(z_j - max), in [0, log n] */
} lp_cat;

/* Whether action j of the row is masked (mask may be NULL). */
static inline int lp_cat_masked(const float *z, const uint8_t *mask, int64_t j) {
    return (mask != NULL && mask[j] == 0) || z[j] == -INFINITY;
}

/* Whether the row has no unmasked action (no distribution). */
static inline int lp_cat_empty(lp_cat c) {
    return c.max == -INFINITY;
}

/* Softmax of one row: p[j] = softmax(z)_j over the unmasked actions, 0 at
 * masked ones. mask (n bytes, nonzero = allowed) may be NULL. Returns the
 * row's pieces. A NaN logit on an unmasked action makes p NaN. */
static inline lp_cat lp_cat_softmax(const float *LP_DIST_RESTRICT z,
                                    const uint8_t *LP_DIST_RESTRICT mask, int64_t n,
                                    float *LP_DIST_RESTRICT p) {
    lp_cat c;
    float m = -INFINITY;
    int nan = 0;
    for (int64_t j = 0; j < n; j++) {
        const float v = mask != NULL && mask[j] == 0 ? -INFINITY : z[j];
        m = v > m ? v : m;
        nan |= v != v;
    }
    if (nan)
        m = NAN; /* NaN in, NaN out (the max above skips NaN) */
    c.max = m;
    if (m == -INFINITY) {
        for (int64_t j = 0; j < n; j++)
            p[j] = 0.0f;
        c.log_sum = -INFINITY;
        return c;
    }
    float s = 0.0f;
    if (mask == NULL) {
        for (int64_t j = 0; j < n; j++) {
            p[j] = expf(z[j] - m); /* exp(-inf) = 0 at masked j */
            s += p[j];
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            p[j] = mask[j] != 0 ? expf(z[j] - m) : 0.0f;
            s += p[j];
        }
    }
    const float inv = 1.0f / s;
    for (int64_t j = 0; j < n; j++)
        p[j] *= inv;
    c.log_sum = logf(s);
    return c;
}

/* log p_k of a row whose pieces are c: -INFINITY when k is masked. */
static inline float lp_cat_log_prob(const float *z, const uint8_t *mask, int64_t k, lp_cat c) {
    if (mask != NULL && mask[k] == 0)
        return -INFINITY;
    return (z[k] - c.max) - c.log_sum;
}

/* Entropy H = -sum_j p_j log p_j of a row, from its logits, its p (from
 * lp_cat_softmax with the same mask) and its pieces. Terms with p_j == 0
 * (masked or underflowed) are 0. Rounding can leave it a few ulp below 0;
 * it is clamped at 0 so that NaN stays NaN. */
static inline float lp_cat_entropy(const float *LP_DIST_RESTRICT z, const float *LP_DIST_RESTRICT p,
                                   int64_t n, lp_cat c) {
    float dot = 0.0f;
    for (int64_t j = 0; j < n; j++)
        dot += p[j] == 0.0f ? 0.0f : p[j] * (z[j] - c.max);
    const float h = c.log_sum - dot;
    return h < 0.0f ? 0.0f : h;
}

/* KL(q || p) = sum_j q_j (log q_j - log p_j) of two rows over the same
 * actions: q (target) with logits zq, probabilities q and pieces cq; p
 * (policy) likewise. Terms with q_j == 0 are 0. +INFINITY when q puts mass
 * on an action whose logit in zp is -INFINITY; NaN from NaN. With a mask
 * field, give both rows the same mask (lp_cat_softmax zeroes q there), as
 * the terms read the logits, not p. Clamped at 0 against rounding
 * (NaN stays NaN). */
static inline float lp_cat_kl(const float *LP_DIST_RESTRICT zq, const float *LP_DIST_RESTRICT q,
                              lp_cat cq, const float *LP_DIST_RESTRICT zp, lp_cat cp, int64_t n) {
    const float off = cp.log_sum - cq.log_sum;
    float kl = 0.0f;
    for (int64_t j = 0; j < n; j++)
        kl += q[j] == 0.0f ? 0.0f : q[j] * (((zq[j] - cq.max) - (zp[j] - cp.max)) + off);
    return kl < 0.0f ? 0.0f : kl;
}

/* Index of the first largest unmasked logit (ties go to the lowest index,
 * as torch.argmax does); -1 when every action is masked. */
static inline int64_t lp_cat_argmax(const float *z, const uint8_t *mask, int64_t n) {
    int64_t best = -1;
    for (int64_t j = 0; j < n; j++)
        if (!lp_cat_masked(z, mask, j) && (best < 0 || z[j] > z[best]))
            best = j;
    return best;
}

/* g[j] += scale * d log p_k / d z_j = scale * (1[j = k] - p_j). Exactly 0
 * at masked j (p_j = 0, k unmasked). */
static inline void lp_cat_grad_log_prob(const float *LP_DIST_RESTRICT p, int64_t n, int64_t k,
                                        float scale, float *LP_DIST_RESTRICT g) {
    for (int64_t j = 0; j < n; j++)
        g[j] -= scale * p[j];
    g[k] += scale;
}

/* g[j] += scale * dH / d z_j = -scale * p_j (log p_j + H), H from
 * lp_cat_entropy. Exactly 0 where p_j == 0 (masked or underflowed). */
static inline void lp_cat_grad_entropy(const float *LP_DIST_RESTRICT z,
                                       const float *LP_DIST_RESTRICT p, int64_t n, lp_cat c,
                                       float H, float scale, float *LP_DIST_RESTRICT g) {
    const float off = H - c.log_sum; /* log p_j + H = (z_j - max) + off */
    for (int64_t j = 0; j < n; j++)
        g[j] -= p[j] == 0.0f ? 0.0f : scale * p[j] * ((z[j] - c.max) + off);
}

/* g[j] += scale * d KL(q || p) / d z_j = scale * (p_j - q_j), z the logits
 * of p (q held fixed). Exactly 0 where both are masked. */
static inline void lp_cat_grad_kl(const float *LP_DIST_RESTRICT p, const float *LP_DIST_RESTRICT q,
                                  int64_t n, float scale, float *LP_DIST_RESTRICT g) {
    for (int64_t j = 0; j < n; j++)
        g[j] += scale * (p[j] - q[j]);
}

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_DIST_H */
