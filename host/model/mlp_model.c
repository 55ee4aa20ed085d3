/* The lp_model adapter: lp_session_train's callbacks on an lp_mlp. The
 * observation field is read where it lies when its samples are evenly
 * spaced rows (the usual contiguous [rows, horizon, obs...] minibatch) and
 * gathered into the adapter's buffer otherwise; outputs and gradients are
 * the session's contiguous tensors, used in place. */
#include "model/mlp_impl.h"

#include "model/bind.h"
#include "util/error.h"
#include "util/options.h"

#include <stdlib.h>
#include <string.h>

struct lp_mlp_model {
    lp_mlp *m;
    char *obs_field;
    int32_t obs_handle;
    int32_t logits_output;
    int32_t values_output;
    int bound; /* the three above are set (at create, or by lp_mlp_model_bind) */
    lp_optim_step_fn step;
    void *step_user;
    float *gather; /* [gather_rows, obs_dim] */
    int64_t gather_rows;
    lp__mlp_work aux; /* the activations of auxiliary passes (forward_aux) */
};

/* The oldest (1.0) layout a caller may pass. */
#define MLP_MODEL_OPTIONS_V1 LP__SIZE_THROUGH(lp_mlp_model_options, step_user)

void lp_mlp_model_options_init(lp_mlp_model_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->obs_field = "obs";
    opt->obs_handle = -1;
    opt->logits_output = 0;
    opt->values_output = 1;
}

int32_t lp_mlp_model_create(lp_mlp *m, const lp_mlp_model_options *opt, lp_mlp_model **out,
                            lp_error *err) {
    static const char fn[] = "lp_mlp_model_create";
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: out is NULL: pass where to store the adapter",
                             fn);
    *out = NULL;
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the model is NULL: create it with lp_mlp_create",
                             fn);
    /* Older and newer callers alike (util/options.h). */
    lp_mlp_model_options own;
    lp_mlp_model_options_init(&own);
    int32_t crc = lp__opts_take(&own, sizeof own, opt, MLP_MODEL_OPTIONS_V1, fn,
                                "lp_mlp_model_options_init", err);
    if (crc != LP_OK)
        return crc;
    opt = &own;
    const char *field = opt->obs_field != NULL ? opt->obs_field : "obs";
    if (!opt->bind_later && opt->obs_handle < 0)
        return lp__error_set(err, LP_EINVAL,
                             "%s: obs_handle is %d: set it to lp_session_field_handle(session, "
                             "\"%s\") (-1 there means the session has no field of that name: "
                             "declare it or set obs_field)",
                             fn, (int)opt->obs_handle, field);
    if (!opt->bind_later && (opt->logits_output < 0 || opt->values_output < -1 ||
                             opt->logits_output == opt->values_output))
        return lp__error_set(err, LP_EINVAL,
                             "%s: logits_output %d and values_output %d: give the indices of "
                             "\"logits\" and \"values\" among lp_session_output_at (distinct, "
                             ">= 0; values -1 when not declared)",
                             fn, (int)opt->logits_output, (int)opt->values_output);
    if (opt->step == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: options.step is NULL: pass the optimizer's step, e.g. "
                             "lp_adam_step_fn with step_user the lp_adam",
                             fn);

    int32_t rc = LP_OK;
    lp_mlp_model *a = calloc(1, sizeof *a);
    size_t len = strlen(field) + 1;
    size_t gather_bytes = (size_t)m->max_batch * (size_t)m->obs_dim * sizeof(float);
    if (a == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory for the adapter", fn);
    a->obs_field = malloc(len);
    a->gather = malloc(gather_bytes);
    if (a->obs_field == NULL || a->gather == NULL) {
        rc = lp__error_set(err, LP_ENOMEM,
                           "%s: out of memory for the observation gather buffer (%zu bytes for "
                           "max_batch %lld)",
                           fn, gather_bytes, (long long)m->max_batch);
        goto fail;
    }
    memcpy(a->obs_field, field, len);
    a->m = m;
    a->gather_rows = m->max_batch;
    a->aux.fwd_rows = -1;
    a->bound = !opt->bind_later;
    a->obs_handle = a->bound ? opt->obs_handle : -1;
    a->logits_output = a->bound ? opt->logits_output : -1;
    a->values_output = a->bound ? opt->values_output : -1;
    a->step = opt->step;
    a->step_user = opt->step_user;
    *out = a;
    return LP_OK;

fail:
    lp_mlp_model_destroy(a);
    return rc;
}

