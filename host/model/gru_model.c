/* The lp_model adapter of lp_gru (lossplug/rnn.h). A minibatch of the
 * session's buffer is whole rows: the model starts each row from its stored
 * memory_start (step 0) and zeroes the state after every step whose `dones`
 * is set, then backpropagates through the row's horizon. An auxiliary pass
 * ("lossplug.model/1") takes starts and memory from the loss and runs in a
 * second work block, so the minibatch's activations survive it. */
#include "model/gru_impl.h"

#include "model/bind.h"
#include "util/error.h"
#include "util/options.h"

#include <stdlib.h>
#include <string.h>

/* One pass's inputs in dense form, and the work block it runs in. */
typedef struct pass_buf {
    lp__gru_work work;
    float *obs;      /* [cap, D] */
    uint8_t *starts; /* [cap] */
    float *mem;      /* [cap, M] start states (rows <= cap) */
    int64_t cap;
} pass_buf;

struct lp_gru_model {
    lp_gru *m;
    lp_gru_model_options o;
    int bound; /* o's handles and output indices are set */
    pass_buf main, aux;
};

/* The oldest (1.0) layout a caller may pass. */
#define GRU_MODEL_OPTIONS_V1 LP__SIZE_THROUGH(lp_gru_model_options, step_user)

void lp_gru_model_options_init(lp_gru_model_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->obs_handle = -1;
    opt->dones_handle = -1;
    opt->memory_handle = -1;
    opt->logits_output = 0;
    opt->values_output = 1;
}

static void pass_free(pass_buf *p) {
    lp__gru_work_free(&p->work);
    free(p->obs);
    free(p->starts);
    free(p->mem);
    memset(p, 0, sizeof *p);
}

/* Room for `n` samples (grows only). */
static int32_t pass_reserve(const lp_gru *m, pass_buf *p, int64_t n, const char *fn,
                            lp_error *err) {
    if (n <= p->cap)
        return LP_OK;
    if (n > LP__GRU_MAX_BATCH)
        return lp__error_set(err, LP_ERANGE, "%s: a batch of %lld samples exceeds %lld", fn,
                             (long long)n, (long long)LP__GRU_MAX_BATCH);
    pass_buf q;
    memset(&q, 0, sizeof q);
    q.obs = malloc((size_t)n * (size_t)m->D * sizeof(float));
    q.starts = malloc((size_t)n);
    q.mem = malloc((size_t)n * (size_t)m->M * sizeof(float));
    if (q.obs == NULL || q.starts == NULL || q.mem == NULL ||
        lp__gru_work_alloc(m, n, &q.work) != LP_OK) {
        pass_free(&q);
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory for a batch of %lld samples", fn,
                             (long long)n);
    }
    q.cap = n;
    pass_free(p);
    *p = q;
    return LP_OK;
}

int32_t lp_gru_model_create(lp_gru *m, const lp_gru_model_options *opt, lp_gru_model **out,
                            lp_error *err) {
    static const char fn[] = "lp_gru_model_create";
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the model is NULL: create it with lp_gru_create",
                             fn);
    /* Older and newer callers alike (util/options.h). */
    lp_gru_model_options own;
    lp_gru_model_options_init(&own);
    int32_t crc = lp__opts_take(&own, sizeof own, opt, GRU_MODEL_OPTIONS_V1, fn,
                                "lp_gru_model_options_init", err);
    if (crc != LP_OK)
        return crc;
    opt = &own;
    if (opt->step == NULL ||
        (!opt->bind_later && (opt->obs_handle < 0 || opt->logits_output < 0 ||
                              opt->values_output < -1 || opt->logits_output == opt->values_output)))
        return lp__error_set(err, LP_EINVAL,
                             "%s: give obs_handle (>= 0), step, and distinct logits_output (>= 0) "
                             "and values_output (>= -1)",
                             fn);
    lp_gru_model *a = calloc(1, sizeof *a);
    if (a == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", fn);
    a->m = m;
    a->o = *opt;
    a->bound = !opt->bind_later;
    int32_t rc = pass_reserve(m, &a->main, m->own.cap, fn, err);
    if (rc != LP_OK) {
        lp_gru_model_destroy(a);
        return rc;
    }
    *out = a;
    return LP_OK;
}

