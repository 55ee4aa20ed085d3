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
 * Families: lp_cat_* (categorical), lp_md_* (multi-discrete: independent
 * categoricals over concatenated logits), lp_gauss_* (diagonal Gaussian:
 * means then log standard deviations). On top of them, lp_policy_* takes
 * the space from lp_env_info once and dispatches each verb to the right
 * family, so that one policy loss works on every action space
 * (docs/writing-a-plugin.md, "Action spaces").
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

#include "abi.h"

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

/* ---- Multi-discrete --------------------------------------------------------
 *
 * K components, component k a categorical over nvec[k] actions; the logits
 * of the components are concatenated in order (W = sum nvec values), and so
 * are the optional mask bytes and the probabilities p[W]. c[K] holds each
 * component's pieces. Actions a[K], a[k] in [0, nvec[k]).
 * log pi(a) = sum_k log p_k(a_k), H = sum_k H_k, KL = sum_k KL_k; each
 * gradient is the categorical one per component. Masks work per component
 * (a component whose actions are all masked makes the row empty). */

/* Softmax of every component into p[W] and c[K]. Returns 1 when some
 * component has no unmasked action (no distribution: report it), else 0. */
static inline int lp_md_softmax(const float *LP_DIST_RESTRICT z,
                                const uint8_t *LP_DIST_RESTRICT mask, const int64_t *nvec,
                                int32_t K, float *LP_DIST_RESTRICT p, lp_cat *LP_DIST_RESTRICT c) {
    int empty = 0;
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        c[k] = lp_cat_softmax(z + o, mask != NULL ? mask + o : NULL, nvec[k], p + o);
        empty |= lp_cat_empty(c[k]);
        o += nvec[k];
    }
    return empty;
}

/* log pi(a) = sum_k log p_k(a_k): -INFINITY when some a_k is masked. */
static inline float lp_md_log_prob(const float *z, const uint8_t *mask, const int64_t *nvec,
                                   int32_t K, const int32_t *a, const lp_cat *c) {
    float lp = 0.0f;
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        lp += lp_cat_log_prob(z + o, mask != NULL ? mask + o : NULL, a[k], c[k]);
        o += nvec[k];
    }
    return lp;
}

/* H = sum_k H_k. */
static inline float lp_md_entropy(const float *LP_DIST_RESTRICT z, const float *LP_DIST_RESTRICT p,
                                  const int64_t *nvec, int32_t K, const lp_cat *c) {
    float h = 0.0f;
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        h += lp_cat_entropy(z + o, p + o, nvec[k], c[k]);
        o += nvec[k];
    }
    return h;
}

/* KL(q || p) = sum_k KL(q_k || p_k). */
static inline float lp_md_kl(const float *LP_DIST_RESTRICT zq, const float *LP_DIST_RESTRICT q,
                             const lp_cat *cq, const float *LP_DIST_RESTRICT zp, const lp_cat *cp,
                             const int64_t *nvec, int32_t K) {
    float kl = 0.0f;
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        kl += lp_cat_kl(zq + o, q + o, cq[k], zp + o, cp[k], nvec[k]);
        o += nvec[k];
    }
    return kl;
}

/* g += scale * d log pi(a) / d z: per component, scale * (1[j = a_k] - p_j). */
static inline void lp_md_grad_log_prob(const float *LP_DIST_RESTRICT p, const int64_t *nvec,
                                       int32_t K, const int32_t *a, float scale,
                                       float *LP_DIST_RESTRICT g) {
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        lp_cat_grad_log_prob(p + o, nvec[k], a[k], scale, g + o);
        o += nvec[k];
    }
}

/* g += scale * dH / d z: per component -scale * p_j (log p_j + H_k), with
 * each component's own entropy H_k (recomputed here). */
static inline void lp_md_grad_entropy(const float *LP_DIST_RESTRICT z,
                                      const float *LP_DIST_RESTRICT p, const int64_t *nvec,
                                      int32_t K, const lp_cat *c, float scale,
                                      float *LP_DIST_RESTRICT g) {
    int64_t o = 0;
    for (int32_t k = 0; k < K; k++) {
        const float hk = lp_cat_entropy(z + o, p + o, nvec[k], c[k]);
        lp_cat_grad_entropy(z + o, p + o, nvec[k], c[k], hk, scale, g + o);
        o += nvec[k];
    }
}

