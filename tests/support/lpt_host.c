/* The mock host of lpt.h: plugin files, instances, host services, hooks. */
#include "lpt.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LPT__SLOTS 32
#define LPT__NAME  64
#define LPT__MSG   1024

/* Where the instance is in its lifecycle: which services are legal. */
enum { LPT__IDLE, LPT__IN_CREATE, LPT__IN_ATTACH, LPT__IN_HOOK };

/* host_data of every table points at one of these: the init table's
 * services refuse [instance] calls. */
enum { LPT__KIND_PLUGIN = 1, LPT__KIND_INST = 2 };

typedef struct lpt__sink {
    int kind;
    char last_error[LPT__MSG];
    int errors;
    char last_log[LPT__MSG];
    int logs;
    char last_violation[LPT__MSG];
    int violations;
} lpt__sink;

struct lpt_plugin {
    lpt__sink sink; /* first: host_data points here */
    lp_host host;
    const lp_entry *entry;
    int inited;
};

typedef struct lpt__stat {
    char key[LPT__NAME];
    int count;
    double sum, last;
} lpt__stat;

typedef struct lpt__state {
    char name[LPT__NAME];
    lp_tensor view;
} lpt__state;

struct lpt_inst {
    lpt__sink sink; /* first: host_data points here */
    lp_host host;
    const lp_loss_desc *desc;
    char name[LPT__NAME];
    lp_value *params;
    char **owned_strings; /* per param: copies made by lpt_set_s */
    lp_env_info env;
    lp_create_args args;
    char *config_dir; /* args.config_dir; NULL until lpt_set_config_dir */
    lp_ctx ctx;
    int stage;

    const lp_loss *made; /* what create returned */
    lp_loss copy;        /* what hooks receive */

    char field_names[LPT__SLOTS][LPT__NAME];
    lp_tensor fields[LPT__SLOTS];
    uint32_t nfields;
    char output_names[LPT__SLOTS][LPT__NAME];
    lp_tensor outputs[LPT__SLOTS];
    lp_tensor grads[LPT__SLOTS];
    uint32_t noutputs;
    int64_t rows, horizon;
    int dims_set;
    int64_t *row_index;
    int64_t row_index_cap;
    lp_batch batch;

    lpt__stat stats[LPT__SLOTS];
    int nstats;
    lpt__state states[LPT__SLOTS];
    int nstates;
    int field_check_soft;         /* lpt_field_check_soft */
    int hook_checks_off;          /* lpt_hook_checks */
    uint64_t ro_sums[LPT__SLOTS]; /* read-only field checksums before a hook */
    char ext_ids[8][LPT__NAME];
    const void *exts[8];
    int nexts;

    int attached;                /* the last attach succeeded */
    const lp_field_spec *fspecs; /* the `fields` hook's list, asked at attach */
    uint32_t nfspecs;
    char fixture_error[LPT__MSG]; /* why a hook was refused with LPT_EFIXTURE */
    int fixture_errors;
};

/* ---- services ----------------------------------------------------------- */

static lpt__sink *lpt__sink_of(const lp_host *h) {
    return (lpt__sink *)h->host_data;
}

static void lpt__violate(lpt__sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_violation, sizeof s->last_violation, fmt, ap);
    va_end(ap);
    s->violations++;
    if (getenv("LPT_LOG") != NULL)
        fprintf(stderr, "lpt: contract violation: %s\n", s->last_violation);
}

static void lpt__log(const lp_host *h, int32_t level, const char *msg) {
    lpt__sink *s = lpt__sink_of(h);
    snprintf(s->last_log, sizeof s->last_log, "%s", msg != NULL ? msg : "(null)");
    s->logs++;
    if (getenv("LPT_LOG") != NULL)
        fprintf(stderr, "lpt: log[%d]: %s\n", (int)level, s->last_log);
}

static void lpt__error(const lp_host *h, const char *msg) {
    lpt__sink *s = lpt__sink_of(h);
    snprintf(s->last_error, sizeof s->last_error, "%s", msg != NULL ? msg : "(null)");
    s->errors++;
    if (getenv("LPT_LOG") != NULL)
        fprintf(stderr, "lpt: error: %s\n", s->last_error);
}

/* The instance behind an [instance] service, or NULL (init table). */
static lpt_inst *lpt__inst_of(const lp_host *h, const char *service) {
    lpt__sink *s = lpt__sink_of(h);
    if (s->kind != LPT__KIND_INST) {
        lpt__violate(s, "%s called on the init table", service);
        return NULL;
    }
    return (lpt_inst *)(void *)s;
}