void lp_gru_model_destroy(lp_gru_model *a) {
    if (a == NULL)
        return;
    pass_free(&a->main);
    pass_free(&a->aux);
    free(a);
}

/* Element (r, t, e) of view v (e: flat index of the per-step part). */
static int64_t offset_of(const lp_tensor *v, int64_t r, int64_t t, int64_t e) {
    int64_t off = r * v->strides[0] + t * v->strides[1];
    for (int d = v->rank - 1; d >= 2; d--) {
        off += (e % v->shape[d]) * v->strides[d];
        e /= v->shape[d];
    }
    return off;
}

/* Field `h` of `b` as [rows, horizon, per] with the given dtype; NULL
 * message when fine. */
static const lp_tensor *field(const lp_batch *b, int32_t h, int32_t dtype, int64_t per,
                              const char *what, const char *fn, lp_error *err, int32_t *rc) {
    *rc = LP_OK;
    if (h < 0 || b->fields == NULL || (uint32_t)h >= b->field_count || b->fields[h].data == NULL) {
        *rc = lp__error_set(err, LP_EINVAL,
                            "%s: the batch has no %s field (handle %d): the recurrent model reads "
                            "it; declare it in program.fields (docs/model.md)",
                            fn, what, (int)h);
        return NULL;
    }
    const lp_tensor *v = &b->fields[h];
    int64_t n = 1;
    for (int d = 2; d < v->rank; d++)
        n *= v->shape[d];
    if (v->dtype != dtype || v->rank < 2 || v->shape[0] != b->rows || v->shape[1] != b->horizon ||
        n != per) {
        *rc = lp__error_set(err, LP_EINVAL,
                            "%s: field %s has dtype %d, rank %d, %lld values per step: expected "
                            "dtype %d with %lld per step over [%lld, %lld]",
                            fn, what, (int)v->dtype, (int)v->rank, (long long)n, (int)dtype,
                            (long long)per, (long long)b->rows, (long long)b->horizon);
        return NULL;
    }
    return v;
}

/* The observations of `b` into p->obs. */
static int32_t load_obs(lp_gru_model *a, pass_buf *p, const lp_batch *b, const char *fn,
                        lp_error *err) {
    int32_t rc;
    const lp_tensor *v = field(b, a->o.obs_handle, LP_DTYPE_F32, a->m->D, "obs", fn, err, &rc);
    if (v == NULL)
        return rc;
    const float *src = v->data;
    const int64_t D = a->m->D;
    for (int64_t r = 0; r < b->rows; r++)
        for (int64_t t = 0; t < b->horizon; t++)
            for (int64_t e = 0; e < D; e++)
                p->obs[(r * b->horizon + t) * D + e] = src[offset_of(v, r, t, e)];
    return LP_OK;
}

/* Outputs (or gradients) `arr` at the adapter's indices, contiguous. */
static int32_t heads(const lp_gru_model *a, const lp_batch *b, const lp_tensor *arr, const char *fn,
                     float **logits, float **values, lp_error *err) {
    *logits = *values = NULL;
    const int32_t idx[2] = {a->o.logits_output, a->o.values_output};
    const int64_t width[2] = {a->m->A, 1};
    float **dst[2] = {logits, values};
    for (int k = 0; k < 2; k++) {
        if (idx[k] < 0)
            continue;
        if (arr == NULL || (uint32_t)idx[k] >= b->output_count)
            return lp__error_set(err, LP_EINVAL, "%s: output #%d does not exist (%u outputs)", fn,
                                 (int)idx[k], (unsigned)b->output_count);
        const lp_tensor *t = &arr[idx[k]];
        int64_t n = 1;
        for (int d = 0; d < t->rank; d++)
            n *= t->shape[d];
        if (t->dtype != LP_DTYPE_F32 || t->rank < 2 || t->shape[0] != b->rows ||
            t->shape[1] != b->horizon || n != b->rows * b->horizon * width[k] ||
            (n > 0 && t->data == NULL))
            return lp__error_set(err, LP_EINVAL,
                                 "%s: output #%d is not f32 [%lld, %lld%s]: check logits_output "
                                 "and values_output against lp_session_output_at",
                                 fn, (int)idx[k], (long long)b->rows, (long long)b->horizon,
                                 k == 0 ? ", num_actions" : "");
        *dst[k] = t->data;
    }
    return LP_OK;
}

