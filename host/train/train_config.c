/* The trainer's own config sections (docs/training.md "Configuration"):
 *
 *   model:     {hidden: [64, 64], activation: tanh, shared: false, seed: 1,
 *               hidden_gain: 1.414, actor_gain: 0.01, critic_gain: 1.0}
 *   optimizer: {lr: 2.5e-4, eps: 1e-5, beta1: 0.9, beta2: 0.999,
 *               max_grad_norm: 0.5, anneal_lr: true}
 *   trainer:   {total_steps: 500000, target_return: 475, return_window: 100,
 *               seed: 1, checkpoint_every: 0, log_every: 10, blas_threads: 1}
 *
 * Each is optional and read strictly with the config module's walk helpers:
 * unknown keys (with a suggestion), wrong kinds, types and ranges are
 * FILE:LINE:COLUMN errors. The environment's section is not checked: its
 * scalars are handed to the environment as dotted entries. */
#include "train/train_impl.h"

#include "config/scalar.h"
#include "config/walk.h"

#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const model_keys[] = {"max_bytes", "hidden",      "activation",  "shared",
                                         "seed",      "hidden_gain", "actor_gain",  "critic_gain",
                                         "type",      "memory",      "critic_trunk"};
static const char *const optim_keys[] = {"lr",    "eps",           "beta1",
                                         "beta2", "max_grad_norm", "anneal_lr"};
static const char *const trainer_keys[] = {"total_steps", "target_return",    "return_window",
                                           "seed",        "checkpoint_every", "log_every",
                                           "blas_threads"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static int32_t number_text(const lp__walk *w, const lp__ynode *n, const char *where,
                           const char *what, const char *example) {
    int32_t rc = lp__walk_kind(w, n, LP__Y_SCALAR, where);
    if (rc != LP_OK)
        return rc;
    if (!n->plain)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s must be %s, found a quoted string; remove the quotes", where, what);
    if (n->len == 0)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s must be %s, found an empty value; write %s", where, what, example);
    return LP_OK;
}

/* A number in [min, max]; `open_min`: min itself is refused (> min). */
static int32_t get_float(const lp__walk *w, const lp__ynode *n, const char *where, double min,
                         int open_min, double max, double *out) {
    int32_t rc = number_text(w, n, where, "a number", "a number such as 0.5");
    if (rc != LP_OK)
        return rc;
    char q[LP__QUOTE_MAX];
    double v = 0;
    lp__lit lit = lp__parse_float(n->text, n->len, &v);
    if (lit == LP__LIT_SYNTAX)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s must be a number, found '%s'; write a number such as 0.5", where,
                          lp__quote(q, n->text, n->len));
    if (lit == LP__LIT_RANGE || v < min || (open_min && v == min) || v > max) {
        if (isinf(max))
            return lp__cfgerr(w->err, lp__walk_at(w, n),
                              "%s = %s is out of range; use a value %s %g", where,
                              lp__quote(q, n->text, n->len), open_min ? ">" : ">=", min);
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s = %s is out of range; use a value in %s%g, %g]", where,
                          lp__quote(q, n->text, n->len), open_min ? "(" : "[", min, max);
    }
    *out = v;
    return LP_OK;
}

static int32_t get_bool(const lp__walk *w, const lp__ynode *n, const char *where, int32_t *out) {
    int32_t rc = lp__walk_kind(w, n, LP__Y_SCALAR, where);
    if (rc != LP_OK)
        return rc;
    char q[LP__QUOTE_MAX];
    if (!n->plain)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s must be true or false, found a quoted string; remove the quotes",
                          where);
    if (lp__parse_bool(n->text, n->len, out) != LP__LIT_OK)
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s must be true or false, found '%s'; write true or false", where,
                          lp__quote(q, n->text, n->len));
    return LP_OK;
}

static int key_is(const lp__ynode *k, const char *name) {
    size_t n = strlen(name);
    return k->len == n && memcmp(k->text, name, n) == 0;
}

/* ---- model ----------------------------------------------------------------------- */