void lp_mlp_model_destroy(lp_mlp_model *a) {
    if (a == NULL)
        return;
    free(a->obs_field);
    free(a->gather);
    free(a->aux.work);
    free(a);
}

/* True when every dimension from `from` on is laid out row-major
 * contiguously (dimensions of size 1 may have any stride). */
static int dense_from(const lp_tensor *v, int from) {
    int64_t expect = 1;
    for (int d = v->rank - 1; d >= from; d--) {
        if (v->shape[d] != 1 && v->strides[d] != expect)
            return 0;
        expect *= v->shape[d];
    }
    return 1;
}

/* The observations of the batch as [n, obs_dim] rows at *obs with row
 * distance *ld: in place when possible, else gathered. */
static int32_t observations(lp_mlp_model *a, const char *fn, const lp_batch *mb, int64_t *rows,
                            int64_t *horizon, const float **obs, int64_t *ld, lp_error *err) {
    const lp_mlp *m = a->m;
    if (mb == NULL || mb->fields == NULL || a->obs_handle >= (int64_t)mb->field_count)
        return lp__error_set(err, LP_EINVAL,
                             "%s: the batch has %u fields, no handle %d for \"%s\": pass the "
                             "session's lp_session_field_handle as obs_handle",
                             fn, mb == NULL ? 0u : (unsigned)mb->field_count, (int)a->obs_handle,
                             a->obs_field);
    const lp_tensor *v = &mb->fields[a->obs_handle];
    int64_t per = 1;
    for (int d = 2; d < v->rank; d++)
        per *= v->shape[d];
    if (v->dtype != LP_DTYPE_F32 || v->rank < 2 || v->rank > LP_MAX_RANK || per != m->obs_dim)
        return lp__error_set(err, LP_EINVAL,
                             "%s: field \"%s\" (handle %d) has dtype %d, rank %d and %lld values "
                             "per step: the model takes f32 [rows, horizon, obs...] with %lld "
                             "values per step (obs_dim)",
                             fn, a->obs_field, (int)a->obs_handle, (int)v->dtype, (int)v->rank,
                             (long long)per, (long long)m->obs_dim);
    *rows = v->shape[0];
    *horizon = v->shape[1];
    if (*rows < 0 || *horizon < 0)
        return lp__error_set(err, LP_EINVAL, "%s: field \"%s\" has a negative dimension", fn,
                             a->obs_field);
    int64_t n = *rows * *horizon;
    if (n > m->max_batch)
        return lp__error_set(err, LP_ERANGE,
                             "%s: a minibatch of %lld x %lld = %lld samples exceeds the model's "
                             "max_batch of %lld: create it with max_batch >= %lld or call "
                             "lp_mlp_reserve",
                             fn, (long long)*rows, (long long)*horizon, (long long)n,
                             (long long)m->max_batch, (long long)n);
    if (n == 0) {
        *obs = a->gather;
        *ld = m->obs_dim;
        return LP_OK;
    }
    if (v->data == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: field \"%s\" has no data", fn, a->obs_field);

    /* Evenly spaced samples of contiguous observations: read in place. */
    int64_t s0 = v->strides[0], s1 = v->strides[1];
    int64_t step = n == 1 ? m->obs_dim : *horizon == 1 ? s0 : s1;
    int even = *rows == 1 || *horizon == 1 || s0 == *horizon * s1;
    if (dense_from(v, 2) && even && step >= m->obs_dim) {
        *obs = v->data;
        *ld = step;
        return LP_OK;
    }

    if (n > a->gather_rows) { /* only after lp_mlp_reserve grew the model */
        size_t bytes = (size_t)n * (size_t)m->obs_dim * sizeof(float);
        float *g = realloc(a->gather, bytes);
        if (g == NULL)
            return lp__error_set(err, LP_ENOMEM,
                                 "%s: out of memory growing the gather buffer to %lld samples "
                                 "(%zu bytes) after lp_mlp_reserve",
                                 fn, (long long)n, bytes);
        a->gather = g;
        a->gather_rows = n;
    }
    const float *src = v->data;
    float *dst = a->gather;
    int64_t idx[LP_MAX_RANK];
    for (int64_t r = 0; r < *rows; r++) {
        for (int64_t t = 0; t < *horizon; t++) {
            int64_t base = r * s0 + t * s1;
            for (int d = 2; d < v->rank; d++)
                idx[d] = 0;
            for (int64_t e = 0; e < per; e++) {
                int64_t off = base;
                for (int d = 2; d < v->rank; d++)
                    off += idx[d] * v->strides[d];
                *dst++ = src[off];
                for (int d = v->rank - 1; d >= 2; d--) {
                    if (++idx[d] < v->shape[d])
                        break;
                    idx[d] = 0;
                }
            }
        }
    }
    *obs = a->gather;
    *ld = m->obs_dim;
    return LP_OK;
}

