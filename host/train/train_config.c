/* The trainer's own config sections (docs/training.md "Configuration"):
 *
 *   model:     {hidden: [64, 64], activation: tanh, shared: false, seed: 1,
 *               hidden_gain: 1.414, actor_gain: 0.01, critic_gain: 1.0}
 *   optimizer: {lr: 2.5e-4, eps: 1e-5, beta1: 0.9, beta2: 0.999,
 *               max_grad_norm: 0.5, anneal_lr: true}
 *   trainer:   {total_steps: 500000, target_return: 475, return_window: 100,
 *               seed: 1, checkpoint_every: 0, log_every: 10, blas_threads: 1}
 *
 * Each is optional and read strictly through liblossplug's public section
 * reader (lossplug/config.h), against the schemas below: unknown keys (with a
 * suggestion), wrong kinds, types and ranges are FILE:LINE:COLUMN errors.
 * The environment's section is not checked here: its scalars are handed to
 * the environment as dotted entries, without env.normalize_obs, which the
 * trainer reads itself. */
#include "train/train_impl.h"

#include "util/error.h"

#include <lossplug/config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x)  STR_(x)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Key schemas: a plugin param's spec (lossplug/abi.h) in an lp_config_key. */
#define KEY(...)                                                                                   \
    {                                                                                              \
        .struct_size = sizeof(lp_config_key), .spec = { __VA_ARGS__ }                              \
    }
#define BOUNDED LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX
#define ABOVE   LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_HAS_MAX /* (min, max] */

static const char *const activations[] = {"tanh", "relu", NULL};
static const char *const model_types[] = {"mlp", "gru", NULL};
static const int64_t hidden_default[] = {64, 64};

enum {
    M_MAX_BYTES,
    M_HIDDEN,
    M_ACTIVATION,
    M_SHARED,
    M_SEED,
    M_HIDDEN_GAIN,
    M_ACTOR_GAIN,
    M_CRITIC_GAIN,
    M_TYPE,
    M_MEMORY,
    M_CRITIC_TRUNK,
    M_COUNT
};

static const lp_config_key model_keys[M_COUNT] = {
    [M_MAX_BYTES] =
        KEY(.name = "max_bytes", .type = LP_PARAM_INT, .flags = LP_PARAM_HAS_MIN, .min = 1),
    [M_HIDDEN] =
        {sizeof(lp_config_key),
         1,
         {.name = "hidden", .type = LP_PARAM_INT, .flags = BOUNDED, .min = 1, .max = 65536},
         LP_MLP_MAX_HIDDEN,
         hidden_default,
         COUNT(hidden_default),
         "use at most " STR(LP_MLP_MAX_HIDDEN) " (or [] for linear heads)"},
    [M_ACTIVATION] = {sizeof(lp_config_key),
                      0,
                      {.name = "activation",
                       .type = LP_PARAM_ENUM,
                       .choices = activations,
                       .default_string = "tanh"},
                      0,
                      NULL,
                      0,
                      "use tanh or relu"},
    [M_SHARED] = KEY(.name = "shared", .type = LP_PARAM_BOOL),
    [M_SEED] = KEY(.name = "seed", .type = LP_PARAM_INT, .flags = LP_PARAM_HAS_MIN, .min = 0),
    /* 1.4142135623730951 is sqrt(2) as a double */
    [M_HIDDEN_GAIN] = KEY(.name = "hidden_gain", .type = LP_PARAM_FLOAT, .flags = ABOVE, .min = 0,
                          .max = 1e6, .default_float = 1.4142135623730951),
    [M_ACTOR_GAIN] = KEY(.name = "actor_gain", .type = LP_PARAM_FLOAT, .flags = ABOVE, .min = 0,
                         .max = 1e6, .default_float = 0.01),
    [M_CRITIC_GAIN] = KEY(.name = "critic_gain", .type = LP_PARAM_FLOAT, .flags = ABOVE, .min = 0,
                          .max = 1e6, .default_float = 1.0),
    [M_TYPE] =
        {sizeof(lp_config_key),
         0,
         {.name = "type", .type = LP_PARAM_ENUM, .choices = model_types, .default_string = "mlp"},
         0,
         NULL,
         0,
         "use mlp (feed-forward) or gru (recurrent, docs/model.md)"},
    [M_MEMORY] = KEY(.name = "memory", .type = LP_PARAM_INT, .flags = BOUNDED, .min = 1,
                     .max = 65536, .default_int = 128),
    [M_CRITIC_TRUNK] = KEY(.name = "critic_trunk", .type = LP_PARAM_FLOAT, .flags = BOUNDED,
                           .min = 0, .max = 1, .default_float = 1.0),
};

