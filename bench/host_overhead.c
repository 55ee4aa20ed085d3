/*
 * host_overhead: the session's own cost per minibatch and per rollout step
 * (everything but the instances' math and the model), as a ratio against
 * calling the same plugin hooks directly from C, in one run.
 *
 *   host_overhead [reps [case]]
 *
 * `case` runs only the settings of that name (for a profiler).
 * Arm A drives a session (lp_session_train, lp_session_rollout_step) opened
 * from a YAML string. Arm B creates its own instances of the same plugins
 * (the same .so files, found through lp_registry_open, default params as in
 * A) with a minimal host table (stat_record is a sum and a count; handles
 * are the session's indices, resolved once) and calls the same hooks in the
 * same order on lp_batch views built before the clock starts: for shuffle
 * off, views into the session's own buffer (the very same bytes); for
 * shuffle on, copies of the minibatches A gathered (same rows, recorded by
 * the model callback in an untimed pass). Both arms call the same trivial
 * model (forward, backward and step do nothing: the outputs stay zero) and
 * both zero the gradients of each minibatch (losses add into them).
 *
 * A and B alternate, one train phase each, `reps` times; the figures are
 * medians. The shuffle gather (and the scatter back of train-written
 * fields) is memory traffic that B does not do: it is also timed alone,
 * with the same memcpy pattern, and reported as its own column.
 *
 * Not a test: it prints tables and exits 0 unless a call fails.
 * docs/performance.md "Host overhead" records the numbers.
 */
#include <lossplug/host.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LP_BENCH_PLUGINS
#error "LP_BENCH_PLUGINS must name the directory of the built plugins"
#endif
#ifndef LP_BENCH_TEST_PLUGINS
#error "LP_BENCH_TEST_PLUGINS must name the directory of the session test plugins"
#endif