/* outputs[index] (or grads[index]) as a contiguous f32 [rows, horizon,
 * width] (for values, [rows, horizon] is accepted too). */
static int32_t output_data(const char *fn, const char *what, const lp_batch *mb,
                           const lp_tensor *arr, int32_t index, const char *name, int64_t rows,
                           int64_t horizon, int64_t width, float **data, lp_error *err) {
    *data = NULL;
    if (index < 0)
        return LP_OK;
    if (arr == NULL || index >= (int64_t)mb->output_count)
        return lp__error_set(err, LP_EINVAL,
                             "%s: %s #%d (%s) does not exist: the batch has %u outputs; give "
                             "%s_output as its index among lp_session_output_at",
                             fn, what, (int)index, name, (unsigned)mb->output_count, name);
    const lp_tensor *t = &arr[index];
    int shape_ok = t->dtype == LP_DTYPE_F32 && t->rank >= 2 && t->shape[0] == rows &&
                   t->shape[1] == horizon &&
                   ((t->rank == 3 && t->shape[2] == width) || (t->rank == 2 && width == 1));
    if (!shape_ok)
        return lp__error_set(err, LP_EINVAL,
                             "%s: %s #%d (%s) has dtype %d, rank %d, shape [%lld, %lld, %lld]: "
                             "expected f32 [%lld, %lld, %lld]; check %s_output against the order "
                             "of lp_session_output_at",
                             fn, what, (int)index, name, (int)t->dtype, (int)t->rank,
                             (long long)(t->rank > 0 ? t->shape[0] : 0),
                             (long long)(t->rank > 1 ? t->shape[1] : 0),
                             (long long)(t->rank > 2 ? t->shape[2] : 0), (long long)rows,
                             (long long)horizon, (long long)width, name);
    if (!dense_from(t, 0) || (rows * horizon > 0 && t->data == NULL))
        return lp__error_set(err, LP_EINVAL,
                             "%s: %s #%d (%s) is not a contiguous tensor: the session's outputs "
                             "and gradients are contiguous; pass them unchanged",
                             fn, what, (int)index, name);
    *data = t->data;
    return LP_OK;
}

int32_t lp_mlp_model_bind(lp_mlp_model *a, const lp_session *s, lp_error *err) {
    static const char fn[] = "lp_mlp_model_bind";
    if (a == NULL || s == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: the %s is NULL: pass the adapter of lp_mlp_model_create and the "
                             "session of lp_session_open",
                             fn, a == NULL ? "adapter" : "session");
    int32_t obs, logits, values;
    int32_t rc = lp__bind_field(s, a->obs_field, LP_DTYPE_F32, a->m->obs_dim, 1,
                                "declare the observation field (program.fields or "
                                "lp_session_options.fields), or set obs_field to its name",
                                fn, &obs, err);
    if (rc == LP_OK)
        rc = lp__bind_outputs(s, a->m->num_actions, fn, &logits, &values, err);
    if (rc != LP_OK)
        return rc;
    a->obs_handle = obs;
    a->logits_output = logits;
    a->values_output = values;
    a->bound = 1;
    return LP_OK;
}

