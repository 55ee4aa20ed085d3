/*
 * Action spaces in the built-in policy losses (ABI 1.1): what changes from
 * the discrete path when the action is multi-discrete or a box. The math is
 * the SDK's lp_policy_* layer (lossplug/dist.h); this header holds the
 * plumbing every loss shares. Header-only (static inline).
 *
 *  - lp__space_init: the loss's lp_policy from the environment, once in
 *    create, or the error when the environment's space is not usable.
 *  - lp__space_fields: the loss's field list for the space, from its static
 *    (discrete) list: the taken-action field becomes i32 [ACTION]
 *    (multi-discrete) or f32 [ACTION] (box); every other NUM_ACTIONS-shaped
 *    field but the mask (teacher logits) becomes POLICY-shaped; a box has
 *    no action mask. Called once in create; the instance owns `out`.
 *  - lp__space_action: one sample's action values gathered from the
 *    [rows, horizon, ACTION...] view (any strides) into a small array.
 *  - lp__space_row_mask: one sample's mask bytes gathered from the mask view.
 *  - lp__space_check_action: the first-pass check of one sample's taken
 *    action (range or finiteness, and no masked component), shared by the
 *    losses that take an action (ppo, a2c, action_supervised), so that the
 *    pass that writes gradients cannot fail half-way.
 *  - lp__space_adv_moments: mean and sample standard deviation of an
 *    advantage view (ppo and a2c's norm_adv).
 */
#ifndef LP_COMMON_SPACE_H
#define LP_COMMON_SPACE_H

#include "lp_mask.h"

#include <lossplug/plugin.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* At most this many fields in a built-in loss's list. */
#define LP__SPACE_MAX_FIELDS 16

/* pol from env (zero-filled by the caller: discrete when env is NULL; a
 * discrete policy takes its width from the output at train time, as in
 * 1.0). LP_EINVAL naming `loss` when env describes a multi-discrete or box
 * action it cannot use (lp_policy_init). */
static inline int32_t lp__space_init(const lp_host *h, const char *loss, const lp_env_info *env,
                                     lp_policy *pol) {
    if (env == NULL || lp_policy_init(pol, env) == 0 || pol->space == LP_ACTION_DISCRETE)
        return LP_OK;
    return lp_errorf(h, LP_EINVAL,
                     "%s: the environment's action space (%d) is not usable; declare "
                     "program.action (docs/config.md)",
                     loss, (int)pol->space);
}

/* out[*n]: base[0..count) adapted to pol (see above). `action` names the
 * taken-action field ("actions", "expert_actions"), or NULL. */
static inline void lp__space_fields(const lp_field_spec *base, uint32_t count, const char *action,
                                    const lp_policy *pol, lp_field_spec *out, uint32_t *n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < count && k < LP__SPACE_MAX_FIELDS; i++) {
        lp_field_spec f = base[i];
        const int is_mask = strcmp(f.name, LP__MASK_FIELD) == 0;
        if (is_mask && pol->space == LP_ACTION_BOX)
            continue;
        if (action != NULL && strcmp(f.name, action) == 0 && pol->space != LP_ACTION_DISCRETE) {
            f.dtype = pol->space == LP_ACTION_BOX ? LP_DTYPE_F32 : LP_DTYPE_I32;
            f.rank = 1;
            memset(f.shape, 0, sizeof f.shape);
            f.shape[0] = LP_DIM_ACTION;
        } else if (!is_mask) {
            for (int32_t d = 0; d < f.rank; d++)
                if (f.shape[d] == LP_DIM_NUM_ACTIONS)
                    f.shape[d] = LP_DIM_POLICY;
        }
        out[k++] = f;
    }
    *n = k;
}

/* The values of the action at (r, t) of `a` (dtype i32 or f32, shape
 * [rows, horizon, ACTION...]) into out[dims] (4-byte elements). */
static inline void lp__space_action(const lp_tensor *a, int64_t r, int64_t t, int32_t dims,
                                    void *out) {
    const char *base = (const char *)a->data + (r * a->strides[0] + t * a->strides[1]) * 4;
    uint32_t *o = (uint32_t *)out;
    if (a->rank == 3) {
        for (int32_t j = 0; j < dims; j++)
            memcpy(&o[j], base + a->strides[2] * j * 4, 4);
        return;
    }
    for (int32_t j = 0; j < dims; j++) {
        int64_t rem = j, off = 0;
        for (int32_t d = a->rank - 1; d >= 2; d--) {
            off += (rem % a->shape[d]) * a->strides[d];
            rem /= a->shape[d];
        }
        memcpy(&o[j], base + off * 4, 4);
    }
}