#define UPDATE_EPOCHS 4
#define MAX_INST      4
#define MAX_FIELDS    16
#define MAX_STATS     64

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("host_overhead: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n > 0 ? n : 1, size);
    if (p == NULL)
        die("out of memory");
    return p;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the settings ------------------------------------------------------------ */

typedef struct bcase {
    const char *name;
    int64_t segments, horizon, mb_segments, obs, actions;
    int null_hooks; /* 1: three `probe` instances (hooks that do almost nothing) */
} bcase;

static const bcase cases[] = {
    {"cleanrl-4x128/1", 4, 128, 1, 4, 2, 0},      {"cartpole-16x128/4", 16, 128, 4, 4, 2, 0},
    {"cartpole-64x128/16", 64, 128, 16, 4, 2, 0}, {"large-256x128/64", 256, 128, 64, 64, 8, 0},
    {"null-hooks-16x128/4", 16, 128, 4, 4, 2, 1},
};

static int make_yaml(char *out, size_t size, const bcase *c, int shuffle) {
    return snprintf(
        out, size,
        "buffer: {segments: %lld, horizon: %lld, minibatch_segments: %lld, update_epochs: %d, "
        "seed: 1, shuffle: %s}\n"
        "program:\n"
        "  observation: {dtype: f32, shape: [%lld]}\n"
        "  action: {dtype: i32, shape: [], num_actions: %lld}\n"
        "  fields: {obs: \"f32[OBS]\", actions: i32, logprobs: f32, values: f32, rewards: f32, "
        "dones: u8, next_values: f32}\n"
        "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"
        "losses:\n%s",
        (long long)c->segments, (long long)c->horizon, (long long)c->mb_segments, UPDATE_EPOCHS,
        shuffle ? "true" : "false", (long long)c->obs, (long long)c->actions,
        c->null_hooks ? "  - {name: p1, plugin: probe}\n"
                        "  - {name: p2, plugin: probe}\n"
                        "  - {name: p3, plugin: probe}\n"
                      : "  - {name: gae, plugin: gae}\n"
                        "  - {name: ppo, plugin: ppo}\n"
                        "  - {name: value, plugin: value}\n");
}

/* ---- the trivial model (both arms) ------------------------------------------- */

typedef struct tmodel {
    int64_t *rows;   /* when not NULL: row_index of every minibatch, recorded */
    int64_t written; /* entries of rows written */
} tmodel;

static int32_t tm_forward(void *user, const lp_batch *mb, const lp_tensor *outputs, lp_error *err) {
    (void)outputs;
    (void)err;
    tmodel *m = user;
    if (m->rows != NULL) {
        memcpy(m->rows + m->written, mb->row_index, (size_t)mb->rows * sizeof *mb->row_index);
        m->written += mb->rows;
    }
    return LP_OK;
}

static int32_t tm_backward(void *user, const lp_batch *mb, const lp_tensor *grads, lp_error *err) {
    (void)user, (void)mb, (void)grads, (void)err;
    return LP_OK;
}

static int32_t tm_step(void *user, const lp_ctx *ctx, lp_error *err) {
    (void)user, (void)ctx, (void)err;
    return LP_OK;
}

/* ---- arm B: a minimal host and direct calls ------------------------------------ */

typedef struct direct {
    const lp_session *s; /* names of fields and outputs, resolved in attach */
    lp_host host[MAX_INST];
    const lp_loss *loss[MAX_INST];
    lp_value *params[MAX_INST];
    float weight[MAX_INST];
    size_t count;
    double stat_sum[MAX_STATS];
    int64_t stat_count[MAX_STATS];
    int32_t stat_next;
    char error[LP_ERROR_MAX];
} direct;

static direct *direct_of(const lp_host *h) {
    return h->host_data;
}

static void d_log(const lp_host *h, int32_t level, const char *msg) {
    (void)h, (void)level, (void)msg;
}

static void d_error(const lp_host *h, const char *msg) {
    snprintf(direct_of(h)->error, sizeof direct_of(h)->error, "%s", msg != NULL ? msg : "");
}

static int32_t d_stat_handle(const lp_host *h, const char *key) {
    (void)key;
    direct *d = direct_of(h);
    return d->stat_next < MAX_STATS ? d->stat_next++ : LP_ENOMEM;
}

static void d_stat_record(const lp_host *h, int32_t handle, double value) {
    direct *d = direct_of(h);
    d->stat_sum[handle] += value;
    d->stat_count[handle]++;
}

static int32_t d_state_register(const lp_host *h, const char *name, const lp_tensor *t) {
    (void)h, (void)name, (void)t;
    return LP_OK;
}

static int32_t d_field_handle(const lp_host *h, const char *name) {
    return lp_session_field_handle(direct_of(h)->s, name);
}

static int32_t d_output_handle(const lp_host *h, const char *name) {
    const lp_session *s = direct_of(h)->s;
    for (size_t i = 0; i < lp_session_output_count(s); i++)
        if (strcmp(lp_session_output_at(s, i)->name, name) == 0)
            return (int32_t)i;
    return -1;
}

static const void *d_get_extension(const lp_host *h, const char *id) {
    (void)h, (void)id;
    return NULL;
}

/* Default values of a descriptor's params, as the session binds them when
 * the config sets none. */
static lp_value *default_params(const lp_loss_desc *desc) {
    lp_value *v = xcalloc(desc->param_count, sizeof *v);
    const size_t stride = desc->param_count > 0 ? desc->params[0].struct_size : 0;
    for (uint32_t i = 0; i < desc->param_count; i++) {
        const lp_param_spec *p =
            (const lp_param_spec *)(const void *)((const char *)desc->params + i * stride);
        v[i].type = p->type;
        v[i].b = p->default_bool;
        v[i].i = p->default_int;
        v[i].f = p->default_float;
        v[i].s = p->default_string;
    }
    return v;
}

static void direct_open(direct *d, const lp_session *s, const lp_registry *reg,
                        const lp_batch *all) {
    memset(d, 0, sizeof *d);
    d->s = s;
    d->count = lp_session_instance_count(s);
    if (d->count > MAX_INST)
        die("more than %d instances", MAX_INST);
    for (size_t i = 0; i < d->count; i++) {
        const lp_loss_info *info = NULL;
        lp_error err;
        if (lp_registry_find(reg, lp_session_instance_plugin(s, i), &info, &err) != LP_OK)
            die("%s", err.message);
        lp_host *h = &d->host[i];
        h->struct_size = sizeof *h;
        h->abi_major = LP_ABI_MAJOR;
        h->abi_minor = LP_ABI_MINOR;
        h->host_data = d;
        h->name = "direct";
        h->version = lp_version_string();
        h->log = d_log;
        h->error = d_error;
        h->stat_handle = d_stat_handle;
        h->stat_record = d_stat_record;
        h->state_register = d_state_register;
        h->field_handle = d_field_handle;
        h->output_handle = d_output_handle;
        h->get_extension = d_get_extension;
        d->params[i] = default_params(info->desc);
        d->weight[i] = (float)lp_session_instance_weight(s, i);
        lp_create_args args;
        memset(&args, 0, sizeof args);
        args.struct_size = sizeof args;
        args.param_count = info->desc->param_count;
        args.host = h;
        args.name = lp_session_instance_name(s, i);
        args.params = d->params[i];
        args.env = lp_session_env(s);
        if (info->desc->create(&args, &d->loss[i]) != LP_OK)
            die("direct create of %s: %s", args.name, d->error);
        if (d->loss[i]->attach != NULL && d->loss[i]->attach(d->loss[i], all) != LP_OK)
            die("direct attach of %s: %s", args.name, d->error);
    }
}

static void direct_close(direct *d) {
    for (size_t i = d->count; i-- > 0;) {
        if (d->loss[i]->destroy != NULL)
            d->loss[i]->destroy(d->loss[i]);
        free(d->params[i]);
    }
}

#define CALL(d, hook, ...)                                                                         \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (d)->count; i_++)                                                 \
            if ((d)->loss[i_]->hook != NULL &&                                                     \
                (d)->loss[i_]->hook((d)->loss[i_], __VA_ARGS__) != LP_OK)                          \
                die("direct " #hook ": %s", (d)->error);                                           \
    } while (0)

/* Where the rows of a shuffled minibatch go: each field's rows copied into
 * its own 64-byte-aligned scratch block, the same memcpy pattern as
 * host/session/buffer.c; the fields an instance writes in the train phase
 * are copied back. */
typedef struct gplan {
    size_t nf, mbr;
    unsigned char *src[MAX_FIELDS], *dst[MAX_FIELDS];
    size_t rb[MAX_FIELDS]; /* bytes per buffer row (horizon steps) */
    int back[MAX_FIELDS];
} gplan;

static void gather_rows(const gplan *g, const int64_t *rows) {
    for (size_t i = 0; i < g->nf; i++)
        for (size_t r = 0; r < g->mbr; r++)
            memcpy(g->dst[i] + r * g->rb[i], g->src[i] + (size_t)rows[r] * g->rb[i], g->rb[i]);
}

static void scatter_rows(const gplan *g, const int64_t *rows) {
    for (size_t i = 0; i < g->nf; i++)
        if (g->back[i])
            for (size_t r = 0; r < g->mbr; r++)
                memcpy(g->src[i] + (size_t)rows[r] * g->rb[i], g->dst[i] + r * g->rb[i], g->rb[i]);
}

static void *xalloc64(size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes > 0 ? bytes : 64);
    if (p == NULL)
        die("out of memory");
    memset(p, 0, bytes);
    return p;
}

