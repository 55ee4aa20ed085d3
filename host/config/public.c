/* lossplug/config.h: a config read before any session, and the strict
 * reader of a program's own sections. A thin layer over the config module
 * (config.c parses and checks; read.c converts each scalar, as for a loss's
 * params). */
#include "config/config.h"
#include "config/read.h"
#include "config/walk.h"

#include "util/error.h"
#include "util/options.h"

#include <lossplug/config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A program section's scalars, flattened at open. */
typedef struct flat_section {
    const char *name;
    const lp_config_entry *entries;
    size_t count;
    lp_config_pos pos;
} flat_section;

struct lp_config {
    lp__config *cfg; /* owns everything, this struct included */
    flat_section *flat;
    size_t flat_count;
    const char **owned; /* the options' sections, then program.sections' */
    size_t owned_count;
};

static int owns(const lp_config *c, const char *section) {
    for (size_t i = 0; i < c->owned_count; i++)
        if (strcmp(c->owned[i], section) == 0)
            return 1;
    return 0;
}

static lp_config_pos pos_of(const lp__ynode *n) {
    lp_config_pos p = {(int32_t)n->line, (int32_t)n->col};
    return p;
}

void lp_config_options_init(lp_config_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
}

/* ---- the environment's view: scalars as dotted entries ------------------------------ */

static size_t count_scalars(const lp__ynode *n) {
    if (n->kind == LP__Y_SCALAR)
        return 1;
    size_t c = 0;
    for (size_t i = 0; i < n->count; i++)
        c += count_scalars(n->kind == LP__Y_SEQ ? n->items[i] : n->items[2 * i + 1]);
    return c;
}

static int flatten(lp__arena *a, const lp__ynode *n, const char *prefix, lp_config_entry *out,
                   size_t *count) {
    if (n->kind == LP__Y_SCALAR) {
        lp_config_entry *e = &out[(*count)++];
        e->key = lp__arena_strdup(a, prefix);
        e->value = n->text;
        e->line = (int32_t)n->line;
        e->column = (int32_t)n->col;
        e->quoted = !n->plain;
        return e->key != NULL;
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
        if (!flatten(a, child, key, out, count))
            return 0;
    }
    return 1;
}

static int32_t flatten_sections(lp_config *c, lp_error *err) {
    lp__config *cfg = c->cfg;
    c->flat = lp__arena_array(cfg->arena, cfg->section_count + 1, sizeof *c->flat);
    if (c->flat == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config",
                             cfg->file);
    for (size_t i = 0; i < cfg->section_count; i++) {
        const lp__section *sec = &cfg->sections[i];
        size_t cap = count_scalars(sec->node), n = 0;
        lp_config_entry *e = lp__arena_array(cfg->arena, cap > 0 ? cap : 1, sizeof *e);
        if (e == NULL || !flatten(cfg->arena, sec->node, "", e, &n))
            return lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config",
                                 cfg->file);
        flat_section *f = &c->flat[c->flat_count++];
        f->name = sec->name;
        f->entries = e;
        f->count = n;
        f->pos.line = (int32_t)sec->pos.key.line;
        f->pos.column = (int32_t)sec->pos.key.col;
    }
    return LP_OK;
}

/* ---- open, close ------------------------------------------------------------------- */