enum { O_LR, O_EPS, O_BETA1, O_BETA2, O_MAX_GRAD_NORM, O_ANNEAL_LR, O_COUNT };

static const lp_config_key optim_keys[O_COUNT] = {
    [O_LR] = KEY(.name = "lr", .type = LP_PARAM_FLOAT, .flags = ABOVE, .min = 0, .max = 10,
                 .default_float = 2.5e-4),
    [O_EPS] = KEY(.name = "eps", .type = LP_PARAM_FLOAT, .flags = ABOVE, .min = 0, .max = 1,
                  .default_float = 1e-5),
    [O_BETA1] = KEY(.name = "beta1", .type = LP_PARAM_FLOAT, .flags = BOUNDED, .min = 0,
                    .max = 0.999999, .default_float = 0.9),
    [O_BETA2] = KEY(.name = "beta2", .type = LP_PARAM_FLOAT, .flags = BOUNDED, .min = 0,
                    .max = 0.999999, .default_float = 0.999),
    [O_MAX_GRAD_NORM] = KEY(.name = "max_grad_norm", .type = LP_PARAM_FLOAT,
                            .flags = LP_PARAM_HAS_MIN, .min = 0, .default_float = 0.5),
    [O_ANNEAL_LR] = KEY(.name = "anneal_lr", .type = LP_PARAM_BOOL, .default_bool = 1),
};

enum {
    T_TOTAL_STEPS,
    T_TARGET_RETURN,
    T_RETURN_WINDOW,
    T_SEED,
    T_CHECKPOINT_EVERY,
    T_LOG_EVERY,
    T_BLAS_THREADS,
    T_COUNT
};

static const lp_config_key trainer_keys[T_COUNT] = {
    [T_TOTAL_STEPS] = KEY(.name = "total_steps", .type = LP_PARAM_INT, .flags = BOUNDED, .min = 1,
                          .max = 1125899906842624.0 /* 2^50 */, .default_int = 500000),
    [T_TARGET_RETURN] = KEY(.name = "target_return", .type = LP_PARAM_FLOAT),
    [T_RETURN_WINDOW] = KEY(.name = "return_window", .type = LP_PARAM_INT, .flags = BOUNDED,
                            .min = 1, .max = 1000000, .default_int = 100),
    [T_SEED] = KEY(.name = "seed", .type = LP_PARAM_INT, .flags = LP_PARAM_HAS_MIN, .min = 0,
                   .default_int = 1),
    [T_CHECKPOINT_EVERY] = KEY(.name = "checkpoint_every", .type = LP_PARAM_INT, .flags = BOUNDED,
                               .min = 0, .max = 1099511627776.0 /* 2^40 */),
    [T_LOG_EVERY] = KEY(.name = "log_every", .type = LP_PARAM_INT, .flags = BOUNDED, .min = 1,
                        .max = 1099511627776.0, .default_int = 10),
    /* -1 (absent): one thread, unless OPENBLAS_NUM_THREADS says otherwise */
    [T_BLAS_THREADS] = KEY(.name = "blas_threads", .type = LP_PARAM_INT, .flags = BOUNDED, .min = 1,
                           .max = 4096, .default_int = -1),
};

static const lp_config_key normalize_obs_key = KEY(.name = "normalize_obs", .type = LP_PARAM_BOOL);

static lp__pos at(const char *file, lp_config_pos p) {
    lp__pos r = {file, (uint32_t)p.line, (uint32_t)p.column};
    return r;
}

static lp__kvpos kv_at(const char *file, const lp_config_node *n) {
    lp__kvpos r = {at(file, n->key_pos), at(file, n->pos)};
    return r;
}

