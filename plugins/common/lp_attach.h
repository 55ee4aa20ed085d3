/*
 * Attach-time helpers of the built-in plugins: handle lookups, and the
 * reports of a missing field or output in one shape:
 *
 *   <loss> '<instance>': the experience buffer has no field '<field>'<hint>
 *   <loss> '<instance>': the model has no output '<output>'<hint>
 *
 * where <hint> is the loss's own text (what the field holds, who writes it).
 * Header-only (static inline); it uses nothing of the host but the ABI.
 */
#ifndef LP_COMMON_ATTACH_H
#define LP_COMMON_ATTACH_H

#include <lossplug/plugin.h>

/* The handle of experience field / model output `name`, or -1 (also when
 * the host has no lookup). Call in attach. */
static inline int32_t lp__field_handle(const lp_host *h, const char *name) {
    return h->field_handle != NULL ? h->field_handle(h, name) : -1;
}
static inline int32_t lp__output_handle(const lp_host *h, const char *name) {
    return h->output_handle != NULL ? h->output_handle(h, name) : -1;
}

/* *out = the handle of a field the loss cannot do without; LP_OK, or
 * LP_ESPEC reported as above when the buffer has none (*out is then < 0). */
static inline int32_t lp__require_field(const lp_host *h, const char *loss, const char *inst,
                                        const char *field, const char *hint, int32_t *out) {
    *out = lp__field_handle(h, field);
    if (*out >= 0)
        return LP_OK;
    return lp_errorf(h, LP_ESPEC, "%s '%s': the experience buffer has no field '%s'%s", loss, inst,
                     field, hint);
}

/* As lp__require_field, for a model output. */
static inline int32_t lp__require_output(const lp_host *h, const char *loss, const char *inst,
                                         const char *output, const char *hint, int32_t *out) {
    *out = lp__output_handle(h, output);
    if (*out >= 0)
        return LP_OK;
    return lp_errorf(h, LP_ESPEC, "%s '%s': the model has no output '%s'%s", loss, inst, output,
                     hint);
}

#endif /* LP_COMMON_ATTACH_H */
