/* The lossplug schema walk: from a YAML node tree to an lp__config. */

#include "config/config.h"

#include "config/scalar.h"
#include "config/walk.h"
#include "util/errno_text.h"
#include "util/suggest.h"

#include "util/error.h"
#include "util/names.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LP__BOUND_MAX ((int64_t)1 << 62) /* epochs and steps */

typedef lp__walk walk;

static const char *const top_keys[] = {"plugin_path", "buffer", "stats", "losses", "program"};
static const char *const buffer_keys[] = {"segments",      "horizon",   "minibatch_segments",
                                          "update_epochs", "seed",      "shuffle",
                                          "sample",        "nonfinite", "max_bytes"};
static const char *const sample_modes[] = {"rows", "transitions"};
static const char *const nonfinite_modes[] = {"stop", "skip"};
static const char *const stats_keys[] = {"path"};
static const char *const loss_keys[] = {"name", "plugin", "weight", "params", "schedule"};
static const char *const schedule_keys[] = {"rollout", "train", "anneal"};
static const char *const rule_keys[] = {"from_epoch", "to_epoch",     "from_step",
                                        "to_step",    "every_epochs", "on_epochs"};
static const char *const anneal_keys[] = {"to", "epochs", "steps", "shape"};
static const char *const shapes[] = {"linear", "cosine"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void lp__config_options_init(lp__config_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->max_bytes = LP__CONFIG_MAX_BYTES_DEFAULT;
    opt->max_depth = LP__CONFIG_MAX_DEPTH_DEFAULT;
    opt->max_nodes = LP__CONFIG_MAX_NODES_DEFAULT;
}

/* ---- small helpers --------------------------------------------------------- */

static lp__pos at(const walk *w, const lp__ynode *n) {
    return lp__ypos(w->file, n);
}

static lp__kvpos kv_at(const walk *w, const lp__ynode *key, const lp__ynode *value) {
    lp__kvpos p = {at(w, key), at(w, value)};
    return p;
}

static int32_t oom(const walk *w) {
    return lp__error_set(w->err, LP_ENOMEM, "%s: out of memory while reading the config", w->file);
}

static const char *qtext(char q[LP__QUOTE_MAX], const lp__ynode *n) {
    return lp__quote(q, n->text, n->len);
}

static int key_is(const lp__ynode *k, const char *name) {
    size_t n = strlen(name);
    return k->len == n && memcmp(k->text, name, n) == 0;
}

/* Key node of `key` in `map`, or NULL. */
static const lp__ynode *key_node(const lp__ynode *map, const char *key) {
    for (size_t i = 0; i < map->count; i++)
        if (key_is(map->items[2 * i], key))
            return map->items[2 * i];
    return NULL;
}

static int32_t no_tag(const walk *w, const lp__ynode *n) {
    if (n->tag == NULL)
        return LP_OK;
    char q[LP__QUOTE_MAX];
    return lp__cfgerr(w->err, at(w, n), "tag '%s' is not supported here; remove it",
                      lp__quote(q, n->tag, strlen(n->tag)));
}

static int32_t expect_kind(const walk *w, const lp__ynode *n, int32_t kind, const char *where) {
    int32_t rc = no_tag(w, n);
    if (rc != LP_OK || n->kind == kind)
        return rc;
    switch (kind) {
    case LP__Y_MAP:
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be a mapping, found %s; write it as 'key: value' lines or "
                          "{key: value}",
                          where, lp__ykind_name(n));
    case LP__Y_SEQ:
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be a list, found %s; write it as '- item' lines or [a, b]",
                          where, lp__ykind_name(n));
    default:
        return lp__cfgerr(w->err, at(w, n), "%s must be a single value, found %s; write one value",
                          where, lp__ykind_name(n));
    }
}

/* "at the top level", "in buffer". */
static const char *prep(const char *where) {
    return strcmp(where, "the top level") == 0 ? "at" : "in";
}

/* Every key of `map` must be one of `keys` (or of `extra`). */
static int32_t check_keys(const walk *w, const lp__ynode *map, const char *where,
                          const char *const *keys, size_t n, const char *const *extra,
                          size_t nextra) {
    for (size_t i = 0; i < map->count; i++) {
        const lp__ynode *k = map->items[2 * i];
        int32_t rc = no_tag(w, k);
        if (rc != LP_OK)
            return rc;
        int known = 0;
        for (size_t j = 0; j < n && !known; j++)
            known = key_is(k, keys[j]);
        for (size_t j = 0; j < nextra && !known; j++)
            known = key_is(k, extra[j]);
        if (known)
            continue;
        lp__suggester s;
        lp__suggest_init(&s, k->text, k->len);
        lp__sbuf list;
        lp__sbuf_init(&list);
        for (size_t j = 0; j < n + nextra; j++) {
            const char *cand = j < n ? keys[j] : extra[j - n];
            lp__suggest_add(&s, cand);
            lp__sbuf_addf(&list, "%s%s", j == 0 ? "" : ", ", cand);
        }
        char q[LP__QUOTE_MAX];
        const char *best = lp__suggest_result(&s);
        if (best != NULL)
            return lp__cfgerr(w->err, at(w, k), "unknown key '%s' %s %s; did you mean '%s'?",
                              qtext(q, k), prep(where), where, best);
        return lp__cfgerr(w->err, at(w, k), "unknown key '%s' %s %s; valid keys: %s", qtext(q, k),
                          prep(where), where, list.buf);
    }
    return LP_OK;
}

static int32_t missing(const walk *w, const lp__ynode *map, const char *key, const char *where,
                       const char *example) {
    return lp__cfgerr(w->err, at(w, map), "missing required key '%s' %s %s; add %s", key,
                      prep(where), where, example);
}