/* g += scale * d KL(q || p) / d z = scale * (p_j - q_j) over all W logits. */
static inline void lp_md_grad_kl(const float *LP_DIST_RESTRICT p, const float *LP_DIST_RESTRICT q,
                                 int64_t W, float scale, float *LP_DIST_RESTRICT g) {
    lp_cat_grad_kl(p, q, W, scale, g);
}

/* ---- Diagonal Gaussian -------------------------------------------------------
 *
 * u[0..k) are the means mu, u[k..2k) the log standard deviations
 * l = log sigma (the policy output of a box action). Actions a[k], real.
 *   log pi(a) = -sum_j [ (a_j - mu_j)^2 / (2 sigma_j^2) + l_j + log(2 pi) / 2 ]
 *   H         =  sum_j [ l_j + (1 + log(2 pi)) / 2 ]
 *   KL(q || p) = sum_j [ l_pj - l_qj + (sigma_qj^2 + (mu_qj - mu_pj)^2) / (2 sigma_pj^2) - 1/2 ]
 * Gradients (w.r.t. the outputs u of the distribution named):
 *   d log pi / d mu_j = (a_j - mu_j) / sigma_j^2
 *   d log pi / d l_j  = (a_j - mu_j)^2 / sigma_j^2 - 1
 *   dH / d l_j = 1 (dH / d mu_j = 0)
 *   d KL / d mu_pj = (mu_pj - mu_qj) / sigma_pj^2
 *   d KL / d l_pj  = 1 - (sigma_qj^2 + (mu_qj - mu_pj)^2) / sigma_pj^2
 * Sums in f32; 1/sigma is computed as exp(-l), so a log-std of -80 or +80
 * still gives finite terms where the true value is finite in f32. NaN in,
 * NaN out; nothing is clamped. */

#define LP_DIST_HALF_LOG_2PI 0.91893853320467274f /* log(2 pi) / 2 */

static inline float lp_gauss_log_prob(const float *LP_DIST_RESTRICT u, int64_t k,
                                      const float *LP_DIST_RESTRICT a) {
    float s = 0.0f;
    for (int64_t j = 0; j < k; j++) {
        const float d = (a[j] - u[j]) * expf(-u[k + j]);
        s += 0.5f * d * d + u[k + j] + LP_DIST_HALF_LOG_2PI;
    }
    return -s;
}

static inline float lp_gauss_entropy(const float *u, int64_t k) {
    float s = 0.0f;
    for (int64_t j = 0; j < k; j++)
        s += u[k + j] + (0.5f + LP_DIST_HALF_LOG_2PI);
    return s;
}

/* KL(q || p): uq the target's outputs, up the policy's. */
static inline float lp_gauss_kl(const float *LP_DIST_RESTRICT uq, const float *LP_DIST_RESTRICT up,
                                int64_t k) {
    float s = 0.0f;
    for (int64_t j = 0; j < k; j++) {
        const float r = expf(uq[k + j] - up[k + j]); /* sigma_q / sigma_p */
        const float d = (uq[j] - up[j]) * expf(-up[k + j]);
        s += (up[k + j] - uq[k + j]) + 0.5f * (r * r + d * d) - 0.5f;
    }
    return s < 0.0f ? 0.0f : s;
}

static inline void lp_gauss_grad_log_prob(const float *LP_DIST_RESTRICT u, int64_t k,
                                          const float *LP_DIST_RESTRICT a, float scale,
                                          float *LP_DIST_RESTRICT g) {
    for (int64_t j = 0; j < k; j++) {
        const float is = expf(-u[k + j]);
        const float d = (a[j] - u[j]) * is; /* (a - mu) / sigma */
        g[j] += scale * d * is;
        g[k + j] += scale * (d * d - 1.0f);
    }
}