int32_t lp_config_open(const char *path, const lp_config_options *opt, lp_config **out,
                       lp_error *err) {
    if (out == NULL || path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_config_open: path or out is NULL");
    *out = NULL;
    lp_config_options o;
    lp_config_options_init(&o);
    int32_t rc =
        lp__opts_copy(&o, sizeof o, opt, LP__SIZE_THROUGH(lp_config_options, section_count),
                      "lp_config_open", "lp_config_options", "lp_config_options_init", err);
    if (rc != LP_OK)
        return rc;
    lp__config_options copt;
    lp__config_options_init(&copt);
    copt.passthrough = o.sections;
    copt.passthrough_count = o.section_count;
    lp__config *cfg = NULL;
    rc = lp__config_parse_file(path, &copt, &cfg, err);
    if (rc != LP_OK)
        return rc;
    lp_config *c = lp__arena_alloc(cfg->arena, sizeof *c);
    if (c == NULL) {
        lp__config_free(cfg);
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config", path);
    }
    c->cfg = cfg;
    size_t cap = o.section_count + cfg->program.section_count;
    c->owned = lp__arena_array(cfg->arena, cap > 0 ? cap : 1, sizeof *c->owned);
    for (size_t i = 0; c->owned != NULL && i < cap; i++) {
        const char *name = i < o.section_count ? lp__arena_strdup(cfg->arena, o.sections[i])
                                               : cfg->program.sections[i - o.section_count];
        if (name == NULL)
            c->owned = NULL;
        else
            c->owned[c->owned_count++] = name;
    }
    rc = c->owned != NULL
             ? flatten_sections(c, err)
             : lp__error_set(err, LP_ENOMEM, "%s: out of memory while reading the config", path);
    if (rc != LP_OK) {
        lp__config_free(cfg);
        return rc;
    }
    *out = c;
    return LP_OK;
}

void lp_config_close(lp_config *c) {
    if (c != NULL)
        lp__config_free(c->cfg); /* c lives in the arena */
}

const char *lp_config_name(const lp_config *c) {
    return c != NULL ? c->cfg->file : NULL;
}

/* ---- the strict reader ------------------------------------------------------------- */

/* Key `i` of an array read with its own stride; NULL (and `err`) when the
 * stride is below this layout's. */
static int32_t key_at(const lp_config_key *keys, size_t i, int need_name, lp_config_key *out,
                      const char *fn, lp_error *err) {
    size_t stride = keys[0].struct_size;
    if (stride < LP__SIZE_THROUGH(lp_config_key, hint))
        return lp__error_set(err, LP_EINVAL,
                             "%s: lp_config_key.struct_size is %u, less than %zu; set it to "
                             "sizeof(lp_config_key)",
                             fn, (unsigned)stride, LP__SIZE_THROUGH(lp_config_key, hint));
    memset(out, 0, sizeof *out);
    memcpy(out, (const char *)keys + i * stride, stride < sizeof *out ? stride : sizeof *out);
    const lp_param_spec *s = &out->spec;
    if ((need_name && s->name == NULL) || s->type < LP_PARAM_FLOAT || s->type > LP_PARAM_ENUM ||
        (s->type == LP_PARAM_ENUM && s->choices == NULL) ||
        (out->list && s->type != LP_PARAM_INT) ||
        (out->list && out->default_count > 0 && out->default_ints == NULL))
        return lp__error_set(err, LP_EINVAL,
                             "%s: key %zu ('%s') is not a valid lp_config_key; give a name, a "
                             "type of lp_param_type, choices for an enum, int items for a list",
                             fn, i, s->name != NULL ? s->name : "?");
    /* An absent key's value is its default: a string or an enum needs one
     * (as a plugin param does), or the reader would hand out NULL. */
    if (!out->list && (s->type == LP_PARAM_STRING || s->type == LP_PARAM_ENUM) &&
        !(s->flags & LP_PARAM_REQUIRED) && s->default_string == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "%s: key %zu ('%s') is a%s with no default_string and not "
                             "LP_PARAM_REQUIRED; give it a default or flag it required",
                             fn, i, s->name != NULL ? s->name : "?",
                             s->type == LP_PARAM_ENUM ? "n enum" : " string");
    return LP_OK;
}

static lp__walk walker(lp_config *c, lp_error *err) {
    lp__walk w = {c->cfg->arena, c->cfg->file, c->cfg, NULL, err};
    return w;
}

/* The default of `k` into `v` (a list's copied into the arena). */
static int32_t set_default(const lp__walk *w, const lp_config_key *k, lp_config_value *v) {
    memset(v, 0, sizeof *v);
    lp__spec_default(&k->spec, &v->value);
    if (k->list && k->default_count > 0) {
        int64_t *ints = lp__arena_array(w->a, k->default_count, sizeof *ints);
        if (ints == NULL)
            return lp__walk_oom(w);
        memcpy(ints, k->default_ints, k->default_count * sizeof *ints);
        v->ints = ints;
        v->count = k->default_count;
    }
    return LP_OK;
}

/* The value node `n` of key `k`, named `where`. */
static int32_t read_node(const lp__walk *w, const lp_config_key *k, const lp__ynode *n,
                         const char *where, lp_config_value *v) {
    v->set = 1;
    v->pos = pos_of(n);
    if (!k->list) {
        int32_t rc = lp__walk_kind(w, n, LP__Y_SCALAR, where);
        if (rc != LP_OK)
            return rc;
        return lp__read_scalar(&k->spec, n->text, n->len, !n->plain, lp__walk_at(w, n), where,
                               LP__READ_SECTION, k->hint, &v->value, w->err);
    }
    int32_t rc = lp__walk_kind(w, n, LP__Y_SEQ, where);
    if (rc != LP_OK)
        return rc;
    if (k->max_items > 0 && n->count > k->max_items) {
        if (k->hint != NULL)
            return lp__cfgerr(w->err, lp__walk_at(w, n), "%s has %zu entries; %s", where, n->count,
                              k->hint);
        return lp__cfgerr(w->err, lp__walk_at(w, n), "%s has %zu entries; use at most %zu", where,
                          n->count, k->max_items);
    }
    int64_t *ints = lp__arena_array(w->a, n->count > 0 ? n->count : 1, sizeof *ints);
    lp_config_pos *pos = lp__arena_array(w->a, n->count > 0 ? n->count : 1, sizeof *pos);
    if (ints == NULL || pos == NULL)
        return lp__walk_oom(w);
    for (size_t j = 0; j < n->count; j++) {
        const lp__ynode *item = n->items[j];
        char wi[300];
        lp__strf(wi, sizeof wi, "%s[%zu]", where, j);
        lp_value iv;
        rc = lp__walk_kind(w, item, LP__Y_SCALAR, wi);
        if (rc == LP_OK)
            rc = lp__read_scalar(&k->spec, item->text, item->len, !item->plain,
                                 lp__walk_at(w, item), wi, LP__READ_SECTION, NULL, &iv, w->err);
        if (rc != LP_OK)
            return rc;
        ints[j] = iv.i;
        pos[j] = pos_of(item);
    }
    v->ints = ints;
    v->count = n->count;
    v->item_pos = pos;
    return LP_OK;
}

static int32_t missing_required(const lp__walk *w, const lp_config_key *k, const lp__ynode *map,
                                const char *section) {
    lp__pos at = map != NULL ? lp__walk_at(w, map) : (lp__pos){w->file, 1, 1};
    return lp__cfgerr(w->err, at, "missing required key '%s' (%s%s) in %s; add %s: VALUE",
                      k->spec.name, k->list ? "a list of " : "",
                      k->list ? "ints" : lp__spec_type_name(k->spec.type), section, k->spec.name);
}

int32_t lp_config_read(lp_config *c, const char *section, const lp_config_key *keys, size_t count,
                       lp_config_value *values, lp_config_pos *section_pos, lp_error *err) {
    if (c == NULL || section == NULL || (count > 0 && (keys == NULL || values == NULL)))
        return lp__error_set(err, LP_EINVAL, "lp_config_read: invalid arguments");
    if (section_pos != NULL)
        memset(section_pos, 0, sizeof *section_pos);
    if (lp__config_is_section(section))
        return lp__error_set(err, LP_EINVAL,
                             "lp_config_read: '%s' is a lossplug section, not the program's; "
                             "read it with lp_config_node_at or lp_config_buffer_get",
                             section);
    if (!owns(c, section))
        return lp__error_set(err, LP_EINVAL,
                             "lp_config_read: '%s' is not a section of the program; name it in "
                             "lp_config_options.sections (or the config's program.sections)",
                             section);
    const lp__section *sec = lp__config_section(c->cfg, section);
    lp__walk w = walker(c, err);
    lp_config_key k;
    const char *names[256];
    if (count > sizeof names / sizeof names[0])
        return lp__error_set(err, LP_EINVAL, "lp_config_read: %zu keys; read at most %zu", count,
                             sizeof names / sizeof names[0]);
    for (size_t i = 0; i < count; i++) {
        int32_t rc = key_at(keys, i, 1, &k, "lp_config_read", err);
        if (rc == LP_OK)
            rc = set_default(&w, &k, &values[i]);
        if (rc != LP_OK)
            return rc;
        names[i] = k.spec.name;
    }
    if (sec == NULL) {
        for (size_t i = 0; i < count; i++) {
            (void)key_at(keys, i, 1, &k, "lp_config_read", err);
            if (k.spec.flags & LP_PARAM_REQUIRED)
                return missing_required(&w, &k, NULL, section);
        }
        return LP_OK;
    }
    if (section_pos != NULL)
        *section_pos = (lp_config_pos){(int32_t)sec->pos.key.line, (int32_t)sec->pos.key.col};
    const lp__ynode *map = sec->node;
    int32_t rc = lp__walk_kind(&w, map, LP__Y_MAP, section);
    if (rc == LP_OK)
        rc = lp__walk_keys(&w, map, section, names, count);
    /* In file order, so that the first error is the first in the file. */
    for (size_t m = 0; rc == LP_OK && m < map->count; m++) {
        const lp__ynode *kn = map->items[2 * m], *vn = map->items[2 * m + 1];
        size_t i = 0;
        while (i < count &&
               !(strlen(names[i]) == kn->len && memcmp(names[i], kn->text, kn->len) == 0))
            i++;
        (void)key_at(keys, i, 1, &k, "lp_config_read", err);
        char where[256];
        lp__strf(where, sizeof where, "%s.%s", section, k.spec.name);
        values[i].key_pos = pos_of(kn);
        rc = read_node(&w, &k, vn, where, &values[i]);
    }
    for (size_t i = 0; rc == LP_OK && i < count; i++) {
        (void)key_at(keys, i, 1, &k, "lp_config_read", err);
        if (!values[i].set && (k.spec.flags & LP_PARAM_REQUIRED))
            rc = missing_required(&w, &k, map, section);
    }
    return rc;
}

/* ---- paths ----------------------------------------------------------------------------- */

/* Follow `path` from the root: the node, and its key node (NULL for a list
 * item). NULL when the path leads nowhere. */
static const lp__ynode *follow(const lp__config *cfg, const char *path, const lp__ynode **key) {
    const lp__ynode *n = cfg->root;
    *key = NULL;
    if (path == NULL || n == NULL)
        return NULL;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (len == 0)
            return NULL;
        if (n->kind == LP__Y_MAP) {
            const lp__ynode *next = NULL;
            for (size_t i = 0; i < n->count && next == NULL; i++) {
                const lp__ynode *k = n->items[2 * i];
                if (k->len == len && memcmp(k->text, p, len) == 0) {
                    *key = k;
                    next = n->items[2 * i + 1];
                }
            }
            n = next;
        } else if (n->kind == LP__Y_SEQ) {
            size_t i = 0;
            for (size_t j = 0; j < len; j++) {
                if (p[j] < '0' || p[j] > '9' || i > n->count)
                    return NULL;
                i = i * 10 + (size_t)(p[j] - '0');
            }
            n = i < n->count ? n->items[i] : NULL;
            *key = NULL;
        } else {
            return NULL;
        }
        if (n == NULL || dot == NULL)
            return n;
        p = dot + 1;
    }
}

