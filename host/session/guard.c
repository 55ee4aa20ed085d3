/* The non-finite guard of the train phase (docs/training.md "Non-finite
 * values"): after an instance's train hook, its loss and every output
 * gradient must be finite before anything reaches the model. On the first
 * non-finite value the message names the instance, the output, the
 * minibatch and the source: the first non-finite value among the
 * minibatch's fields (program-written ones first), else the model's
 * outputs, else the loss's own arithmetic. The scan on the success path is
 * one pass over the gradients with integer tests only (it vectorises); the
 * search for the source runs only on failure. */
#include "session/session_impl.h"

#include "util/error.h"

#include <math.h>
#include <string.h>

/* Index of the first non-finite float in v[0..n), or -1. The exponent bits
 * all set means Inf or NaN; the OR over a block keeps the loop branch-free. */
static int64_t first_bad_f32(const float *v, int64_t n) {
    const int64_t block = 256;
    for (int64_t b = 0; b < n; b += block) {
        const int64_t e = b + block < n ? b + block : n;
        uint32_t bad = 0;
        for (int64_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, &v[i], sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (int64_t i = b; i < e; i++)
                if (!isfinite(v[i]))
                    return i;
    }
    return -1;
}

static int64_t first_bad_f64(const double *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

/* First non-finite element of a contiguous f32/f64 view, or -1 (other
 * dtypes are never non-finite). *value gets it. */
static int64_t first_bad(const lp_tensor *t, double *value) {
    if (t->data == NULL)
        return -1;
    int64_t n = 1;
    for (int32_t d = 0; d < t->rank; d++)
        n *= t->shape[d];
    int64_t i = -1;
    if (t->dtype == LP_DTYPE_F32) {
        i = first_bad_f32((const float *)t->data, n);
        if (i >= 0)
            *value = ((const float *)t->data)[i];
    } else if (t->dtype == LP_DTYPE_F64) {
        i = first_bad_f64((const double *)t->data, n);
        if (i >= 0)
            *value = ((const double *)t->data)[i];
    }
    return i;
}

/* Where element i of a minibatch view [rows, horizon, per...] lies in the
 * buffer: "buffer row R, step T" (and the element within the step). */
static void where_text(const lp_session *s, const lp_tensor *t, int64_t i, char *buf, size_t n) {
    int64_t per = 1;
    for (int32_t k = 2; k < t->rank; k++)
        per *= t->shape[k];
    const int64_t hor = t->rank >= 2 ? t->shape[1] : 1;
    const int64_t sample = i / per, r = sample / hor, st = sample % hor;
    const lp_batch *b = &s->mb_batch;
    const int64_t brow = b->row_index != NULL ? b->row_index[r] : r;
    const int64_t bstep = b->step_index != NULL ? b->step_index[r] : st;
    if (per > 1)
        snprintf(buf, n, "buffer row %lld, step %lld, element %lld", (long long)brow,
                 (long long)bstep, (long long)(i % per));
    else
        snprintf(buf, n, "buffer row %lld, step %lld", (long long)brow, (long long)bstep);
}

/* The source of a non-finite value in the current minibatch. */
static void source_text(const lp_session *s, char *buf, size_t n) {
    char where[96];
    double v = 0.0;
    /* Fields: the program's first (rewards, observations...), then those
     * written by instances. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t f = 0; f < s->field_count; f++) {
            const int by_program = s->fields[f].writer == -1;
            if (by_program != (pass == 0))
                continue;
            int64_t i = first_bad(&s->mb_views[f], &v);
            if (i < 0)
                continue;
            where_text(s, &s->mb_views[f], i, where, sizeof where);
            snprintf(buf, n, "field '%s' (written by %s%s%s) is %g at %s", s->fields[f].name,
                     by_program ? "the program" : "instance '",
                     by_program ? "" : s->fields[f].info.writer, by_program ? "" : "'", v, where);
            return;
        }
    }
    for (size_t o = 0; o < s->output_count; o++) {
        int64_t i = first_bad(&s->out_views[o], &v);
        if (i >= 0) {
            where_text(s, &s->out_views[o], i, where, sizeof where);
            snprintf(buf, n, "the model's output '%s' is %g at %s", s->outputs[o].decl.name, v,
                     where);
            return;
        }
    }
    snprintf(buf, n,
             "the loss's own arithmetic (every input field and model output of the "
             "minibatch is finite)");
}

int32_t lp__guard_check(lp_session *s, const lp__inst *in, double loss, const lp_ctx *ctx,
                        lp_error *err) {
    char what[200], where[96], src[400];
    double v = loss;
    int bad = !isfinite(loss);
    if (bad) {
        snprintf(what, sizeof what, "its loss is %g", loss);
    } else {
        for (size_t o = 0; o < s->output_count && !bad; o++) {
            const int64_t i = first_bad(&s->grad_views[o], &v);
            if (i < 0)
                continue;
            bad = 1;
            where_text(s, &s->grad_views[o], i, where, sizeof where);
            snprintf(what, sizeof what, "the gradient of output '%s' is %g at %s",
                     s->outputs[o].decl.name, v, where);
        }
    }
    if (!bad)
        return LP_OK;
    source_text(s, src, sizeof src);
    return lp__error_set(
        err, LP_ENUMERIC,
        "%s: non-finite value after its train hook at epoch %lld, update epoch %d, "
        "minibatch %d: %s; source: %s. The minibatch was refused before it reached "
        "the model; fix the source, or set buffer.nonfinite: skip to skip such "
        "minibatches",
        in->label, (long long)s->epoch, (int)ctx->update_epoch, (int)ctx->minibatch, what, src);
}