static int32_t check_batch(const lp_gru *m, const lp_batch *b, const char *fn, lp_error *err) {
    (void)m;
    if (b == NULL || b->rows < 0 || b->horizon < 1 ||
        (b->rows > 0 && b->horizon > LP__GRU_MAX_BATCH / b->rows))
        return lp__error_set(err, LP_EINVAL, "%s: the batch is NULL or has %lld rows, horizon %lld",
                             fn, b != NULL ? (long long)b->rows : 0LL,
                             b != NULL ? (long long)b->horizon : 0LL);
    return LP_OK;
}

/* Every pass needs the handles. */
static int32_t check_bound(const lp_gru_model *a, const char *fn, lp_error *err) {
    if (a->bound)
        return LP_OK;
    return lp__error_set(err, LP_ESTATE,
                         "%s: the adapter was created with bind_later and is not bound: call "
                         "lp_gru_model_bind(adapter, session, &err) after lp_session_open",
                         fn);
}

static int32_t run_forward(lp_gru_model *a, pass_buf *p, const lp_batch *b, const lp_tensor *outs,
                           float *memory, const char *fn, lp_error *err) {
    float *logits, *values;
    int32_t rc = heads(a, b, outs, fn, &logits, &values, err);
    if (rc != LP_OK)
        return rc;
    lp_gru *m = a->m;
    lp__gru_work *own = m->w;
    m->w = &p->work;
    rc = lp_gru_forward(m, p->obs, m->D, b->rows, b->horizon, p->starts, memory, logits, values,
                        err);
    m->w = own;
    return rc;
}

static int32_t run_backward(lp_gru_model *a, pass_buf *p, const lp_batch *b, const lp_tensor *gr,
                            const char *fn, lp_error *err) {
    float *dlogits, *dvalues;
    int32_t rc = check_bound(a, fn, err);
    if (rc == LP_OK)
        rc = check_batch(a->m, b, fn, err);
    if (rc == LP_OK)
        rc = heads(a, b, gr, fn, &dlogits, &dvalues, err);
    if (rc != LP_OK)
        return rc;
    lp_gru *m = a->m;
    if (p->work.rows != b->rows || p->work.horizon != b->horizon)
        return lp__error_set(err, LP_ESTATE, "%s: the batch is not the one of the last forward",
                             fn);
    lp__gru_work *own = m->w;
    m->w = &p->work;
    rc = lp_gru_backward(m, p->obs, m->D, dlogits, dvalues, err);
    m->w = own;
    return rc;
}

int32_t lp_gru_model_bind(lp_gru_model *a, const lp_session *s, lp_error *err) {
    static const char fn[] = "lp_gru_model_bind";
    if (a == NULL || s == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: the %s is NULL: pass the adapter of lp_gru_model_create and the "
                             "session of lp_session_open",
                             fn, a == NULL ? "adapter" : "session");
    static const char hint[] = "declare it (program.fields or lp_session_options.fields)";
    int32_t obs, dones, memory, logits, values;
    int32_t rc = lp__bind_field(s, "obs", LP_DTYPE_F32, a->m->D, 1, hint, fn, &obs, err);
    if (rc == LP_OK)
        rc = lp__bind_field(s, "dones", LP_DTYPE_U8, 1, 0, hint, fn, &dones, err);
    if (rc == LP_OK)
        rc = lp__bind_field(s, "memory_start", LP_DTYPE_F32, a->m->M, 0, hint, fn, &memory, err);
    if (rc == LP_OK)
        rc = lp__bind_outputs(s, a->m->A, fn, &logits, &values, err);
    if (rc != LP_OK)
        return rc;
    a->o.obs_handle = obs;
    a->o.dones_handle = dones;
    a->o.memory_handle = memory;
    a->o.logits_output = logits;
    a->o.values_output = values;
    a->bound = 1;
    return LP_OK;
}

