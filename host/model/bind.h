/* Internal: what lp_mlp_model_bind and lp_gru_model_bind share: looking up,
 * in an open session, a field the adapter reads by handle and the indices of
 * the "logits" and "values" outputs, each checked against the model's sizes.
 * Only the session's public API is used (liblossplug-train links
 * liblossplug). */
#ifndef LP_MODEL_BIND_H
#define LP_MODEL_BIND_H

#include <lossplug/session.h>

#include <stdint.h>

/* The handle of field `name` into *handle: dtype `dtype` with `per` values
 * per step. Absent: LP_EINVAL naming `fn` and `hint` (how to fix) when
 * `required`, else *handle = -1 and LP_OK. A field of another dtype or size
 * is LP_EINVAL either way. */
int32_t lp__bind_field(const lp_session *s, const char *name, int32_t dtype, int64_t per,
                       int required, const char *hint, const char *fn, int32_t *handle,
                       lp_error *err);

/* The indices of the outputs "logits" (required; `width` values per sample)
 * and "values" (one value per sample; -1 when the session has none). */
int32_t lp__bind_outputs(const lp_session *s, int64_t width, const char *fn, int32_t *logits,
                         int32_t *values, lp_error *err);

#endif
