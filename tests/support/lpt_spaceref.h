/*
 * lpt_spaceref: a float64 reference of the three action-space
 * distributions, written from docs/losses/README.md ("Action spaces")
 * alone, for the tests of lossplug/dist.h and of the policy losses on every
 * space. Header-only. Categorical components use lpt_catref.h.
 *
 *  - discrete: one categorical over `width` logits, action a[0].
 *  - multi-discrete: components k with nvec[k] logits each, concatenated;
 *    log pi = sum_k log p_k(a_k), H = sum_k H_k, KL = sum_k KL_k.
 *  - box: u = [mu(d), log_std(d)], action x[d] real;
 *    log pi = -sum_j ((x_j - mu_j)^2 / (2 s_j^2) + l_j + log(2 pi) / 2),
 *    H = sum_j (l_j + (1 + log(2 pi)) / 2),
 *    KL(q || p) = sum_j (l_p - l_q + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2).
 */
#ifndef LPT_SPACEREF_H
#define LPT_SPACEREF_H

#include <lpt_catref.h>

#include <lossplug/abi.h>

#include <math.h>
#include <stdint.h>

#define LPT_SP_MAX 8
#define LPT_SP_PI  3.14159265358979323846

typedef struct lpt_sp {
    int32_t space;
    int32_t dims;
    int64_t nvec[LPT_SP_MAX];
    int64_t width;
} lpt_sp;

static inline lpt_sp lpt_sp_discrete(int64_t n) {
    lpt_sp s = {LP_ACTION_DISCRETE, 1, {n}, n};
    return s;
}

static inline lpt_sp lpt_sp_md(int32_t K, const int64_t *nvec) {
    lpt_sp s = {LP_ACTION_MULTI_DISCRETE, K, {0}, 0};
    for (int32_t k = 0; k < K; k++)
        s.nvec[k] = nvec[k], s.width += nvec[k];
    return s;
}

static inline lpt_sp lpt_sp_box(int32_t d) {
    lpt_sp s = {LP_ACTION_BOX, d, {0}, 2 * d};
    return s;
}

/* Fill an lp_env_info's action part (arrays: the caller's, kept alive). */
static inline void lpt_sp_env(const lpt_sp *s, lp_env_info *e, int64_t *nvec_store, float *low,
                              float *high) {
    e->action_space = s->space;
    e->action_dims = s->dims;
    e->policy_width = s->width;
    e->action_nvec = NULL;
    e->action_low = e->action_high = NULL;
    e->action_rank = s->space == LP_ACTION_DISCRETE ? 0 : 1;
    e->action_shape[0] = s->space == LP_ACTION_DISCRETE ? 0 : s->dims;
    e->action_dtype = s->space == LP_ACTION_BOX ? LP_DTYPE_F32 : LP_DTYPE_I32;
    e->num_actions = s->space == LP_ACTION_BOX ? 0 : s->width;
    if (s->space == LP_ACTION_MULTI_DISCRETE) {
        for (int32_t k = 0; k < s->dims; k++)
            nvec_store[k] = s->nvec[k];
        e->action_nvec = nvec_store;
    }
    if (s->space == LP_ACTION_BOX) {
        for (int32_t j = 0; j < s->dims; j++)
            low[j] = -2.0f, high[j] = 2.0f;
        e->action_low = low;
        e->action_high = high;
    }
}

/* Actions as doubles (integers for the discrete spaces). */
static inline double lpt_sp_logp(const lpt_sp *s, const double *z, const uint8_t *mask,
                                 const double *a) {
    const double HL2P = 0.5 * log(2.0 * LPT_SP_PI);
    if (s->space == LP_ACTION_BOX) {
        double v = 0.0;
        for (int32_t j = 0; j < s->dims; j++) {
            const double sd = exp(z[s->dims + j]), d = a[j] - z[j];
            v -= d * d / (2.0 * sd * sd) + z[s->dims + j] + HL2P;
        }
        return v;
    }
    double v = 0.0;
    int64_t o = 0;
    for (int32_t k = 0; k < s->dims; k++) {
        v += lpt_ref_logp(z + o, mask != NULL ? mask + o : NULL, s->nvec[k], (int64_t)a[k]);
        o += s->nvec[k];
    }
    return v;
}

static inline double lpt_sp_entropy(const lpt_sp *s, const double *z, const uint8_t *mask) {
    if (s->space == LP_ACTION_BOX) {
        double v = 0.0;
        for (int32_t j = 0; j < s->dims; j++)
            v += z[s->dims + j] + 0.5 * (1.0 + log(2.0 * LPT_SP_PI));
        return v;
    }
    double v = 0.0;
    int64_t o = 0;
    for (int32_t k = 0; k < s->dims; k++) {
        v += lpt_ref_entropy(z + o, mask != NULL ? mask + o : NULL, s->nvec[k]);
        o += s->nvec[k];
    }
    return v;
}

/* KL(q || p). */
static inline double lpt_sp_kl(const lpt_sp *s, const double *zq, const double *zp,
                               const uint8_t *mask) {
    if (s->space == LP_ACTION_BOX) {
        double v = 0.0;
        const int32_t d = s->dims;
        for (int32_t j = 0; j < d; j++) {
            const double sq = exp(zq[d + j]), sp = exp(zp[d + j]), dm = zq[j] - zp[j];
            v += zp[d + j] - zq[d + j] + (sq * sq + dm * dm) / (2.0 * sp * sp) - 0.5;
        }
        return v;
    }
    double v = 0.0;
    int64_t o = 0;
    for (int32_t k = 0; k < s->dims; k++) {
        v += lpt_ref_kl(zq + o, zp + o, mask != NULL ? mask + o : NULL, s->nvec[k]);
        o += s->nvec[k];
    }
    return v;
}

/* A random sample: outputs z[width] and an action a[dims] drawn near the
 * distribution (box: mu + s * N(0, 1) * 1.3; discrete: uniform). */
static inline void lpt_sp_random(const lpt_sp *s, lpt_rng *r, double *z, double *a) {
    if (s->space == LP_ACTION_BOX) {
        for (int32_t j = 0; j < s->dims; j++) {
            z[j] = lpt_rng_uniform(r, -1.5, 1.5);
            z[s->dims + j] = lpt_rng_uniform(r, -1.2, 0.6);
            a[j] = z[j] + exp(z[s->dims + j]) * 1.3 * lpt_rng_normal(r);
        }
        return;
    }
    for (int64_t j = 0; j < s->width; j++)
        z[j] = 1.5 * lpt_rng_normal(r);
    for (int32_t k = 0; k < s->dims; k++)
        a[k] = (double)lpt_rng_int(r, 0, s->nvec[k] - 1);
}

#endif /* LPT_SPACEREF_H */
