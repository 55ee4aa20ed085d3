/* The host extension "lossplug.model/1" (lossplug/ext/model.h): a loss runs
 * the program's model on a batch of its own during its train hook and adds
 * gradients with respect to the outputs. The session copies the loss's
 * batch (views and data, so the loss may reuse its buffers at once), calls the model's forward_aux
 * into outputs and zeroed gradients of its own (never the minibatch's), and calls backward_aux when
 * the loss is done with the pass: at its next forward, or when its train hook returns. Both happen
 * before the minibatch's backward and optimizer step, so the gradients land in the same step; the
 * model keeps the aux activations apart from the minibatch's (lp_model's contract). */
#include "session/session_impl.h"

#include <lossplug/ext/model.h>

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN     LP__SESSION_ALIGN
#define BATCH_V1  (offsetof(lp_batch, row_index) + sizeof(void *))
#define PASS_V1   (offsetof(lp_model_pass, grads) + sizeof(void *))
#define EXT_FN    "lossplug.model/1 forward"
#define NO_AUX_FN "forward_aux, backward_aux and memory_size"

static int has_aux(const lp_model *m) {
    return m != NULL && m->memory_size != NULL && m->forward_aux != NULL && m->backward_aux != NULL;
}

int32_t lp__model_ext_open(lp_session *s, const lp_model *model, lp_error *err) {
    memset(&s->open_model, 0, sizeof s->open_model);
    s->model_given = 0;
    s->model_aux = 0;
    s->model_memory = 0;
    if (model == NULL)
        return LP_OK;
    s->open_model = *model;
    s->model_given = 1;
    if (!has_aux(model)) {
        if (model->memory_size != NULL || model->forward_aux != NULL || model->backward_aux != NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_session_open: options.model has only some of " NO_AUX_FN
                                 ": give all three (auxiliary passes) or none");
        return LP_OK;
    }
    int64_t mem = model->memory_size(model->user);
    if (mem < 0 || mem > (INT64_C(1) << 32))
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_open: options.model's memory_size returned %lld: give the "
                             "recurrent memory floats per row (0 for a feed-forward model)",
                             (long long)mem);
    s->model_aux = 1;
    s->model_memory = mem;
    return LP_OK;
}

/* The first member in which two models differ, or NULL when they are the
 * same model (the same user and callbacks). */
static const char *model_difference(const lp_model *a, const lp_model *b) {
    if (a->user != b->user)
        return "user";
    if (a->forward != b->forward)
        return "forward";
    if (a->backward != b->backward)
        return "backward";
    if (a->step != b->step)
        return "step";
    if (a->memory_size != b->memory_size)
        return "memory_size";
    if (a->forward_aux != b->forward_aux)
        return "forward_aux";
    if (a->backward_aux != b->backward_aux)
        return "backward_aux";
    return NULL;
}

int32_t lp__model_for_train(const lp_session *s, const lp_model *given, const lp_model **out,
                            lp_error *err) {
    *out = NULL;
    if (!s->model_given) {
        /* No model at open: the caller's, as before open took one. */
        if (given == NULL || given->forward == NULL)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_session_train: the model or its forward callback is NULL; "
                                 "pass an lp_model with forward (backward and step may be NULL), "
                                 "or give it once as lp_session_options.model at open and pass "
                                 "NULL here");
        *out = given;
        return LP_OK;
    }
    const char *diff = given != NULL ? model_difference(given, &s->open_model) : NULL;
    if (diff != NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_train: the model is not the one given at open "
                             "(lp_session_options.model): its %s differs. A session trains the "
                             "model it was opened with: pass NULL (or that same lp_model) here",
                             diff);
    if (s->open_model.forward == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_train: the model given at open (lp_session_options.model) "
                             "has no forward callback: give it forward (backward and step may be "
                             "NULL)");
    *out = &s->open_model;
    return LP_OK;
}

void lp__model_ext_free(lp_session *s) {
    free(s->aux_fields);
    free(s->aux_out_views);
    free(s->aux_grad_views);
    free(s->aux_mem);
    free(s->aux_data);
    s->aux_fields = s->aux_out_views = s->aux_grad_views = NULL;
    s->aux_mem = NULL;
    s->aux_half = 0;
    s->aux_data = NULL;
    s->aux_data_cap = 0;
}