static void take_model(const char *file, const lp_config_value *v, lp__model_cfg *m) {
    const lp_config_value *h = &v[M_HIDDEN];
    m->hidden_count = h->count;
    for (size_t j = 0; j < h->count; j++) {
        m->hidden[j] = h->ints[j];
        if (h->item_pos != NULL)
            m->hidden_pos[j] = at(file, h->item_pos[j]);
    }
    m->hidden_set = h->set;
    m->hidden_seq_pos = at(file, h->pos);
    m->type = strcmp(v[M_TYPE].value.s, "gru") == 0 ? LP__MODEL_GRU : LP__MODEL_MLP;
    m->type_pos = at(file, v[M_TYPE].pos);
    m->memory = v[M_MEMORY].value.i;
    m->critic_trunk = v[M_CRITIC_TRUNK].value.f;
    m->activation =
        strcmp(v[M_ACTIVATION].value.s, "relu") == 0 ? LP_ACTIVATION_RELU : LP_ACTIVATION_TANH;
    m->max_bytes = v[M_MAX_BYTES].value.i;
    m->shared = v[M_SHARED].value.b;
    m->seed = v[M_SEED].value.i;
    m->seed_set = v[M_SEED].set;
    m->hidden_gain = v[M_HIDDEN_GAIN].value.f;
    m->actor_gain = v[M_ACTOR_GAIN].value.f;
    m->critic_gain = v[M_CRITIC_GAIN].value.f;
}

static void take_optim(const lp_config_value *v, lp__optim_cfg *o) {
    o->lr = v[O_LR].value.f;
    o->eps = v[O_EPS].value.f;
    o->beta1 = v[O_BETA1].value.f;
    o->beta2 = v[O_BETA2].value.f;
    o->max_grad_norm = v[O_MAX_GRAD_NORM].value.f;
    o->anneal_lr = v[O_ANNEAL_LR].value.b;
}

static void take_trainer(const lp_config_value *v, lp__trainer_cfg *t) {
    t->total_steps = v[T_TOTAL_STEPS].value.i;
    t->target_set = v[T_TARGET_RETURN].set;
    t->target_return = t->target_set ? v[T_TARGET_RETURN].value.f : NAN;
    t->return_window = v[T_RETURN_WINDOW].value.i;
    t->seed = v[T_SEED].value.i;
    t->checkpoint_every = v[T_CHECKPOINT_EVERY].value.i;
    t->log_every = v[T_LOG_EVERY].value.i;
    t->blas_threads = v[T_BLAS_THREADS].value.i;
}

/* program.fields / program.outputs: the names and where they are (their
 * types were checked at open; the session checks them against the
 * trainer's). */
static void take_decls(const lp_config *c, const char *path, lp__train_decl *out, size_t *count,
                       lp__kvpos *pos, int *has) {
    lp_config_node n;
    *has = lp_config_node_at(c, path, &n) == LP_CONFIG_MAP;
    if (!*has)
        return;
    *pos = kv_at(lp_config_name(c), &n);
    for (size_t i = 0; i < n.count; i++) {
        lp_config_node item;
        (void)lp_config_child(c, path, i, &item);
        memset(&out[i], 0, sizeof out[i]);
        out[i].decl.name = item.key;
        out[i].pos = kv_at(lp_config_name(c), &item);
    }
    *count = n.count;
}