static int32_t describe(const lp__ynode *key, const lp__ynode *n, lp_config_node *out) {
    memset(out, 0, sizeof *out);
    if (n == NULL)
        return LP_CONFIG_ABSENT;
    out->kind = n->kind == LP__Y_SCALAR ? LP_CONFIG_SCALAR
                : n->kind == LP__Y_SEQ  ? LP_CONFIG_LIST
                                        : LP_CONFIG_MAP;
    out->quoted = n->kind == LP__Y_SCALAR && !n->plain;
    out->text = n->kind == LP__Y_SCALAR ? n->text : NULL;
    out->count = n->kind == LP__Y_SCALAR ? 0 : n->count;
    out->pos = pos_of(n);
    if (key != NULL) {
        out->key = key->text;
        out->key_pos = pos_of(key);
    }
    return out->kind;
}

int32_t lp_config_node_at(const lp_config *c, const char *path, lp_config_node *out) {
    if (out == NULL)
        return LP_CONFIG_ABSENT;
    const lp__ynode *key = NULL;
    const lp__ynode *n = c != NULL ? follow(c->cfg, path, &key) : NULL;
    return describe(key, n, out);
}

int32_t lp_config_child(const lp_config *c, const char *path, size_t index, lp_config_node *out) {
    if (out == NULL)
        return LP_CONFIG_ABSENT;
    const lp__ynode *key = NULL;
    const lp__ynode *n = c != NULL ? follow(c->cfg, path, &key) : NULL;
    if (n == NULL || n->kind == LP__Y_SCALAR || index >= n->count)
        return describe(NULL, NULL, out);
    if (n->kind == LP__Y_SEQ)
        return describe(NULL, n->items[index], out);
    return describe(n->items[2 * index], n->items[2 * index + 1], out);
}