/* Backpropagate the pending pass through the model that is training. */
static int32_t flush(lp_session *s, lp_error *merr) {
    if (!s->aux_pending)
        return LP_OK;
    s->aux_pending = 0;
    merr->code = LP_OK;
    merr->message[0] = '\0';
    return s->train_model->backward_aux(s->train_model->user, &s->aux_batch, s->aux_grad_views,
                                        merr);
}

int32_t lp__model_ext_flush(lp_session *s, const lp__inst *in, const lp_ctx *ctx, lp_error *err) {
    lp_error merr;
    int32_t rc = flush(s, &merr);
    if (rc == LP_OK)
        return LP_OK;
    return lp__error_set(
        err, rc < 0 ? rc : LP_EINVAL,
        "the model's backward_aux failed at epoch %lld, update epoch %d, minibatch "
        "%d, on the batch of %s: %s",
        (long long)s->epoch, (int)ctx->update_epoch, (int)ctx->minibatch, in->label,
        merr.message[0] != '\0' ? merr.message : lp_strerror(rc));
}

/* Room for the outputs and gradients of `samples` samples. Grows only:
 * the first pass of a size allocates, later ones reuse. */
static int32_t reserve(lp__inst *in, int64_t samples) {
    lp_session *s = in->s;
    size_t need = 0;
    for (size_t i = 0; i < s->output_count; i++) {
        size_t bytes = (size_t)s->outputs[i].sample_elems * lp_dtype_size(s->outputs[i].decl.dtype);
        if (bytes != 0 && (size_t)samples > (SIZE_MAX / 4 - need) / bytes)
            return lp__svc_fail(in, LP_ERANGE,
                                EXT_FN ": a batch of %lld samples is too large for the outputs; "
                                       "use fewer rows or a shorter horizon",
                                (long long)samples);
        need += lp__align_up(bytes * (size_t)samples);
    }
    if (need == 0)
        need = ALIGN;
    if (s->aux_fields == NULL) {
        size_t nf = s->field_count > 0 ? s->field_count : 1;
        size_t no = s->output_count > 0 ? s->output_count : 1;
        s->aux_fields = calloc(nf, sizeof *s->aux_fields);
        s->aux_out_views = calloc(no, sizeof *s->aux_out_views);
        s->aux_grad_views = calloc(no, sizeof *s->aux_grad_views);
        if (s->aux_fields == NULL || s->aux_out_views == NULL || s->aux_grad_views == NULL) {
            lp__model_ext_free(s);
            return lp__svc_fail(in, LP_ENOMEM, EXT_FN ": out of memory for the batch views");
        }
    }
    if (need <= s->aux_half)
        return LP_OK;
    unsigned char *mem = aligned_alloc(ALIGN, 2 * need);
    if (mem == NULL)
        return lp__svc_fail(in, LP_ENOMEM,
                            EXT_FN ": out of memory for the outputs and gradients of %lld samples "
                                   "(%zu bytes)",
                            (long long)samples, 2 * need);
    free(s->aux_mem);
    s->aux_mem = mem;
    s->aux_half = need;
    return LP_OK;
}

/* The loss's field view h against the session's field h. */
static int32_t check_field(lp__inst *in, uint32_t h, const lp_tensor *v, int64_t rows,
                           int64_t horizon) {
    const lp_field_info *f = &in->s->fields[h].info;
    int ok = v->dtype == f->dtype && v->rank == f->rank + 2 && v->shape[0] == rows &&
             v->shape[1] == horizon;
    for (int32_t k = 0; ok && k < f->rank; k++)
        ok = v->shape[k + 2] == f->shape[k];
    if (ok)
        return LP_OK;
    char want[128], got[128];
    int64_t shape[LP_MAX_RANK];
    shape[0] = rows;
    shape[1] = horizon;
    for (int32_t k = 0; k < f->rank && k + 2 < LP_MAX_RANK; k++)
        shape[k + 2] = f->shape[k];
    lp__type_text(want, sizeof want, f->dtype, f->rank + 2 <= LP_MAX_RANK ? f->rank + 2 : 2, shape);
    lp__type_text(got, sizeof got, v->dtype, v->rank >= 0 && v->rank <= LP_MAX_RANK ? v->rank : 0,
                  v->shape);
    return lp__svc_fail(in, LP_EINVAL,
                        EXT_FN
                        ": batch field %u ('%s') is %s, expected %s: [rows, horizon] then the "
                        "field's per-step shape, in its dtype",
                        (unsigned)h, f->name, got, want);
}

