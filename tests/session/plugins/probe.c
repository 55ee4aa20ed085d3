/* Test plugin "probe": configurable from YAML alone, so that merges,
 * minibatches, stats, state and schedules can be tested without writing a
 * plugin per case.
 *
 * Params:
 *   reads, opt_reads      fields it reads (rollout and train), "name:type,...",
 *                         type "f32" or "f32[4,OBS]" (opt_reads: optional)
 *   writes                fields it writes in the train phase (per minibatch:
 *                         1000 * buffer row + t, for f32 fields; t from
 *                         lp_batch.step_index when the host gives one)
 *   rollout_writes        fields it writes in the rollout phase (the step t)
 *   stat, stat_base       records stat_base + n (n-th train call of the phase)
 *   state                 size of its f64 state tensor "counter" (0: none);
 *                         counter[0] counts train calls, counter[1] loads
 *   stop_at               asks to stop at its stop_at-th train call (from 0)
 *   grad                  adds weight * grad to every gradient of "values"
 *   grad_from             adds weight * (a read f32 scalar field, per sample)
 *                         to the gradient of "values" (list it in reads)
 *   grad_nan_at           writes NaN into the first gradient element of
 *                         "values" at this train call (from 0; -1 never)
 *   loss                  the loss it reports
 *   coef, steps           plain numbers, for anneal tests
 *   fail                  the hook to fail in ("create", "fields", "attach", ...)
 *   log                   log "NAME:hook:details" lines (rows, coef, steps)
 * Needs the model output "values". */
#include <lossplug/plugin.h>

#include <stdlib.h>

#define MAXF 16

enum {
    P_READS,
    P_OPT_READS,
    P_WRITES,
    P_ROLLOUT_WRITES,
    P_STAT,
    P_STAT_BASE,
    P_STATE,
    P_STOP_AT,
    P_GRAD,
    P_LOSS,
    P_COEF,
    P_STEPS,
    P_FAIL,
    P_LOG,
    P_GRAD_FROM,
    P_GRAD_NAN_AT,
    P_COUNT
};

static const lp_param_spec probe_params[] = {
    LP_PARAM_STRING_SPEC("reads", "fields read", ""),
    LP_PARAM_STRING_SPEC("opt_reads", "fields read, optional", ""),
    LP_PARAM_STRING_SPEC("writes", "fields written in the train phase", ""),
    LP_PARAM_STRING_SPEC("rollout_writes", "fields written in the rollout phase", ""),
    LP_PARAM_STRING_SPEC("stat", "stat key", "metric"),
    LP_PARAM_FLOAT_SPEC("stat_base", "stat base value", 0.0, -1e9, 1e9),
    LP_PARAM_INT_SPEC("state", "state tensor size", 2, 0, 1000),
    LP_PARAM_INT_SPEC("stop_at", "stop at this train call", -1, -1, 1000000),
    LP_PARAM_FLOAT_SPEC("grad", "gradient added", 0.0, -1e9, 1e9),
    LP_PARAM_FLOAT_SPEC("loss", "loss reported", 1.0, -1e9, 1e9),
    LP_PARAM_FLOAT_SPEC("coef", "a number to anneal", 0.5, 0.0, 10.0),
    LP_PARAM_INT_SPEC("steps", "an int to anneal", 10, 0, 1000),
    LP_PARAM_STRING_SPEC("fail", "hook to fail in", ""),
    LP_PARAM_BOOL_SPEC("log", "log hook details", 0),
    LP_PARAM_STRING_SPEC("grad_from", "field added to the values gradient", ""),
    LP_PARAM_INT_SPEC("grad_nan_at", "NaN into the values gradient at this train call", -1, -1,
                      1000000),
};

typedef struct probe {
    lp_loss loss;
    const lp_host *host;
    const char *name;
    const lp_value *params;
    lp_field_spec fields[MAXF];
    char names[MAXF][64];
    uint32_t field_count;
    int32_t write_handles[MAXF]; /* train-phase writes */
    int32_t rwrite_handles[MAXF];
    uint32_t write_count, rwrite_count;
    int32_t stat, values_out, grad_from;
    int64_t calls;
    double *counter;
} probe;

static probe *P(const lp_loss *self) {
    return self->data;
}

static const char *fail_hook(const probe *p) {
    return lp_value_s(&p->params[P_FAIL]);
}

static int fails(const probe *p, const char *hook) {
    return strcmp(fail_hook(p), hook) == 0;
}