/* Whether `a` is a [rows, horizon, ACTION...] view of `dtype` with `dims`
 * values per sample. */
static inline int lp__space_action_ok(const lp_tensor *a, int32_t dtype, int64_t rows, int64_t hor,
                                      int32_t dims) {
    if (a->data == NULL || a->dtype != dtype || a->rank < 2 || a->shape[0] != rows ||
        a->shape[1] != hor)
        return 0;
    int64_t n = 1;
    for (int32_t d = 2; d < a->rank; d++)
        n *= a->shape[d];
    return n == dims;
}

/* The mask bytes of (r, t) into out[W] (the view may be strided). */
static inline void lp__space_row_mask(const lp_tensor *m, int64_t r, int64_t t, int64_t W,
                                      uint8_t *out) {
    const uint8_t *row = (const uint8_t *)m->data + r * m->strides[0] + t * m->strides[1];
    for (int64_t j = 0; j < W; j++)
        out[j] = row[j * m->strides[2]];
}

/* The taken action at (r, t) of `actt` (field `field`, called `what` in
 * messages: "action", "teacher action") on a multi-discrete or box policy,
 * into act[pol->dims]; checked: each component in [0, nvec[k]) or finite,
 * and on a multi-discrete policy no component masked by the mask view
 * (maskt, may be NULL; mscratch: W bytes) or by a -inf logit of z (the
 * sample's outputs). LP_OK, or LP_ERANGE / LP_ENUMERIC naming `loss`,
 * `inst`, the component, the row and the step; writes nothing else. */
static inline int32_t lp__space_check_action(const lp_host *h, const char *loss, const char *inst,
                                             const char *field, const char *what,
                                             const lp_policy *pol, const lp_tensor *actt,
                                             const lp_tensor *maskt, const float *z, int64_t r,
                                             int64_t t, int64_t hor, void *act, uint8_t *mscratch) {
    lp__space_action(actt, r, t, pol->dims, act);
    const int32_t bad = lp_policy_action_bad(pol, act);
    if (bad >= 0 && pol->space == LP_ACTION_BOX) {
        char w[96];
        float v;
        memcpy(&v, (const char *)act + 4 * (size_t)bad, sizeof v);
        snprintf(w, sizeof w, "field '%s'", field);
        return lp__report_nonfinite(h, loss, inst, w, v, r, t);
    }
    const int32_t *a = (const int32_t *)act;
    if (bad >= 0)
        return lp_errorf(h, LP_ERANGE,
                         "%s '%s': %s component %d is %d at sample %lld (row %lld, step %lld), "
                         "outside [0, %lld)",
                         loss, inst, what, (int)bad, (int)a[bad], (long long)(r * hor + t),
                         (long long)r, (long long)t, (long long)pol->nvec[bad]);
    if (pol->space != LP_ACTION_MULTI_DISCRETE)
        return LP_OK;
    const uint8_t *mrow = lp__mask_row(maskt, r, t, pol->width, mscratch);
    int64_t o = 0;
    for (int32_t k = 0; k < pol->dims; o += pol->nvec[k], k++)
        if (lp_cat_masked(z + o, mrow != NULL ? mrow + o : NULL, a[k]))
            return lp_errorf(h, LP_ERANGE,
                             "%s '%s': %s component %d (%d) at row %lld, step %lld is masked "
                             "(probability 0, %s): its log-probability is -inf; the program must "
                             "not take a masked action",
                             loss, inst, what, (int)k, (int)a[k], (long long)r, (long long)t,
                             mrow != NULL && mrow[o + a[k]] == 0 ? "by '" LP__MASK_FIELD "'"
                                                                 : "its logit is -inf");
    return LP_OK;
}

/* Mean and sample standard deviation (0 when rows * hor < 2) of the f32
 * view advt [rows, hor], whose values sum to `sum` (the first pass). */
static inline void lp__space_adv_moments(const lp_tensor *advt, int64_t rows, int64_t hor,
                                         double sum, double *mean, double *sd) {
    const float *adv = (const float *)advt->data;
    const int64_t M = rows * hor;
    *mean = sum / (double)M;
    double ss = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const double d = (double)adv[r * advt->strides[0] + t * advt->strides[1]] - *mean;
            ss += d * d;
        }
    *sd = M > 1 ? sqrt(ss / (double)(M - 1)) : 0.0;
}

#endif /* LP_COMMON_SPACE_H */
