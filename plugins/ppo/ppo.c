/*
 * ppo: Metta's PPO actor loss (CleanRL's ppo.py policy term).
 *
 *   ratio_i = exp(log p_i[a_i] - logprobs_i)
 *   A_i     = advantages, normalised per minibatch when norm_adv:
 *             (A - mean) / (std + 1e-8), unbiased std (0 when M == 1)
 *   L_pg    = mean_i max(-A_i ratio_i, -A_i clip(ratio_i, 1 - eps, 1 + eps))
 *   L       = L_pg - ent_coef * mean_i H_i
 *   dL/dz_ij = -(A_i ratio_i m_i / M) (1[j = a_i] - p_ij)
 *              + (ent_coef / M) p_ij (log p_ij + H_i)
 *
 * m_i = 0 where the clipped branch is the max (A > 0 and ratio > 1 + eps, or
 * A < 0 and ratio < 1 - eps), else 1. The log-ratio is clamped at
 * PPO_LOGRATIO_MAX before exp(), so that a ratio is never Inf (the clamped
 * sample then has no gradient, as in dual-clip PPO). It writes each sample's
 * ratio into the `ratios` field (for V-trace in gae), and asks the host to
 * stop when target_kl is set and the last minibatch of an update epoch has
 * approx_kl above it.
 *
 * Masked actions (-inf logits, or 0 in the optional field `action_mask`)
 * have probability 0, add nothing to the entropy (0 log 0 = 0) and get an
 * exactly 0 gradient; a taken action that is masked is an error. The
 * advantages' mean is subtracted as in f64 (a rounded f32 mean would shift
 * every normalised advantage). A non-finite input or loss is LP_ENUMERIC
 * naming the field or output, row and step.
 * docs/losses/ppo.md has the details.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_dispatch.h"
#include "lp_mask.h"
#include "lp_space.h"
#include "lp_vmath.h"

#include <stdlib.h>

#define PPO_F_ADV    "advantages"
#define PPO_F_ACT    "actions"
#define PPO_F_LOGP   "logprobs"
#define PPO_F_RATIO  "ratios"
#define PPO_O_LOGITS "logits"

/* e^20 = 4.85e8: far beyond any ratio of a sane update, small enough that
 * A * ratio / M stays finite in f32 for any |A| < 1e29. */
#define PPO_LOGRATIO_MAX 20.0f

/* Samples per chunk: per-row math (log, ratio, masks) runs vectorised across
 * the rows of a chunk. A multiple of the 8 lanes used for sums. */
#define PPO_CHUNK 64

enum { PPO_P_CLIP = 0, PPO_P_ENT, PPO_P_NORM, PPO_P_TKL, PPO_NPARAMS };

static const lp_param_spec ppo_params[] = {
    LP_PARAM_FLOAT_SPEC("clip_coef",
                        "surrogate clip range eps: the ratio is clipped to [1 - eps, 1 + eps]", 0.2,
                        0.0, 10.0),
    LP_PARAM_FLOAT_SPEC("ent_coef", "entropy bonus: the loss subtracts ent_coef * mean entropy",
                        0.01, 0.0, 1e6),
    LP_PARAM_BOOL_SPEC(
        "norm_adv", "normalise advantages per minibatch: (A - mean) / (std + 1e-8), unbiased std",
        1),
    LP_PARAM_FLOAT_SPEC("target_kl",
                        "stop the train phase when the last minibatch of an update epoch has "
                        "approx_kl above this; 0 disables",
                        0.0, 0.0, 1e6),
};

enum { PPO_S_PG = 0, PPO_S_ENT, PPO_S_AKL, PPO_S_OKL, PPO_S_CLIP, PPO_S_IMP, PPO_NSTATS };
static const char *const ppo_stat_keys[PPO_NSTATS] = {
    "policy_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac", "importance",
};

