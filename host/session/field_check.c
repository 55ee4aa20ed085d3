/* The debug check behind lp_session_options.check_fields: a hook must leave
 * the fields it declared LP_FIELD_READ (not WRITE or UPDATE) for the running
 * phase unchanged. Each such field view is hashed before and after the
 * hook; a difference fails the hook with a message naming the instance,
 * the hook and the field. Off (the default), nothing here runs and nothing
 * is allocated. */
#include "session/session_impl.h"

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

static int phase_slot(uint32_t phase) {
    return phase == LP_PHASE_ROLLOUT ? 0 : 1;
}

int32_t lp__fcheck_open(lp_session *s, lp_error *err) {
    if (!s->opt.check_fields)
        return LP_OK;
    for (size_t i = 0; i < s->inst_count; i++) {
        lp__inst *in = &s->insts[i];
        uint32_t most = 0;
        for (int slot = 0; slot < 2; slot++) {
            uint32_t phase = slot == 0 ? LP_PHASE_ROLLOUT : LP_PHASE_TRAIN;
            in->ro_fields[slot] =
                calloc(in->field_count > 0 ? in->field_count : 1, sizeof *in->ro_fields[slot]);
            if (in->ro_fields[slot] == NULL)
                return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
            uint32_t n = 0;
            for (uint32_t k = 0; k < in->field_count; k++) {
                const lp__fdecl *d = &in->fields[k];
                if (!(d->access & LP_FIELD_READ) || !(d->phase & phase))
                    continue;
                int32_t h = lp__field_find(s, d->name);
                if (h >= 0) /* an optional read of an absent field has no view */
                    in->ro_fields[slot][n++] = h;
            }
            in->ro_count[slot] = n;
            most = n > most ? n : most;
        }
        in->ro_sums = calloc(most > 0 ? most : 1, sizeof *in->ro_sums);
        if (in->ro_sums == NULL)
            return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    return LP_OK;
}

void lp__fcheck_free(lp_session *s) {
    for (size_t i = 0; s->insts != NULL && i < s->inst_count; i++) {
        free(s->insts[i].ro_fields[0]);
        free(s->insts[i].ro_fields[1]);
        free(s->insts[i].ro_sums);
        s->insts[i].ro_fields[0] = s->insts[i].ro_fields[1] = NULL;
        s->insts[i].ro_sums = NULL;
    }
}

/* FNV-1a over the bytes of every element of a (possibly strided) view. */
static uint64_t view_hash(const lp_tensor *t) {
    uint64_t h = 1469598103934665603ull;
    if (t->data == NULL)
        return h;
    const size_t es = lp_dtype_size(t->dtype);
    int64_t numel = 1;
    for (int32_t d = 0; d < t->rank; d++)
        numel *= t->shape[d];
    int64_t idx[LP_MAX_RANK] = {0};
    for (int64_t e = 0; e < numel; e++) {
        int64_t off = 0;
        for (int32_t d = 0; d < t->rank; d++)
            off += idx[d] * t->strides[d];
        const unsigned char *p = (const unsigned char *)t->data + (size_t)off * es;
        for (size_t b = 0; b < es; b++)
            h = (h ^ p[b]) * 1099511628211ull;
        for (int32_t d = t->rank - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return h;
}

void lp__fcheck_before(lp__inst *in, uint32_t phase, const lp_batch *b) {
    const int slot = phase_slot(phase);
    for (uint32_t k = 0; k < in->ro_count[slot]; k++)
        in->ro_sums[k] = view_hash(&b->fields[in->ro_fields[slot][k]]);
}

int32_t lp__fcheck_after(lp__inst *in, uint32_t phase, const lp_batch *b, const char *hook,
                         lp_error *err) {
    const int slot = phase_slot(phase);
    for (uint32_t k = 0; k < in->ro_count[slot]; k++) {
        int32_t h = in->ro_fields[slot][k];
        if (view_hash(&b->fields[h]) == in->ro_sums[k])
            continue;
        return lp__error_set(err, LP_EPLUGIN,
                             "%s: %s changed field '%s', which it declares read-only "
                             "(LP_FIELD_READ) in the %s phase (found by "
                             "lp_session_options.check_fields); declare LP_FIELD_UPDATE to "
                             "rewrite a field another party writes (ABI 1.1), or stop writing it",
                             in->label, hook, in->s->fields[h].name,
                             phase == LP_PHASE_ROLLOUT ? "rollout" : "train");
    }
    return LP_OK;
}