#define FAIL_IF(p, hook)                                                                           \
    do {                                                                                           \
        if (fails(p, hook))                                                                        \
            return lp_errorf((p)->host, LP_EINVAL, "probe failure in %s", hook);                   \
    } while (0)

static int dtype_of(const char *s, size_t n) {
    static const char *const names[] = {"f32", "f64", "i32", "i64", "u8"};
    static const int dtypes[] = {LP_DTYPE_F32, LP_DTYPE_F64, LP_DTYPE_I32, LP_DTYPE_I64,
                                 LP_DTYPE_U8};
    for (int i = 0; i < 5; i++)
        if (strlen(names[i]) == n && strncmp(names[i], s, n) == 0)
            return dtypes[i];
    return 0;
}

/* "a:f32,b:f32[4,OBS]" -> specs. Returns 0 or -1. */
static int parse_list(probe *p, const char *list, uint32_t access, uint32_t phase) {
    const char *s = list;
    while (*s != '\0') {
        if (p->field_count == MAXF)
            return -1;
        lp_field_spec *f = &p->fields[p->field_count];
        char *name = p->names[p->field_count];
        size_t n = 0;
        while (*s != ':' && *s != '\0' && n < 63)
            name[n++] = *s++;
        name[n] = '\0';
        if (*s++ != ':')
            return -1;
        const char *t = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))
            s++;
        memset(f, 0, sizeof *f);
        f->struct_size = sizeof *f;
        f->name = name;
        f->doc = "probe field";
        f->access = access;
        f->phase = phase;
        f->dtype = dtype_of(t, (size_t)(s - t));
        if (f->dtype == 0)
            return -1;
        if (*s == '[') {
            s++;
            while (*s != ']') {
                if (f->rank == LP_MAX_RANK || *s == '\0')
                    return -1;
                if (strncmp(s, "OBS", 3) == 0) {
                    f->shape[f->rank++] = LP_DIM_OBS;
                    s += 3;
                } else if (strncmp(s, "ACTION", 6) == 0) {
                    f->shape[f->rank++] = LP_DIM_ACTION;
                    s += 6;
                } else if (strncmp(s, "NUM_ACTIONS", 11) == 0) {
                    f->shape[f->rank++] = LP_DIM_NUM_ACTIONS;
                    s += 11;
                } else {
                    char *end;
                    f->shape[f->rank++] = strtoll(s, &end, 10);
                    if (end == s)
                        return -1;
                    s = end;
                }
                if (*s == ',')
                    s++;
            }
            s++;
        }
        p->field_count++;
        if (*s == ',')
            s++;
        else if (*s != '\0')
            return -1;
    }
    return 0;
}

static int32_t probe_fields(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    probe *p = P(self);
    FAIL_IF(p, "fields");
    *specs = p->fields;
    *count = p->field_count;
    return LP_OK;
}

static void log_hook(const probe *p, const char *hook, const lp_ctx *c) {
    if (!lp_value_b(&p->params[P_LOG]))
        return;
    lp_logf(p->host, LP_LOG_INFO, "%s:epoch=%lld:coef=%g:steps=%lld", hook,
            (long long)(c != NULL ? c->epoch : -1), lp_value_f(&p->params[P_COEF]),
            (long long)lp_value_i(&p->params[P_STEPS]));
}

static int32_t probe_attach(const lp_loss *self, const lp_batch *all) {
    probe *p = P(self);
    (void)all;
    FAIL_IF(p, "attach");
    p->stat = lp_stat_handle(p->host, lp_value_s(&p->params[P_STAT]));
    if (p->stat < 0)
        return p->stat;
    p->values_out = p->host->output_handle(p->host, "values");
    const char *gf = lp_value_s(&p->params[P_GRAD_FROM]);
    p->grad_from = gf != NULL && gf[0] != '\0' ? p->host->field_handle(p->host, gf) : -1;
    for (uint32_t i = 0; i < p->field_count; i++) {
        const lp_field_spec *f = &p->fields[i];
        int32_t h = p->host->field_handle(p->host, f->name);
        if (h < 0 && !(f->access & LP_FIELD_OPTIONAL))
            return lp_errorf(p->host, LP_EINVAL, "no handle for field '%s'", f->name);
        if ((f->access & LP_FIELD_WRITE) && (f->phase & LP_PHASE_TRAIN))
            p->write_handles[p->write_count++] = h;
        if ((f->access & LP_FIELD_WRITE) && (f->phase & LP_PHASE_ROLLOUT))
            p->rwrite_handles[p->rwrite_count++] = h;
    }
    return LP_OK;
}