/* The forward (outputs in `arr`) or, when `backward`, the backward
 * (gradients in `arr`) of the MLP on batch `mb`, in the model's current
 * work block. */
static int32_t run_pass(lp_mlp_model *a, const char *fn, const lp_batch *mb, const lp_tensor *arr,
                        int backward, lp_error *err) {
    if (!a->bound)
        return lp__error_set(err, LP_ESTATE,
                             "%s: the adapter was created with bind_later and is not bound: call "
                             "lp_mlp_model_bind(adapter, session, &err) after lp_session_open",
                             fn);
    const char *what = backward ? "gradient" : "output";
    int64_t rows = 0, horizon = 0, ld = 0;
    const float *obs = NULL;
    float *logits = NULL, *values = NULL;
    int32_t rc = observations(a, fn, mb, &rows, &horizon, &obs, &ld, err);
    if (rc == LP_OK)
        rc = output_data(fn, what, mb, arr, a->logits_output, "logits", rows, horizon,
                         a->m->num_actions, &logits, err);
    if (rc == LP_OK)
        rc = output_data(fn, what, mb, arr, a->values_output, "values", rows, horizon, 1, &values,
                         err);
    if (rc != LP_OK)
        return rc;
    return backward ? lp_mlp_backward(a->m, obs, ld, rows * horizon, logits, values, err)
                    : lp_mlp_forward(a->m, obs, ld, rows * horizon, logits, values, err);
}

/* ---- auxiliary passes ------------------------------------------------------
 * A loss's own batch (the host extension "lossplug.model/1") runs between
 * the minibatch's forward and backward, so it must not touch the
 * activations that backward will read. The model keeps them in its work
 * block; an auxiliary pass swaps in a second block of the same layout, runs
 * the ordinary forward or backward, and swaps the minibatch's back. The
 * MLP has no recurrent memory: memory_size is 0 and episode starts change
 * nothing. */

/* The model's work state: the block, where each layer's activations live,
 * the backward scratch and what the last forward computed. */
static void work_save(const lp_mlp *m, lp__mlp_work *w) {
    w->work = m->work;
    w->rows = m->max_batch;
    for (size_t i = 0; i < LP__MLP_MAX_LAYERS; i++)
        w->act[i] = m->layers[i].act;
    w->dbuf[0] = m->dbuf[0];
    w->dbuf[1] = m->dbuf[1];
    w->fwd_rows = m->fwd_rows;
    w->fwd_actor = m->fwd_actor;
    w->fwd_critic = m->fwd_critic;
}

static void work_load(lp_mlp *m, const lp__mlp_work *w) {
    m->work = w->work;
    m->max_batch = w->rows;
    for (size_t i = 0; i < LP__MLP_MAX_LAYERS; i++)
        m->layers[i].act = w->act[i];
    m->dbuf[0] = w->dbuf[0];
    m->dbuf[1] = w->dbuf[1];
    m->fwd_rows = w->fwd_rows;
    m->fwd_actor = w->fwd_actor;
    m->fwd_critic = w->fwd_critic;
}

/* Grow the auxiliary block to `rows` rows, laid out as the model's own
 * (every hidden activation, then the two backward buffers). */