enum { VIEWS_BUFFER, VIEWS_COPIES, VIEWS_SCRATCH };

/* The minibatches of one train phase, built before the clock starts. */
typedef struct prebuilt {
    int mode;      /* VIEWS_*: into the buffer; into copies of each minibatch; into
                      one scratch that direct_train gathers into */
    int64_t count; /* update epochs x minibatches */
    lp_batch *mb;
    lp_tensor *fields; /* count x field_count */
    unsigned char *copies;
    unsigned char *out_mem, *grad_mem;
    size_t grad_bytes;
    lp_tensor out[2], grad[2];
    lp_batch all;
    lp_tensor all_fields[MAX_FIELDS];
    int64_t *identity;
    gplan gp; /* VIEWS_SCRATCH; dst also the blocks of VIEWS_COPIES */
} prebuilt;

static size_t field_step_bytes(const lp_field_info *f) {
    size_t n = lp_dtype_size(f->dtype);
    for (int32_t d = 0; d < f->rank; d++)
        n *= (size_t)f->shape[d];
    return n;
}

static lp_tensor rows_view(const lp_tensor *whole, void *data, int64_t rows) {
    lp_tensor t = *whole;
    t.data = data;
    t.shape[0] = rows;
    return t;
}

/* The gather plan of a session: scratch blocks from `mem` (NULL: sizes only);
 * returns the bytes it needs. */