/* A plain, non-empty scalar for a number. */
static int32_t expect_number_text(const walk *w, const lp__ynode *n, const char *where,
                                  const char *what, const char *example) {
    int32_t rc = expect_kind(w, n, LP__Y_SCALAR, where);
    if (rc != LP_OK)
        return rc;
    if (!n->plain)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be %s, found a quoted string; remove the quotes", where, what);
    if (n->len == 0)
        return lp__cfgerr(w->err, at(w, n), "%s must be %s, found an empty value; write %s", where,
                          what, example);
    return LP_OK;
}

static int32_t get_int(const walk *w, const lp__ynode *n, const char *where, int64_t min,
                       int64_t max, int64_t *out) {
    int32_t rc = expect_number_text(w, n, where, "an integer", "a whole number such as 8");
    if (rc != LP_OK)
        return rc;
    char q[LP__QUOTE_MAX];
    int64_t v = 0;
    lp__lit lit = lp__parse_int(n->text, n->len, &v);
    if (lit == LP__LIT_SYNTAX)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be an integer, found '%s'; write a whole number such as 8",
                          where, qtext(q, n));
    if (lit == LP__LIT_RANGE || v < min || v > max)
        return lp__cfgerr(w->err, at(w, n),
                          "%s = %s is out of range; use an integer in [%lld, %lld]", where,
                          qtext(q, n), (long long)min, (long long)max);
    *out = v;
    return LP_OK;
}

static int32_t get_float(const walk *w, const lp__ynode *n, const char *where, double *out) {
    int32_t rc = expect_number_text(w, n, where, "a number", "a number such as 0.5");
    if (rc != LP_OK)
        return rc;
    char q[LP__QUOTE_MAX];
    lp__lit lit = lp__parse_float(n->text, n->len, out);
    if (lit == LP__LIT_SYNTAX)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be a number, found '%s'; write a number such as 0.5", where,
                          qtext(q, n));
    if (lit == LP__LIT_RANGE)
        return lp__cfgerr(w->err, at(w, n),
                          "%s = %s is out of range; use a finite number of at most 127 characters",
                          where, qtext(q, n));
    return LP_OK;
}

static int32_t get_bool(const walk *w, const lp__ynode *n, const char *where, int32_t *out) {
    int32_t rc = expect_kind(w, n, LP__Y_SCALAR, where);
    if (rc != LP_OK)
        return rc;
    if (!n->plain)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be true or false, found a quoted string; remove the quotes",
                          where);
    char q[LP__QUOTE_MAX];
    if (lp__parse_bool(n->text, n->len, out) != LP__LIT_OK)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be true or false, found '%s'; write true or false", where,
                          qtext(q, n));
    return LP_OK;
}

/* A non-empty scalar without NUL characters, as an arena string. */
static int32_t get_string(const walk *w, const lp__ynode *n, const char *where, const char *what,
                          const char **out) {
    int32_t rc = expect_kind(w, n, LP__Y_SCALAR, where);
    if (rc != LP_OK)
        return rc;
    if (n->len == 0)
        return lp__cfgerr(w->err, at(w, n), "%s is empty; write %s", where, what);
    if (memchr(n->text, '\0', n->len) != NULL)
        return lp__cfgerr(w->err, at(w, n), "%s contains a NUL character; remove the \\0 escape",
                          where);
    *out = n->text; /* arena-owned, NUL-terminated */
    return LP_OK;
}

static int32_t get_name(const walk *w, const lp__ynode *n, const char *where, const char **out) {
    int32_t rc = get_string(w, n, where, "a name such as ppo", out);
    if (rc != LP_OK)
        return rc;
    if (!lp__valid_name_n(n->text, n->len)) {
        char q[LP__QUOTE_MAX];
        return lp__cfgerr(w->err, at(w, n),
                          "%s '%s' is not a valid name; use lowercase letters, digits and '_', "
                          "starting with a letter (at most %d characters)",
                          where, qtext(q, n), LP__NAME_MAX);
    }
    return LP_OK;
}

/* dir + "/" + path, unless path is absolute. */
static const char *resolve(const walk *w, const char *path) {
    if (path[0] == '/')
        return path;
    const char *dir = w->cfg->dir;
    size_t dl = strlen(dir), pl = strlen(path);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *s = lp__arena_alloc(w->a, dl + (size_t)slash + pl + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, dir, dl);
    if (slash)
        s[dl] = '/';
    memcpy(s + dl + (size_t)slash, path, pl + 1);
    return s;
}

/* ---- sections ----------------------------------------------------------------- */

static int32_t walk_plugin_path(walk *w, const lp__ynode *key, const lp__ynode *v) {
    (void)key;
    int32_t rc = expect_kind(w, v, LP__Y_SEQ, "plugin_path");
    if (rc != LP_OK)
        return rc;
    const char **paths = lp__arena_array(w->a, v->count, sizeof *paths);
    lp__pos *pos = lp__arena_array(w->a, v->count, sizeof *pos);
    if (paths == NULL || pos == NULL)
        return oom(w);
    for (size_t i = 0; i < v->count; i++) {
        char where[256];
        lp__strf(where, sizeof where, "plugin_path[%zu]", i);
        const char *p = NULL;
        rc = get_string(w, v->items[i], where, "a directory", &p);
        if (rc != LP_OK)
            return rc;
        paths[i] = resolve(w, p);
        if (paths[i] == NULL)
            return oom(w);
        pos[i] = at(w, v->items[i]);
    }
    w->cfg->plugin_paths = paths;
    w->cfg->plugin_path_pos = pos;
    w->cfg->plugin_path_count = v->count;
    return LP_OK;
}

/* An optional integer key of `map`; *kv stays zero when absent. */
static int32_t opt_int(const walk *w, const lp__ynode *map, const char *key, const char *section,
                       int64_t min, int64_t max, int64_t *out, lp__kvpos *kv) {
    const lp__ynode *v = lp__ymap_get(map, key);
    if (v == NULL)
        return LP_OK;
    char where[256];
    lp__strf(where, sizeof where, "%s.%s", section, key);
    if (kv != NULL)
        *kv = kv_at(w, key_node(map, key), v);
    return get_int(w, v, where, min, max, out);
}