int32_t lp_config_read_value(lp_config *c, const char *path, const lp_config_key *key,
                             lp_config_value *value, lp_error *err) {
    if (c == NULL || path == NULL || key == NULL || value == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_config_read_value: invalid arguments");
    lp_config_key k;
    int32_t rc = key_at(key, 0, 0, &k, "lp_config_read_value", err);
    lp__walk w = walker(c, err);
    if (rc == LP_OK)
        rc = set_default(&w, &k, value);
    if (rc != LP_OK)
        return rc;
    const lp__ynode *kn = NULL;
    const lp__ynode *n = follow(c->cfg, path, &kn);
    if (n == NULL) {
        const char *dot = strrchr(path, '.'), *leaf = dot != NULL ? dot + 1 : path;
        if (k.spec.flags & LP_PARAM_REQUIRED)
            return lp__cfgerr(err, (lp__pos){c->cfg->file, 1, 1},
                              "missing required key '%s' (%s) %s%.*s; add %s: VALUE", leaf,
                              k.list ? "a list of ints" : lp__spec_type_name(k.spec.type),
                              leaf != path ? "in " : "at the top level",
                              leaf != path ? (int)(leaf - 1 - path) : 0, path, leaf);
        return LP_OK;
    }
    if (kn != NULL)
        value->key_pos = pos_of(kn);
    return read_node(&w, &k, n, path, value);
}

const lp_config_entry *lp_config_entries(const lp_config *c, const char *section, size_t *count,
                                         lp_config_pos *section_pos) {
    if (count != NULL)
        *count = 0;
    if (section_pos != NULL)
        memset(section_pos, 0, sizeof *section_pos);
    if (c == NULL || section == NULL)
        return NULL;
    for (size_t i = 0; i < c->flat_count; i++) {
        if (strcmp(c->flat[i].name, section) != 0)
            continue;
        if (count != NULL)
            *count = c->flat[i].count;
        if (section_pos != NULL)
            *section_pos = c->flat[i].pos;
        return c->flat[i].entries;
    }
    return NULL;
}

int32_t lp_config_buffer_get(const lp_config *c, lp_config_buffer *out, lp_error *err) {
    if (c == NULL || out == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_config_buffer_get: config or out is NULL");
    size_t size = out->struct_size;
    if (size < LP__SIZE_THROUGH(lp_config_buffer, update_epochs))
        return lp__error_set(err, LP_EINVAL,
                             "lp_config_buffer_get: struct_size is %u, less than %zu; set it to "
                             "sizeof(lp_config_buffer)",
                             (unsigned)size, LP__SIZE_THROUGH(lp_config_buffer, update_epochs));
    const lp__buffer_cfg *b = &c->cfg->buffer;
    lp_config_buffer v;
    memset(&v, 0, sizeof v);
    v.sample = b->sample;
    v.segments = b->segments;
    v.horizon = b->horizon;
    v.minibatch_segments = b->minibatch_segments;
    v.update_epochs = b->update_epochs;
    memcpy(out, &v, size < sizeof v ? size : sizeof v);
    out->struct_size = (uint32_t)size;
    return LP_OK;
}