static size_t gplan_make(gplan *g, const lp_session *s, unsigned char *mem) {
    memset(g, 0, sizeof *g);
    g->nf = lp_session_field_count(s);
    g->mbr = (size_t)lp_session_train_plan(s)->minibatch_segments;
    const size_t hor = (size_t)lp_session_env(s)->horizon;
    size_t off = 0;
    for (size_t i = 0; i < g->nf; i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        g->rb[i] = field_step_bytes(f) * hor;
        g->src[i] = lp_session_field(s, (int32_t)i).data;
        g->dst[i] = mem != NULL ? mem + off : NULL;
        g->back[i] = f->write_phase == LP_PHASE_TRAIN && strcmp(f->writer, "program") != 0;
        off += (g->mbr * g->rb[i] + 63) & ~(size_t)63;
    }
    return off;
}

/* `rows`: the buffer row of each minibatch row, in train order (recorded
 * from arm A); NULL for contiguous minibatches in order (VIEWS_BUFFER). */
static void prebuild(prebuilt *p, const lp_session *s, int mode, const int64_t *rows) {
    memset(p, 0, sizeof *p);
    p->mode = mode;
    const lp_train_plan *plan = lp_session_train_plan(s);
    const lp_env_info *env = lp_session_env(s);
    const size_t nf = lp_session_field_count(s), mbr = (size_t)plan->minibatch_segments;
    const int64_t hor = env->horizon;
    if (nf > MAX_FIELDS || lp_session_output_count(s) != 2)
        die("unexpected spec");
    p->count = plan->update_epochs * plan->minibatches;
    p->mb = xcalloc((size_t)p->count, sizeof *p->mb);
    p->fields = xcalloc((size_t)p->count * nf, sizeof *p->fields);
    p->identity = xcalloc((size_t)env->segments, sizeof *p->identity);
    for (int64_t r = 0; r < env->segments; r++)
        p->identity[r] = r;
    for (size_t i = 0; i < nf; i++)
        p->all_fields[i] = lp_session_field(s, (int32_t)i);
    p->all.struct_size = sizeof p->all;
    p->all.field_count = (uint32_t)nf;
    p->all.fields = p->all_fields;
    p->all.rows = env->segments;
    p->all.horizon = hor;
    p->all.row_index = p->identity;
    const size_t block = gplan_make(&p->gp, s, NULL);
    if (mode == VIEWS_COPIES)
        p->copies = xalloc64((size_t)p->count * block);
    else if (mode == VIEWS_SCRATCH)
        p->copies = xalloc64(block);
    /* outputs and gradients, [mb rows, horizon, ...], contiguous */
    size_t out_bytes[2];
    for (size_t o = 0; o < 2; o++) {
        const lp_decl *d = lp_session_output_at(s, o);
        lp_tensor t;
        memset(&t, 0, sizeof t);
        t.dtype = d->dtype;
        t.rank = d->rank + 2;
        t.shape[0] = (int64_t)mbr;
        t.shape[1] = hor;
        for (int32_t k = 0; k < d->rank; k++)
            t.shape[k + 2] = d->shape[k];
        int64_t stride = 1;
        for (int32_t k = t.rank - 1; k >= 0; k--) {
            t.strides[k] = stride;
            stride *= t.shape[k];
        }
        out_bytes[o] = ((size_t)stride * lp_dtype_size(d->dtype) + 63) & ~(size_t)63;
        p->out[o] = p->grad[o] = t;
    }
    p->grad_bytes = out_bytes[0] + out_bytes[1];
    p->out_mem = xalloc64(2 * p->grad_bytes);
    p->grad_mem = p->out_mem + p->grad_bytes;
    p->out[0].data = p->out_mem;
    p->out[1].data = p->out_mem + out_bytes[0];
    p->grad[0].data = p->grad_mem;
    p->grad[1].data = p->grad_mem + out_bytes[0];

    for (int64_t k = 0; k < p->count; k++) {
        lp_tensor *fv = p->fields + (size_t)k * nf;
        const int64_t kk = k % plan->minibatches;
        gplan g;
        gplan_make(&g, s, mode == VIEWS_COPIES ? p->copies + (size_t)k * block : p->copies);
        if (mode == VIEWS_COPIES)
            gather_rows(&g, rows + (size_t)k * mbr);
        else if (mode == VIEWS_SCRATCH && k == 0)
            p->gp = g;
        for (size_t i = 0; i < nf; i++)
            fv[i] =
                rows_view(&p->all_fields[i],
                          mode == VIEWS_BUFFER ? g.src[i] + (size_t)kk * mbr * g.rb[i] : g.dst[i],
                          (int64_t)mbr);
        lp_batch *b = &p->mb[k];
        b->struct_size = sizeof *b;
        b->field_count = (uint32_t)nf;
        b->fields = fv;
        b->output_count = 2;
        b->outputs = p->out;
        b->grads = p->grad;
        b->rows = (int64_t)mbr;
        b->horizon = hor;
        b->row_index = rows != NULL ? rows + (size_t)k * mbr : p->identity + (size_t)kk * mbr;
    }
}