static const lp_field_spec ppo_fields[] = {
    LP_FIELD_SCALAR(PPO_F_ADV, "advantage estimates (written by gae at train-phase start)",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR(PPO_F_ACT,
                    "action taken at each step, in [0, num_actions); written by the embedding "
                    "program during rollout",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_I32),
    LP_FIELD_SCALAR(PPO_F_LOGP,
                    "log p(action) under the policy that acted; written by the embedding program "
                    "during rollout",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR(PPO_F_RATIO,
                    "exp(log p_new - logprobs) of each sample's latest minibatch pass (for "
                    "V-trace)",
                    LP_FIELD_WRITE, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP__MASK_FIELD_SPEC,
};

/* Field order = the order of handles in ppo_inst.fh. */
enum { PPO_H_ADV = 0, PPO_H_ACT, PPO_H_LOGP, PPO_H_RATIO, PPO_NFIELDS };
/* ... then the optional action_mask, resolved on its own. */
typedef char ppo_fields_match[LP_COUNT_OF(ppo_fields) == PPO_NFIELDS + 1 ? 1 : -1];

static const char *const ppo_outputs[] = {PPO_O_LOGITS, NULL};

/* ---- the kernel ----------------------------------------------------------- */

/* One minibatch, as the kernel sees it. Field pointers are strided views
 * [rows, horizon] (strides in elements); logits and gradient contiguous. */
typedef struct ppo_job {
    const float *z;
    float *g; /* NULL: no gradient (weight 0) */
    int64_t A, M, hor;
    const float *adv;
    const int32_t *act;
    const float *oldp;
    float *ratio;
    int64_t adv_s0, adv_s1, act_s0, act_s1, old_s0, old_s1, rat_s0, rat_s1;
    int contig;             /* all four dense [rows, horizon]: element index = sample index */
    float mean_hi, mean_lo; /* the f64 mean as a sum of two floats */
    float adv_scale;        /* A_n = ((A - mean_hi) - mean_lo) * scale */
    const lp_tensor *mask;  /* u8 [rows, horizon, A], or NULL */
    float *Zm;              /* with a mask: chunk * A masked logits (-inf where masked) */
    float lo, hi;           /* 1 - eps, 1 + eps, rounded to f32 */
    float kpg;              /* weight / M */
    float ke;               /* weight * ent_coef / M */
    float *E;               /* scratch: chunk * A floats */
    int64_t chunk;          /* rows per chunk, a multiple of 8, <= PPO_CHUNK */
} ppo_job;

/* Sums over the minibatch, in f64. */
typedef struct ppo_sums {
    double pg, ent, akl, okl, clip, ratio;
} ppo_sums;

/* Largest of z[0..A), in order (rows of fewer than 8 actions). NaN
 * elements are skipped here and propagate through z - max later. */
static LP__ALWAYS_INLINE float ppo_row_max(const float *LP__RESTRICT z, int64_t A) {
    float m = z[0];
    for (int64_t j = 1; j < A; j++)
        m = z[j] > m ? z[j] : m;
    return m;
}

/* z - max clamped below at PPO_T_MIN, where exp() is exactly 0 already: a
 * masked action (z - max = -inf) then has E = 0 and adds 0 * PPO_T_MIN = 0
 * to a dot or a gradient instead of 0 * -inf = NaN; NaN stays NaN. A
 * clamp, not a select on E, so that the loops still vectorise. */
#define PPO_T_MIN -87.0f
static LP__ALWAYS_INLINE float ppo_t(float t) {
    return t < PPO_T_MIN ? PPO_T_MIN : t;
}

/* Rows of fewer than 8 actions, in order: the exponentials E[j] =
 * exp(z_j - max), their sum *s and their dot *d with z_j - max (the sums
 * 8 lanes with only lane 0 used would give). */
static LP__ALWAYS_INLINE void ppo_row_exp(const float *LP__RESTRICT z, int64_t A, float mx,
                                          float *LP__RESTRICT E, float *s, float *d) {
    float sa = 0.0f, da = 0.0f;
    for (int64_t j = 0; j < A; j++) {
        const float t = z[j] - mx;
        const float e = lp__expf_nonpos(t);
        E[j] = e;
        sa += e;
        da += e * ppo_t(t);
    }
    *s = sa, *d = da;
}

/* Rows of A >= 8 actions are walked in lanes, 8 independent sums (or
 * maxima) per row so that nothing needs reassociating, and the folds of the
 * lanes are split from the walk: each row leaves 8 lanes in a [rows][8]
 * scratch, and one loop across the rows of a chunk folds them (vectorised
 * over rows, no horizontal shuffles per row; a fold per row cost about a
 * quarter of the kernel). W is the number of lanes a row is walked in: 8,
 * or 16 in the AVX-512 build for rows of 16 or more actions (one 512-bit
 * vector per block; the upper 8 lanes are added to the lower 8 before the
 * store). A width that is not a multiple of W ends with the last W
 * elements as one more block, overlapping the last whole one: the max does
 * not mind seeing an element twice, the sums add 0 in the lanes already
 * done (no loop of a run-time length shorter than a vector). */
static LP__ALWAYS_INLINE void ppo_row_maxw(const float *LP__RESTRICT z, int64_t A, const int W,
                                           float *LP__RESTRICT l8) {
    float lw[16];
    for (int l = 0; l < W; l++)
        lw[l] = z[l];
    int64_t j = W;
    for (; j + W <= A; j += W)
        for (int l = 0; l < W; l++)
            lw[l] = z[j + l] > lw[l] ? z[j + l] : lw[l];
    if (j < A) { /* the last W elements, some seen already: max does not mind */
        const float *LP__RESTRICT zt = z + (A - W);
        for (int l = 0; l < W; l++)
            lw[l] = zt[l] > lw[l] ? zt[l] : lw[l];
    }
    for (int l = 0; l < 8; l++)
        l8[l] = W == 16 && lw[l + 8] > lw[l] ? lw[l + 8] : lw[l];
}

static LP__ALWAYS_INLINE float ppo_fold_max(const float *LP__RESTRICT l8) {
    const float m0 = l8[4] > l8[0] ? l8[4] : l8[0], m1 = l8[5] > l8[1] ? l8[5] : l8[1];
    const float m2 = l8[6] > l8[2] ? l8[6] : l8[2], m3 = l8[7] > l8[3] ? l8[7] : l8[3];
    const float n0 = m2 > m0 ? m2 : m0, n1 = m3 > m1 ? m3 : m1;
    return n1 > n0 ? n1 : n0;
}

static LP__ALWAYS_INLINE void ppo_row_expw(const float *LP__RESTRICT z, int64_t A, const int W,
                                           float mx, float *LP__RESTRICT E,
                                           float *LP__RESTRICT s8_out, float *LP__RESTRICT d8_out) {
    /* Local lanes, stored once: accumulating through the output pointers
     * made GCC load and store them per block (a store-to-load chain). */
    float sw[16], dw[16];
    /* The first block sets the lanes (0 + e is e here: e >= +0 or NaN; a
     * -0 product in place of +0 changes no sum's use), the rest add. */
    for (int l = 0; l < W; l++) {
        const float t = z[l] - mx;
        const float e = lp__expf_nonpos(t);
        E[l] = e;
        sw[l] = e;
        dw[l] = e * ppo_t(t);
    }
    int64_t j = W;
    for (; j + W <= A; j += W) {
        for (int l = 0; l < W; l++) {
            const float t = z[j + l] - mx;
            const float e = lp__expf_nonpos(t);
            E[j + l] = e;
            sw[l] += e;
            dw[l] += e * ppo_t(t);
        }
    }
    if (j < A) {
        /* The last W elements as one block; the first `skip` of them were
         * done above (their E is stored again, the same value) and add 0. */
        const int64_t j0 = A - W;
        const int skip = (int)(j - j0);
        for (int l = 0; l < W; l++) {
            const float t = z[j0 + l] - mx;
            const float e = lp__expf_nonpos(t);
            const float et = e * ppo_t(t);
            E[j0 + l] = e;
            sw[l] += l >= skip ? e : 0.0f;
            dw[l] += l >= skip ? et : 0.0f;
        }
    }
    for (int l = 0; l < 8; l++) {
        s8_out[l] = W == 16 ? sw[l] + sw[l + 8] : sw[l];
        d8_out[l] = W == 16 ? dw[l] + dw[l + 8] : dw[l];
    }
}

static LP__ALWAYS_INLINE float ppo_fold_sum(const float *LP__RESTRICT l8) {
    return ((l8[0] + l8[4]) + (l8[2] + l8[6])) + ((l8[1] + l8[5]) + (l8[3] + l8[7]));
}

/* g_j += E_j (a0 + a1 (z_j - max)), then - kp at the taken action a: the
 * one-hot term as a select in the same pass (a scalar update of g[a] after
 * the row's vector store stalls on store-to-load forwarding), in the same
 * order as two separate updates, so the same bits. The restrict parameters
 * spare the vectoriser a run-time alias check per row. Exactly 0 where
 * E_j = 0 (a masked action: z_j - max = -inf) and j != a. */
static LP__ALWAYS_INLINE void ppo_row_grad(const float *LP__RESTRICT z, const float *LP__RESTRICT E,
                                           float *LP__RESTRICT g, int64_t A, float a0, float a1,
                                           float mx, int32_t a, float kp) {
    for (int64_t j = 0; j < A; j++) /* A < 2^31 (ppo_check_batch): 32-bit compares */
        g[j] = (g[j] + E[j] * (a0 + a1 * ppo_t(z[j] - mx))) - ((int32_t)j == a ? kp : 0.0f);
}

/* ppo_row_grad for rows of A >= W actions, in blocks of W; a width that is
 * not a multiple of W ends with the last W elements as one more block,
 * which overlaps the last whole one. Both are computed from the gradient as
 * it was before either is stored, so the elements they share get the same
 * value from both, and no block is read back just after a store to an
 * overlapping one (which would stall on store forwarding: it did, 1.5x). */
static LP__ALWAYS_INLINE float ppo_grad_one(const float *LP__RESTRICT z,
                                            const float *LP__RESTRICT E,
                                            const float *LP__RESTRICT g, int64_t i, float a0,
                                            float a1, float mx, int32_t a, float kp) {
    return (g[i] + E[i] * (a0 + a1 * ppo_t(z[i] - mx))) - ((int32_t)i == a ? kp : 0.0f);
}

static LP__ALWAYS_INLINE void ppo_row_gradw(const float *LP__RESTRICT z,
                                            const float *LP__RESTRICT E, float *LP__RESTRICT g,
                                            int64_t A, const int W, float a0, float a1, float mx,
                                            int32_t a, float kp) {
    const int64_t whole = A - A % W;                   /* >= W */
    const int64_t jl = A % W == 0 ? whole : whole - W; /* where the plain blocks stop */
    for (int64_t j = 0; j < jl; j += W)
        for (int l = 0; l < W; l++)
            g[j + l] = ppo_grad_one(z, E, g, j + l, a0, a1, mx, a, kp);
    if (jl < A) {
        const int64_t jt = A - W;
        float ul[16], ut[16];
        for (int l = 0; l < W; l++) {
            ul[l] = ppo_grad_one(z, E, g, jl + l, a0, a1, mx, a, kp);
            ut[l] = ppo_grad_one(z, E, g, jt + l, a0, a1, mx, a, kp);
        }
        for (int l = 0; l < W; l++)
            g[jt + l] = ut[l];
        for (int l = 0; l < W; l++)
            g[jl + l] = ul[l];
    }
}

/* Asks for the cache lines of one row of A floats ahead of their use: the
 * logits and gradient rows of 16384 x 16 (2 MB) stream from L3, and the
 * chunk's phases (max, exponentials, gradient) each read one stream for
 * too short a time for the hardware prefetcher to ramp up. */
#if defined(__GNUC__)
#define PPO_PREFETCH(p, rw) __builtin_prefetch((p), (rw))
#else
#define PPO_PREFETCH(p, rw) ((void)(p))
#endif
static LP__ALWAYS_INLINE void ppo_prefetch_row(const float *p, int64_t A, const int rw) {
    for (int64_t j = 0; j < A; j += 16) /* 64-byte lines */
        if (rw)
            PPO_PREFETCH(p + j, 1);
        else
            PPO_PREFETCH(p + j, 0);
}

/* Stage A of a chunk of n rows of A >= 8 actions, walked in W lanes: each
 * row's max, exponentials (into E), their sum s and dot d; the lanes go
 * through the [rows][8] scratches L8 and D8. */
static LP__ALWAYS_INLINE void ppo_lanes(const ppo_job *J, const float *zc, int64_t i0, int64_t n,
                                        const int64_t A, const int W, float *LP__RESTRICT E,
                                        float *LP__RESTRICT L8, float *LP__RESTRICT D8,
                                        float *LP__RESTRICT mx, float *LP__RESTRICT s,
                                        float *LP__RESTRICT d) {
    for (int64_t k = 0; k < n; k++)
        ppo_row_maxw(zc + k * A, A, W, L8 + k * 8);
    for (int64_t k = 0; k < n; k++)
        mx[k] = ppo_fold_max(L8 + k * 8);
    /* While exp() runs: the next chunk's logits, this chunk's gradient. */
    const int64_t nnext = J->M - (i0 + n) < n ? J->M - (i0 + n) : n;
    float *gc = J->g != NULL ? J->g + i0 * A : NULL;
    for (int64_t k = 0; k < n; k++) {
        if (k < nnext)
            ppo_prefetch_row(J->z + (i0 + n + k) * A, A, 0);
        if (gc != NULL)
            ppo_prefetch_row(gc + k * A, A, 1);
        ppo_row_expw(zc + k * A, A, W, mx[k], E + k * A, L8 + k * 8, D8 + k * 8);
    }
    for (int64_t k = 0; k < n; k++) {
        s[k] = ppo_fold_sum(L8 + k * 8);
        d[k] = ppo_fold_sum(D8 + k * 8);
    }
}

/* Adds v[0..n) (n a multiple of 8) into acc in 8 lanes of f64. */
static LP__ALWAYS_INLINE void ppo_lane_sum(double *LP__RESTRICT acc, const float *LP__RESTRICT v,
                                           int64_t n) {
    for (int64_t k = 0; k < n; k += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += (double)v[k + l];
}

static LP__ALWAYS_INLINE double ppo_lanes_total(const double *acc) {
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* The whole minibatch for a row width A; inlined with A constant for the
 * common widths so that the per-row loops unroll. */
static LP__ALWAYS_INLINE void ppo_run(const ppo_job *J, const int64_t A, const int wide,
                                      ppo_sums *S) {
    float s[PPO_CHUNK], d[PPO_CHUNK], mx[PPO_CHUNK], za[PPO_CHUNK], old[PPO_CHUNK], adv[PPO_CHUNK];
    int32_t act[PPO_CHUNK];
    float L8[PPO_CHUNK * 8], D8[PPO_CHUNK * 8]; /* A >= 8: each row's 8 lanes */
    float c0[PPO_CHUNK], c1[PPO_CHUNK], kpg[PPO_CHUNK], ratio[PPO_CHUNK];
    float st_pg[PPO_CHUNK], st_ent[PPO_CHUNK], st_akl[PPO_CHUNK], st_okl[PPO_CHUNK],
        st_clip[PPO_CHUNK];
    double acc[6][8] = {{0}};
    const float lo = J->lo, hi = J->hi, mhi = J->mean_hi, mlo = J->mean_lo;
    const float ascale = J->adv_scale;
    const float kw = J->kpg, ke = J->ke;
    const int64_t hor = J->hor, chunk = J->chunk;
    float *LP__RESTRICT E = J->E;

    int64_t r = 0, t = 0; /* (row, step) of the chunk's first sample */
    for (int64_t i0 = 0; i0 < J->M; i0 += chunk) {
        const int64_t n = J->M - i0 < chunk ? J->M - i0 : chunk;
        const int64_t n8 = (n + 7) & ~(int64_t)7;

        /* Gather the per-sample fields of the chunk (views may be strided). */
        if (J->contig) {
            memcpy(act, J->act + i0, (size_t)n * sizeof *act);
            memcpy(old, J->oldp + i0, (size_t)n * sizeof *old);
            memcpy(adv, J->adv + i0, (size_t)n * sizeof *adv);
        } else {
            int64_t rr = r, tt = t;
            for (int64_t k = 0; k < n; k++) {
                act[k] = J->act[rr * J->act_s0 + tt * J->act_s1];
                old[k] = J->oldp[rr * J->old_s0 + tt * J->old_s1];
                adv[k] = J->adv[rr * J->adv_s0 + tt * J->adv_s1];
                if (++tt == hor)
                    tt = 0, rr++;
            }
        }
        for (int64_t k = n; k < n8; k++) /* padding: benign values */
            act[k] = 0, old[k] = 0.0f, adv[k] = mhi;

        /* A: per row, max, exponentials, their sum and dot. */
        const float *zc = J->z + i0 * A;
        if (J->mask != NULL) {
            /* Masked actions become -inf logits in a copy of the chunk. */
            const lp_tensor *m = J->mask;
            int64_t rr = i0 / hor, tt = i0 % hor;
            for (int64_t k = 0; k < n; k++) {
                const uint8_t *mrow =
                    (const uint8_t *)m->data + rr * m->strides[0] + tt * m->strides[1];
                const int64_t ms = m->strides[2];
                for (int64_t j = 0; j < A; j++)
                    J->Zm[k * A + j] = mrow[j * ms] != 0 ? zc[k * A + j] : -INFINITY;
                if (++tt == hor)
                    tt = 0, rr++;
            }
            zc = J->Zm;
        }
        /* Separate loops: each row's max is ready long before its
         * exponentials need it, and the rows' dependency chains overlap. */
        if (A >= 8) {
            /* W a constant in each branch, also where A is not: a run-time
             * lane count left the lanes on the stack (3x slower). */
            if (wide && A >= 16)
                ppo_lanes(J, zc, i0, n, A, 16, E, L8, D8, mx, s, d);
            else
                ppo_lanes(J, zc, i0, n, A, 8, E, L8, D8, mx, s, d);
        } else {
            for (int64_t k = 0; k < n; k++)
                mx[k] = ppo_row_max(zc + k * A, A);
            for (int64_t k = 0; k < n; k++)
                ppo_row_exp(zc + k * A, A, mx[k], E + k * A, &s[k], &d[k]);
        }
        for (int64_t k = 0; k < n; k++)
            za[k] = zc[k * A + act[k]] - mx[k];
        for (int64_t k = n; k < n8; k++)
            s[k] = 1.0f, d[k] = 0.0f, za[k] = 0.0f;

        /* B: per-row scalars, across the rows of the chunk (vectorised). */
        for (int64_t k = 0; k < n8; k++) {
            const float inv = 1.0f / s[k];
            const float ls = lp__logf(s[k]);
            float h = ls - d[k] * inv;
            h = h < 0.0f ? 0.0f : h; /* rounding; NaN stays NaN */
            const float lr_raw = (za[k] - ls) - old[k];
            const float lr = lr_raw > PPO_LOGRATIO_MAX ? PPO_LOGRATIO_MAX : lr_raw;
            const float rt = lp__expf(lr);
            /* The mean subtracted as in f64: A - mean_hi is exact where it
             * matters (A near the mean: Sterbenz), then mean_lo. */
            const float an = ((adv[k] - mhi) - mlo) * ascale;
            float rc = rt < lo ? lo : rt;
            rc = rc > hi ? hi : rc;
            const float u = -an * rt, c = -an * rc;
            /* m = 0 exactly where the clipped term is the strict max (A > 0
             * and ratio > 1 + eps, or A < 0 and ratio < 1 - eps): ties go to
             * the unclipped term, and a NaN keeps its gradient (NaN). Beyond
             * the log-ratio clamp the loss is flat: no gradient. Selects
             * only, no boolean algebra, so that the loop vectorises. */
            float kp = u < c ? 0.0f : kw * an * rt;
            kp = lr_raw > PPO_LOGRATIO_MAX ? 0.0f : kp;
            st_pg[k] = u > c ? u : c;
            st_ent[k] = h;
            st_akl[k] = (rt - 1.0f) - lr;
            st_okl[k] = -lr;
            /* two selects added: a nested one does not vectorise */
            st_clip[k] = (rt > hi ? 1.0f : 0.0f) + (rt < lo ? 1.0f : 0.0f);
            ratio[k] = rt;
            kpg[k] = kp;
            /* g_j += p_j (kp + ke (log p_j + H)), p_j = E_j / s,
             * log p_j = (z_j - max) - ls. */
            c0[k] = inv * (kp + ke * (h - ls));
            c1[k] = inv * ke;
        }
        for (int64_t k = n; k < n8; k++)
            st_pg[k] = st_ent[k] = st_akl[k] = st_okl[k] = st_clip[k] = ratio[k] = 0.0f;
        ppo_lane_sum(acc[0], st_pg, n8);
        ppo_lane_sum(acc[1], st_ent, n8);
        ppo_lane_sum(acc[2], st_akl, n8);
        ppo_lane_sum(acc[3], st_okl, n8);
        ppo_lane_sum(acc[4], st_clip, n8);
        ppo_lane_sum(acc[5], ratio, n8);

        /* Ratios back into the buffer. */
        if (J->contig) {
            memcpy(J->ratio + i0, ratio, (size_t)n * sizeof *ratio);
        } else {
            int64_t rr = r, tt = t;
            for (int64_t k = 0; k < n; k++) {
                J->ratio[rr * J->rat_s0 + tt * J->rat_s1] = ratio[k];
                if (++tt == hor)
                    tt = 0, rr++;
            }
            r = rr, t = tt;
        }

        /* C: the gradient, per row (zc: the masked copy when there is a
         * mask, so that masked actions get exactly 0). */
        if (J->g != NULL) {
            float *gc = J->g + i0 * A;
            if (A >= 16 && wide)
                for (int64_t k = 0; k < n; k++)
                    ppo_row_gradw(zc + k * A, E + k * A, gc + k * A, A, 16, c0[k], c1[k], mx[k],
                                  act[k], kpg[k]);
            else if (A >= 8)
                for (int64_t k = 0; k < n; k++)
                    ppo_row_gradw(zc + k * A, E + k * A, gc + k * A, A, 8, c0[k], c1[k], mx[k],
                                  act[k], kpg[k]);
            else
                for (int64_t k = 0; k < n; k++)
                    ppo_row_grad(zc + k * A, E + k * A, gc + k * A, A, c0[k], c1[k], mx[k], act[k],
                                 kpg[k]);
        }
    }
    S->pg = ppo_lanes_total(acc[0]);
    S->ent = ppo_lanes_total(acc[1]);
    S->akl = ppo_lanes_total(acc[2]);
    S->okl = ppo_lanes_total(acc[3]);
    S->clip = ppo_lanes_total(acc[4]);
    S->ratio = ppo_lanes_total(acc[5]);
}

typedef void (*ppo_kernel_fn)(const ppo_job *J, ppo_sums *S);

/* The body of every build (lp_dispatch.h): the switch lets the common
 * widths compile with A constant; `wide` walks rows of 16 or more actions
 * in 16 lanes (the AVX-512 build). */
#define PPO_KERNEL_SWITCH(wide)                                                                    \
    switch (J->A) {                                                                                \
    case 2:                                                                                        \
        ppo_run(J, 2, wide, S);                                                                    \
        break;                                                                                     \
    case 4:                                                                                        \
        ppo_run(J, 4, wide, S);                                                                    \
        break;                                                                                     \
    case 8:                                                                                        \
        ppo_run(J, 8, wide, S);                                                                    \
        break;                                                                                     \
    case 16:                                                                                       \
        ppo_run(J, 16, wide, S);                                                                   \
        break;                                                                                     \
    default:                                                                                       \
        ppo_run(J, J->A, wide, S);                                                                 \
        break;                                                                                     \
    }

/* ppo_kernel_pick: baseline or AVX2; the AVX-512 build on its own (rows of
 * at least 16 actions in 16 lanes), used for rows of at least 8. */
LP__DEFINE_KERNELS(ppo_kernel_fn, ppo_kernel, void, (const ppo_job *J, ppo_sums *S),
                   { PPO_KERNEL_SWITCH(0); })
#if LP__HAVE_ISA_VARIANTS
__attribute__((target(LP__AVX512_TARGET))) static void ppo_kernel_avx512(const ppo_job *J,
                                                                         ppo_sums *S) {
    PPO_KERNEL_SWITCH(1);
}
#endif

/* The advantages' sum and squared deviations in f64 over dense fields, in
 * PPO_ADV_LANES lanes (sample i in lane i % PPO_ADV_LANES, the samples past
 * the last whole group in lane 0): enough independent adds to keep the
 * adder busy. ppo_train's walk over strided fields sums in the same lanes,
 * so both give the same bits. */
#define PPO_ADV_LANES 16
/* Unrolled, the lanes stay in registers (as a loop, GCC kept them on the
 * stack: a store-to-load chain per group). */
#if defined(__GNUC__) && !defined(__clang__)
#define PPO_UNROLL_LANES _Pragma("GCC unroll 16")
#else
#define PPO_UNROLL_LANES
#endif

static LP__ALWAYS_INLINE double ppo_adv_total(const double *acc) {
    double h[8];
    for (int l = 0; l < 8; l++)
        h[l] = acc[l] + acc[l + 8];
    return ppo_lanes_total(h);
}

/* The sum, and the check that every action is in [0, A): returns 0 when
 * one is not (the caller then walks the samples in order to name the
 * first). */
typedef int (*ppo_adv_sum_fn)(const int32_t *act, const float *adv, int64_t M, int64_t A,
                              double *sum);
static LP__ALWAYS_INLINE int ppo_adv_sum_run(const int32_t *LP__RESTRICT act,
                                             const float *LP__RESTRICT adv, int64_t M, int64_t A,
                                             double *sum) {
    uint32_t bad = 0; /* a loop of its own: a plain OR reduction vectorises */
    for (int64_t i = 0; i < M; i++)
        bad |= (uint32_t)act[i] >= (uint32_t)A ? 1u : 0u;
    double acc[PPO_ADV_LANES] = {0};
    int64_t i = 0;
    for (; i + PPO_ADV_LANES <= M; i += PPO_ADV_LANES) {
        PPO_UNROLL_LANES
        for (int l = 0; l < PPO_ADV_LANES; l++)
            acc[l] += (double)adv[i + l];
    }
    for (; i < M; i++)
        acc[0] += (double)adv[i];
    *sum = ppo_adv_total(acc);
    return bad == 0;
}

/* The squared deviations, over a [rows, hor] view with strides (s0, s1)
 * in elements: dense views in one vectorised loop, others walked, in the
 * same lanes and the same build (the same contraction into FMA), so the
 * same bits either way. */
typedef double (*ppo_adv_ss_fn)(const float *adv, int64_t rows, int64_t hor, int64_t s0, int64_t s1,
                                double mean);
static LP__ALWAYS_INLINE double ppo_adv_ss_run(const float *LP__RESTRICT adv, int64_t rows,
                                               int64_t hor, int64_t s0, int64_t s1, double mean) {
    double acc[PPO_ADV_LANES] = {0};
    const int64_t M = rows * hor;
    if ((s1 == 1 || hor == 1) && (s0 == hor || rows == 1)) {
        int64_t i = 0;
        for (; i + PPO_ADV_LANES <= M; i += PPO_ADV_LANES) {
            PPO_UNROLL_LANES
            for (int l = 0; l < PPO_ADV_LANES; l++) {
                const double dv = (double)adv[i + l] - mean;
                acc[l] += dv * dv;
            }
        }
        for (; i < M; i++) {
            const double dv = (double)adv[i] - mean;
            acc[0] += dv * dv;
        }
    } else {
        const int64_t Mg = M - M % PPO_ADV_LANES;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < hor; t++) {
                const int64_t i = r * hor + t;
                const double dv = (double)adv[r * s0 + t * s1] - mean;
                acc[i < Mg ? i % PPO_ADV_LANES : 0] += dv * dv;
            }
    }
    return ppo_adv_total(acc);
}

LP__DEFINE_KERNELS(ppo_adv_sum_fn, ppo_adv_sum, int,
                   (const int32_t *act, const float *adv, int64_t M, int64_t A, double *sum),
                   { return ppo_adv_sum_run(act, adv, M, A, sum); })
LP__DEFINE_KERNELS(ppo_adv_ss_fn, ppo_adv_ss, double,
                   (const float *adv, int64_t rows, int64_t hor, int64_t s0, int64_t s1,
                    double mean),
                   { return ppo_adv_ss_run(adv, rows, hor, s0, s1, mean); })

/* ---- the instance --------------------------------------------------------- */

typedef struct ppo_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params;            /* host-owned, updated in place (annealing) */
    const char *name;                  /* host-owned (args->name), valid until destroy */
    int32_t fh[PPO_NFIELDS], o_logits; /* resolved in attach */
    int32_t fh_mask;                   /* -1: no action_mask */
    int32_t stats[PPO_NSTATS];
    ppo_kernel_fn kernel;        /* the widest build (AVX-512 where the CPU has it) */
    ppo_kernel_fn kernel_narrow; /* at most AVX2: rows of fewer than 8 actions */
    ppo_adv_sum_fn adv_sum;      /* dense advantages' sum and the actions' range */
    ppo_adv_ss_fn adv_ss;        /* dense advantages' squared deviations */
    float *scratch;
    int64_t scratch_cap;
    /* The action space, read once in create. Multi-discrete and box run
     * ppo_train_space (lossplug/dist.h's lp_policy layer); the discrete
     * path above is unchanged. */
    lp_policy pol;
    lp_field_spec specs[LP__SPACE_MAX_FIELDS]; /* the field list for the space */
    uint32_t spec_count;
    float *sp_p;      /* policy_width probabilities */
    lp_cat *sp_c;     /* dims categorical pieces */
    uint8_t *sp_mask; /* policy_width mask bytes */
    float *sp_act;    /* dims action values (i32 or f32 bits) */
} ppo_inst;

static ppo_inst *ppo_of(const lp_loss *self) {
    return (ppo_inst *)self->data;
}

static double ppo_param_f(const ppo_inst *in, int i) {
    return lp_value_f(&in->params[i]);
}

static int32_t ppo_attach(const lp_loss *self, const lp_batch *all) {
    ppo_inst *in = ppo_of(self);
    const lp_host *h = in->host;
    int32_t rc = LP_OK;
    for (int k = 0; k < PPO_NFIELDS && rc == LP_OK; k++)
        rc = lp__require_field(h, "ppo", in->name, ppo_fields[k].name,
                               "; compose ppo with a loss or program that writes it "
                               "(docs/losses/ppo.md)",
                               &in->fh[k]);
    if (rc == LP_OK)
        rc = lp__require_output(h, "ppo", in->name, PPO_O_LOGITS,
                                " (f32, [rows, horizon, num_actions]); it needs a discrete policy "
                                "head",
                                &in->o_logits);
    if (rc == LP_OK)
        rc = lp__mask_attach(h, "ppo", in->name, all, &in->fh_mask);
    return rc;
}

/* The output's per-sample shape is the program's declaration, which the
 * host does not match against this loss (abi.h, "what the host
 * guarantees"); fields, rows, horizon and contiguity it does guarantee. */
static int32_t ppo_check_batch(const ppo_inst *in, const lp_batch *mb) {
    const lp_tensor *z = &mb->outputs[in->o_logits];
    if (z->dtype != LP_DTYPE_F32 || z->rank != 3 || z->shape[2] < 1 || z->shape[2] > INT32_MAX)
        return lp_errorf(in->host, LP_ESPEC,
                         "ppo '%s': output '" PPO_O_LOGITS
                         "' must be f32 [%lld, %lld, A], 1 <= A < 2^31 "
                         "(actions are i32)",
                         in->name, (long long)mb->rows, (long long)mb->horizon);
    if (in->pol.space != LP_ACTION_DISCRETE && z->shape[2] != in->pol.width)
        return lp_errorf(in->host, LP_ESPEC,
                         "ppo '%s': output '" PPO_O_LOGITS
                         "' has %lld values per sample, but the action space's policy_width is "
                         "%lld",
                         in->name, (long long)z->shape[2], (long long)in->pol.width);
    return LP_OK;
}

/* The report for a minibatch whose sums are not finite: the first sample
 * (in row, step order) with a taken action whose logit is -inf, a
 * non-finite advantage or old log-probability, or a NaN / +inf logit on an
 * allowed action. The gradient and ratios may already be partly written
 * (the session discards a failed minibatch). */
static int32_t ppo_diagnose(const ppo_inst *in, const lp_batch *mb, const lp_tensor *maskt,
                            double sum) {
    const lp_host *h = in->host;
    const lp_tensor *zt = &mb->outputs[in->o_logits];
    const lp_tensor *advt = &mb->fields[in->fh[PPO_H_ADV]], *actt = &mb->fields[in->fh[PPO_H_ACT]];
    const lp_tensor *oldt = &mb->fields[in->fh[PPO_H_LOGP]];
    const float *z = (const float *)zt->data, *adv = (const float *)advt->data;
    const float *oldp = (const float *)oldt->data;
    const int32_t *act = (const int32_t *)actt->data;
    const int64_t A = zt->shape[2];
    for (int64_t r = 0; r < mb->rows; r++) {
        for (int64_t t = 0; t < mb->horizon; t++) {
            const float *zi = z + (r * mb->horizon + t) * A;
            const int32_t a = act[r * actt->strides[0] + t * actt->strides[1]];
            const float v = adv[r * advt->strides[0] + t * advt->strides[1]];
            const float o = oldp[r * oldt->strides[0] + t * oldt->strides[1]];
            if (zi[a] == -INFINITY)
                return lp__report_masked_action(h, "ppo", in->name, "action", a, r, t, 0);
            if (!isfinite(v))
                return lp__report_nonfinite(h, "ppo", in->name, "field '" PPO_F_ADV "'", v, r, t);
            if (!isfinite(o))
                return lp__report_nonfinite(h, "ppo", in->name, "field '" PPO_F_LOGP "'", o, r, t);
            for (int64_t j = 0; j < A; j++) {
                const int allowed =
                    maskt == NULL ||
                    ((const uint8_t *)maskt->data)[r * maskt->strides[0] + t * maskt->strides[1] +
                                                   j * maskt->strides[2]] != 0;
                if (allowed && (zi[j] != zi[j] || zi[j] == INFINITY))
                    return lp__report_nonfinite(h, "ppo", in->name, "output '" PPO_O_LOGITS "'",
                                                zi[j], r, t);
            }
        }
    }
    return lp__report_nonfinite(h, "ppo", in->name, "the loss's sums", sum, -1, -1);
}

/* Reports the stats and the stop request of a minibatch (means over M). */
static void ppo_report(const ppo_inst *in, const lp_ctx *ctx, lp_train_result *out, double pg,
                       double ent, double akl, double okl, double clip, double imp, double ent_coef,
                       double target_kl) {
    const lp_host *h = in->host;
    if (LP_HAS_FIELD(out, lp_train_result, loss))
        out->loss = pg - ent_coef * ent;
    lp_stat(h, in->stats[PPO_S_PG], pg);
    lp_stat(h, in->stats[PPO_S_ENT], ent);
    lp_stat(h, in->stats[PPO_S_AKL], akl);
    lp_stat(h, in->stats[PPO_S_OKL], okl);
    lp_stat(h, in->stats[PPO_S_CLIP], clip);
    lp_stat(h, in->stats[PPO_S_IMP], imp);
    /* CleanRL checks approx_kl once per update epoch, after its last
     * minibatch. */
    if (target_kl > 0.0 && LP_HAS_FIELD(ctx, lp_ctx, minibatch_count) &&
        ctx->minibatch == ctx->minibatch_count - 1 && akl > target_kl &&
        LP_HAS_FIELD(out, lp_train_result, stop))
        out->stop = 1;
}

/* Multi-discrete and box: the same loss, per sample through lp_policy_*
 * (log pi and H summed over components; a box's H does not depend on the
 * means). Two passes: the first checks every action (lp__space_check_action:
 * range, mask and logits) and sums the advantages, so that nothing (no
 * gradient, no ratio) is written before a failure; the second computes. */
static int32_t ppo_train_space(ppo_inst *in, const lp_ctx *ctx, const lp_batch *mb, float weight,
                               lp_train_result *out, double eps, double ent_coef, int norm_adv,
                               double target_kl) {
    const lp_host *h = in->host;
    const lp_policy *pol = &in->pol;
    const lp_tensor *zt = &mb->outputs[in->o_logits];
    const lp_tensor *advt = &mb->fields[in->fh[PPO_H_ADV]], *actt = &mb->fields[in->fh[PPO_H_ACT]];
    const lp_tensor *oldt = &mb->fields[in->fh[PPO_H_LOGP]];
    const lp_tensor *ratt = &mb->fields[in->fh[PPO_H_RATIO]];
    const int64_t rows = mb->rows, hor = mb->horizon, W = pol->width, M = rows * hor;
    if (M == 0) {
        if (LP_HAS_FIELD(out, lp_train_result, loss))
            out->loss = 0.0;
        return LP_OK;
    }
    const lp_tensor *maskt = NULL;
    if (pol->space == LP_ACTION_MULTI_DISCRETE) {
        int32_t rc = lp__mask_check(h, "ppo", in->name, mb, in->fh_mask, W, &maskt);
        if (rc != LP_OK)
            return rc;
    }
    const float *adv = (const float *)advt->data, *oldp = (const float *)oldt->data;
    double sum = 0.0;
    const float *z = (const float *)zt->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int32_t rc =
                lp__space_check_action(h, "ppo", in->name, PPO_F_ACT, "action", pol, actt, maskt,
                                       z + (r * hor + t) * W, r, t, hor, in->sp_act, in->sp_mask);
            if (rc != LP_OK)
                return rc;
            const float v = adv[r * advt->strides[0] + t * advt->strides[1]];
            const float o = oldp[r * oldt->strides[0] + t * oldt->strides[1]];
            if (!isfinite(v))
                return lp__report_nonfinite(h, "ppo", in->name, "field '" PPO_F_ADV "'", v, r, t);
            if (!isfinite(o))
                return lp__report_nonfinite(h, "ppo", in->name, "field '" PPO_F_LOGP "'", o, r, t);
            sum += v;
        }
    double mean = 0.0, scale = 1.0;
    if (norm_adv) {
        double sd;
        lp__space_adv_moments(advt, rows, hor, sum, &mean, &sd);
        scale = 1.0 / (sd + 1e-8);
    }
    float *g = weight != 0.0f ? (float *)mb->grads[in->o_logits].data : NULL;
    float *ratio = (float *)ratt->data;
    const float lo = (float)(1.0 - eps), hi = (float)(1.0 + eps);
    const float kw = (float)((double)weight / (double)M);
    const float ke = (float)((double)weight * ent_coef / (double)M);
    double spg = 0.0, sent = 0.0, sakl = 0.0, sokl = 0.0, sclip = 0.0, srat = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const float *zi = z + i * W;
            const uint8_t *mrow = NULL;
            if (maskt != NULL) {
                lp__space_row_mask(maskt, r, t, W, in->sp_mask);
                mrow = in->sp_mask;
            }
            lp__space_action(actt, r, t, pol->dims, in->sp_act);
            if (lp_policy_setup(pol, zi, mrow, in->sp_p, in->sp_c))
                return lp_errorf(h, LP_ENUMERIC,
                                 "ppo '%s': every action of a component is masked at row %lld, "
                                 "step %lld: no distribution; allow at least one per component",
                                 in->name, (long long)r, (long long)t);
            const float logp = lp_policy_log_prob(pol, zi, mrow, in->sp_c, in->sp_act);
            if (logp == -INFINITY)
                return lp_errorf(h, LP_ERANGE,
                                 "ppo '%s': a component of the action at row %lld, step %lld has "
                                 "probability 0 (masked): its log-probability is -inf; the "
                                 "program must not take a masked action",
                                 in->name, (long long)r, (long long)t);
            const float H = lp_policy_entropy(pol, zi, in->sp_p, in->sp_c);
            const float old = oldp[r * oldt->strides[0] + t * oldt->strides[1]];
            const float lr_raw = logp - old;
            const float lr = lr_raw > PPO_LOGRATIO_MAX ? PPO_LOGRATIO_MAX : lr_raw;
            const float rt = expf(lr);
            const float an =
                (float)(((double)adv[r * advt->strides[0] + t * advt->strides[1]] - mean) * scale);
            float rc = rt < lo ? lo : rt;
            rc = rc > hi ? hi : rc;
            const float u = -an * rt, c = -an * rc;
            float kp = u < c ? 0.0f : kw * an * rt;
            kp = lr_raw > PPO_LOGRATIO_MAX ? 0.0f : kp;
            spg += u > c ? u : c;
            sent += H;
            sakl += (rt - 1.0f) - lr;
            sokl += -lr;
            sclip += (rt > hi || rt < lo) ? 1.0 : 0.0;
            srat += rt;
            ratio[r * ratt->strides[0] + t * ratt->strides[1]] = rt;
            if (g != NULL) {
                float *gi = g + i * W;
                /* dL/du = -kp d log pi / du - ke dH/du */
                lp_policy_grad_log_prob(pol, zi, in->sp_p, in->sp_act, -kp, gi);
                lp_policy_grad_entropy(pol, zi, in->sp_p, in->sp_c, H, -ke, gi);
            }
        }
    if (!isfinite(spg + sent + sakl + sokl + srat))
        return lp__report_nonfinite(h, "ppo", in->name, "the loss's sums",
                                    spg + sent + sakl + sokl + srat, -1, -1);
    const double inv_m = 1.0 / (double)M;
    ppo_report(in, ctx, out, spg * inv_m, sent * inv_m, sakl * inv_m, sokl * inv_m, sclip * inv_m,
               srat * inv_m, ent_coef, target_kl);
    return LP_OK;
}

static int32_t ppo_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                         lp_train_result *out) {
    ppo_inst *in = ppo_of(self);
    const lp_host *h = in->host;
    int32_t rc = ppo_check_batch(in, mb);
    if (rc != LP_OK)
        return rc;

    /* Read at every call: the host may anneal them in place. */
    const double eps = ppo_param_f(in, PPO_P_CLIP);
    const double ent_coef = ppo_param_f(in, PPO_P_ENT);
    const int norm_adv = lp_value_b(&in->params[PPO_P_NORM]);
    const double target_kl = ppo_param_f(in, PPO_P_TKL);
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "ppo '%s': weight %g is not finite", in->name,
                         (double)weight);

    if (in->pol.space != LP_ACTION_DISCRETE)
        return ppo_train_space(in, ctx, mb, weight, out, eps, ent_coef, norm_adv, target_kl);

    const lp_tensor *zt = &mb->outputs[in->o_logits];
    const lp_tensor *advt = &mb->fields[in->fh[PPO_H_ADV]], *actt = &mb->fields[in->fh[PPO_H_ACT]];
    const lp_tensor *oldt = &mb->fields[in->fh[PPO_H_LOGP]];
    const lp_tensor *ratt = &mb->fields[in->fh[PPO_H_RATIO]];
    const int64_t rows = mb->rows, hor = mb->horizon, A = zt->shape[2], M = rows * hor;
    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }

    const lp_tensor *maskt = NULL;
    rc = lp__mask_check(h, "ppo", in->name, mb, in->fh_mask, A, &maskt);
    if (rc != LP_OK)
        return rc;

    /* One pass over the per-sample fields: actions in range and not masked
     * by the mask field are checked before anything is written (a failing
     * call leaves the host's buffers as they were); the advantages' mean in
     * f64. A non-finite input, or a taken action whose logit is -inf, shows
     * as a non-finite sum, here or after the kernel; ppo_diagnose then names
     * it. Checking every one up front would read each row's logits twice.
     * Dense fields without a mask take the vectorised kernels; the walk
     * below sums in the same lanes (ppo_adv_sum_run), so both give the
     * same bits. */
    const int32_t *act = (const int32_t *)actt->data;
    const float *adv = (const float *)advt->data;
    const int dense_in = maskt == NULL && (actt->strides[1] == 1 || hor == 1) &&
                         (actt->strides[0] == hor || rows == 1) &&
                         (advt->strides[1] == 1 || hor == 1) &&
                         (advt->strides[0] == hor || rows == 1);
    const int64_t Mg = M - M % PPO_ADV_LANES;
    double sum = 0.0;
    if (!dense_in || !in->adv_sum(act, adv, M, A, &sum)) {
        double acc[PPO_ADV_LANES] = {0};
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t t = 0; t < hor; t++) {
                const int32_t a = act[r * actt->strides[0] + t * actt->strides[1]];
                if (a < 0 || (int64_t)a >= A)
                    return lp_errorf(h, LP_ERANGE,
                                     "ppo '%s': action %d at sample %lld (row %lld, step %lld) is "
                                     "outside [0, %lld)",
                                     in->name, (int)a, (long long)(r * hor + t), (long long)r,
                                     (long long)t, (long long)A);
                if (maskt != NULL &&
                    ((const uint8_t *)maskt->data)[r * maskt->strides[0] + t * maskt->strides[1] +
                                                   a * maskt->strides[2]] == 0)
                    return lp__report_masked_action(h, "ppo", in->name, "action", a, r, t, 1);
                const int64_t i = r * hor + t;
                acc[i < Mg ? i % PPO_ADV_LANES : 0] +=
                    (double)adv[r * advt->strides[0] + t * advt->strides[1]];
            }
        }
        sum = ppo_adv_total(acc);
    }
    if (!isfinite(sum))
        return ppo_diagnose(in, mb, maskt, sum);
    double mean = 0.0, scale = 1.0;
    if (norm_adv) {
        mean = sum / (double)M;
        const double ss = in->adv_ss(adv, rows, hor, advt->strides[0], advt->strides[1], mean);
        /* Unbiased std; undefined for one sample: taken as 0, so that the
         * normalised advantage is (A - A) / 1e-8 = 0. */
        const double std = M > 1 ? sqrt(ss / (double)(M - 1)) : 0.0;
        scale = 1.0 / (std + 1e-8);
    }

    int64_t chunk = 4096 / A;
    chunk = chunk > PPO_CHUNK ? PPO_CHUNK : chunk < 8 ? 8 : chunk & ~(int64_t)7;
    /* E, then (with a mask) the masked logits: chunk * A floats each. */
    const int64_t need = (maskt != NULL ? 2 : 1) * chunk * A;
    if (need > in->scratch_cap) {
        float *p = realloc(in->scratch, (size_t)need * sizeof *p);
        if (p == NULL)
            return lp_errorf(h, LP_ENOMEM, "ppo '%s': out of memory (%lld actions)", in->name,
                             (long long)A);
        in->scratch = p;
        in->scratch_cap = need;
    }

    ppo_job J;
    memset(&J, 0, sizeof J);
    J.z = (const float *)zt->data;
    J.g = weight != 0.0f ? (float *)mb->grads[in->o_logits].data : NULL;
    J.A = A, J.M = M, J.hor = hor;
    J.adv = adv, J.adv_s0 = advt->strides[0], J.adv_s1 = advt->strides[1];
    J.act = act, J.act_s0 = actt->strides[0], J.act_s1 = actt->strides[1];
    J.oldp = (const float *)oldt->data, J.old_s0 = oldt->strides[0], J.old_s1 = oldt->strides[1];
    J.ratio = (float *)ratt->data, J.rat_s0 = ratt->strides[0], J.rat_s1 = ratt->strides[1];
    J.mean_hi = (float)mean;
    J.mean_lo = (float)(mean - (double)J.mean_hi);
    J.adv_scale = (float)scale;
    J.mask = maskt;
    J.Zm = maskt != NULL ? in->scratch + chunk * A : NULL;
    J.lo = (float)(1.0 - eps);
    J.hi = (float)(1.0 + eps);
    J.kpg = (float)((double)weight / (double)M);
    J.ke = (float)((double)weight * ent_coef / (double)M);
    J.contig = 1;
    const lp_tensor *const per_sample[4] = {advt, actt, oldt, ratt};
    for (int k = 0; k < 4; k++) {
        const lp_tensor *ft = per_sample[k];
        if (!(ft->strides[1] == 1 || hor == 1) || !(ft->strides[0] == hor || rows == 1))
            J.contig = 0;
    }
    J.E = in->scratch;
    J.chunk = chunk;

    ppo_sums S;
    /* Rows of 8 or more actions run their per-row work in lanes and fold
     * them across rows, which 512-bit vectors speed up (A = 8: 8.7 against
     * 14.0 ns per sample); narrower rows run per row, where the AVX-512
     * build was not faster (A = 5: 27.5 against 23.3; bench/loss_kernels). */
    (J.A >= 8 ? in->kernel : in->kernel_narrow)(&J, &S);

    /* With finite sums every gradient term is finite too: each is a
     * product of its row's finite scalars and E_j in [0, 1]. */
    if (!isfinite(S.pg + S.ent + S.akl + S.okl + S.ratio))
        return ppo_diagnose(in, mb, maskt, S.pg + S.ent + S.akl + S.okl + S.ratio);
    const double inv_m = 1.0 / (double)M;
    const double pg = S.pg * inv_m, ent = S.ent * inv_m, akl = S.akl * inv_m;
    out->loss = pg - ent_coef * ent;
    lp_stat(h, in->stats[PPO_S_PG], pg);
    lp_stat(h, in->stats[PPO_S_ENT], ent);
    lp_stat(h, in->stats[PPO_S_AKL], akl);
    lp_stat(h, in->stats[PPO_S_OKL], S.okl * inv_m);
    lp_stat(h, in->stats[PPO_S_CLIP], S.clip * inv_m);
    lp_stat(h, in->stats[PPO_S_IMP], S.ratio * inv_m);

    /* CleanRL checks approx_kl once per update epoch, after its last
     * minibatch. */
    if (target_kl > 0.0 && ctx->minibatch == ctx->minibatch_count - 1 && akl > target_kl)
        out->stop = 1;
    return LP_OK;
}