static int32_t read_model(const lp__walk *w, const lp__ynode *map, lp__model_cfg *m) {
    int32_t rc = lp__walk_kind(w, map, LP__Y_MAP, "model");
    if (rc == LP_OK)
        rc = lp__walk_keys(w, map, "model", model_keys, NKEYS(model_keys));
    for (size_t i = 0; rc == LP_OK && i < map->count; i++) {
        const lp__ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (key_is(k, "hidden")) {
            rc = lp__walk_kind(w, v, LP__Y_SEQ, "model.hidden");
            if (rc == LP_OK && v->count > LP_MLP_MAX_HIDDEN)
                rc = lp__cfgerr(w->err, lp__walk_at(w, v),
                                "model.hidden has %zu layers; use at most %d (or [] for linear "
                                "heads)",
                                v->count, LP_MLP_MAX_HIDDEN);
            for (size_t j = 0; rc == LP_OK && j < v->count; j++) {
                char where[64];
                snprintf(where, sizeof where, "model.hidden[%zu]", j);
                rc = lp__walk_int(w, v->items[j], where, 1, 65536, &m->hidden[j]);
                m->hidden_pos[j] = lp__walk_at(w, v->items[j]);
            }
            m->hidden_count = v->count;
            m->hidden_set = 1;
            m->hidden_seq_pos = lp__walk_at(w, v);
        } else if (key_is(k, "type")) {
            rc = lp__walk_kind(w, v, LP__Y_SCALAR, "model.type");
            m->type_pos = lp__walk_at(w, v);
            if (rc == LP_OK) {
                if (v->len == 3 && memcmp(v->text, "mlp", 3) == 0) {
                    m->type = LP__MODEL_MLP;
                } else if (v->len == 3 && memcmp(v->text, "gru", 3) == 0) {
                    m->type = LP__MODEL_GRU;
                } else {
                    char q[LP__QUOTE_MAX];
                    rc = lp__cfgerr(w->err, lp__walk_at(w, v),
                                    "model.type '%s' is not a choice; use mlp (feed-forward) or "
                                    "gru (recurrent, docs/model.md)",
                                    lp__quote(q, v->text, v->len));
                }
            }
        } else if (key_is(k, "critic_trunk")) {
            rc = get_float(w, v, "model.critic_trunk", 0, 0, 1, &m->critic_trunk);
        } else if (key_is(k, "memory")) {
            rc = lp__walk_int(w, v, "model.memory", 1, 65536, &m->memory);
        } else if (key_is(k, "activation")) {
            rc = lp__walk_kind(w, v, LP__Y_SCALAR, "model.activation");
            if (rc == LP_OK) {
                if (v->len == 4 && memcmp(v->text, "tanh", 4) == 0) {
                    m->activation = LP_ACTIVATION_TANH;
                } else if (v->len == 4 && memcmp(v->text, "relu", 4) == 0) {
                    m->activation = LP_ACTIVATION_RELU;
                } else {
                    char q[LP__QUOTE_MAX];
                    rc = lp__cfgerr(w->err, lp__walk_at(w, v),
                                    "model.activation '%s' is not a choice; use tanh or relu",
                                    lp__quote(q, v->text, v->len));
                }
            }
        } else if (key_is(k, "max_bytes")) {
            rc = lp__walk_int(w, v, "model.max_bytes", 1, INT64_MAX, &m->max_bytes);
        } else if (key_is(k, "shared")) {
            rc = get_bool(w, v, "model.shared", &m->shared);
        } else if (key_is(k, "seed")) {
            rc = lp__walk_int(w, v, "model.seed", 0, INT64_MAX, &m->seed);
            m->seed_set = 1;
        } else if (key_is(k, "hidden_gain")) {
            rc = get_float(w, v, "model.hidden_gain", 0, 1, 1e6, &m->hidden_gain);
        } else if (key_is(k, "actor_gain")) {
            rc = get_float(w, v, "model.actor_gain", 0, 1, 1e6, &m->actor_gain);
        } else if (key_is(k, "critic_gain")) {
            rc = get_float(w, v, "model.critic_gain", 0, 1, 1e6, &m->critic_gain);
        }
    }
    return rc;
}

/* ---- optimizer ------------------------------------------------------------------- */