static int32_t aux_reserve(lp_mlp_model *a, const char *fn, int64_t rows, lp_error *err) {
    const lp_mlp *m = a->m;
    if (rows <= a->aux.rows)
        return LP_OK;
    if (rows > LP__MLP_MAX_BATCH)
        return lp__error_set(err, LP_ERANGE, "%s: a batch of %lld samples exceeds %lld", fn,
                             (long long)rows, (long long)LP__MLP_MAX_BATCH);
    size_t per_row = 0;
    for (size_t t = 0; t < m->trunk_count; t++)
        for (size_t l = 0; l < m->hidden_count; l++)
            per_row += (size_t)m->hidden[l];
    per_row += 2 * (size_t)m->max_hidden;
    size_t floats = per_row * (size_t)rows;
    float *work = NULL;
    if (floats > 0) {
        work = malloc(floats * sizeof *work);
        if (work == NULL)
            return lp__error_set(err, LP_ENOMEM,
                                 "%s: out of memory for the work buffers of an auxiliary batch of "
                                 "%lld samples (%zu bytes)",
                                 fn, (long long)rows, floats * sizeof *work);
    }
    free(a->aux.work);
    lp__mlp_work *w = &a->aux;
    memset(w, 0, sizeof *w);
    w->work = work;
    w->rows = rows;
    w->fwd_rows = -1;
    float *p = work;
    if (p != NULL) {
        for (size_t t = 0; t < m->trunk_count; t++)
            for (size_t l = 0; l < m->hidden_count; l++) {
                size_t i = t * m->hidden_count + l;
                w->act[i] = p;
                p += (size_t)rows * (size_t)m->layers[i].out;
            }
        w->dbuf[0] = p;
        p += (size_t)rows * (size_t)m->max_hidden;
        w->dbuf[1] = p;
    }
    return LP_OK;
}

static int64_t model_memory_size(void *user) {
    (void)user;
    return 0;
}

/* forward (backward when `grads`) of an auxiliary batch in the auxiliary
 * block; the model's own block is put back whatever happens. */
static int32_t aux_pass(lp_mlp_model *a, const char *fn, const lp_batch *b, const lp_tensor *arr,
                        int backward, lp_error *err) {
    if (b == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the batch is NULL", fn);
    if (b->rows < 0 || b->horizon < 0 || (b->horizon > 0 && b->rows > INT64_MAX / b->horizon))
        return lp__error_set(err, LP_EINVAL, "%s: the batch has %lld rows, horizon %lld", fn,
                             (long long)b->rows, (long long)b->horizon);
    int32_t rc = backward ? LP_OK : aux_reserve(a, fn, b->rows * b->horizon, err);
    if (rc != LP_OK)
        return rc;
    lp_mlp *m = a->m;
    lp__mlp_work own;
    work_save(m, &own);
    work_load(m, &a->aux);
    rc = run_pass(a, fn, b, arr, backward, err);
    work_save(m, &a->aux);
    work_load(m, &own);
    return rc;
}

static int32_t model_forward_aux(void *user, const lp_batch *b, const uint8_t *starts,
                                 float *memory, const lp_tensor *outputs, lp_error *err) {
    (void)starts; /* no memory to reset */
    (void)memory;
    return aux_pass(user, "lp_mlp_model forward_aux", b, outputs, 0, err);
}

static int32_t model_backward_aux(void *user, const lp_batch *b, const lp_tensor *grads,
                                  lp_error *err) {
    return aux_pass(user, "lp_mlp_model backward_aux", b, grads, 1, err);
}

static int32_t model_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                             lp_error *err) {
    return run_pass(user, "lp_mlp_model forward", mb, outputs, 0, err);
}

static int32_t model_backward(void *user, const lp_batch *mb, const lp_tensor *grads,
                              lp_error *err) {
    return run_pass(user, "lp_mlp_model backward", mb, grads, 1, err);
}

static int32_t model_step(void *user, const lp_ctx *ctx, lp_error *err) {
    lp_mlp_model *a = user;
    int32_t rc = a->step(a->step_user, a->m->params, a->m->grads, a->m->param_count, ctx, err);
    if (rc != LP_OK)
        return rc;
    lp_mlp_zero_grad(a->m);
    return LP_OK;
}

lp_model lp_mlp_model_callbacks(lp_mlp_model *a) {
    lp_model cb;
    memset(&cb, 0, sizeof cb);
    cb.user = a;
    if (a != NULL) {
        cb.forward = model_forward;
        cb.backward = model_backward;
        cb.step = model_step;
        cb.memory_size = model_memory_size;
        cb.forward_aux = model_forward_aux;
        cb.backward_aux = model_backward_aux;
    }
    return cb;
}