static void ppo_destroy(const lp_loss *self) {
    ppo_inst *in = ppo_of(self);
    if (in == NULL)
        return;
    free(in->scratch);
    free(in->sp_p);
    free(in->sp_c);
    free(in->sp_mask);
    free(in->sp_act);
    free(in);
}

static int32_t ppo_fields_hook(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    const ppo_inst *in = ppo_of(self);
    *specs = in->specs;
    *count = in->spec_count;
    return LP_OK;
}

static int32_t ppo_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    ppo_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "ppo: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    for (int k = 0; k < PPO_NFIELDS; k++)
        in->fh[k] = -1;
    in->o_logits = -1;
    in->fh_mask = -1;
    for (int k = 0; k < PPO_NSTATS; k++)
        in->stats[k] = lp_stat_handle(h, ppo_stat_keys[k]);
    in->kernel = in->kernel_narrow = ppo_kernel_pick();
#if LP__HAVE_ISA_VARIANTS
    if (lp__isa_level() == LP__ISA_AVX512)
        in->kernel = ppo_kernel_avx512;
#endif
    in->adv_sum = ppo_adv_sum_pick();
    in->adv_ss = ppo_adv_ss_pick();
    const int32_t space_rc = lp__space_init(h, "ppo", args->env, &in->pol);
    if (space_rc != LP_OK) {
        free(in);
        return space_rc;
    }
    lp__space_fields(ppo_fields, (uint32_t)LP_COUNT_OF(ppo_fields), PPO_F_ACT, &in->pol, in->specs,
                     &in->spec_count);
    if (in->pol.space != LP_ACTION_DISCRETE) {
        in->sp_p = calloc((size_t)in->pol.width, sizeof *in->sp_p);
        in->sp_c = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->sp_c);
        in->sp_mask = calloc((size_t)in->pol.width, 1);
        in->sp_act = calloc((size_t)in->pol.dims, sizeof *in->sp_act);
        in->loss.fields = ppo_fields_hook;
        if (in->sp_p == NULL || in->sp_c == NULL || in->sp_mask == NULL || in->sp_act == NULL) {
            ppo_destroy(&(lp_loss){.data = in});
            return lp_errorf(h, LP_ENOMEM, "ppo: out of memory creating the instance");
        }
    }

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = ppo_attach;
    in->loss.train = ppo_train;
    in->loss.destroy = ppo_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc ppo_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "ppo",
    .version = "1.0.0",
    .summary = "PPO actor: clipped surrogate with entropy bonus, per-minibatch advantage "
               "normalisation and target_kl early stop",
    LP_DESC_PARAMS(ppo_params),
    LP_DESC_FIELDS(ppo_fields),
    .outputs = ppo_outputs,
    .create = ppo_create,
};

LP_PLUGIN_ENTRY(&ppo_desc)