/* Copy view `v` (any strides) into `dst`, contiguous row-major. */
static void copy_dense(unsigned char *dst, const lp_tensor *v) {
    const size_t es = lp_dtype_size(v->dtype);
    const unsigned char *src = v->data;
    int64_t idx[LP_MAX_RANK] = {0};
    int64_t n = 1;
    for (int32_t d = 0; d < v->rank; d++)
        n *= v->shape[d];
    for (int64_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int32_t d = 0; d < v->rank; d++)
            off += idx[d] * v->strides[d];
        memcpy(dst + (size_t)e * es, src + off * (int64_t)es, es);
        for (int32_t d = v->rank - 1; d >= 0; d--) {
            if (++idx[d] < v->shape[d])
                break;
            idx[d] = 0;
        }
    }
}

/* The provided fields, copied into session storage (grown, never shrunk)
 * and viewed contiguously in s->aux_fields: the loss may reuse its buffers
 * as soon as forward returns, and backward_aux sees what forward saw. */
static int32_t copy_fields(lp__inst *in, const lp_batch *b) {
    lp_session *s = in->s;
    size_t need = 0;
    for (uint32_t i = 0; i < b->field_count; i++)
        if (b->fields[i].data != NULL) {
            size_t bytes = (size_t)(b->rows * b->horizon * s->fields[i].step_elems) *
                           lp_dtype_size(b->fields[i].dtype);
            need += lp__align_up(bytes);
        }
    if (need > s->aux_data_cap) {
        unsigned char *p = aligned_alloc(ALIGN, need);
        if (p == NULL)
            return lp__svc_fail(in, LP_ENOMEM,
                                EXT_FN ": out of memory copying the batch (%zu bytes)", need);
        free(s->aux_data);
        s->aux_data = p;
        s->aux_data_cap = need;
    }
    memset(s->aux_fields, 0, (s->field_count > 0 ? s->field_count : 1) * sizeof *s->aux_fields);
    size_t off = 0;
    for (uint32_t i = 0; i < b->field_count; i++) {
        const lp_tensor *v = &b->fields[i];
        if (v->data == NULL)
            continue;
        lp_tensor *t = &s->aux_fields[i];
        *t = *v;
        t->data = s->aux_data + off;
        int64_t stride = 1;
        for (int32_t d = t->rank - 1; d >= 0; d--) {
            t->strides[d] = stride;
            stride *= t->shape[d];
        }
        copy_dense(t->data, v);
        size_t bytes = (size_t)stride * lp_dtype_size(v->dtype);
        off += lp__align_up(bytes);
    }
    return LP_OK;
}

static int64_t ext_memory_size(const lp_host *h) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return LP_EINVAL;
    return in->s->model_memory;
}