static inline void lp_gauss_grad_entropy(int64_t k, float scale, float *g) {
    for (int64_t j = 0; j < k; j++)
        g[k + j] += scale;
}

/* g += scale * d KL(q || p) / d up (uq held fixed). */
static inline void lp_gauss_grad_kl(const float *LP_DIST_RESTRICT uq,
                                    const float *LP_DIST_RESTRICT up, int64_t k, float scale,
                                    float *LP_DIST_RESTRICT g) {
    for (int64_t j = 0; j < k; j++) {
        const float is = expf(-up[k + j]);
        const float r = expf(uq[k + j] - up[k + j]);
        const float d = (up[j] - uq[j]) * is; /* (mu_p - mu_q) / sigma_p */
        g[j] += scale * d * is;
        g[k + j] += scale * (1.0f - (r * r + d * d));
    }
}

/* ---- One layer for every action space ---------------------------------------
 *
 * A policy loss fills an lp_policy once (create or attach) from the
 * lp_env_info it was given, then calls one lp_policy_* function per verb
 * and per sample: the switch on the space is a predictable branch, and the
 * per-family functions above do the work. Rows:
 *   z      the sample's "logits" output, policy_width values
 *   mask   policy_width bytes (nonzero = allowed) or NULL; categorical and
 *          multi-discrete only (ignored for a box)
 *   p, c   the caller's scratch: policy_width floats and dims lp_cat
 *          (lp_policy_setup fills them; a box uses neither)
 *   action the sample's action: int32_t[1] (discrete), int32_t[dims]
 *          (multi-discrete) or float[dims] (box)
 * The caller owns every buffer; nothing allocates. */

typedef struct lp_policy {
    int32_t space;       /* lp_action_space */
    int32_t dims;        /* 1, components, or box dimensions */
    int64_t width;       /* policy_width: values of the output per sample */
    const int64_t *nvec; /* multi-discrete counts (host-owned), else NULL */
    const float *low;    /* box bounds (host-owned), else NULL */
    const float *high;
} lp_policy;

/* From the environment: a 1.0 host (no action_space field) is discrete
 * with num_actions choices. Returns 0, or -1 when the env describes no
 * usable space (discrete with num_actions < 1, a bad space, a missing array). */
static inline int lp_policy_init(lp_policy *pol, const lp_env_info *env) {
    pol->space = LP_ACTION_DISCRETE;
    pol->dims = 1;
    pol->width = env->num_actions;
    pol->nvec = NULL;
    pol->low = pol->high = NULL;
    if (LP_HAS_FIELD(env, lp_env_info, policy_width)) {
        pol->space = env->action_space;
        pol->dims = env->action_dims;
        pol->width = env->policy_width;
        pol->nvec = env->action_nvec;
        pol->low = env->action_low;
        pol->high = env->action_high;
        if (pol->space == LP_ACTION_DISCRETE)
            pol->dims = 1, pol->width = env->num_actions;
    }
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        return pol->width >= 1 ? 0 : -1;
    case LP_ACTION_MULTI_DISCRETE:
        return pol->nvec != NULL && pol->dims >= 1 ? 0 : -1;
    case LP_ACTION_BOX:
        return pol->dims >= 1 && pol->width == 2 * (int64_t)pol->dims ? 0 : -1;
    default:
        return -1;
    }
}

/* lp_cat entries the scratch `c` needs. */
static inline int32_t lp_policy_cats(const lp_policy *pol) {
    return pol->space == LP_ACTION_MULTI_DISCRETE ? pol->dims : 1;
}

/* Whether the action values are in range (discrete: in [0, n); box:
 * finite). A masked action is in range; its log-probability is -INFINITY.
 * Returns the offending component, or -1 when every one is fine. */
static inline int32_t lp_policy_action_bad(const lp_policy *pol, const void *action) {
    if (pol->space == LP_ACTION_BOX) {
        const float *a = (const float *)action;
        for (int32_t j = 0; j < pol->dims; j++)
            if (!isfinite(a[j]))
                return j;
        return -1;
    }
    const int32_t *a = (const int32_t *)action;
    if (pol->space == LP_ACTION_DISCRETE)
        return a[0] < 0 || (int64_t)a[0] >= pol->width ? 0 : -1;
    for (int32_t k = 0; k < pol->dims; k++)
        if (a[k] < 0 || (int64_t)a[k] >= pol->nvec[k])
            return k;
    return -1;
}