/* lossplug's own sections, as far as the trainer needs them. */
static int32_t take_file(lp__train_cfg *tc, lp_error *err) {
    const lp_config *c = tc->config;
    lp__train_file *f = &tc->cfg;
    f->file = lp_config_name(c);
    lp_config_buffer b;
    b.struct_size = sizeof b;
    int32_t rc = lp_config_buffer_get(c, &b, err);
    if (rc != LP_OK)
        return rc;
    f->buffer.segments = b.segments;
    f->buffer.horizon = b.horizon;
    f->buffer.minibatch_segments = b.minibatch_segments;
    f->buffer.sample = b.sample;
    lp_config_node n;
    if (lp_config_node_at(c, "buffer.segments", &n) != LP_CONFIG_ABSENT)
        f->buffer.segments_pos = kv_at(f->file, &n);
    if (lp_config_node_at(c, "buffer.sample", &n) != LP_CONFIG_ABSENT)
        f->buffer.sample_pos = kv_at(f->file, &n);
    lp_config_node fn, on;
    size_t nf = lp_config_node_at(c, "program.fields", &fn) == LP_CONFIG_MAP ? fn.count : 0;
    size_t no = lp_config_node_at(c, "program.outputs", &on) == LP_CONFIG_MAP ? on.count : 0;
    tc->decls = calloc(nf + no + 1, sizeof *tc->decls);
    if (tc->decls == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_train_run: out of memory");
    lp__train_program *p = &f->program;
    take_decls(c, "program.fields", tc->decls, &p->field_count, &p->fields_pos, &p->has_fields);
    take_decls(c, "program.outputs", tc->decls + nf, &p->output_count, &p->outputs_pos,
               &p->has_outputs);
    p->fields = tc->decls;
    p->outputs = tc->decls + nf;
    return LP_OK;
}

/* The environment's section: its entries without the keys the trainer
 * reads (normalize_obs, docs/config.md), and normalize_obs. */
static int32_t take_env(lp__train_cfg *tc, const char *section, lp_error *err) {
    size_t n = 0;
    lp_config_pos sp;
    const lp_config_entry *all = lp_config_entries(tc->config, section, &n, &sp);
    tc->env_line = sp.line;
    tc->env_column = sp.column;
    char path[128];
    if (snprintf(path, sizeof path, "%s.normalize_obs", section) >= (int)sizeof path)
        return lp__error_set(err, LP_EINVAL,
                             "lp_train_run: the environment section's name '%.40s...' is longer "
                             "than %zu characters (lp_train_options.env_section); use a shorter "
                             "one",
                             section, sizeof path - sizeof ".normalize_obs");
    lp_config_value v;
    int32_t rc = lp_config_read_value(tc->config, path, &normalize_obs_key, &v, err);
    if (rc != LP_OK)
        return rc;
    tc->normalize_obs = v.value.b;
    tc->entries = calloc(n > 0 ? n : 1, sizeof *tc->entries);
    if (tc->entries == NULL)
        return lp__error_set(err, LP_ENOMEM, "lp_train_run: out of memory");
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].key, "normalize_obs") != 0)
            tc->entries[kept++] = all[i];
    tc->entry_count = kept;
    return LP_OK;
}

int32_t lp__train_cfg_read(const char *path, const char *env_section, const char *const *extra,
                           size_t extra_count, lp__train_cfg *out, lp_error *err) {
    memset(out, 0, sizeof *out);
    enum { MAX_SECTIONS = 64 };
    const char *names[MAX_SECTIONS];
    size_t n = 0;
    names[n++] = LP__TRAIN_SECTION_MODEL;
    names[n++] = LP__TRAIN_SECTION_OPTIMIZER;
    names[n++] = LP__TRAIN_SECTION_TRAINER;
    names[n++] = env_section;
    for (size_t i = 0; i < extra_count; i++) {
        if (n >= MAX_SECTIONS)
            return lp__error_set(err, LP_EINVAL,
                                 "lp_train_run: more than %d program sections in "
                                 "lp_train_options.sections; name fewer",
                                 MAX_SECTIONS - 4);
        names[n++] = extra[i];
    }
    lp_config_options copt;
    lp_config_options_init(&copt);
    copt.sections = names;
    copt.section_count = n;
    int32_t rc = lp_config_open(path, &copt, &out->config, err);
    if (rc != LP_OK)
        return rc;
    const char *file = lp_config_name(out->config);
    lp_config_value mv[M_COUNT], ov[O_COUNT], tv[T_COUNT];
    lp_config_pos model_pos;
    rc = lp_config_read(out->config, LP__TRAIN_SECTION_MODEL, model_keys, M_COUNT, mv, &model_pos,
                        err);
    if (rc == LP_OK)
        rc = lp_config_read(out->config, LP__TRAIN_SECTION_OPTIMIZER, optim_keys, O_COUNT, ov, NULL,
                            err);
    if (rc == LP_OK)
        rc = lp_config_read(out->config, LP__TRAIN_SECTION_TRAINER, trainer_keys, T_COUNT, tv, NULL,
                            err);
    if (rc == LP_OK) {
        take_model(file, mv, &out->model);
        out->model.pos = at(file, model_pos);
        take_optim(ov, &out->optim);
        take_trainer(tv, &out->trainer);
        rc = take_file(out, err);
    }
    if (rc == LP_OK)
        rc = take_env(out, env_section, err);
    if (rc != LP_OK) {
        lp__train_cfg_free(out);
        return rc;
    }
    return LP_OK;
}

void lp__train_cfg_free(lp__train_cfg *tc) {
    if (tc == NULL)
        return;
    lp_config_close(tc->config);
    free(tc->decls);
    free(tc->entries);
    memset(tc, 0, sizeof *tc);
}