static int32_t ext_forward(const lp_host *h, const lp_batch *b, const uint8_t *starts,
                           float *memory, lp_model_pass *out) {
    lp__inst *in = lp__inst_of(h);
    if (in == NULL)
        return LP_EINVAL;
    lp_session *s = in->s;
    if (s->train_inst != in)
        return lp__svc_fail(in, LP_ESTATE,
                            EXT_FN
                            ": the model runs on a loss's batch only during that loss's train "
                            "hook (%s); call it from train",
                            s->train_model == NULL ? "this is outside lp_session_train"
                                                   : "this is another hook of the train phase");
    /* The session offers the extension only for a model given at open with
     * the three aux callbacks, and trains no other model (lp__model_for_train). */
    const lp_model *m = s->train_model;
    int64_t mem = m->memory_size(m->user);
    if (mem != s->model_memory)
        return lp__svc_fail(in, LP_ESTATE,
                            EXT_FN
                            ": the model's memory_size returns %lld, at open it returned %lld: "
                            "it must not change for the model's life",
                            (long long)mem, (long long)s->model_memory);

    /* The previous pass of this hook is complete: backpropagate it first. */
    lp_error merr;
    int32_t rc = flush(s, &merr);
    if (rc != LP_OK)
        return lp__svc_fail(in, rc < 0 ? rc : LP_EINVAL,
                            EXT_FN ": the model's backward_aux of the previous pass failed: %s",
                            merr.message[0] != '\0' ? merr.message : lp_strerror(rc));

    if (b == NULL || b->struct_size < BATCH_V1)
        return lp__svc_fail(in, LP_EINVAL,
                            EXT_FN ": the batch is NULL or its struct_size (%u) is below the 1.0 "
                                   "size %zu",
                            b != NULL ? (unsigned)b->struct_size : 0u, (size_t)BATCH_V1);
    if (out == NULL || out->struct_size < PASS_V1)
        return lp__svc_fail(in, LP_EINVAL,
                            EXT_FN ": `out` is NULL or its struct_size (%u) is below %zu: pass an "
                                   "lp_model_pass with struct_size = sizeof(lp_model_pass)",
                            out != NULL ? (unsigned)out->struct_size : 0u, (size_t)PASS_V1);
    if (b->rows < 1 || b->horizon < 1 || b->rows > (INT64_C(1) << 31) ||
        b->horizon > (INT64_C(1) << 31))
        return lp__svc_fail(
            in, LP_EINVAL, EXT_FN ": the batch has %lld rows and horizon %lld: give 1 .. 2^31 each",
            (long long)b->rows, (long long)b->horizon);
    if (b->field_count > s->field_count || (b->field_count > 0 && b->fields == NULL))
        return lp__svc_fail(
            in, LP_EINVAL,
            EXT_FN ": the batch has %u fields (array %s) but the session %zu: index "
                   "fields by the session's handles (field_handle)",
            (unsigned)b->field_count, b->fields != NULL ? "given" : "NULL", s->field_count);
    if (s->model_memory > 0 && memory == NULL)
        return lp__svc_fail(in, LP_EINVAL,
                            EXT_FN
                            ": `memory` is NULL but the model keeps %lld floats of memory per "
                            "row: pass f32 [rows, memory_size] (zeros to start)",
                            (long long)s->model_memory);
    int provided = 0;
    for (uint32_t i = 0; i < b->field_count; i++) {
        if (b->fields[i].data == NULL)
            continue;
        rc = check_field(in, i, &b->fields[i], b->rows, b->horizon);
        if (rc != LP_OK)
            return rc;
        provided = 1;
    }
    if (!provided)
        return lp__svc_fail(in, LP_EINVAL,
                            EXT_FN ": the batch provides no field: put the data the model reads "
                                   "(e.g. the observations) at its field handle");
    int64_t samples = b->rows * b->horizon;
    rc = reserve(in, samples);
    if (rc != LP_OK)
        return rc;

    size_t off = 0;
    for (size_t i = 0; i < s->output_count; i++) {
        const lp__output *o = &s->outputs[i];
        const lp_decl *d = &o->decl;
        lp__set_view(&s->aux_out_views[i], s->aux_mem + off, d->dtype, b->rows, b->horizon, d->rank,
                     d->shape);
        lp__set_view(&s->aux_grad_views[i], s->aux_mem + s->aux_half + off, d->dtype, b->rows,
                     b->horizon, d->rank, d->shape);
        size_t bytes = (size_t)samples * (size_t)o->sample_elems * lp_dtype_size(o->decl.dtype);
        off += lp__align_up(bytes);
    }
    memset(s->aux_mem, 0, 2 * s->aux_half);
    rc = copy_fields(in, b);
    if (rc != LP_OK)
        return rc;
    lp_batch *ab = &s->aux_batch;
    lp__batch_frame(ab, s, s->aux_fields, s->aux_out_views, s->aux_grad_views, b->rows, b->horizon);

    merr.code = LP_OK;
    merr.message[0] = '\0';
    rc = m->forward_aux(m->user, ab, starts, s->model_memory > 0 ? memory : NULL, s->aux_out_views,
                        &merr);
    if (rc != LP_OK)
        return lp__svc_fail(in, rc < 0 ? rc : LP_EINVAL,
                            EXT_FN ": the model's forward_aux failed: %s",
                            merr.message[0] != '\0' ? merr.message : lp_strerror(rc));
    s->aux_pending = 1;
    out->output_count = (uint32_t)s->output_count;
    out->outputs = s->aux_out_views;
    out->grads = s->aux_grad_views;
    return LP_OK;
}

static const lp_model_ext model_ext = {
    .struct_size = sizeof(lp_model_ext),
    .memory_size = ext_memory_size,
    .forward = ext_forward,
};

const void *lp__model_ext_get(const lp__inst *in) {
    return in != NULL && in->s->model_aux ? &model_ext : NULL;
}
