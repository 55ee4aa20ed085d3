/* The `program` section: the environment, the fields the program writes
 * during rollout and the outputs its model provides, declared in the config
 * so that a composition can be checked without the program. */
#include "config/walk.h"

#include <stdlib.h>
#include <string.h>

static const char *const program_keys[] = {"observation", "action", "fields", "outputs",
                                           "sections"};
static const char *const obs_keys[] = {"dtype", "shape"};
static const char *const action_keys[] = {"dtype", "shape", "num_actions", "nvec", "low", "high"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define DIM_MAX  ((int64_t)1 << 31)
#define TYPE_HINT                                                                                  \
    "write DTYPE or DTYPE[D0, D1, ...] with DTYPE one of f32, f64, i32, i64, u8 and each D an "    \
    "integer > 0 or OBS, ACTION, NUM_ACTIONS, POLICY"

static int32_t dtype_of(const char *s, size_t n) {
    static const struct {
        const char *name;
        int32_t dtype;
    } names[] = {{"f32", LP_DTYPE_F32},
                 {"f64", LP_DTYPE_F64},
                 {"i32", LP_DTYPE_I32},
                 {"i64", LP_DTYPE_I64},
                 {"u8", LP_DTYPE_U8}};
    for (size_t i = 0; i < COUNT(names); i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0)
            return names[i].dtype;
    return 0;
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int word_is(const char *s, size_t n, const char *word) {
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

int lp__config_parse_type(const char *text, lp_decl *decl) {
    const char *p = skip_space(text);
    const char *start = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
        p++;
    int32_t dtype = dtype_of(start, (size_t)(p - start));
    if (dtype == 0)
        return -1;
    decl->dtype = dtype;
    decl->rank = 0;
    memset(decl->shape, 0, sizeof decl->shape);
    p = skip_space(p);
    if (*p == '\0')
        return 0;
    if (*p++ != '[')
        return -1;
    p = skip_space(p);
    if (*p == ']')
        return *skip_space(p + 1) == '\0' ? 0 : -1;
    for (;;) {
        p = skip_space(p);
        const char *d = p;
        int64_t dim;
        if (*p >= '0' && *p <= '9') {
            dim = 0;
            while (*p >= '0' && *p <= '9') {
                dim = dim * 10 + (*p - '0');
                if (dim > DIM_MAX)
                    return -1;
                p++;
            }
            if (dim == 0)
                return -1;
        } else {
            while ((*p >= 'A' && *p <= 'Z') || *p == '_')
                p++;
            size_t n = (size_t)(p - d);
            if (word_is(d, n, "OBS"))
                dim = LP_DIM_OBS;
            else if (word_is(d, n, "ACTION"))
                dim = LP_DIM_ACTION;
            else if (word_is(d, n, "NUM_ACTIONS"))
                dim = LP_DIM_NUM_ACTIONS;
            else if (word_is(d, n, "POLICY"))
                dim = LP_DIM_POLICY;
            else
                return -1;
        }
        if (decl->rank == LP_MAX_RANK)
            return -1;
        decl->shape[decl->rank++] = dim;
        p = skip_space(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != ']')
            return -1;
        return *skip_space(p + 1) == '\0' ? 0 : -1;
    }
}

/* observation / action: {dtype: f32, shape: [4]} (+ num_actions). */
static int32_t walk_space(lp__walk *w, const lp__ynode *v, const char *where, int is_action,
                          int32_t *dtype, int32_t *rank, int64_t *shape, int64_t *num_actions) {
    int32_t rc = lp__walk_kind(w, v, LP__Y_MAP, where);
    if (rc == LP_OK)
        rc = is_action ? lp__walk_keys(w, v, where, action_keys, COUNT(action_keys))
                       : lp__walk_keys(w, v, where, obs_keys, COUNT(obs_keys));
    if (rc != LP_OK)
        return rc;
    char wk[256];
    const lp__ynode *n = lp__ymap_get(v, "dtype");
    if (n == NULL)
        return lp__walk_missing(w, v, "dtype", where, "dtype: f32 (or f64, i32, i64, u8)");
    lp__strf(wk, sizeof wk, "%s.dtype", where);
    const char *s = NULL;
    rc = lp__walk_string(w, n, wk, "one of f32, f64, i32, i64, u8", &s);
    if (rc != LP_OK)
        return rc;
    *dtype = dtype_of(s, strlen(s));
    if (*dtype == 0) {
        char q[LP__QUOTE_MAX];
        return lp__cfgerr(w->err, lp__walk_at(w, n),
                          "%s '%s' is not a dtype; use one of f32, f64, i32, i64, u8", wk,
                          lp__quote(q, n->text, n->len));
    }
    n = lp__ymap_get(v, "shape");
    if (n == NULL)
        return lp__walk_missing(w, v, "shape", where, "shape: [D0, ...] ([] for a scalar)");
    lp__strf(wk, sizeof wk, "%s.shape", where);
    rc = lp__walk_kind(w, n, LP__Y_SEQ, wk);
    if (rc != LP_OK)
        return rc;
    if (n->count > LP_MAX_RANK)
        return lp__cfgerr(w->err, lp__walk_at(w, n), "%s has %zu dimensions; use at most %d", wk,
                          n->count, LP_MAX_RANK);
    for (size_t i = 0; i < n->count; i++) {
        char wi[300];
        lp__strf(wi, sizeof wi, "%s[%zu]", wk, i);
        rc = lp__walk_int(w, n->items[i], wi, 1, DIM_MAX, &shape[i]);
        if (rc != LP_OK)
            return rc;
    }
    *rank = (int32_t)n->count;
    if (is_action && (n = lp__ymap_get(v, "num_actions")) != NULL) {
        lp__strf(wk, sizeof wk, "%s.num_actions", where);
        rc = lp__walk_int(w, n, wk, 0, DIM_MAX, num_actions);
    }
    return rc;
}

/* fields / outputs: {name: "type", ...}. */
static int32_t walk_decls(lp__walk *w, const lp__ynode *v, const char *where,
                          const lp__program_decl **out, size_t *count) {
    int32_t rc = lp__walk_kind(w, v, LP__Y_MAP, where);
    if (rc != LP_OK)
        return rc;
    lp__program_decl *ds = lp__arena_array(w->a, v->count, sizeof *ds);
    if (ds == NULL)
        return lp__walk_oom(w);
    for (size_t i = 0; i < v->count; i++) {
        const lp__ynode *k = v->items[2 * i], *t = v->items[2 * i + 1];
        char wk[256];
        rc = lp__walk_name(w, k, where, &ds[i].decl.name);
        if (rc != LP_OK)
            return rc;
        lp__strf(wk, sizeof wk, "%s.%s", where, k->text);
        const char *text = NULL;
        rc = lp__walk_string(w, t, wk, "a type such as f32 or f32[OBS]", &text);
        if (rc != LP_OK)
            return rc;
        if (lp__config_parse_type(text, &ds[i].decl) != 0) {
            char q[LP__QUOTE_MAX];
            return lp__cfgerr(w->err, lp__walk_at(w, t), "%s '%s' is not a type; " TYPE_HINT, wk,
                              lp__quote(q, t->text, t->len));
        }
        ds[i].pos = lp__walk_kv(w, k, t);
    }
    *out = ds;
    *count = v->count;
    return LP_OK;
}

/* program.sections: a list of top-level section names the program owns. */
static int32_t walk_sections(lp__walk *w, const lp__ynode *n, lp__program_cfg *p) {
    int32_t rc = lp__walk_kind(w, n, LP__Y_SEQ, "program.sections");
    if (rc != LP_OK)
        return rc;
    const char **names = lp__arena_array(w->a, n->count, sizeof *names);
    lp__pos *pos = lp__arena_array(w->a, n->count, sizeof *pos);
    if (names == NULL || pos == NULL)
        return lp__walk_oom(w);
    for (size_t i = 0; i < n->count; i++) {
        const lp__ynode *item = n->items[i];
        rc = lp__walk_name(w, item, "program.sections", &names[i]);
        if (rc != LP_OK)
            return rc;
        pos[i] = lp__walk_at(w, item);
        if (lp__config_is_section(names[i]))
            return lp__cfgerr(w->err, pos[i],
                              "program.sections lists '%s', a lossplug section; list only the "
                              "sections your program reads (e.g. env)",
                              names[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return lp__cfgerr(w->err, pos[i],
                                  "program.sections lists '%s' twice (first at line %u); remove "
                                  "one",
                                  names[i], (unsigned)pos[j].line);
    }
    p->sections = names;
    p->section_pos = pos;
    p->section_count = n->count;
    return LP_OK;
}

int32_t lp__walk_program(lp__walk *w, const lp__ynode *key, const lp__ynode *v) {
    lp__program_cfg *p = &w->cfg->program;
    int32_t rc = lp__walk_kind(w, v, LP__Y_MAP, "program");
    if (rc == LP_OK)
        rc = lp__walk_keys(w, v, "program", program_keys, COUNT(program_keys));
    if (rc != LP_OK)
        return rc;
    p->pos = lp__walk_at(w, key);
    const lp__ynode *obs = lp__ymap_get(v, "observation"), *act = lp__ymap_get(v, "action");
    if (obs != NULL && act == NULL)
        return lp__walk_missing(w, v, "action", "program",
                                "action: {dtype: i32, shape: [], num_actions: N}");
    if (act != NULL && obs == NULL)
        return lp__walk_missing(w, v, "observation", "program",
                                "observation: {dtype: f32, shape: [D0, ...]}");
    if (obs != NULL) {
        p->env.struct_size = sizeof p->env;
        rc = walk_space(w, obs, "program.observation", 0, &p->env.obs_dtype, &p->env.obs_rank,
                        p->env.obs_shape, NULL);
        if (rc == LP_OK)
            rc = walk_space(w, act, "program.action", 1, &p->env.action_dtype, &p->env.action_rank,
                            p->env.action_shape, &p->env.num_actions);
        if (rc == LP_OK)
            rc = lp__walk_action_space(w, act, &p->env);
        if (rc != LP_OK)
            return rc;
        p->has_env = 1;
        p->observation_pos = lp__walk_kv(w, lp__walk_key_node(v, "observation"), obs);
        p->action_pos = lp__walk_kv(w, lp__walk_key_node(v, "action"), act);
    }
    const lp__ynode *n;
    if ((n = lp__ymap_get(v, "fields")) != NULL) {
        rc = walk_decls(w, n, "program.fields", &p->fields, &p->field_count);
        if (rc != LP_OK)
            return rc;
        p->has_fields = 1;
        p->fields_pos = lp__walk_kv(w, lp__walk_key_node(v, "fields"), n);
    }
    if ((n = lp__ymap_get(v, "outputs")) != NULL) {
        rc = walk_decls(w, n, "program.outputs", &p->outputs, &p->output_count);
        if (rc != LP_OK)
            return rc;
        p->has_outputs = 1;
        p->outputs_pos = lp__walk_kv(w, lp__walk_key_node(v, "outputs"), n);
    }
    if ((n = lp__ymap_get(v, "sections")) != NULL)
        return walk_sections(w, n, p);
    return LP_OK;
}
