/*
 * Numerically stable softmax pieces for loss plugins over discrete actions.
 * Header-only (static inline): a plugin links nothing of lossplug.
 *
 * Every row is shifted by its maximum before exp(), so any finite logits
 * (including +-1e4 together in one row) give finite results: the largest
 * term is exp(0) = 1, the normaliser lies in [1, n], and its log in
 * [0, log n]. Non-finite logits (NaN, Inf) propagate; they are not repaired.
 *
 * Conventions, per row of n >= 1 logits z:
 *   m          = max_j z_j
 *   s          = sum_j exp(z_j - m)          (>= 1)
 *   logsumexp  = m + log(s)
 *   log p_j    = (z_j - m) - log(s)
 *   H          = log(s) - sum_j p_j (z_j - m)   (entropy, >= 0)
 * Loops are plain counted loops over contiguous f32 so that the compiler can
 * vectorise them.
 */
#ifndef LP_COMMON_SOFTMAX_H
#define LP_COMMON_SOFTMAX_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
#define LP__RESTRICT __restrict
#else
#define LP__RESTRICT restrict
#endif

/* The shift and log-normaliser of one row: log p_j = (z_j - max) - log_sum. */
typedef struct lp__lsm {
    float max;
    float log_sum;
} lp__lsm;

/* Largest of z[0..n), n >= 1. */
static inline float lp__max_f32(const float *z, int64_t n) {
    float m = z[0];
    for (int64_t j = 1; j < n; j++)
        m = z[j] > m ? z[j] : m;
    return m;
}

/* Index of the first largest of z[0..n), n >= 1 (ties go to the lowest
 * index, as torch.argmax and numpy.argmax do). */
static inline int64_t lp__argmax_f32(const float *z, int64_t n) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        if (z[j] > z[best])
            best = j;
    return best;
}

/* logsumexp of z[0..n), n >= 1, without scratch memory (two passes). */
static inline float lp__logsumexp_f32(const float *z, int64_t n) {
    float m = lp__max_f32(z, n);
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++)
        s += expf(z[j] - m);
    return m + logf(s);
}

/* Softmax of one row: writes p[j] = softmax(z)_j (p must not alias z) and
 * returns the row's shift and log-normaliser. n >= 1. */
static inline lp__lsm lp__softmax_f32(const float *LP__RESTRICT z, int64_t n,
                                      float *LP__RESTRICT p) {
    lp__lsm r;
    r.max = lp__max_f32(z, n);
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        p[j] = expf(z[j] - r.max);
        s += p[j];
    }
    const float inv = 1.0f / s;
    for (int64_t j = 0; j < n; j++)
        p[j] *= inv;
    r.log_sum = logf(s);
    return r;
}

/* log p_k of a row whose softmax pieces are `r`. */
static inline float lp__log_prob_f32(const float *z, int64_t k, lp__lsm r) {
    return (z[k] - r.max) - r.log_sum;
}

/* Entropy of the row's softmax, from its logits z, its probabilities p (from
 * lp__softmax_f32) and its pieces r. Where p_j underflows to 0 the term is
 * 0 * finite = 0, never NaN. Clamped at 0 against rounding. */
static inline float lp__entropy_f32(const float *LP__RESTRICT z, const float *LP__RESTRICT p,
                                    int64_t n, lp__lsm r) {
    float dot = 0.0f;
    for (int64_t j = 0; j < n; j++)
        dot += p[j] * (z[j] - r.max);
    const float h = r.log_sum - dot;
    return h > 0.0f ? h : 0.0f;
}

#endif /* LP_COMMON_SOFTMAX_H */