static int32_t walk_buffer(walk *w, const lp__ynode *key, const lp__ynode *v) {
    lp__buffer_cfg *b = &w->cfg->buffer;
    b->pos = at(w, key);
    int32_t rc = expect_kind(w, v, LP__Y_MAP, "buffer");
    if (rc == LP_OK)
        rc = check_keys(w, v, "buffer", buffer_keys, COUNT(buffer_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    const int64_t big = (int64_t)1 << 20;
    if (lp__ymap_get(v, "segments") == NULL)
        return missing(w, v, "segments", "buffer", "segments: N (rows of the buffer)");
    if (lp__ymap_get(v, "horizon") == NULL)
        return missing(w, v, "horizon", "buffer", "horizon: T (steps per row)");
    rc = opt_int(w, v, "segments", "buffer", 1, big, &b->segments, &b->segments_pos);
    if (rc == LP_OK)
        rc = opt_int(w, v, "horizon", "buffer", 1, big, &b->horizon, &b->horizon_pos);
    b->minibatch_segments = b->segments;
    if (rc == LP_OK)
        rc = opt_int(w, v, "minibatch_segments", "buffer", 1, b->segments, &b->minibatch_segments,
                     &b->minibatch_segments_pos);
    b->update_epochs = 1;
    if (rc == LP_OK)
        rc = opt_int(w, v, "update_epochs", "buffer", 1, 10000, &b->update_epochs,
                     &b->update_epochs_pos);
    b->seed = 0;
    if (rc == LP_OK)
        rc = opt_int(w, v, "seed", "buffer", 0, INT64_MAX, &b->seed, &b->seed_pos);
    b->max_bytes = 0;
    if (rc == LP_OK)
        rc = opt_int(w, v, "max_bytes", "buffer", 1, INT64_MAX, &b->max_bytes, &b->max_bytes_pos);
    b->shuffle = 1;
    const lp__ynode *sh = lp__ymap_get(v, "shuffle");
    if (rc == LP_OK && sh != NULL) {
        b->shuffle_pos = kv_at(w, key_node(v, "shuffle"), sh);
        rc = get_bool(w, sh, "buffer.shuffle", &b->shuffle);
    }
    b->sample = LP_SAMPLE_ROWS;
    const lp__ynode *sm = lp__ymap_get(v, "sample");
    if (rc == LP_OK && sm != NULL) {
        b->sample_pos = kv_at(w, key_node(v, "sample"), sm);
        const char *s = NULL;
        rc = get_string(w, sm, "buffer.sample", "rows or transitions", &s);
        if (rc == LP_OK && strcmp(s, "rows") == 0) {
            b->sample = LP_SAMPLE_ROWS;
        } else if (rc == LP_OK && strcmp(s, "transitions") == 0) {
            b->sample = LP_SAMPLE_TRANSITIONS;
        } else if (rc == LP_OK) {
            char q[LP__QUOTE_MAX];
            const char *best = lp__suggest(sm->text, sm->len, sample_modes, COUNT(sample_modes));
            if (best != NULL)
                return lp__cfgerr(w->err, at(w, sm),
                                  "buffer.sample '%s' is not a sampling mode; did you mean '%s'?",
                                  qtext(q, sm), best);
            return lp__cfgerr(w->err, at(w, sm),
                              "buffer.sample '%s' is not a sampling mode; use rows (whole "
                              "buffer rows per minibatch) or transitions (single steps drawn "
                              "from the whole buffer)",
                              qtext(q, sm));
        }
    }
    b->nonfinite = LP_NONFINITE_STOP;
    const lp__ynode *nf = lp__ymap_get(v, "nonfinite");
    if (rc == LP_OK && nf != NULL) {
        b->nonfinite_pos = kv_at(w, key_node(v, "nonfinite"), nf);
        const char *s = NULL;
        rc = get_string(w, nf, "buffer.nonfinite", "stop or skip", &s);
        if (rc == LP_OK && strcmp(s, "stop") == 0) {
            b->nonfinite = LP_NONFINITE_STOP;
        } else if (rc == LP_OK && strcmp(s, "skip") == 0) {
            b->nonfinite = LP_NONFINITE_SKIP;
        } else if (rc == LP_OK) {
            char q[LP__QUOTE_MAX];
            const char *best =
                lp__suggest(nf->text, nf->len, nonfinite_modes, COUNT(nonfinite_modes));
            return lp__cfgerr(w->err, at(w, nf),
                              "buffer.nonfinite '%s' is not a mode; %s%s%suse stop (the train "
                              "phase fails on a non-finite loss or gradient) or skip (the "
                              "minibatch is skipped with a warning)",
                              qtext(q, nf), best != NULL ? "did you mean '" : "",
                              best != NULL ? best : "", best != NULL ? "'? " : "");
        }
    }
    if (rc != LP_OK)
        return rc;
    if (b->sample == LP_SAMPLE_TRANSITIONS && !b->shuffle)
        return lp__cfgerr(w->err, b->shuffle_pos.value,
                          "buffer.shuffle = false but buffer.sample = transitions (at line %d) "
                          "draws a new permutation of the samples every update epoch; remove "
                          "shuffle: false, or use sample: rows for in-order minibatches",
                          b->sample_pos.value.line);
    if (b->segments % b->minibatch_segments != 0)
        return lp__cfgerr(w->err, b->minibatch_segments_pos.value,
                          "buffer.minibatch_segments = %lld does not divide buffer.segments = "
                          "%lld; use a divisor of %lld",
                          (long long)b->minibatch_segments, (long long)b->segments,
                          (long long)b->segments);
    return LP_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && memcmp(s + n - m, suffix, m) == 0;
}

static int32_t walk_stats(walk *w, const lp__ynode *key, const lp__ynode *v) {
    (void)key;
    int32_t rc = expect_kind(w, v, LP__Y_MAP, "stats");
    if (rc == LP_OK)
        rc = check_keys(w, v, "stats", stats_keys, COUNT(stats_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    const lp__ynode *p = lp__ymap_get(v, "path");
    if (p == NULL)
        return missing(w, v, "path", "stats", "path: run/stats.csv (or .jsonl)");
    const char *path = NULL;
    rc = get_string(w, p, "stats.path", "a file name ending in .csv or .jsonl", &path);
    if (rc != LP_OK)
        return rc;
    if (ends_with(path, ".csv")) {
        w->cfg->stats_format = LP__STATS_CSV;
    } else if (ends_with(path, ".jsonl")) {
        w->cfg->stats_format = LP__STATS_JSONL;
    } else {
        char q[LP__QUOTE_MAX];
        return lp__cfgerr(w->err, at(w, p),
                          "stats.path '%s' has no known format; end it in .csv or .jsonl",
                          qtext(q, p));
    }
    w->cfg->stats_path = resolve(w, path);
    if (w->cfg->stats_path == NULL)
        return oom(w);
    w->cfg->stats_path_pos = kv_at(w, key_node(v, "path"), p);
    return LP_OK;
}

/* ---- schedules ------------------------------------------------------------------ */

static int32_t bounds(const walk *w, const lp__ynode *rule, const char *where, const char *from_key,
                      const char *to_key, int64_t *from, int64_t *to) {
    char wf[256], wt[256];
    lp__strf(wf, sizeof wf, "%s.%s", where, from_key);
    lp__strf(wt, sizeof wt, "%s.%s", where, to_key);
    const lp__ynode *f = lp__ymap_get(rule, from_key), *t = lp__ymap_get(rule, to_key);
    int32_t rc = LP_OK;
    if (f != NULL)
        rc = get_int(w, f, wf, 0, LP__BOUND_MAX, from);
    if (rc == LP_OK && t != NULL)
        rc = get_int(w, t, wt, 0, LP__BOUND_MAX, to);
    if (rc == LP_OK && t != NULL && *to <= *from)
        rc = lp__cfgerr(w->err, at(w, t), "%s = %lld is not after %s = %lld; use %s > %s", wt,
                        (long long)*to, from_key, (long long)*from, to_key, from_key);
    return rc;
}

static int32_t walk_rule(walk *w, const lp__ynode *n, const char *where, lp__enable_rule *r) {
    int32_t rc = expect_kind(w, n, LP__Y_MAP, where);
    if (rc == LP_OK)
        rc = check_keys(w, n, where, rule_keys, COUNT(rule_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    r->pos = at(w, n);
    r->from_epoch = 0;
    r->to_epoch = INT64_MAX;
    r->from_step = 0;
    r->to_step = INT64_MAX;
    r->every_epochs = 0;
    r->on_epochs = 0;
    if (n->count == 0)
        return lp__cfgerr(w->err, at(w, n),
                          "%s is empty; give from_epoch/to_epoch, from_step/to_step or "
                          "every_epochs/on_epochs",
                          where);
    rc = bounds(w, n, where, "from_epoch", "to_epoch", &r->from_epoch, &r->to_epoch);
    if (rc == LP_OK)
        rc = bounds(w, n, where, "from_step", "to_step", &r->from_step, &r->to_step);
    if (rc != LP_OK)
        return rc;
    const lp__ynode *every = lp__ymap_get(n, "every_epochs"), *on = lp__ymap_get(n, "on_epochs");
    if (every == NULL && on == NULL)
        return LP_OK;
    if (every == NULL)
        return lp__cfgerr(w->err, at(w, n),
                          "missing required key 'every_epochs' in %s (on_epochs needs it); add "
                          "every_epochs: N",
                          where);
    if (on == NULL)
        return lp__cfgerr(w->err, at(w, n),
                          "missing required key 'on_epochs' in %s (every_epochs needs it); add "
                          "on_epochs: N",
                          where);
    rc = opt_int(w, n, "every_epochs", where, 1, INT32_MAX, &r->every_epochs, NULL);
    if (rc == LP_OK)
        rc = opt_int(w, n, "on_epochs", where, 1, r->every_epochs, &r->on_epochs, NULL);
    return rc;
}

static int32_t walk_rules(walk *w, const lp__ynode *key, const lp__ynode *v, const char *where,
                          lp__rule_list *list) {
    int32_t rc = expect_kind(w, v, LP__Y_SEQ, where);
    if (rc != LP_OK)
        return rc;
    lp__enable_rule *rules = lp__arena_array(w->a, v->count, sizeof *rules);
    if (rules == NULL)
        return oom(w);
    for (size_t i = 0; i < v->count; i++) {
        char wi[256];
        lp__strf(wi, sizeof wi, "%s[%zu]", where, i);
        rc = walk_rule(w, v->items[i], wi, &rules[i]);
        if (rc != LP_OK)
            return rc;
    }
    list->present = 1;
    list->count = v->count;
    list->rules = rules;
    list->pos = at(w, key);
    return LP_OK;
}

static int32_t walk_anneal_range(walk *w, const lp__ynode *n, const char *where, int64_t *start,
                                 int64_t *end) {
    int32_t rc = expect_kind(w, n, LP__Y_SEQ, where);
    if (rc != LP_OK)
        return rc;
    if (n->count != 2)
        return lp__cfgerr(w->err, at(w, n),
                          "%s must be a list of 2 integers, found %zu items; write [start, end]",
                          where, n->count);
    char ws[256], we[256];
    lp__strf(ws, sizeof ws, "%s[0]", where);
    lp__strf(we, sizeof we, "%s[1]", where);
    rc = get_int(w, n->items[0], ws, 0, LP__BOUND_MAX, start);
    if (rc == LP_OK)
        rc = get_int(w, n->items[1], we, 0, LP__BOUND_MAX, end);
    if (rc == LP_OK && *end <= *start)
        rc = lp__cfgerr(w->err, at(w, n->items[1]),
                        "%s ends at %lld, not after its start %lld; use [start, end] with start "
                        "< end",
                        where, (long long)*end, (long long)*start);
    return rc;
}

static int32_t walk_anneal_rule(walk *w, const lp__ynode *key, const lp__ynode *n,
                                const char *where, lp__anneal_rule *r) {
    int32_t rc = expect_kind(w, n, LP__Y_MAP, where);
    if (rc == LP_OK)
        rc = check_keys(w, n, where, anneal_keys, COUNT(anneal_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    r->param = key->text;
    r->pos = at(w, key);
    char wk[256];
    const lp__ynode *to = lp__ymap_get(n, "to");
    if (to == NULL)
        return missing(w, n, "to", where, "to: VALUE (the value at the end of the range)");
    lp__strf(wk, sizeof wk, "%s.to", where);
    rc = get_float(w, to, wk, &r->to);
    if (rc != LP_OK)
        return rc;
    r->to_is_int = lp__parse_int(to->text, to->len, &r->to_int) == LP__LIT_OK;
    r->to_pos = kv_at(w, key_node(n, "to"), to);

    const lp__ynode *ep = lp__ymap_get(n, "epochs"), *st = lp__ymap_get(n, "steps");
    if (ep != NULL && st != NULL) {
        const lp__ynode *later = key_node(n, "epochs");
        if (key_node(n, "steps")->line > later->line ||
            (key_node(n, "steps")->line == later->line && key_node(n, "steps")->col > later->col))
            later = key_node(n, "steps");
        return lp__cfgerr(w->err, at(w, later),
                          "%s has both epochs and steps; keep only one of them", where);
    }
    if (ep == NULL && st == NULL)
        return lp__cfgerr(w->err, at(w, n),
                          "missing required key 'epochs' (or 'steps') in %s; add epochs: [start, "
                          "end]",
                          where);
    const char *clock_key = ep != NULL ? "epochs" : "steps";
    lp__strf(wk, sizeof wk, "%s.%s", where, clock_key);
    r->clock = ep != NULL ? LP__ANNEAL_BY_EPOCH : LP__ANNEAL_BY_STEP;
    const lp__ynode *range = ep != NULL ? ep : st;
    rc = walk_anneal_range(w, range, wk, &r->start, &r->end);
    if (rc != LP_OK)
        return rc;
    r->range_pos = kv_at(w, key_node(n, clock_key), range);

    r->shape = LP__ANNEAL_LINEAR;
    const lp__ynode *sh = lp__ymap_get(n, "shape");
    if (sh == NULL)
        return LP_OK;
    lp__strf(wk, sizeof wk, "%s.shape", where);
    const char *s = NULL;
    rc = get_string(w, sh, wk, "linear or cosine", &s);
    if (rc != LP_OK)
        return rc;
    if (strcmp(s, "linear") == 0) {
        r->shape = LP__ANNEAL_LINEAR;
    } else if (strcmp(s, "cosine") == 0) {
        r->shape = LP__ANNEAL_COSINE;
    } else {
        char q[LP__QUOTE_MAX];
        const char *best = lp__suggest(sh->text, sh->len, shapes, COUNT(shapes));
        if (best != NULL)
            return lp__cfgerr(w->err, at(w, sh), "%s '%s' is not a shape; did you mean '%s'?", wk,
                              qtext(q, sh), best);
        return lp__cfgerr(w->err, at(w, sh), "%s '%s' is not a shape; use linear or cosine", wk,
                          qtext(q, sh));
    }
    r->shape_pos = kv_at(w, key_node(n, "shape"), sh);
    return LP_OK;
}

static int32_t walk_anneal(walk *w, const lp__ynode *v, const char *where, lp__schedule *s) {
    int32_t rc = expect_kind(w, v, LP__Y_MAP, where);
    if (rc != LP_OK)
        return rc;
    lp__anneal_rule *rules = lp__arena_array(w->a, v->count, sizeof *rules);
    if (rules == NULL)
        return oom(w);
    for (size_t i = 0; i < v->count; i++) {
        const lp__ynode *k = v->items[2 * i];
        rc = no_tag(w, k);
        if (rc != LP_OK)
            return rc;
        if (!lp__valid_name_n(k->text, k->len)) {
            char q[LP__QUOTE_MAX];
            return lp__cfgerr(w->err, at(w, k),
                              "'%s' in %s is not a valid param name; use the name of a param of "
                              "this plugin",
                              qtext(q, k), where);
        }
        char wi[256];
        lp__strf(wi, sizeof wi, "%s.%s", where, k->text);
        rc = walk_anneal_rule(w, k, v->items[2 * i + 1], wi, &rules[i]);
        if (rc != LP_OK)
            return rc;
    }
    s->anneal = rules;
    s->anneal_count = v->count;
    return LP_OK;
}

static int32_t walk_schedule(walk *w, const lp__ynode *key, const lp__ynode *v, const char *where,
                             lp__schedule *s) {
    int32_t rc = expect_kind(w, v, LP__Y_MAP, where);
    if (rc == LP_OK)
        rc = check_keys(w, v, where, schedule_keys, COUNT(schedule_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    s->pos = at(w, key);
    char wk[256];
    const lp__ynode *n;
    if ((n = lp__ymap_get(v, "rollout")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.rollout", where);
        rc = walk_rules(w, key_node(v, "rollout"), n, wk, &s->rollout);
        if (rc != LP_OK)
            return rc;
    }
    if ((n = lp__ymap_get(v, "train")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.train", where);
        rc = walk_rules(w, key_node(v, "train"), n, wk, &s->train);
        if (rc != LP_OK)
            return rc;
    }
    if ((n = lp__ymap_get(v, "anneal")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.anneal", where);
        rc = walk_anneal(w, n, wk, s);
    }
    return rc;
}

/* ---- losses -------------------------------------------------------------------- */

static int32_t walk_params(walk *w, const lp__ynode *key, const lp__ynode *v, const char *where,
                           lp__loss_cfg *l) {
    int32_t rc = expect_kind(w, v, LP__Y_MAP, where);
    if (rc != LP_OK)
        return rc;
    lp__raw_param *ps = lp__arena_array(w->a, v->count, sizeof *ps);
    if (ps == NULL)
        return oom(w);
    for (size_t i = 0; i < v->count; i++) {
        const lp__ynode *k = v->items[2 * i], *val = v->items[2 * i + 1];
        char q[LP__QUOTE_MAX];
        rc = no_tag(w, k);
        if (rc != LP_OK)
            return rc;
        if (!lp__valid_name_n(k->text, k->len))
            return lp__cfgerr(w->err, at(w, k),
                              "'%s' in %s is not a valid param name; use the name of a param of "
                              "this plugin",
                              qtext(q, k), where);
        char wk[256];
        lp__strf(wk, sizeof wk, "%s.%s", where, k->text);
        rc = expect_kind(w, val, LP__Y_SCALAR, wk);
        if (rc != LP_OK)
            return rc;
        if (val->plain && val->len == 0)
            return lp__cfgerr(w->err, at(w, val),
                              "%s has no value; write a value or remove the key", wk);
        if (memchr(val->text, '\0', val->len) != NULL)
            return lp__cfgerr(w->err, at(w, val),
                              "%s contains a NUL character; remove the \\0 escape", wk);
        ps[i].key = k->text;
        ps[i].text = val->text;
        ps[i].quoted = !val->plain;
        ps[i].pos = kv_at(w, k, val);
    }
    l->params = ps;
    l->param_count = v->count;
    l->params_pos = kv_at(w, key, v);
    return LP_OK;
}

static int32_t walk_loss(walk *w, const lp__ynode *n, size_t index, lp__loss_cfg *l) {
    char where[256];
    lp__strf(where, sizeof where, "losses[%zu]", index);
    int32_t rc = expect_kind(w, n, LP__Y_MAP, where);
    if (rc == LP_OK)
        rc = check_keys(w, n, where, loss_keys, COUNT(loss_keys), NULL, 0);
    if (rc != LP_OK)
        return rc;
    l->pos = at(w, n);
    const lp__ynode *v = lp__ymap_get(n, "plugin");
    if (v == NULL)
        return missing(w, n, "plugin", where, "plugin: ID (the loss to use)");
    char wk[256];
    lp__strf(wk, sizeof wk, "%s.plugin", where);
    rc = get_name(w, v, wk, &l->plugin);
    if (rc != LP_OK)
        return rc;
    l->plugin_pos = kv_at(w, key_node(n, "plugin"), v);

    if ((v = lp__ymap_get(n, "name")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.name", where);
        rc = get_name(w, v, wk, &l->name);
        if (rc != LP_OK)
            return rc;
        l->name_pos = kv_at(w, key_node(n, "name"), v);
    } else {
        l->name = l->plugin;
        l->name_defaulted = 1;
    }
    /* From here on, messages name the instance. */
    lp__strf(where, sizeof where, "losses.%s", l->name);

    l->weight = 1.0;
    if ((v = lp__ymap_get(n, "weight")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.weight", where);
        rc = get_float(w, v, wk, &l->weight);
        if (rc != LP_OK)
            return rc;
        l->weight_pos = kv_at(w, key_node(n, "weight"), v);
    }
    if ((v = lp__ymap_get(n, "params")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.params", where);
        rc = walk_params(w, key_node(n, "params"), v, wk, l);
        if (rc != LP_OK)
            return rc;
    }
    if ((v = lp__ymap_get(n, "schedule")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.schedule", where);
        rc = walk_schedule(w, key_node(n, "schedule"), v, wk, &l->schedule);
    }
    return rc;
}

typedef struct nameref {
    const char *name;
    size_t index;
} nameref;

static int nameref_cmp(const void *pa, const void *pb) {
    const nameref *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index ? 1 : 0;
}

/* Instance names must be unique; sorting keeps this n log n. The loss
 * reported is the earliest one in the file whose name was used before. */
static int32_t check_names(walk *w, const lp__loss_cfg *ls, size_t n) {
    if (n < 2)
        return LP_OK;
    nameref *refs = lp__arena_array(w->a, n, sizeof *refs);
    if (refs == NULL)
        return oom(w);
    for (size_t i = 0; i < n; i++) {
        refs[i].name = ls[i].name;
        refs[i].index = i;
    }
    qsort(refs, n, sizeof *refs, nameref_cmp);
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i].name, refs[i - 1].name) == 0 && refs[i].index < dup &&
            (i < 2 || strcmp(refs[i - 2].name, refs[i].name) != 0)) {
            dup = refs[i].index;
            first = refs[i - 1].index;
        }
    if (dup == SIZE_MAX)
        return LP_OK;
    const lp__loss_cfg *d = &ls[dup], *f = &ls[first];
    lp__pos p0 = f->name_defaulted ? f->plugin_pos.value : f->name_pos.value;
    if (d->name_defaulted)
        return lp__cfgerr(w->err, d->plugin_pos.value,
                          "duplicate loss name '%s' (the plugin id, used when name is absent), "
                          "first used at line %u; add a unique name: to this loss",
                          d->name, (unsigned)p0.line);
    return lp__cfgerr(w->err, d->name_pos.value,
                      "duplicate loss name '%s', first used at line %u; give each loss a unique "
                      "name",
                      d->name, (unsigned)p0.line);
}

static int32_t walk_losses(walk *w, const lp__ynode *key, const lp__ynode *v) {
    (void)key;
    int32_t rc = expect_kind(w, v, LP__Y_SEQ, "losses");
    if (rc != LP_OK)
        return rc;
    if (v->count == 0)
        return lp__cfgerr(w->err, at(w, v),
                          "losses is empty; add at least one loss, e.g. - {plugin: ID}");
    lp__loss_cfg *ls = lp__arena_array(w->a, v->count, sizeof *ls);
    if (ls == NULL)
        return oom(w);
    for (size_t i = 0; i < v->count; i++) {
        rc = walk_loss(w, v->items[i], i, &ls[i]);
        if (rc != LP_OK)
            return rc;
    }
    rc = check_names(w, ls, v->count);
    if (rc != LP_OK)
        return rc;
    w->cfg->losses = ls;
    w->cfg->loss_count = v->count;
    return LP_OK;
}

/* ---- the document ------------------------------------------------------------------ */

int lp__config_is_section(const char *name) {
    for (size_t j = 0; j < COUNT(top_keys); j++)
        if (strcmp(name, top_keys[j]) == 0)
            return 1;
    return 0;
}

/* The sections owned by the program: the caller's passthrough names, then
 * those program.sections adds. */
static int32_t owned_sections(walk *w, const char ***out, size_t *count) {
    const lp__program_cfg *p = &w->cfg->program;
    size_t cap = w->opt->passthrough_count + p->section_count;
    const char **all = lp__arena_array(w->a, cap > 0 ? cap : 1, sizeof *all);
    if (all == NULL)
        return oom(w);
    size_t n = 0;
    for (size_t i = 0; i < cap; i++) {
        const char *name = i < w->opt->passthrough_count
                               ? w->opt->passthrough[i]
                               : p->sections[i - w->opt->passthrough_count];
        int dup = 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcmp(all[j], name) == 0;
        if (!dup)
            all[n++] = name;
    }
    *out = all;
    *count = n;
    return LP_OK;
}

static int32_t walk_root(walk *w, const lp__ynode *root) {
    if (root->kind != LP__Y_MAP)
        return lp__cfgerr(w->err, at(w, root),
                          "the document must be a mapping of sections, found %s; start with "
                          "'buffer:' and 'losses:' (see docs/config.md)",
                          lp__ykind_name(root));
    int32_t rc = no_tag(w, root);
    if (rc != LP_OK)
        return rc;
    const lp__ynode *v;
    /* First: program.sections says which other top-level keys are allowed. */
    if ((v = lp__ymap_get(root, "program")) != NULL) {
        rc = lp__walk_program(w, key_node(root, "program"), v);
        if (rc != LP_OK)
            return rc;
    }
    const char **owned = NULL;
    size_t owned_count = 0;
    rc = owned_sections(w, &owned, &owned_count);
    if (rc == LP_OK)
        rc = check_keys(w, root, "the top level", top_keys, COUNT(top_keys), owned, owned_count);
    if (rc != LP_OK)
        return rc;
    w->cfg->root = root;
    if ((v = lp__ymap_get(root, "plugin_path")) != NULL) {
        rc = walk_plugin_path(w, key_node(root, "plugin_path"), v);
        if (rc != LP_OK)
            return rc;
    }
    if ((v = lp__ymap_get(root, "buffer")) == NULL)
        return missing(w, root, "buffer", "the top level",
                       "buffer: {segments: N, horizon: T} (see docs/config.md)");
    rc = walk_buffer(w, key_node(root, "buffer"), v);
    if (rc != LP_OK)
        return rc;
    if ((v = lp__ymap_get(root, "stats")) != NULL) {
        rc = walk_stats(w, key_node(root, "stats"), v);
        if (rc != LP_OK)
            return rc;
    }
    if ((v = lp__ymap_get(root, "losses")) == NULL)
        return missing(w, root, "losses", "the top level", "losses: [{plugin: ID}]");
    rc = walk_losses(w, key_node(root, "losses"), v);
    if (rc != LP_OK)
        return rc;

    size_t n = 0;
    for (size_t i = 0; i < owned_count; i++)
        n += lp__ymap_get(root, owned[i]) != NULL;
    lp__section *secs = lp__arena_array(w->a, n, sizeof *secs);
    if (secs == NULL)
        return oom(w);
    size_t j = 0;
    for (size_t i = 0; i < root->count; i++) {
        const lp__ynode *k = root->items[2 * i];
        for (size_t p = 0; p < owned_count; p++) {
            if (!key_is(k, owned[p]))
                continue;
            secs[j].name = k->text;
            secs[j].node = root->items[2 * i + 1];
            secs[j].pos = kv_at(w, k, secs[j].node);
            j++;
            break;
        }
    }
    w->cfg->sections = secs;
    w->cfg->section_count = j;
    return LP_OK;
}

static int32_t check_options(const lp__config_options *opt, lp_error *err) {
    if (opt->passthrough_count != 0 && opt->passthrough == NULL)
        return lp__error_set(err, LP_EINVAL, "config options: passthrough is NULL");
    for (size_t i = 0; i < opt->passthrough_count; i++) {
        const char *s = opt->passthrough[i];
        if (s == NULL || !lp__valid_name_n(s, strlen(s)))
            return lp__error_set(
                err, LP_EINVAL,
                "config options: passthrough section name %zu is not a valid name; "
                "use [a-z][a-z0-9_]*",
                i);
        if (lp__config_is_section(s))
            return lp__error_set(err, LP_EINVAL,
                                 "config options: passthrough section '%s' is a lossplug "
                                 "section; choose another name",
                                 s);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, opt->passthrough[j]) == 0)
                return lp__error_set(err, LP_EINVAL,
                                     "config options: passthrough section '%s' is listed twice", s);
    }
    return LP_OK;
}

/* Directory part of a path: "." when it has none, "/" for files at the root. */
static const char *dir_of(lp__arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return lp__arena_strdup(a, ".");
    if (slash == path)
        return lp__arena_strdup(a, "/");
    return lp__arena_strndup(a, path, (size_t)(slash - path));
}

static int32_t parse(const char *text, size_t len, const char *name, const lp__config_options *opt,
                     lp__config **out, lp_error *err) {
    lp__config_options defaults;
    if (opt == NULL) {
        lp__config_options_init(&defaults);
        opt = &defaults;
    }
    int32_t rc = check_options(opt, err);
    if (rc != LP_OK)
        return rc;
    lp__ylimits lim = {
        opt->max_bytes != 0 ? opt->max_bytes : LP__CONFIG_MAX_BYTES_DEFAULT,
        opt->max_depth != 0 ? opt->max_depth : LP__CONFIG_MAX_DEPTH_DEFAULT,
        opt->max_nodes != 0 ? opt->max_nodes : LP__CONFIG_MAX_NODES_DEFAULT,
    };
    lp__arena *a = lp__arena_new();
    if (a == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config", name);
    lp__config *cfg = lp__arena_alloc(a, sizeof *cfg);
    walk w = {a, NULL, cfg, opt, err};
    if (cfg == NULL || (w.file = lp__arena_strdup(a, name)) == NULL ||
        (cfg->dir = opt->base_dir != NULL ? lp__arena_strdup(a, opt->base_dir) : dir_of(a, name)) ==
            NULL) {
        lp__arena_free(a);
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config", name);
    }
    cfg->arena = a;
    cfg->file = w.file;
    const lp__ynode *root = NULL;
    rc = lp__ytree_parse(a, w.file, text, len, &lim, &root, err);
    if (rc == LP_OK)
        rc = walk_root(&w, root);
    if (rc != LP_OK) {
        lp__arena_free(a);
        return rc;
    }
    *out = cfg;
    return LP_OK;
}

int32_t lp__config_parse_string(const char *text, size_t len, const char *name,
                                const lp__config_options *opt, lp__config **out, lp_error *err) {
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL, "lp__config_parse_string: out is NULL");
    *out = NULL;
    if (text == NULL && len != 0)
        return lp__error_set(err, LP_EINVAL, "lp__config_parse_string: text is NULL");
    return parse(text != NULL ? text : "", len, name != NULL ? name : "<string>", opt, out, err);
}

static int32_t io_error(lp_error *err, const char *path, const char *what, int e) {
    char buf[256];
    return lp__error_set(err, LP_EIO, "%s: cannot %s: %s; check the path and its permissions", path,
                         what, lp__errno_text(e, buf, sizeof buf));
}

int32_t lp__config_parse_file(const char *path, const lp__config_options *opt, lp__config **out,
                              lp_error *err) {
    if (out == NULL || path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp__config_parse_file: path or out is NULL");
    *out = NULL;
    size_t limit =
        opt != NULL && opt->max_bytes != 0 ? opt->max_bytes : LP__CONFIG_MAX_BYTES_DEFAULT;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return io_error(err, path, "open", errno);
    /* Read at most limit + 1 bytes whatever the file claims to be: a pipe
     * or /dev/zero must not eat memory. */
    size_t cap = 0, len = 0;
    char *buf = NULL;
    int32_t rc = LP_OK;
    for (;;) {
        if (len == cap) {
            if (cap > limit) {
                rc = lp__cfgerr(err, (lp__pos){path, 1, 1},
                                "the file is larger than the limit of %zu bytes; shorten it (or "
                                "raise the size limit)",
                                limit);
                break;
            }
            size_t ncap = cap == 0 ? 64 * 1024 : cap * 2;
            if (ncap > limit + 1)
                ncap = limit + 1;
            if (ncap <= cap)
                ncap = cap + 1;
            char *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                rc = lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config",
                                   path);
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = io_error(err, path, "read", errno);
            break;
        }
    }
    fclose(f);
    if (rc == LP_OK && len > limit)
        rc = lp__cfgerr(err, (lp__pos){path, 1, 1},
                        "the file is larger than the limit of %zu bytes; shorten it (or raise the "
                        "size limit)",
                        limit);
    if (rc == LP_OK)
        rc = parse(buf, len, path, opt, out, err);
    free(buf);
    return rc;
}

void lp__config_free(lp__config *cfg) {
    if (cfg != NULL)
        lp__arena_free(cfg->arena);
}

const lp__section *lp__config_section(const lp__config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->section_count; i++)
        if (strcmp(cfg->sections[i].name, name) == 0)
            return &cfg->sections[i];
    return NULL;
}

const lp__loss_cfg *lp__config_loss(const lp__config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->loss_count; i++)
        if (strcmp(cfg->losses[i].name, name) == 0)
            return &cfg->losses[i];
    return NULL;
}

/* ---- helpers shared with the other section walkers (walk.h) ---------------------- */

lp__pos lp__walk_at(const lp__walk *w, const lp__ynode *n) {
    return at(w, n);
}

lp__kvpos lp__walk_kv(const lp__walk *w, const lp__ynode *key, const lp__ynode *value) {
    return kv_at(w, key, value);
}

int32_t lp__walk_oom(const lp__walk *w) {
    return oom(w);
}

const lp__ynode *lp__walk_key_node(const lp__ynode *map, const char *key) {
    return key_node(map, key);
}

int32_t lp__walk_kind(const lp__walk *w, const lp__ynode *n, int32_t kind, const char *where) {
    return expect_kind(w, n, kind, where);
}

int32_t lp__walk_keys(const lp__walk *w, const lp__ynode *map, const char *where,
                      const char *const *keys, size_t n) {
    return check_keys(w, map, where, keys, n, NULL, 0);
}

int32_t lp__walk_missing(const lp__walk *w, const lp__ynode *map, const char *key,
                         const char *where, const char *example) {
    return missing(w, map, key, where, example);
}

int32_t lp__walk_int(const lp__walk *w, const lp__ynode *n, const char *where, int64_t min,
                     int64_t max, int64_t *out) {
    return get_int(w, n, where, min, max, out);
}

int32_t lp__walk_name(const lp__walk *w, const lp__ynode *n, const char *where, const char **out) {
    return get_name(w, n, where, out);
}

int32_t lp__walk_string(const lp__walk *w, const lp__ynode *n, const char *where, const char *what,
                        const char **out) {
    return get_string(w, n, where, what, out);
}