static int32_t model_forward(void *user, const lp_batch *mb, const lp_tensor *outputs,
                             lp_error *err) {
    static const char fn[] = "lp_gru_model forward";
    lp_gru_model *a = user;
    const lp_gru *m = a->m;
    int32_t rc = check_bound(a, fn, err);
    if (rc == LP_OK)
        rc = check_batch(m, mb, fn, err);
    if (rc == LP_OK)
        rc = pass_reserve(m, &a->main, mb->rows * mb->horizon, fn, err);
    if (rc == LP_OK)
        rc = load_obs(a, &a->main, mb, fn, err);
    if (rc != LP_OK)
        return rc;
    const lp_tensor *dn = field(mb, a->o.dones_handle, LP_DTYPE_U8, 1, "dones", fn, err, &rc);
    if (dn == NULL)
        return rc;
    const lp_tensor *ms =
        field(mb, a->o.memory_handle, LP_DTYPE_F32, m->M, "memory_start", fn, err, &rc);
    if (ms == NULL)
        return rc;
    const int64_t T = mb->horizon, M = m->M;
    const uint8_t *d = dn->data;
    const float *s = ms->data;
    for (int64_t r = 0; r < mb->rows; r++) {
        a->main.starts[r * T] = 0; /* memory_start is the state after any reset */
        for (int64_t t = 1; t < T; t++)
            a->main.starts[r * T + t] = d[offset_of(dn, r, t - 1, 0)] != 0;
        for (int64_t e = 0; e < M; e++)
            a->main.mem[r * M + e] = s[offset_of(ms, r, 0, e)];
    }
    return run_forward(a, &a->main, mb, outputs, a->main.mem, fn, err);
}

static int32_t model_backward(void *user, const lp_batch *mb, const lp_tensor *grads,
                              lp_error *err) {
    lp_gru_model *a = user;
    return run_backward(a, &a->main, mb, grads, "lp_gru_model backward", err);
}

static int32_t model_step(void *user, const lp_ctx *ctx, lp_error *err) {
    lp_gru_model *a = user;
    int32_t rc = a->o.step(a->o.step_user, a->m->params, a->m->grads, a->m->param_count, ctx, err);
    if (rc == LP_OK)
        lp_gru_zero_grad(a->m);
    return rc;
}

static int64_t model_memory_size(void *user) {
    const lp_gru_model *a = user;
    return a != NULL ? a->m->M : 0;
}

static int32_t model_forward_aux(void *user, const lp_batch *b, const uint8_t *starts,
                                 float *memory, const lp_tensor *outputs, lp_error *err) {
    static const char fn[] = "lp_gru_model forward_aux";
    lp_gru_model *a = user;
    int32_t rc = check_bound(a, fn, err);
    if (rc == LP_OK)
        rc = check_batch(a->m, b, fn, err);
    if (rc == LP_OK && memory == NULL)
        rc = lp__error_set(err, LP_EINVAL, "%s: memory is NULL: pass f32 [rows, %lld]", fn,
                           (long long)a->m->M);
    if (rc == LP_OK)
        rc = pass_reserve(a->m, &a->aux, b->rows * b->horizon, fn, err);
    if (rc == LP_OK)
        rc = load_obs(a, &a->aux, b, fn, err);
    if (rc != LP_OK)
        return rc;
    size_t n = (size_t)(b->rows * b->horizon);
    if (starts != NULL)
        memcpy(a->aux.starts, starts, n);
    else
        memset(a->aux.starts, 0, n);
    return run_forward(a, &a->aux, b, outputs, memory, fn, err);
}

static int32_t model_backward_aux(void *user, const lp_batch *b, const lp_tensor *grads,
                                  lp_error *err) {
    lp_gru_model *a = user;
    return run_backward(a, &a->aux, b, grads, "lp_gru_model backward_aux", err);
}

lp_model lp_gru_model_callbacks(lp_gru_model *a) {
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