static void prebuilt_free(prebuilt *p) {
    free(p->mb);
    free(p->fields);
    free(p->copies);
    free(p->out_mem);
    free(p->identity);
}

/* One train phase by direct calls, in the session's order (lifecycle.c). */
static void direct_train(direct *d, const prebuilt *p, const lp_model *model, int64_t epoch,
                         int64_t minibatches) {
    lp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.struct_size = sizeof ctx;
    ctx.epoch = epoch;
    ctx.minibatch_count = (int32_t)minibatches;
    CALL(d, train_start, &ctx, &p->all);
    lp_error merr;
    int64_t k = 0;
    for (int32_t ue = 0; ue < UPDATE_EPOCHS; ue++) {
        ctx.update_epoch = ue;
        ctx.minibatch = 0;
        CALL(d, update_epoch_start, &ctx, &p->all);
        for (int64_t m = 0; m < minibatches; m++, k++) {
            const lp_batch *mb = &p->mb[k];
            ctx.minibatch = (int32_t)m;
            if (p->mode == VIEWS_SCRATCH)
                gather_rows(&p->gp, mb->row_index);
            memset(p->grad_mem, 0, p->grad_bytes);
            model->forward(model->user, mb, mb->outputs, &merr);
            double total = 0.0;
            for (size_t i = 0; i < d->count; i++) {
                if (d->loss[i]->train == NULL)
                    continue;
                lp_train_result res;
                memset(&res, 0, sizeof res);
                res.struct_size = sizeof res;
                if (d->loss[i]->train(d->loss[i], &ctx, mb, d->weight[i], &res) != LP_OK)
                    die("direct train: %s", d->error);
                total += d->weight[i] * res.loss;
            }
            if (p->mode == VIEWS_SCRATCH)
                scatter_rows(&p->gp, mb->row_index);
            model->backward(model->user, mb, mb->grads, &merr);
            model->step(model->user, &ctx, &merr);
            CALL(d, minibatch_end, &ctx);
            d->stat_sum[MAX_STATS - 1] += total;
        }
    }
    CALL(d, train_end, &ctx);
}