static int32_t probe_epoch_start(const lp_loss *self, const lp_ctx *c) {
    FAIL_IF(P(self), "epoch_start");
    log_hook(P(self), "epoch_start", c);
    return LP_OK;
}

static int32_t probe_rollout_start(const lp_loss *self, const lp_ctx *c) {
    FAIL_IF(P(self), "rollout_start");
    log_hook(P(self), "rollout_start", c);
    return LP_OK;
}

static int32_t probe_rollout_step(const lp_loss *self, const lp_ctx *c, const lp_batch *step) {
    probe *p = P(self);
    FAIL_IF(p, "rollout_step");
    for (uint32_t i = 0; i < p->rwrite_count; i++) {
        const lp_tensor *t = &step->fields[p->rwrite_handles[i]];
        float *d = lp_tensor_f32(t);
        if (d == NULL)
            continue;
        int64_t per = 1;
        for (int32_t k = 1; k < t->rank; k++)
            per *= t->shape[k];
        for (int64_t r = 0; r < t->shape[0]; r++)
            for (int64_t e = 0; e < per; e++)
                d[r * t->strides[0] + e] = (float)c->step;
    }
    return LP_OK;
}

static int32_t probe_train_start(const lp_loss *self, const lp_ctx *c, const lp_batch *all) {
    (void)all;
    FAIL_IF(P(self), "train_start");
    P(self)->calls = 0;
    log_hook(P(self), "train_start", c);
    return LP_OK;
}

static int32_t probe_train(const lp_loss *self, const lp_ctx *c, const lp_batch *mb, float weight,
                           lp_train_result *out) {
    probe *p = P(self);
    FAIL_IF(p, "train");
    int64_t n = p->calls++;
    lp_stat(p->host, p->stat, lp_value_f(&p->params[P_STAT_BASE]) + (double)n);
    if (p->counter != NULL)
        p->counter[0] += 1.0;
    double g = lp_value_f(&p->params[P_GRAD]);
    if (g != 0.0 && p->values_out >= 0) {
        const lp_tensor *t = &mb->grads[p->values_out];
        float *d = lp_tensor_f32(t);
        int64_t numel = lp_tensor_numel(t);
        for (int64_t i = 0; d != NULL && i < numel; i++)
            d[i] += (float)(weight * g);
    }
    if (p->grad_from >= 0 && p->values_out >= 0) {
        const lp_tensor *f = &mb->fields[p->grad_from];
        float *d = lp_tensor_f32(&mb->grads[p->values_out]);
        for (int64_t r = 0; d != NULL && r < mb->rows; r++)
            for (int64_t t = 0; t < mb->horizon; t++)
                d[r * mb->horizon + t] +=
                    weight * ((const float *)f->data)[r * f->strides[0] + t * f->strides[1]];
    }
    if (n == lp_value_i(&p->params[P_GRAD_NAN_AT]) && p->values_out >= 0) {
        float *d = lp_tensor_f32(&mb->grads[p->values_out]);
        if (d != NULL)
            d[0] = NAN;
    }
    /* Single-step minibatches (buffer.sample: transitions) say which step. */
    const int64_t *steps = LP_HAS_FIELD(mb, lp_batch, step_index) ? mb->step_index : NULL;
    for (uint32_t i = 0; i < p->write_count; i++) {
        const lp_tensor *t = &mb->fields[p->write_handles[i]];
        float *d = lp_tensor_f32(t);
        if (d == NULL)
            continue;
        int64_t per = 1;
        for (int32_t k = 2; k < t->rank; k++)
            per *= t->shape[k];
        for (int64_t r = 0; r < mb->rows; r++)
            for (int64_t s = 0; s < mb->horizon; s++)
                for (int64_t e = 0; e < per; e++)
                    d[r * t->strides[0] + s * t->strides[1] + e] =
                        (float)(1000 * mb->row_index[r] + (steps != NULL ? steps[r] : s));
    }
    if (lp_value_b(&p->params[P_LOG])) {
        char rows[256];
        size_t len = 0;
        rows[0] = '\0';
        for (int64_t r = 0; r < mb->rows && len < sizeof rows; r++)
            len += steps != NULL ? (size_t)snprintf(rows + len, sizeof rows - len, "%s%lld.%lld",
                                                    r ? "," : "", (long long)mb->row_index[r],
                                                    (long long)steps[r])
                                 : (size_t)snprintf(rows + len, sizeof rows - len, "%s%lld",
                                                    r ? "," : "", (long long)mb->row_index[r]);
        lp_logf(p->host, LP_LOG_INFO, "train:%d.%d:rows=%s:coef=%g:steps=%lld",
                (int)c->update_epoch, (int)c->minibatch, rows, lp_value_f(&p->params[P_COEF]),
                (long long)lp_value_i(&p->params[P_STEPS]));
    }
    out->loss = lp_value_f(&p->params[P_LOSS]);
    out->stop = lp_value_i(&p->params[P_STOP_AT]) == n;
    return LP_OK;
}