static int lpt__valid_key(const char *k) {
    if (k == NULL || !(k[0] >= 'a' && k[0] <= 'z') || strlen(k) >= LPT__NAME)
        return 0;
    for (const char *c = k; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    return 1;
}

static int32_t lpt__stat_handle(const lp_host *h, const char *key) {
    lpt_inst *in = lpt__inst_of(h, "stat_handle");
    if (in == NULL)
        return LP_EINVAL;
    if (in->stage != LPT__IN_CREATE && in->stage != LPT__IN_ATTACH)
        lpt__violate(&in->sink, "stat_handle(\"%s\") outside create/attach", key ? key : "");
    if (!lpt__valid_key(key)) {
        lpt__violate(&in->sink, "stat_handle: bad key \"%s\"", key ? key : "(null)");
        return LP_EINVAL;
    }
    for (int i = 0; i < in->nstats; i++)
        if (strcmp(in->stats[i].key, key) == 0)
            return i;
    if (in->nstats == LPT__SLOTS)
        return LP_ENOMEM;
    snprintf(in->stats[in->nstats].key, LPT__NAME, "%s", key);
    return in->nstats++;
}

static void lpt__stat_record(const lp_host *h, int32_t handle, double value) {
    lpt_inst *in = lpt__inst_of(h, "stat_record");
    if (in == NULL)
        return;
    if (handle < 0 || handle >= in->nstats) {
        lpt__violate(&in->sink, "stat_record: unknown handle %d", (int)handle);
        return;
    }
    in->stats[handle].count++;
    in->stats[handle].sum += value;
    in->stats[handle].last = value;
}

static int32_t lpt__state_register(const lp_host *h, const char *name, const lp_tensor *t) {
    lpt_inst *in = lpt__inst_of(h, "state_register");
    if (in == NULL)
        return LP_EINVAL;
    if (in->stage != LPT__IN_CREATE && in->stage != LPT__IN_ATTACH)
        lpt__violate(&in->sink, "state_register(\"%s\") outside create/attach", name ? name : "");
    if (!lpt__valid_key(name) || t == NULL || lp_dtype_size(t->dtype) == 0 || t->rank < 0 ||
        t->rank > LP_MAX_RANK) {
        lpt__violate(&in->sink, "state_register: bad name or tensor");
        return LP_EINVAL;
    }
    for (int i = 0; i < in->nstates; i++)
        if (strcmp(in->states[i].name, name) == 0) {
            lpt__violate(&in->sink, "state_register: \"%s\" registered twice", name);
            return LP_EINVAL;
        }
    if (in->nstates == LPT__SLOTS)
        return LP_ENOMEM;
    snprintf(in->states[in->nstates].name, LPT__NAME, "%s", name);
    in->states[in->nstates].view = *t;
    in->nstates++;
    return LP_OK;
}

/* Name look-ups are legal from attach on, and meant to happen there once. */
static int32_t lpt__lookup(const lp_host *h, int outputs, const char *name) {
    const char *what = outputs ? "output_handle" : "field_handle";
    lpt_inst *in = lpt__inst_of(h, what);
    if (in == NULL)
        return -1;
    if (in->stage != LPT__IN_ATTACH)
        lpt__violate(&in->sink, "%s(\"%s\") outside attach: resolve handles once, in attach", what,
                     name ? name : "");
    if (in->stage == LPT__IN_CREATE || name == NULL)
        return -1;
    char(*names)[LPT__NAME] = outputs ? in->output_names : in->field_names;
    uint32_t count = outputs ? in->noutputs : in->nfields;
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return (int32_t)i;
    return -1;
}

static int32_t lpt__field_handle(const lp_host *h, const char *name) {
    return lpt__lookup(h, 0, name);
}

static int32_t lpt__output_handle(const lp_host *h, const char *name) {
    return lpt__lookup(h, 1, name);
}

static const void *lpt__get_extension(const lp_host *h, const char *id) {
    lpt__sink *s = lpt__sink_of(h);
    if (s->kind != LPT__KIND_INST || id == NULL)
        return NULL;
    lpt_inst *in = (lpt_inst *)(void *)s;
    for (int i = 0; i < in->nexts; i++)
        if (strcmp(in->ext_ids[i], id) == 0)
            return in->exts[i];
    return NULL;
}

static void lpt__host_init(lp_host *h, lpt__sink *sink) {
    memset(h, 0, sizeof *h);
    h->struct_size = sizeof *h;
    h->abi_major = LP_ABI_MAJOR;
    h->abi_minor = LP_ABI_MINOR;
    h->host_data = sink;
    h->name = "lossplug";
    h->version = "0.0.0-lpt";
    h->log = lpt__log;
    h->error = lpt__error;
    h->stat_handle = lpt__stat_handle;
    h->stat_record = lpt__stat_record;
    h->state_register = lpt__state_register;
    h->field_handle = lpt__field_handle;
    h->output_handle = lpt__output_handle;
    h->get_extension = lpt__get_extension;
}

/* ---- plugin files ------------------------------------------------------- */

lpt_plugin *lpt_plugin_open(const char *path, char *err, size_t errlen) {
    char scratch[8];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    lpt_plugin *pl = calloc(1, sizeof *pl);
    if (pl == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pl->sink.kind = LPT__KIND_PLUGIN;
    lpt__host_init(&pl->host, &pl->sink);

    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s: %s", path, e != NULL ? e : "dlopen failed");
        goto fail;
    }
    /* The handle is dropped on purpose: code is never unloaded (abi-rules 9). */
    pl->entry = (const lp_entry *)dlsym(dl, LP_ENTRY_SYMBOL);
    if (pl->entry == NULL) {
        snprintf(err, errlen, "%s: no symbol %s", path, LP_ENTRY_SYMBOL);
        goto fail;
    }
    if (pl->entry->struct_size < offsetof(lp_entry, loss_get) + sizeof pl->entry->loss_get ||
        !lp_abi_compatible(pl->entry->abi_major) || pl->entry->loss_count == NULL ||
        pl->entry->loss_get == NULL) {
        snprintf(err, errlen, "%s: incompatible entry (size %u, ABI %u.%u, host %d.%d)", path,
                 (unsigned)pl->entry->struct_size, (unsigned)pl->entry->abi_major,
                 (unsigned)pl->entry->abi_minor, LP_ABI_MAJOR, LP_ABI_MINOR);
        goto fail;
    }
    if (pl->entry->init != NULL) {
        int32_t rc = pl->entry->init(&pl->host);
        if (rc != LP_OK) {
            snprintf(err, errlen, "%s: init failed (%d): %s", path, (int)rc, pl->sink.last_error);
            goto fail;
        }
    }
    pl->inited = 1;
    return pl;
fail:
    free(pl);
    return NULL;
}

void lpt_plugin_close(lpt_plugin *pl) {
    if (pl == NULL)
        return;
    if (pl->inited && pl->entry->deinit != NULL)
        pl->entry->deinit();
    free(pl);
}

const lp_loss_desc *lpt_plugin_find(const lpt_plugin *pl, const char *id) {
    if (pl == NULL || id == NULL)
        return NULL;
    uint32_t n = pl->entry->loss_count();
    for (uint32_t i = 0; i < n; i++) {
        const lp_loss_desc *d = pl->entry->loss_get(i);
        if (d != NULL && d->id != NULL && strcmp(d->id, id) == 0)
            return d;
    }
    return NULL;
}

const lp_entry *lpt_plugin_entry(const lpt_plugin *pl) {
    return pl != NULL ? pl->entry : NULL;
}

/* ---- instances -------------------------------------------------------------- */

static const lp_param_spec *lpt__spec(const lp_loss_desc *d, uint32_t i) {
    const char *base = (const char *)d->params;
    return (const lp_param_spec *)(const void *)(base + i * d->params[0].struct_size);
}

lpt_inst *lpt_inst_new(const lp_loss_desc *desc, const char *name) {
    if (desc == NULL)
        return NULL;
    lpt_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->sink.kind = LPT__KIND_INST;
    lpt__host_init(&in->host, &in->sink);
    in->desc = desc;
    snprintf(in->name, sizeof in->name, "%s", name != NULL ? name : desc->id);
    uint32_t n = desc->params != NULL ? desc->param_count : 0;
    in->params = calloc(n > 0 ? n : 1, sizeof *in->params);
    in->owned_strings = calloc(n > 0 ? n : 1, sizeof *in->owned_strings);
    if (in->params == NULL || in->owned_strings == NULL) {
        lpt_inst_free(in);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        const lp_param_spec *s = lpt__spec(desc, i);
        lp_value *v = &in->params[i];
        v->type = s->type;
        v->b = s->default_bool;
        v->i = s->default_int;
        v->f = s->default_float;
        v->s = s->default_string;
    }
    in->env.struct_size = sizeof in->env;
    in->ctx.struct_size = sizeof in->ctx;
    in->args.struct_size = sizeof in->args;
    in->args.param_count = n;
    in->args.host = &in->host;
    in->args.name = in->name;
    in->args.params = in->params;
    in->args.env = &in->env;
    return in;
}

void lpt_inst_free(lpt_inst *in) {
    if (in == NULL)
        return;
    if (in->made != NULL && in->copy.destroy != NULL) {
        in->stage = LPT__IN_HOOK;
        in->copy.destroy(&in->copy);
    }
    if (in->owned_strings != NULL)
        for (uint32_t i = 0; i < in->args.param_count; i++)
            free(in->owned_strings[i]);
    free(in->owned_strings);
    free(in->params);
    free(in->row_index);
    free(in->config_dir);
    free(in);
}

static lp_value *lpt__param(lpt_inst *in, const char *name) {
    int32_t i = lp_param_index(in->desc, name);
    return i < 0 ? NULL : &in->params[i];
}

int lpt_set_f(lpt_inst *in, const char *name, double v) {
    lp_value *p = lpt__param(in, name);
    if (p == NULL)
        return -1;
    if (p->type == LP_PARAM_FLOAT)
        p->f = v;
    else if (p->type == LP_PARAM_INT)
        p->i = (int64_t)(v < 0 ? v - 0.5 : v + 0.5);
    else
        return -1;
    return 0;
}

int lpt_set_i(lpt_inst *in, const char *name, int64_t v) {
    lp_value *p = lpt__param(in, name);
    if (p == NULL || p->type != LP_PARAM_INT)
        return -1;
    p->i = v;
    return 0;
}

int lpt_set_b(lpt_inst *in, const char *name, int v) {
    lp_value *p = lpt__param(in, name);
    if (p == NULL || p->type != LP_PARAM_BOOL)
        return -1;
    p->b = v != 0;
    return 0;
}

int lpt_set_s(lpt_inst *in, const char *name, const char *v) {
    int32_t i = lp_param_index(in->desc, name);
    if (i < 0 || (in->params[i].type != LP_PARAM_STRING && in->params[i].type != LP_PARAM_ENUM))
        return -1;
    char *copy = NULL;
    if (v != NULL && (copy = strdup(v)) == NULL)
        return -1;
    free(in->owned_strings[i]);
    in->owned_strings[i] = copy;
    in->params[i].s = copy;
    return 0;
}

lp_value *lpt_params(lpt_inst *in) {
    return in->params;
}
lp_env_info *lpt_env(lpt_inst *in) {
    return &in->env;
}
lp_ctx *lpt_ctx(lpt_inst *in) {
    return &in->ctx;
}

static int32_t lpt__slot(char (*names)[LPT__NAME], uint32_t *count, const char *name) {
    if (name == NULL || strlen(name) >= LPT__NAME)
        return -1;
    for (uint32_t i = 0; i < *count; i++)
        if (strcmp(names[i], name) == 0)
            return (int32_t)i;
    if (*count == LPT__SLOTS)
        return -1;
    snprintf(names[*count], LPT__NAME, "%s", name);
    return (int32_t)(*count)++;
}

int32_t lpt_add_field(lpt_inst *in, const char *name, lp_tensor view) {
    int32_t h = lpt__slot(in->field_names, &in->nfields, name);
    if (h >= 0)
        in->fields[h] = view;
    return h;
}

int32_t lpt_add_output(lpt_inst *in, const char *name, lp_tensor value, lp_tensor grad) {
    int32_t h = lpt__slot(in->output_names, &in->noutputs, name);
    if (h >= 0) {
        in->outputs[h] = value;
        in->grads[h] = grad;
    }
    return h;
}

void lpt_set_dims(lpt_inst *in, int64_t rows, int64_t horizon) {
    in->rows = rows;
    in->horizon = horizon;
    in->dims_set = 1;
}

int lpt_set_config_dir(lpt_inst *in, const char *dir) {
    char *copy = NULL;
    if (dir != NULL) {
        copy = malloc(strlen(dir) + 1);
        if (copy == NULL)
            return -1;
        memcpy(copy, dir, strlen(dir) + 1);
    }
    free(in->config_dir);
    in->config_dir = copy;
    in->args.config_dir = copy;
    return 0;
}

int lpt_add_extension(lpt_inst *in, const char *id, const void *ext) {
    if (id == NULL || strlen(id) >= LPT__NAME || in->nexts == 8)
        return -1;
    snprintf(in->ext_ids[in->nexts], LPT__NAME, "%s", id);
    in->exts[in->nexts++] = ext;
    return 0;
}

/* Builds in->batch; `with_outputs` = 0 for views of the buffer alone. */
static const lp_batch *lpt__build(lpt_inst *in, int with_outputs) {
    int64_t rows = in->rows, horizon = in->horizon;
    if (!in->dims_set) {
        const lp_tensor *t = in->noutputs > 0  ? &in->outputs[0]
                             : in->nfields > 0 ? &in->fields[0]
                                               : NULL;
        rows = t != NULL && t->rank > 0 ? t->shape[0] : 0;
        horizon = t != NULL && t->rank > 1 ? t->shape[1] : 1;
    }
    if (rows > in->row_index_cap) {
        int64_t *ri = realloc(in->row_index, (size_t)rows * sizeof *ri);
        if (ri == NULL)
            return NULL;
        in->row_index = ri;
        in->row_index_cap = rows;
    }
    for (int64_t r = 0; r < rows; r++)
        in->row_index[r] = r;
    lp_batch *b = &in->batch;
    memset(b, 0, sizeof *b);
    b->struct_size = sizeof *b;
    b->field_count = in->nfields;
    b->fields = in->fields;
    if (with_outputs) {
        b->output_count = in->noutputs;
        b->outputs = in->outputs;
        b->grads = in->grads;
    }
    b->rows = rows;
    b->horizon = horizon;
    b->row_index = in->row_index;
    return b;
}

const lp_batch *lpt_batch(lpt_inst *in) {
    return lpt__build(in, 1);
}

/* ---- the fixture against what the host guarantees (abi.h) ------------------------ */

static int32_t lpt__fixture(lpt_inst *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int32_t lpt__fixture(lpt_inst *in, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->fixture_error, sizeof in->fixture_error, fmt, ap);
    va_end(ap);
    in->fixture_errors++;
    fprintf(stderr, "lpt: the fixture breaks what the host guarantees: %s\n", in->fixture_error);
    return LPT_EFIXTURE;
}

/* Every value of the declared type, inside the schema's range (bounds
 * inclusive, as the host checks them), floats finite, bools 0 or 1, enums
 * one of their choices, strings non-NULL. */
static int32_t lpt__check_params(lpt_inst *in) {
    for (uint32_t i = 0; i < in->args.param_count; i++) {
        const lp_param_spec *sp = lpt__spec(in->desc, i);
        const lp_value *v = &in->params[i];
        if (v->type != sp->type)
            return lpt__fixture(in, "parameter '%s' is %s, the schema says %s", sp->name,
                                lp_param_type_name(v->type), lp_param_type_name(sp->type));
        double x = 0.0;
        switch (v->type) {
        case LP_PARAM_FLOAT:
            if (!isfinite(v->f))
                return lpt__fixture(in, "parameter '%s' = %g is not finite", sp->name, v->f);
            x = v->f;
            break;
        case LP_PARAM_INT:
            x = (double)v->i;
            break;
        case LP_PARAM_BOOL:
            if (v->b != 0 && v->b != 1)
                return lpt__fixture(in, "parameter '%s' = %d is not 0 or 1", sp->name, (int)v->b);
            continue;
        case LP_PARAM_ENUM: {
            int found = 0;
            for (size_t k = 0; v->s != NULL && sp->choices[k] != NULL && !found; k++)
                found = strcmp(sp->choices[k], v->s) == 0;
            if (!found)
                return lpt__fixture(in, "parameter '%s' = %s is not one of its choices", sp->name,
                                    v->s != NULL ? v->s : "NULL");
            continue;
        }
        default:
            if (v->s == NULL)
                return lpt__fixture(in, "parameter '%s' is a NULL string", sp->name);
            continue;
        }
        /* the exclusive flags (ABI 1.1) make an end strict */
        const int lo_x = (sp->flags & LP_PARAM_MIN_EXCLUSIVE) != 0;
        const int hi_x = (sp->flags & LP_PARAM_MAX_EXCLUSIVE) != 0;
        if (((sp->flags & LP_PARAM_HAS_MIN) && (x < sp->min || (lo_x && x == sp->min))) ||
            ((sp->flags & LP_PARAM_HAS_MAX) && (x > sp->max || (hi_x && x == sp->max))))
            return lpt__fixture(
                in, "parameter '%s' = %g is outside its range %s%g, %g%s", sp->name, x,
                lo_x ? "(" : "[", (sp->flags & LP_PARAM_HAS_MIN) ? sp->min : -INFINITY,
                (sp->flags & LP_PARAM_HAS_MAX) ? sp->max : INFINITY, hi_x ? ")" : "]");
    }
    return LP_OK;
}

/* A declared field the fixture provides: the declared dtype and, outside a
 * rollout step, [rows, horizon, declared shape] (symbolic dims as far as
 * the fixture's env defines them); non-NULL data. */
static int32_t lpt__check_field(lpt_inst *in, const lp_batch *b, const lp_field_spec *sp,
                                const lp_tensor *t, int step) {
    if (t->dtype != sp->dtype)
        return lpt__fixture(in, "field '%s' is %s, the loss declared %s", sp->name,
                            lp_dtype_name(t->dtype), lp_dtype_name(sp->dtype));
    if (t->data == NULL && b->rows > 0)
        return lpt__fixture(in, "field '%s' has no data", sp->name);
    if (step)
        return LP_OK;
    int spliced = 0;
    for (int32_t d = 0; d < sp->rank; d++)
        spliced |= sp->shape[d] == LP_DIM_OBS || sp->shape[d] == LP_DIM_ACTION;
    int ok = t->rank >= 2 && t->shape[0] == b->rows && t->shape[1] == b->horizon &&
             (spliced || t->rank == sp->rank + 2);
    for (int32_t d = 0; ok && !spliced && d < sp->rank; d++) {
        int64_t want = sp->shape[d] == LP_DIM_NUM_ACTIONS ? in->env.num_actions : sp->shape[d];
        ok = want <= 0 || t->shape[d + 2] == want;
    }
    if (!ok)
        return lpt__fixture(in,
                            "field '%s' has rank %d, shape [%lld, %lld, ...]; the loss declared "
                            "rank %d per step, and the batch is [%lld, %lld]",
                            sp->name, (int)t->rank, (long long)t->shape[0],
                            (long long)(t->rank > 1 ? t->shape[1] : 0), (int)sp->rank,
                            (long long)b->rows, (long long)b->horizon);
    return LP_OK;
}

/* The parameters, the declared fields in `b` and, with outputs, every
 * output and its gradient. */
static int32_t lpt__check_fixture(lpt_inst *in, const lp_batch *b, int step) {
    int32_t rc = lpt__check_params(in);
    if (rc != LP_OK || b == NULL)
        return rc;
    const lp_field_spec *specs = in->fspecs != NULL ? in->fspecs : in->desc->fields;
    uint32_t n = in->fspecs != NULL ? in->nfspecs : in->desc->field_count;
    for (uint32_t k = 0; specs != NULL && k < n; k++) {
        const lp_field_spec *sp =
            (const lp_field_spec *)(const void *)((const char *)specs + k * specs[0].struct_size);
        for (uint32_t i = 0; i < b->field_count; i++)
            if (strcmp(in->field_names[i], sp->name) == 0 &&
                (rc = lpt__check_field(in, b, sp, &b->fields[i], step)) != LP_OK)
                return rc;
    }
    for (uint32_t i = 0; i < b->output_count; i++) {
        const lp_tensor *o = &b->outputs[i], *g = &b->grads[i];
        int ok = o->rank >= 2 && o->shape[0] == b->rows && o->shape[1] == b->horizon &&
                 lp_tensor_is_contiguous(o) && lp_tensor_is_contiguous(g) && g->dtype == o->dtype &&
                 g->rank == o->rank && (o->data != NULL && g->data != NULL);
        for (int32_t d = 0; ok && d < o->rank; d++)
            ok = g->shape[d] == o->shape[d];
        if (!ok)
            return lpt__fixture(in,
                                "output '%s' and its gradient are not contiguous [%lld, %lld, "
                                "...] of one dtype and shape",
                                in->output_names[i], (long long)b->rows, (long long)b->horizon);
    }
    return LP_OK;
}

/* ---- hooks ----------------------------------------------------------------------- */

/* Runs around every hook: the stage, and the error-reporting contract. */
static int32_t lpt__after(lpt_inst *in, const char *hook, int errors_before, int32_t rc) {
    in->stage = LPT__IDLE;
    int reported = in->sink.errors > errors_before;
    if (rc < 0 && !reported)
        lpt__violate(&in->sink, "%s failed (%d) without host->error", hook, (int)rc);
    else if (rc == LP_OK && reported)
        lpt__violate(&in->sink, "%s reported an error but returned LP_OK", hook);
    else if (rc > 0)
        lpt__violate(&in->sink, "%s returned a positive status %d", hook, (int)rc);
    return rc;
}

int32_t lpt_create(lpt_inst *in) {
    if (in->made != NULL)
        return LP_EINVAL;
    if (in->desc->create == NULL)
        return LP_EPLUGIN;
    if (lpt__check_params(in) != LP_OK)
        return LPT_EFIXTURE;
    const lp_loss *out = NULL;
    int before = in->sink.errors;
    in->stage = LPT__IN_CREATE;
    int32_t rc = in->desc->create(&in->args, &out);
    lpt__after(in, "create", before, rc);
    if (rc != LP_OK)
        return rc;
    if (out == NULL || out->struct_size < offsetof(lp_loss, data) + sizeof out->data) {
        lpt__violate(&in->sink, "create returned LP_OK and no usable instance");
        return LP_EPLUGIN;
    }
    /* Hooks get a copy, as a host that moves the struct would give them;
     * a shorter (older) struct reads as absent hooks. */
    in->made = out;
    memset(&in->copy, 0, sizeof in->copy);
    memcpy(&in->copy, out, out->struct_size < sizeof in->copy ? out->struct_size : sizeof in->copy);
    in->copy.struct_size = sizeof in->copy;
    return LP_OK;
}

/* ---- declared reads that write ------------------------------------------------ */

/* FNV-1a over the elements of a (possibly strided) view. */
static uint64_t lpt__view_hash(const lp_tensor *t) {
    uint64_t h = 1469598103934665603ull;
    size_t es = lp_dtype_size(t->dtype);
    if (t->data == NULL || es == 0 || t->rank < 0 || t->rank > LP_MAX_RANK)
        return h;
    int64_t numel = 1, idx[LP_MAX_RANK] = {0};
    for (int32_t d = 0; d < t->rank; d++)
        numel *= t->shape[d];
    for (int64_t e = 0; e < numel; e++) {
        int64_t off = 0;
        for (int32_t d = 0; d < t->rank; d++)
            off += idx[d] * t->strides[d];
        const unsigned char *p = (const unsigned char *)t->data + (size_t)off * es;
        for (size_t b = 0; b < es; b++)
            h = (h ^ p[b]) * 1099511628211ull;
        for (int32_t d = t->rank - 1; d >= 0 && ++idx[d] >= t->shape[d]; d--)
            idx[d] = 0;
    }
    return h;
}

/* The handle of the k-th declared field when the plugin only reads it in
 * `phase` and the test added it; else -1. */
static int32_t lpt__ro_handle(const lpt_inst *in, uint32_t k, uint32_t phase) {
    const lp_field_spec *f =
        (const lp_field_spec *)(const void *)((const char *)in->desc->fields +
                                              (size_t)k * in->desc->fields[0].struct_size);
    if (!(f->access & LP_FIELD_READ) || (f->access & (LP_FIELD_WRITE | LP_FIELD_UPDATE)) ||
        !(f->phase & phase) || f->name == NULL)
        return -1;
    for (uint32_t h = 0; h < in->nfields; h++)
        if (strcmp(in->field_names[h], f->name) == 0)
            return (int32_t)h;
    return -1;
}

static void lpt__ro_before(lpt_inst *in, uint32_t phase) {
    for (uint32_t k = 0; k < in->desc->field_count && k < LPT__SLOTS; k++) {
        int32_t h = lpt__ro_handle(in, k, phase);
        if (h >= 0)
            in->ro_sums[k] = lpt__view_hash(&in->fields[h]);
    }
}

static void lpt__ro_after(lpt_inst *in, uint32_t phase, const char *hook) {
    for (uint32_t k = 0; k < in->desc->field_count && k < LPT__SLOTS; k++) {
        int32_t h = lpt__ro_handle(in, k, phase);
        if (h < 0 || lpt__view_hash(&in->fields[h]) == in->ro_sums[k])
            continue;
        lpt__violate(&in->sink,
                     "plugin '%s' (instance '%s'): %s changed field '%s', which it declares "
                     "read-only (LP_FIELD_READ) in the %s phase",
                     in->desc->id, in->name, hook, in->field_names[h],
                     phase == LP_PHASE_ROLLOUT ? "rollout" : "train");
        if (!in->field_check_soft) {
            fprintf(stderr, "lpt: FAIL: %s\n", in->sink.last_violation);
            abort();
        }
    }
}

void lpt_field_check_soft(lpt_inst *in, int soft) {
    in->field_check_soft = soft;
}

void lpt_hook_checks(lpt_inst *in, int on) {
    in->hook_checks_off = !on;
}

/* A hook that receives a batch (or NULL) and a context: only after a
 * successful attach, and with a fixture the host could have made. With
 * `phase` nonzero, the fields the plugin declares read-only in that phase
 * are checksummed around the call. */
#define LPT__HOOK(phase, hook, batch, step, ...)                                                   \
    do {                                                                                           \
        if (in->made == NULL || !in->attached)                                                     \
            return LP_EINVAL;                                                                      \
        if (in->copy.hook == NULL)                                                                 \
            return LP_OK;                                                                          \
        const lp_batch *b_ = (batch);                                                              \
        const int checks_ = !in->hook_checks_off;                                                  \
        if (checks_ && lpt__check_fixture(in, b_, (step)) != LP_OK)                                \
            return LPT_EFIXTURE;                                                                   \
        int before_ = in->sink.errors;                                                             \
        if (checks_ && (phase) != 0)                                                               \
            lpt__ro_before(in, (phase));                                                           \
        in->stage = LPT__IN_HOOK;                                                                  \
        int32_t rc_ = lpt__after(in, #hook, before_, in->copy.hook(&in->copy, __VA_ARGS__));       \
        if (checks_ && (phase) != 0)                                                               \
            lpt__ro_after(in, (phase), #hook);                                                     \
        return rc_;                                                                                \
    } while (0)

int32_t lpt_attach(lpt_inst *in) {
    if (in->made == NULL)
        return LP_EINVAL;
    in->attached = 0;
    /* As the host: the instance's own field list, asked once before attach. */
    if (in->copy.fields != NULL && in->fspecs == NULL) {
        int32_t rc = lpt_fields(in, &in->fspecs, &in->nfspecs);
        if (rc != LP_OK)
            return rc;
    }
    const lp_batch *all = lpt__build(in, 0);
    if (lpt__check_fixture(in, all, 0) != LP_OK)
        return LPT_EFIXTURE;
    int32_t rc = LP_OK;
    if (in->copy.attach != NULL) {
        int before = in->sink.errors;
        in->stage = LPT__IN_ATTACH;
        rc = lpt__after(in, "attach", before, in->copy.attach(&in->copy, all));
    }
    in->attached = rc == LP_OK;
    return rc;
}

int32_t lpt_epoch_start(lpt_inst *in) {
    LPT__HOOK(0, epoch_start, NULL, 0, &in->ctx);
}
int32_t lpt_rollout_start(lpt_inst *in) {
    LPT__HOOK(0, rollout_start, NULL, 0, &in->ctx);
}
int32_t lpt_rollout_step(lpt_inst *in) {
    LPT__HOOK(LP_PHASE_ROLLOUT, rollout_step, lpt__build(in, 0), 1, &in->ctx, b_);
}
int32_t lpt_train_start(lpt_inst *in) {
    LPT__HOOK(LP_PHASE_TRAIN, train_start, lpt__build(in, 0), 0, &in->ctx, b_);
}
int32_t lpt_update_epoch_start(lpt_inst *in) {
    LPT__HOOK(LP_PHASE_TRAIN, update_epoch_start, lpt__build(in, 0), 0, &in->ctx, b_);
}
int32_t lpt_minibatch_end(lpt_inst *in) {
    LPT__HOOK(0, minibatch_end, NULL, 0, &in->ctx);
}
int32_t lpt_train_end(lpt_inst *in) {
    LPT__HOOK(0, train_end, NULL, 0, &in->ctx);
}
int32_t lpt_save(lpt_inst *in) {
    LPT__HOOK(0, save, NULL, 0, &in->ctx);
}
int32_t lpt_load(lpt_inst *in) {
    LPT__HOOK(0, load, NULL, 0, &in->ctx);
}

int32_t lpt_train(lpt_inst *in, float weight, lp_train_result *out) {
    lp_train_result own;
    if (out == NULL)
        out = &own;
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    LPT__HOOK(LP_PHASE_TRAIN, train, lpt__build(in, 1), 0, &in->ctx, b_, weight, out);
}

const void *lpt_loss_extension(lpt_inst *in, const char *id) {
    if (in->made == NULL || in->copy.get_extension == NULL)
        return NULL;
    return in->copy.get_extension(&in->copy, id);
}

int32_t lpt_fields(lpt_inst *in, const lp_field_spec **specs, uint32_t *count) {
    if (in->made != NULL && in->copy.fields != NULL) {
        int before = in->sink.errors;
        in->stage = LPT__IN_HOOK;
        return lpt__after(in, "fields", before, in->copy.fields(&in->copy, specs, count));
    }
    *specs = in->desc->fields;
    *count = in->desc->field_count;
    return LP_OK;
}

/* ---- what the host saw ------------------------------------------------------------ */

const char *lpt_last_error(const lpt_inst *in) {
    return in->sink.last_error;
}
int lpt_error_count(const lpt_inst *in) {
    return in->sink.errors;
}
const char *lpt_last_log(const lpt_inst *in) {
    return in->sink.last_log;
}
int lpt_log_count(const lpt_inst *in) {
    return in->sink.logs;
}
int lpt_violations(const lpt_inst *in) {
    return in->sink.violations;
}
const char *lpt_last_violation(const lpt_inst *in) {
    return in->sink.last_violation;
}
const char *lpt_fixture_error(const lpt_inst *in) {
    return in->fixture_error;
}
int lpt_fixture_errors(const lpt_inst *in) {
    return in->fixture_errors;
}

int lpt_stat(const lpt_inst *in, const char *key, double *last, double *mean) {
    for (int i = 0; i < in->nstats; i++) {
        const lpt__stat *s = &in->stats[i];
        if (strcmp(s->key, key) != 0)
            continue;
        if (last != NULL)
            *last = s->last;
        if (mean != NULL)
            *mean = s->count > 0 ? s->sum / s->count : 0.0;
        return s->count;
    }
    return -1;
}

void lpt_stat_reset(lpt_inst *in) {
    for (int i = 0; i < in->nstats; i++) {
        in->stats[i].count = 0;
        in->stats[i].sum = in->stats[i].last = 0.0;
    }
}

const lp_tensor *lpt_state(const lpt_inst *in, const char *name) {
    for (int i = 0; i < in->nstates; i++)
        if (strcmp(in->states[i].name, name) == 0)
            return &in->states[i].view;
    return NULL;
}

int lpt_state_count(const lpt_inst *in) {
    return in->nstates;
}