/* ---- the gather alone ------------------------------------------------------------ */

/* What a shuffled minibatch costs in memory traffic alone: every field of
 * its rows copied into scratch, the train-written fields (`advantages`,
 * `returns`, `ratios` here) copied back. */
static double gather_ns(const gplan *g, const int64_t *rows) {
    const double t0 = now_ns();
    gather_rows(g, rows);
    scatter_rows(g, rows);
    return now_ns() - t0;
}

/* ---- one case ---------------------------------------------------------------------- */

typedef struct result {
    double a, b, c;        /* ns per minibatch: session; hooks on pre-built views;
                              hooks after a direct gather (shuffle) */
    double ab, ac;         /* A/B, A/C */
    double host;           /* median of paired A - B (shuffle off) or A - C (on) */
    double work;           /* B's minibatch work: B without the phase-level hooks */
    double gather;         /* the gather and scatter alone, ns per minibatch */
    double bytes_mb;       /* bytes gathered per minibatch */
    double step_a, step_b; /* ns per rollout step */
} result;

static void fill_rollout(lp_session *s) {
    /* Plausible data: logprobs of uniform logits (the trivial model's zero
     * outputs), so ratios are 1 and nothing is clipped or stopped. */
    const lp_env_info *env = lp_session_env(s);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < lp_session_field_count(s); i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        lp_tensor t = lp_session_field(s, (int32_t)i);
        const size_t n = (size_t)(f->bytes / lp_dtype_size(f->dtype));
        for (size_t e = 0; e < n; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const double u = (double)(x >> 11) * 0x1.0p-53;
            if (f->dtype == LP_DTYPE_F32)
                ((float *)t.data)[e] = strcmp(f->name, "logprobs") == 0
                                           ? (float)-log((double)env->num_actions)
                                           : (float)(2.0 * u - 1.0);
            else if (f->dtype == LP_DTYPE_I32)
                ((int32_t *)t.data)[e] = (int32_t)(x % (uint64_t)env->num_actions);
            else if (f->dtype == LP_DTYPE_U8)
                ((uint8_t *)t.data)[e] = u < 0.02;
        }
    }
}

/* One train phase's phase-level hooks alone (train_start, update_epoch_start,
 * train_end), to tell B's minibatch work from gae's whole-buffer pass. */
static void direct_phase_only(direct *d, const prebuilt *p, int64_t epoch) {
    lp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.struct_size = sizeof ctx;
    ctx.epoch = epoch;
    CALL(d, train_start, &ctx, &p->all);
    for (int32_t ue = 0; ue < UPDATE_EPOCHS; ue++) {
        ctx.update_epoch = ue;
        CALL(d, update_epoch_start, &ctx, &p->all);
    }
    CALL(d, train_end, &ctx);
}