/* The row's pieces into p and c. Returns 1 when the row has no
 * distribution (every action of it, or of one component, masked), else 0. */
static inline int lp_policy_setup(const lp_policy *pol, const float *z, const uint8_t *mask,
                                  float *p, lp_cat *c) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        c[0] = lp_cat_softmax(z, mask, pol->width, p);
        return lp_cat_empty(c[0]);
    case LP_ACTION_MULTI_DISCRETE:
        return lp_md_softmax(z, mask, pol->nvec, pol->dims, p, c);
    default:
        return 0;
    }
}

static inline float lp_policy_log_prob(const lp_policy *pol, const float *z, const uint8_t *mask,
                                       const lp_cat *c, const void *action) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        return lp_cat_log_prob(z, mask, *(const int32_t *)action, c[0]);
    case LP_ACTION_MULTI_DISCRETE:
        return lp_md_log_prob(z, mask, pol->nvec, pol->dims, (const int32_t *)action, c);
    default:
        return lp_gauss_log_prob(z, pol->dims, (const float *)action);
    }
}

static inline float lp_policy_entropy(const lp_policy *pol, const float *z, const float *p,
                                      const lp_cat *c) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        return lp_cat_entropy(z, p, pol->width, c[0]);
    case LP_ACTION_MULTI_DISCRETE:
        return lp_md_entropy(z, p, pol->nvec, pol->dims, c);
    default:
        return lp_gauss_entropy(z, pol->dims);
    }
}

/* KL(q || p), q the target row (zq, q, cq from lp_policy_setup), p the
 * policy's. */
static inline float lp_policy_kl(const lp_policy *pol, const float *zq, const float *q,
                                 const lp_cat *cq, const float *zp, const lp_cat *cp) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        return lp_cat_kl(zq, q, cq[0], zp, cp[0], pol->width);
    case LP_ACTION_MULTI_DISCRETE:
        return lp_md_kl(zq, q, cq, zp, cp, pol->nvec, pol->dims);
    default:
        return lp_gauss_kl(zq, zp, pol->dims);
    }
}

/* g += scale * d log pi(action) / d z. */
static inline void lp_policy_grad_log_prob(const lp_policy *pol, const float *z, const float *p,
                                           const void *action, float scale, float *g) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        lp_cat_grad_log_prob(p, pol->width, *(const int32_t *)action, scale, g);
        return;
    case LP_ACTION_MULTI_DISCRETE:
        lp_md_grad_log_prob(p, pol->nvec, pol->dims, (const int32_t *)action, scale, g);
        return;
    default:
        lp_gauss_grad_log_prob(z, pol->dims, (const float *)action, scale, g);
    }
}

/* g += scale * dH / d z; H the row's entropy from lp_policy_entropy. */
static inline void lp_policy_grad_entropy(const lp_policy *pol, const float *z, const float *p,
                                          const lp_cat *c, float H, float scale, float *g) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
        lp_cat_grad_entropy(z, p, pol->width, c[0], H, scale, g);
        return;
    case LP_ACTION_MULTI_DISCRETE:
        lp_md_grad_entropy(z, p, pol->nvec, pol->dims, c, scale, g);
        return;
    default:
        lp_gauss_grad_entropy(pol->dims, scale, g);
    }
}

/* g += scale * d KL(q || p) / d zp (the target held fixed). */
static inline void lp_policy_grad_kl(const lp_policy *pol, const float *zq, const float *q,
                                     const float *zp, const float *p, float scale, float *g) {
    switch (pol->space) {
    case LP_ACTION_DISCRETE:
    case LP_ACTION_MULTI_DISCRETE:
        lp_cat_grad_kl(p, q, pol->width, scale, g);
        return;
    default:
        lp_gauss_grad_kl(zq, zp, pol->dims, scale, g);
    }
}

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_DIST_H */
