/* The trainer's view of the policy per action space (docs/training.md
 * "Action spaces"): sampling an action from the model's output, its
 * log-probability (the sum over components), the clipping of a box action
 * for the environment; and the running observation normalisation
 * (env.normalize_obs). Allocates nothing: the arrays were sized at setup. */
#include "train/train_impl.h"

#include "util/rng.h"

#include <math.h>
#include <string.h>

/* Uniform in [0, 1) with 24 random bits: exact in float. */
static float next_unit(uint64_t s[4]) {
    return (float)(lp__xoshiro_next(s) >> 40) * 0x1.0p-24f;
}

/* A standard normal draw by Box-Muller from two uniforms of the stream (the
 * first moved to (0, 1] so that its log is finite); one draw per call, so
 * the stream advances by two per component whatever happened before. */
static double next_normal(uint64_t s[4]) {
    double u1 = 1.0 - (double)next_unit(s);
    double u2 = (double)next_unit(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Sample from softmax(z) by inverse CDF and return the action; *logp is its
 * log-probability, max-shifted as the losses compute it. */
static int32_t sample_categorical(const float *z, int64_t A, uint64_t rng[4], float *logp) {
    float m = z[0];
    for (int64_t k = 1; k < A; k++)
        m = z[k] > m ? z[k] : m;
    float sum = 0.0f;
    for (int64_t k = 0; k < A; k++)
        sum += expf(z[k] - m);
    float u = next_unit(rng) * sum;
    int64_t a = A - 1;
    float c = 0.0f;
    for (int64_t k = 0; k < A - 1; k++) {
        c += expf(z[k] - m);
        if (u < c) {
            a = k;
            break;
        }
    }
    *logp = (z[a] - m) - logf(sum);
    return (int32_t)a;
}

void lp__policy_sample(lp__trainer *t) {
    const int64_t n = t->n, P = t->A, K = t->K;
    switch (t->space) {
    case LP_ACTION_MULTI_DISCRETE:
        for (int64_t r = 0; r < n; r++) {
            const float *z = t->logits + r * P;
            float sum = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float lp = 0.0f;
                t->actions[r * K + k] = sample_categorical(z, t->nvec[k], t->rng, &lp);
                sum += lp;
                z += t->nvec[k];
            }
            t->logprobs[r] = sum;
        }
        return;
    case LP_ACTION_BOX:
        for (int64_t r = 0; r < n; r++) {
            const float *mu = t->logits + r * P, *log_std = mu + K;
            double sum = 0.0;
            for (int64_t k = 0; k < K; k++) {
                const float a = mu[k] + expf(log_std[k]) * (float)next_normal(t->rng);
                /* log N(a; mu, std) of the stored sample, as the losses see it */
                const double z = ((double)a - (double)mu[k]) * exp(-(double)log_std[k]);
                sum += -0.5 * z * z - (double)log_std[k] - 0.9189385332046727;
                t->box_actions[r * K + k] = a;
                const float lo = t->low[k], hi = t->high[k];
                t->box_applied[r * K + k] = a < lo ? lo : a > hi ? hi : a;
            }
            t->logprobs[r] = (float)sum;
        }
        return;
    default:
        for (int64_t r = 0; r < n; r++)
            t->actions[r] = sample_categorical(t->logits + r * P, P, t->rng, &t->logprobs[r]);
        return;
    }
}

/* ---- observation normalisation ---------------------------------------------------------
 * Gymnasium's NormalizeObservation (RunningMeanStd): mean 0, variance 1 and
 * a count of 1e-4 at the start, each batch of observations merged with the
 * parallel-variance formula; an observation becomes
 * clip((x - mean) / sqrt(var + 1e-8), -10, 10). The statistics live in
 * t->obs_stats = [mean (D), var (D), count] as f64 (checkpointed as
 * trainer/obs_norm). */

#define LP__OBS_NORM_EPS  1e-8
#define LP__OBS_NORM_CLIP 10.0

void lp__obs_norm_reset(lp__trainer *t) {
    const int64_t D = t->obs_dim;
    for (int64_t d = 0; d < D; d++) {
        t->obs_stats[d] = 0.0;
        t->obs_stats[D + d] = 1.0;
    }
    t->obs_stats[2 * D] = 1e-4;
}

void lp__obs_norm_update(lp__trainer *t, const float *obs, int64_t rows) {
    const int64_t D = t->obs_dim;
    double *mean = t->obs_stats, *var = t->obs_stats + D, *count = t->obs_stats + 2 * D;
    double *bm = t->obs_scratch, *bv = t->obs_scratch + D;
    if (rows <= 0)
        return;
    for (int64_t d = 0; d < D; d++)
        bm[d] = bv[d] = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < D; d++)
            bm[d] += (double)obs[r * D + d];
    for (int64_t d = 0; d < D; d++)
        bm[d] /= (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < D; d++) {
            const double e = (double)obs[r * D + d] - bm[d];
            bv[d] += e * e;
        }
    const double nb = (double)rows, na = *count, tot = na + nb;
    for (int64_t d = 0; d < D; d++) {
        const double delta = bm[d] - mean[d];
        const double m2 = var[d] * na + bv[d] + delta * delta * na * nb / tot;
        mean[d] += delta * nb / tot;
        var[d] = m2 / tot;
    }
    *count = tot;
}

void lp__obs_norm_apply(const lp__trainer *t, const float *in, float *out, int64_t rows) {
    const int64_t D = t->obs_dim;
    const double *mean = t->obs_stats, *var = t->obs_stats + D;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < D; d++) {
            double x = ((double)in[r * D + d] - mean[d]) / sqrt(var[d] + LP__OBS_NORM_EPS);
            x = x < -LP__OBS_NORM_CLIP  ? -LP__OBS_NORM_CLIP
                : x > LP__OBS_NORM_CLIP ? LP__OBS_NORM_CLIP
                                        : x;
            out[r * D + d] = (float)x;
        }
}