static void run_case(const bcase *c, int shuffle, int reps, const lp_registry *reg, result *out) {
    char yaml[2048];
    make_yaml(yaml, sizeof yaml, c, shuffle);
    static const char *const paths[] = {LP_BENCH_PLUGINS, LP_BENCH_TEST_PLUGINS};
    lp_session_options opt;
    lp_session_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 2;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    lp_session *s = NULL;
    lp_error err;
    if (lp_session_open_string(yaml, strlen(yaml), c->name, &opt, &s, &err) != LP_OK)
        die("%s", err.message);
    fill_rollout(s);
    const lp_train_plan *plan = lp_session_train_plan(s);
    const int64_t count = plan->update_epochs * plan->minibatches;
    const int64_t hor = lp_session_env(s)->horizon;
    const size_t mbr = (size_t)plan->minibatch_segments;

    /* An untimed pass records the rows of every minibatch. */
    tmodel rec = {xcalloc((size_t)count * mbr, sizeof(int64_t)), 0};
    lp_model model = {
        .user = &rec, .forward = tm_forward, .backward = tm_backward, .step = tm_step};
    if (lp_session_train(s, &model, NULL, &err) != LP_OK)
        die("%s", err.message);
    if (rec.written != count * (int64_t)mbr)
        die("recorded %lld rows, expected %lld", (long long)rec.written,
            (long long)(count * (int64_t)mbr));
    tmodel plain = {NULL, 0};
    model.user = &plain;

    prebuilt p, pc;
    prebuild(&p, s, shuffle ? VIEWS_COPIES : VIEWS_BUFFER, shuffle ? rec.rows : NULL);
    if (shuffle)
        prebuild(&pc, s, VIEWS_SCRATCH, rec.rows);
    out->bytes_mb = shuffle ? (double)gplan_make(&pc.gp, s, pc.copies) : 0.0;
    direct d;
    direct_open(&d, s, reg, &p.all);

    /* Rollout steps: A through the session, B the hooks on pre-built step
     * views (one per t). */
    const size_t nf = lp_session_field_count(s);
    lp_tensor *steps = xcalloc((size_t)hor * nf, sizeof *steps);
    lp_batch *step_b = xcalloc((size_t)hor, sizeof *step_b);
    for (int64_t t = 0; t < hor; t++) {
        for (size_t i = 0; i < nf; i++) {
            lp_tensor w = lp_session_field(s, (int32_t)i), *st = &steps[(size_t)t * nf + i];
            memset(st, 0, sizeof *st);
            st->data = lp_session_step_ptr(s, (int32_t)i, 0, t);
            st->dtype = w.dtype;
            st->rank = w.rank - 1;
            st->shape[0] = w.shape[0];
            st->strides[0] = w.strides[0];
            for (int32_t k = 2; k < w.rank; k++) {
                st->shape[k - 1] = w.shape[k];
                st->strides[k - 1] = w.strides[k];
            }
        }
        step_b[t] = p.all;
        step_b[t].fields = steps + (size_t)t * nf;
    }

    enum { TA, TB, TC, TD, TW, TG, SA, SB, NT };
    double *v[NT];
    for (int i = 0; i < NT; i++)
        v[i] = xcalloc((size_t)reps, sizeof(double));
    const double n = (double)count;
    for (int r = -2; r < reps; r++) { /* two warm-up rounds */
        /* a train phase of each arm, the order rotating with r so that no
         * arm always runs first (cold caches and branch predictors after
         * the rollout); then B's phase-level hooks alone */
        double ph[3] = {0.0, 0.0, 0.0};
        for (int k = 0; k < 3; k++) {
            const int arm = (k + r + 3) % 3;
            const double t0 = now_ns();
            if (arm == 0 && lp_session_train(s, &model, NULL, &err) != LP_OK)
                die("%s", err.message);
            if (arm == 1)
                direct_train(&d, &p, &model, lp_session_epoch(s), plan->minibatches);
            if (arm == 2 && shuffle)
                direct_train(&d, &pc, &model, lp_session_epoch(s), plan->minibatches);
            ph[arm] = now_ns() - t0;
        }
        const double t3 = now_ns();
        direct_phase_only(&d, &p, lp_session_epoch(s));
        const double t4 = now_ns();
        /* a rollout of `hor` steps, A then B */
        if (lp_session_rollout_start(s, &err) != LP_OK)
            die("%s", err.message);
        lp_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.struct_size = sizeof ctx;
        const double t5 = now_ns();
        for (int64_t t = 0; t < hor; t++)
            if (lp_session_rollout_step(s, t, &err) != LP_OK)
                die("%s", err.message);
        const double t6 = now_ns();
        for (int64_t t = 0; t < hor; t++) {
            ctx.step = (int32_t)t;
            CALL(&d, rollout_step, &ctx, &step_b[t]);
        }
        const double t7 = now_ns();
        double g = 0.0;
        for (int64_t k = 0; shuffle && k < count; k++)
            g += gather_ns(&pc.gp, rec.rows + (size_t)k * mbr);
        if (r < 0)
            continue;
        v[TA][r] = ph[0] / n;
        v[TB][r] = ph[1] / n;
        v[TC][r] = ph[2] / n;
        v[TD][r] = shuffle ? v[TA][r] - v[TC][r] : v[TA][r] - v[TB][r];
        v[TW][r] = (ph[1] - (t4 - t3)) / n;
        v[TG][r] = g / n;
        v[SA][r] = (t6 - t5) / (double)hor;
        v[SB][r] = (t7 - t6) / (double)hor;
    }
    out->a = median(v[TA], reps);
    out->b = median(v[TB], reps);
    out->c = median(v[TC], reps);
    out->ab = out->a / out->b;
    out->ac = out->a / out->c;
    out->host = median(v[TD], reps);
    out->work = median(v[TW], reps);
    out->gather = median(v[TG], reps);
    out->step_a = median(v[SA], reps);
    out->step_b = median(v[SB], reps);

    for (int i = 0; i < NT; i++)
        free(v[i]);
    free(steps), free(step_b), free(rec.rows);
    direct_close(&d);
    prebuilt_free(&p);
    if (shuffle)
        prebuilt_free(&pc);
    lp_session_close(s);
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 31;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (reps < 1) {
        fprintf(stderr, "usage: host_overhead [reps >= 1 [case]]\n");
        return 2;
    }
    /* Arm B finds the same plugin files the sessions load. */
    static const char *const paths[] = {LP_BENCH_PLUGINS, LP_BENCH_TEST_PLUGINS};
    lp_registry_options ro;
    lp_registry_options_init(&ro);
    ro.plugin_paths = paths;
    ro.plugin_path_count = 2;
    ro.use_env_path = 0;
    ro.use_install_dir = 0;
    lp_registry *reg = NULL;
    lp_error err;
    if (lp_registry_open(&ro, &reg, &err) != LP_OK)
        die("%s", err.message);

    printf("host_overhead: median of %d train phases per arm (A, B, C in turn), %d update "
           "epochs, one thread\n",
           reps, UPDATE_EPOCHS);
    printf("A: lp_session_train / lp_session_rollout_step; B: the same hooks called directly on "
           "pre-built views\n");
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        if (!shuffle) {
            printf("\nshuffle off: contiguous minibatch views, no copy, in both arms\n");
            printf("%-20s %7s %10s %10s %7s %8s %7s %7s %7s\n", "case", "samples", "A ns/mb",
                   "B ns/mb", "A/B", "A-B ns", "A-B %", "step A", "step B");
        } else {
            printf("\nshuffle on: A gathers each minibatch into scratch; B reads copies "
                   "gathered before the clock starts; C = B plus the same gather and scatter, "
                   "done directly\n");
            printf("%-20s %7s %10s %10s %7s %9s %8s %10s %7s %8s %7s\n", "case", "samples",
                   "A ns/mb", "B ns/mb", "A/B", "gather ns", "gath KB", "C ns/mb", "A/C", "A-C ns",
                   "A-C %");
        }
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if (only != NULL && strcmp(only, cases[c].name) != 0)
                continue;
            result res;
            run_case(&cases[c], shuffle, reps, reg, &res);
            const bcase *k = &cases[c];
            const long long samples = (long long)(k->mb_segments * k->horizon);
            /* A-B %, A-C %: the host's time (median of paired differences)
             * over B's minibatch work (B without the phase-level hooks, i.e.
             * without gae's whole-buffer pass). */
            if (!shuffle)
                printf("%-20s %7lld %10.0f %10.0f %7.4f %8.1f %6.2f%% %7.1f %7.1f\n", k->name,
                       samples, res.a, res.b, res.ab, res.host, 100.0 * res.host / res.work,
                       res.step_a, res.step_b);
            else
                printf("%-20s %7lld %10.0f %10.0f %7.4f %9.0f %8.1f %10.0f %7.4f %8.1f %6.2f%%\n",
                       k->name, samples, res.a, res.b, res.ab, res.gather, res.bytes_mb / 1024.0,
                       res.c, res.ac, res.host, 100.0 * res.host / res.work);
            fflush(stdout);
        }
    }
    lp_registry_close(reg);
    return 0;
}
