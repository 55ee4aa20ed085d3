/*
 * The optional action-mask field of the built-in policy losses, and the
 * reports every categorical loss shares (a taken action the policy gives
 * probability 0, a non-finite value). Header-only (static inline).
 *
 * `action_mask` is u8 [rows, horizon, num_actions] per minibatch, nonzero =
 * the action is allowed. A loss declares it with LP__MASK_FIELD_SPEC in its
 * field list (read, optional), resolves it in attach with lp__mask_attach
 * (handle -1 when no program or loss writes it), checks its minibatch view
 * with lp__mask_check and reads rows with lp__mask_row. The masked-safe math
 * itself is the SDK's (lossplug/dist.h).
 */
#ifndef LP_COMMON_MASK_H
#define LP_COMMON_MASK_H

#include "lp_attach.h"

#include <lossplug/plugin.h>

#include <stdlib.h>

#ifndef LP__RESTRICT
#define LP__RESTRICT LP_DIST_RESTRICT
#endif

#define LP__MASK_FIELD "action_mask"

#define LP__MASK_FIELD_SPEC                                                                        \
    LP_FIELD_SPEC(LP__MASK_FIELD,                                                                  \
                  "optional: 1 where an action is allowed, 0 where it is masked (its probability " \
                  "is then 0); written by the embedding program during rollout",                   \
                  LP_FIELD_READ | LP_FIELD_OPTIONAL, LP_PHASE_TRAIN, LP_DTYPE_U8,                  \
                  LP_DIM_NUM_ACTIONS)

/* *out = the mask's handle, or -1 when the buffer has none (not an error;
 * its dtype and shape are the declared ones, abi.h). Call in attach. */
static inline int32_t lp__mask_attach(const lp_host *h, const char *loss, const char *inst,
                                      const lp_batch *all, int32_t *out) {
    (void)loss;
    (void)inst;
    (void)all;
    *out = lp__field_handle(h, LP__MASK_FIELD);
    return LP_OK;
}

/* The minibatch view of the mask (handle >= 0), or NULL when there is none;
 * LP_ESPEC reported when its width (num_actions) is not the width A of the
 * logits, which the program declares and the host does not match. */
static inline int32_t lp__mask_check(const lp_host *h, const char *loss, const char *inst,
                                     const lp_batch *mb, int32_t handle, int64_t A,
                                     const lp_tensor **out) {
    *out = NULL;
    if (handle < 0)
        return LP_OK;
    const lp_tensor *m = &mb->fields[handle];
    if (m->shape[2] != A)
        return lp_errorf(h, LP_ESPEC,
                         "%s '%s': field '" LP__MASK_FIELD
                         "' must be u8 [%lld, %lld, %lld] (one byte per action) in a minibatch",
                         loss, inst, (long long)mb->rows, (long long)mb->horizon, (long long)A);
    *out = m;
    return LP_OK;
}

/* The mask row of sample (r, t) as A contiguous bytes: a pointer into the
 * view when its last stride is 1, else gathered into scratch (A bytes).
 * NULL when m is NULL. */
static inline const uint8_t *lp__mask_row(const lp_tensor *m, int64_t r, int64_t t, int64_t A,
                                          uint8_t *scratch) {
    if (m == NULL)
        return NULL;
    const uint8_t *row = (const uint8_t *)m->data + r * m->strides[0] + t * m->strides[1];
    if (m->strides[2] == 1 || A == 1)
        return row;
    for (int64_t j = 0; j < A; j++)
        scratch[j] = row[j * m->strides[2]];
    return scratch;
}

/* Grows a loss's per-row scratch (A floats of probabilities, A mask bytes)
 * to A; LP_ENOMEM reported on failure (both keep their old size). */
static inline int32_t lp__row_scratch(const lp_host *h, const char *loss, const char *inst,
                                      int64_t A, float **probs, uint8_t **mrow, int64_t *cap) {
    if (A <= *cap)
        return LP_OK;
    float *p = realloc(*probs, (size_t)A * sizeof *p);
    if (p != NULL)
        *probs = p;
    uint8_t *m = p != NULL ? realloc(*mrow, (size_t)A) : NULL;
    if (m == NULL)
        return lp_errorf(h, LP_ENOMEM, "%s '%s': out of memory (%lld actions)", loss, inst,
                         (long long)A);
    *mrow = m;
    *cap = A;
    return LP_OK;
}

/* LP_ERANGE: the action taken at (r, t) has probability 0 under the policy. */
static inline int32_t lp__report_masked_action(const lp_host *h, const char *loss, const char *inst,
                                               const char *what, int64_t a, int64_t r, int64_t t,
                                               int by_field) {
    return lp_errorf(h, LP_ERANGE,
                     "%s '%s': %s %lld at row %lld, step %lld has probability 0 (%s): its "
                     "log-probability is -inf; the program must not take a masked action",
                     loss, inst, what, (long long)a, (long long)r, (long long)t,
                     by_field ? "masked by '" LP__MASK_FIELD "'" : "its logit is -inf");
}

/* LP_ENUMERIC: `what` is not finite at (r, t) (r < 0: somewhere in the
 * minibatch). */
static inline int32_t lp__report_nonfinite(const lp_host *h, const char *loss, const char *inst,
                                           const char *what, double v, int64_t r, int64_t t) {
    if (r < 0)
        return lp_errorf(h, LP_ENUMERIC, "%s '%s': %s is %g (not finite)", loss, inst, what, v);
    return lp_errorf(h, LP_ENUMERIC, "%s '%s': %s is %g (not finite) at row %lld, step %lld", loss,
                     inst, what, v, (long long)r, (long long)t);
}

/* Whether row z[0..A) has a non-finite logit on an allowed action (NaN or
 * +Inf; -Inf is a masked action). */
static inline int lp__logits_bad(const float *z, const uint8_t *mask, int64_t A) {
    for (int64_t j = 0; j < A; j++)
        if ((mask == NULL || mask[j] != 0) && (z[j] != z[j] || z[j] == INFINITY))
            return 1;
    return 0;
}

#endif /* LP_COMMON_MASK_H */