static int32_t probe_minibatch_end(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    FAIL_IF(P(self), "minibatch_end");
    return LP_OK;
}

static int32_t probe_train_end(const lp_loss *self, const lp_ctx *c) {
    FAIL_IF(P(self), "train_end");
    log_hook(P(self), "train_end", c);
    return LP_OK;
}

static int32_t probe_save(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    FAIL_IF(P(self), "save");
    return LP_OK;
}

static int32_t probe_load(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    probe *p = P(self);
    FAIL_IF(p, "load");
    if (p->counter != NULL && lp_value_i(&p->params[P_STATE]) > 1)
        p->counter[1] += 1.0;
    if (p->counter != NULL)
        lp_logf(p->host, LP_LOG_INFO, "load:counter=%g", p->counter[0]);
    return LP_OK;
}

static void probe_destroy(const lp_loss *self) {
    probe *p = P(self);
    free(p->counter);
    free(p);
}

static int32_t probe_create(const lp_create_args *args, const lp_loss **out) {
    probe *p = calloc(1, sizeof *p);
    if (p == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "out of memory");
    p->host = args->host;
    p->name = args->name;
    p->params = args->params;
    if (fails(p, "create")) {
        free(p);
        return lp_errorf(args->host, LP_EINVAL, "probe failure in create");
    }
    if (parse_list(p, lp_value_s(&args->params[P_READS]), LP_FIELD_READ,
                   LP_PHASE_ROLLOUT | LP_PHASE_TRAIN) != 0 ||
        parse_list(p, lp_value_s(&args->params[P_OPT_READS]), LP_FIELD_READ | LP_FIELD_OPTIONAL,
                   LP_PHASE_ROLLOUT | LP_PHASE_TRAIN) != 0 ||
        parse_list(p, lp_value_s(&args->params[P_WRITES]), LP_FIELD_WRITE, LP_PHASE_TRAIN) != 0 ||
        parse_list(p, lp_value_s(&args->params[P_ROLLOUT_WRITES]), LP_FIELD_WRITE,
                   LP_PHASE_ROLLOUT) != 0) {
        free(p);
        return lp_errorf(args->host, LP_EINVAL, "bad field list");
    }
    int64_t n = lp_value_i(&args->params[P_STATE]);
    if (n > 0) {
        p->counter = calloc((size_t)n, sizeof *p->counter);
        if (p->counter == NULL) {
            free(p);
            return lp_errorf(args->host, LP_ENOMEM, "out of memory");
        }
        int64_t shape[1] = {n};
        lp_tensor t = lp_tensor_make(p->counter, LP_DTYPE_F64, 1, shape);
        int32_t rc = args->host->state_register(args->host, "counter", &t);
        if (rc != LP_OK) {
            free(p->counter);
            free(p);
            return rc;
        }
    }
    p->loss.struct_size = sizeof p->loss;
    p->loss.data = p;
    p->loss.fields = probe_fields;
    p->loss.attach = probe_attach;
    p->loss.epoch_start = probe_epoch_start;
    p->loss.rollout_start = probe_rollout_start;
    p->loss.rollout_step = probe_rollout_step;
    p->loss.train_start = probe_train_start;
    p->loss.train = probe_train;
    p->loss.minibatch_end = probe_minibatch_end;
    p->loss.train_end = probe_train_end;
    p->loss.save = probe_save;
    p->loss.load = probe_load;
    p->loss.destroy = probe_destroy;
    *out = &p->loss;
    return LP_OK;
}

static const char *const probe_outputs[] = {"values", NULL};

static const lp_loss_desc probe_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "probe",
    .version = "1.0.0",
    .summary = "test plugin: fields, stats, state and failures from its params",
    LP_DESC_PARAMS(probe_params),
    .outputs = probe_outputs,
    .create = probe_create,
};

LP_PLUGIN_ENTRY(&probe_desc)