static int32_t read_optim(const lp__walk *w, const lp__ynode *map, lp__optim_cfg *o) {
    int32_t rc = lp__walk_kind(w, map, LP__Y_MAP, "optimizer");
    if (rc == LP_OK)
        rc = lp__walk_keys(w, map, "optimizer", optim_keys, NKEYS(optim_keys));
    for (size_t i = 0; rc == LP_OK && i < map->count; i++) {
        const lp__ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (key_is(k, "lr"))
            rc = get_float(w, v, "optimizer.lr", 0, 1, 10, &o->lr);
        else if (key_is(k, "eps"))
            rc = get_float(w, v, "optimizer.eps", 0, 1, 1, &o->eps);
        else if (key_is(k, "beta1"))
            rc = get_float(w, v, "optimizer.beta1", 0, 0, 0.999999, &o->beta1);
        else if (key_is(k, "beta2"))
            rc = get_float(w, v, "optimizer.beta2", 0, 0, 0.999999, &o->beta2);
        else if (key_is(k, "max_grad_norm"))
            rc = get_float(w, v, "optimizer.max_grad_norm", 0, 0, INFINITY, &o->max_grad_norm);
        else if (key_is(k, "anneal_lr"))
            rc = get_bool(w, v, "optimizer.anneal_lr", &o->anneal_lr);
    }
    return rc;
}

/* ---- trainer --------------------------------------------------------------------- */

static int32_t read_trainer(const lp__walk *w, const lp__ynode *map, lp__trainer_cfg *t) {
    int32_t rc = lp__walk_kind(w, map, LP__Y_MAP, "trainer");
    if (rc == LP_OK)
        rc = lp__walk_keys(w, map, "trainer", trainer_keys, NKEYS(trainer_keys));
    for (size_t i = 0; rc == LP_OK && i < map->count; i++) {
        const lp__ynode *k = map->items[2 * i], *v = map->items[2 * i + 1];
        if (key_is(k, "total_steps")) {
            rc = lp__walk_int(w, v, "trainer.total_steps", 1, (int64_t)1 << 50, &t->total_steps);
        } else if (key_is(k, "target_return")) {
            rc =
                get_float(w, v, "trainer.target_return", -INFINITY, 0, INFINITY, &t->target_return);
            t->target_set = 1;
        } else if (key_is(k, "return_window")) {
            rc = lp__walk_int(w, v, "trainer.return_window", 1, 1000000, &t->return_window);
        } else if (key_is(k, "seed")) {
            rc = lp__walk_int(w, v, "trainer.seed", 0, INT64_MAX, &t->seed);
        } else if (key_is(k, "checkpoint_every")) {
            rc = lp__walk_int(w, v, "trainer.checkpoint_every", 0, (int64_t)1 << 40,
                              &t->checkpoint_every);
        } else if (key_is(k, "log_every")) {
            rc = lp__walk_int(w, v, "trainer.log_every", 1, (int64_t)1 << 40, &t->log_every);
        } else if (key_is(k, "blas_threads")) {
            rc = lp__walk_int(w, v, "trainer.blas_threads", 1, 4096, &t->blas_threads);
        }
    }
    return rc;
}

/* ---- the environment's section: its scalars as dotted entries ---------------------- */

typedef struct entry_list {
    lp_config_entry *items;
    size_t count, cap;
} entry_list;

static size_t count_scalars(const lp__ynode *n) {
    if (n->kind == LP__Y_SCALAR)
        return 1;
    size_t c = 0;
    if (n->kind == LP__Y_SEQ)
        for (size_t i = 0; i < n->count; i++)
            c += count_scalars(n->items[i]);
    else
        for (size_t i = 0; i < n->count; i++)
            c += count_scalars(n->items[2 * i + 1]);
    return c;
}

static int32_t flatten(const lp__walk *w, const lp__ynode *n, const char *prefix, entry_list *out) {
    if (n->kind == LP__Y_SCALAR) {
        if (out->count >= out->cap)
            return LP_OK; /* cannot happen: counted first */
        lp_config_entry *e = &out->items[out->count++];
        e->key = lp__arena_strdup(w->a, prefix);
        e->value = n->text;
        e->line = (int32_t)n->line;
        e->column = (int32_t)n->col;
        e->quoted = !n->plain;
        return e->key == NULL ? lp__walk_oom(w) : LP_OK;
    }
    char key[256];
    for (size_t i = 0; i < n->count; i++) {
        const lp__ynode *child;
        if (n->kind == LP__Y_SEQ) {
            snprintf(key, sizeof key, "%s[%zu]", prefix, i);
            child = n->items[i];
        } else {
            const lp__ynode *k = n->items[2 * i];
            snprintf(key, sizeof key, "%s%s%.*s", prefix, prefix[0] ? "." : "", (int)k->len,
                     k->text);
            child = n->items[2 * i + 1];
        }
        int32_t rc = flatten(w, child, key, out);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

/* The environment section's keys the trainer itself reads (docs/config.md):
 * normalize_obs. They are taken out of the entries the environment sees. */
static int32_t take_trainer_keys(const lp__walk *w, const lp__ynode *sec, const char *section,
                                 lp__train_cfg *out, entry_list *list) {
    if (sec->kind != LP__Y_MAP)
        return LP_OK;
    for (size_t i = 0; i < sec->count; i++) {
        if (!key_is(sec->items[2 * i], "normalize_obs"))
            continue;
        char where[96];
        snprintf(where, sizeof where, "%s.normalize_obs", section);
        int32_t rc = get_bool(w, sec->items[2 * i + 1], where, &out->normalize_obs);
        if (rc != LP_OK)
            return rc;
    }
    size_t kept = 0;
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].key, "normalize_obs") != 0)
            list->items[kept++] = list->items[i];
    list->count = kept;
    return LP_OK;
}

