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
 */
#ifndef LP_COMMON_SPACE_H
#define LP_COMMON_SPACE_H

#include "lp_mask.h"

#include <lossplug/plugin.h>

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

/* For a loss that runs on discrete actions only (so far): LP_EINVAL naming
 * the space when the environment's action is multi-discrete or a box, so
 * that it never computes a softmax over another space's outputs. Call in
 * create. */
static inline int32_t lp__space_discrete_only(const lp_host *h, const char *loss,
                                              const lp_env_info *env) {
    lp_policy pol;
    if (env == NULL)
        return LP_OK;
    (void)lp_policy_init(&pol, env); /* sets pol.space whatever it returns */
    if (pol.space == LP_ACTION_DISCRETE)
        return LP_OK;
    return lp_errorf(h, LP_EINVAL,
                     "%s: the action is %s, but %s runs on discrete actions only in this "
                     "version; use a discrete action (program.action.num_actions), or ppo / a2c / "
                     "kickstarter / action_supervised for this space",
                     loss, pol.space == LP_ACTION_BOX ? "a box (continuous)" : "multi-discrete",
                     loss);
}

#endif /* LP_COMMON_SPACE_H */