/* ---- all of it --------------------------------------------------------------------- */

static void defaults(lp__train_cfg *tc) {
    lp__model_cfg *m = &tc->model;
    m->hidden[0] = 64;
    m->hidden[1] = 64;
    m->hidden_count = 2;
    m->type = LP__MODEL_MLP;
    m->memory = 128;
    m->critic_trunk = 1.0;
    m->activation = LP_ACTIVATION_TANH;
    m->shared = 0;
    m->hidden_gain = sqrt(2.0);
    m->actor_gain = 0.01;
    m->critic_gain = 1.0;
    lp__optim_cfg *o = &tc->optim;
    o->lr = 2.5e-4;
    o->eps = 1e-5;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->max_grad_norm = 0.5;
    o->anneal_lr = 1;
    lp__trainer_cfg *t = &tc->trainer;
    t->total_steps = 500000;
    t->target_set = 0;
    t->target_return = NAN;
    t->return_window = 100;
    t->seed = 1;
    t->checkpoint_every = 0;
    t->log_every = 10;
    t->blas_threads = -1; /* one, unless OPENBLAS_NUM_THREADS says otherwise */
}

int32_t lp__train_cfg_read(const char *path, const char *env_section, const char *const *extra,
                           size_t extra_count, lp__train_cfg *out, lp_error *err) {
    memset(out, 0, sizeof *out);
    defaults(out);
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
    lp__config_options copt;
    lp__config_options_init(&copt);
    copt.passthrough = names;
    copt.passthrough_count = n;
    lp__config *cfg = NULL;
    int32_t rc = lp__config_parse_file(path, &copt, &cfg, err);
    if (rc != LP_OK)
        return rc;
    lp__walk w = {cfg->arena, cfg->file, cfg, &copt, err};
    const lp__section *sec = lp__config_section(cfg, LP__TRAIN_SECTION_MODEL);
    if (sec != NULL) {
        out->model.pos = sec->pos.key;
        rc = read_model(&w, sec->node, &out->model);
    }
    sec = lp__config_section(cfg, LP__TRAIN_SECTION_OPTIMIZER);
    if (rc == LP_OK && sec != NULL)
        rc = read_optim(&w, sec->node, &out->optim);
    sec = lp__config_section(cfg, LP__TRAIN_SECTION_TRAINER);
    if (rc == LP_OK && sec != NULL)
        rc = read_trainer(&w, sec->node, &out->trainer);
    sec = lp__config_section(cfg, env_section);
    if (rc == LP_OK && sec != NULL) {
        out->env_line = (int32_t)sec->pos.key.line;
        out->env_column = (int32_t)sec->pos.key.col;
        entry_list list = {NULL, 0, count_scalars(sec->node)};
        list.items = lp__arena_array(cfg->arena, list.cap > 0 ? list.cap : 1, sizeof *list.items);
        if (list.items == NULL)
            rc = lp__walk_oom(&w);
        if (rc == LP_OK) /* a scalar section gives one entry with key "" */
            rc = flatten(&w, sec->node, "", &list);
        if (rc == LP_OK)
            rc = take_trainer_keys(&w, sec->node, env_section, out, &list);
        out->entries = list.items;
        out->entry_count = list.count;
    }
    if (rc != LP_OK) {
        lp__config_free(cfg);
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->cfg = cfg;
    return LP_OK;
}

void lp__train_cfg_free(lp__train_cfg *tc) {
    if (tc == NULL)
        return;
    lp__config_free(tc->cfg);
    memset(tc, 0, sizeof *tc);
}
