/* What the embedding program provides: the environment, the fields it writes
 * during rollout and its model's outputs. They come from the options, from
 * the config's `program` section, or from both (then they must agree). */
#include "session/session_impl.h"

#include "util/error.h"
#include "util/names.h"

#include <stdlib.h>
#include <string.h>

void lp__type_text(char *buf, size_t size, int32_t dtype, int32_t rank, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, size, "%s", lp_dtype_name(dtype));
    for (int32_t d = 0; d < rank && len < size; d++) {
        const char *sym = shape[d] == LP_DIM_OBS           ? "OBS"
                          : shape[d] == LP_DIM_ACTION      ? "ACTION"
                          : shape[d] == LP_DIM_NUM_ACTIONS ? "NUM_ACTIONS"
                          : shape[d] == LP_DIM_POLICY      ? "POLICY"
                                                           : NULL;
        const char *sep = d == 0 ? "[" : ",";
        if (sym != NULL)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, sym);
        else
            len += (size_t)snprintf(buf + len, size - len, "%s%lld", sep, (long long)shape[d]);
    }
    if (rank > 0 && len < size)
        snprintf(buf + len, size - len, "]");
}

int lp__resolve_shape(const lp_env_info *env, int32_t rank, const int64_t *shape, int32_t *out_rank,
                      int64_t *out_shape) {
    int32_t r = 0;
    for (int32_t d = 0; d < rank; d++) {
        const int64_t *src = &shape[d];
        int32_t n = 1;
        if (shape[d] == LP_DIM_OBS) {
            src = env->obs_shape;
            n = env->obs_rank;
        } else if (shape[d] == LP_DIM_ACTION) {
            src = env->action_shape;
            n = env->action_rank;
        } else if (shape[d] == LP_DIM_NUM_ACTIONS) {
            if (env->num_actions <= 0)
                return -2;
            src = &env->num_actions;
        } else if (shape[d] == LP_DIM_POLICY) {
            if (env->policy_width <= 0)
                return -2;
            src = &env->policy_width;
        }
        if (r + n > LP_MAX_RANK)
            return -1;
        for (int32_t i = 0; i < n; i++)
            out_shape[r++] = src[i];
    }
    for (int32_t d = r; d < LP_MAX_RANK; d++)
        out_shape[d] = 0;
    *out_rank = r;
    return 0;
}

/* A declaration handed in by the program through the options. */
static int32_t check_option_decl(const lp_decl *d, const char *what, size_t i, lp_error *err) {
    if (!lp__valid_name(d->name))
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_options.%s[%zu]: name %s%s%s is not valid; use "
                             "[a-z][a-z0-9_]*, at most 63 characters",
                             what, i, d->name != NULL ? "'" : "",
                             d->name != NULL ? d->name : "NULL", d->name != NULL ? "'" : "");
    if (lp_dtype_size(d->dtype) == 0)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_options.%s[%zu] '%s': unknown dtype %d; use an lp_dtype",
                             what, i, d->name, (int)d->dtype);
    if (d->rank < 0 || d->rank > LP_MAX_RANK)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_options.%s[%zu] '%s': rank %d is not in 0..%d", what, i,
                             d->name, (int)d->rank, LP_MAX_RANK);
    for (int32_t k = 0; k < d->rank; k++)
        if (d->shape[k] <= 0 && d->shape[k] != LP_DIM_OBS && d->shape[k] != LP_DIM_ACTION &&
            d->shape[k] != LP_DIM_NUM_ACTIONS && d->shape[k] != LP_DIM_POLICY)
            return lp__error_set(
                err, LP_EINVAL,
                "lp_session_options.%s[%zu] '%s': dimension %d is %lld; use a size "
                "> 0 or LP_DIM_OBS, LP_DIM_ACTION, LP_DIM_NUM_ACTIONS, LP_DIM_POLICY",
                what, i, d->name, (int)k, (long long)d->shape[k]);
    return LP_OK;
}

static int32_t check_env(const lp_env_info *e, const char *who, lp_error *err) {
    if (lp_dtype_size(e->obs_dtype) == 0 || lp_dtype_size(e->action_dtype) == 0)
        return lp__error_set(err, LP_EINVAL,
                             "%s: the observation or action dtype is not an lp_dtype", who);
    if (e->obs_rank < 0 || e->obs_rank > LP_MAX_RANK || e->action_rank < 0 ||
        e->action_rank > LP_MAX_RANK)
        return lp__error_set(err, LP_EINVAL, "%s: the observation or action rank is not in 0..%d",
                             who, LP_MAX_RANK);
    for (int32_t d = 0; d < e->obs_rank; d++)
        if (e->obs_shape[d] <= 0)
            return lp__error_set(err, LP_EINVAL, "%s: observation dimension %d is not > 0", who,
                                 (int)d);
    for (int32_t d = 0; d < e->action_rank; d++)
        if (e->action_shape[d] <= 0)
            return lp__error_set(err, LP_EINVAL, "%s: action dimension %d is not > 0", who, (int)d);
    if (e->num_actions < 0)
        return lp__error_set(err, LP_EINVAL, "%s: num_actions is negative", who);
    return LP_OK;
}

static int same_shape(int32_t ra, const int64_t *a, int32_t rb, const int64_t *b) {
    if (ra != rb)
        return 0;
    for (int32_t d = 0; d < ra; d++)
        if (a[d] != b[d])
            return 0;
    return 1;
}

static void space_text(char *buf, size_t size, int32_t dtype, int32_t rank, const int64_t *shape) {
    lp__type_text(buf, size, dtype, rank, shape);
    if (rank == 0)
        snprintf(buf + strlen(buf), size - strlen(buf), "[]");
}

static int32_t resolve_env(lp_session *s, lp_error *err) {
    const lp__program_cfg *pc = &s->cfg->program;
    if (s->opt.env_set) {
        int32_t rc = check_env(&s->opt.env, "lp_session_options.env", err);
        if (rc != LP_OK)
            return rc;
        s->env = s->opt.env;
        rc = lp__action_take(s, &s->opt.env, "lp_session_options.env", err);
        if (rc != LP_OK)
            return rc;
        if (pc->has_env) {
            const lp_env_info *a = &pc->env, *b = &s->env;
            char ta[128], tb[128];
            if (a->obs_dtype != b->obs_dtype ||
                !same_shape(a->obs_rank, a->obs_shape, b->obs_rank, b->obs_shape)) {
                space_text(ta, sizeof ta, a->obs_dtype, a->obs_rank, a->obs_shape);
                space_text(tb, sizeof tb, b->obs_dtype, b->obs_rank, b->obs_shape);
                return lp__cfgerr(err, pc->observation_pos.key,
                                  "program.observation is %s here but %s in "
                                  "lp_session_options.env; make the two agree (or declare the "
                                  "environment in one place only)",
                                  ta, tb);
            }
            if (a->action_dtype != b->action_dtype || a->num_actions != b->num_actions ||
                !same_shape(a->action_rank, a->action_shape, b->action_rank, b->action_shape)) {
                space_text(ta, sizeof ta, a->action_dtype, a->action_rank, a->action_shape);
                space_text(tb, sizeof tb, b->action_dtype, b->action_rank, b->action_shape);
                return lp__cfgerr(err, pc->action_pos.key,
                                  "program.action is %s with %lld actions here but %s with %lld "
                                  "in lp_session_options.env; make the two agree (or declare the "
                                  "environment in one place only)",
                                  ta, (long long)a->num_actions, tb, (long long)b->num_actions);
            }
            if (!lp__action_same(a, b)) {
                char sa[256], sb[256];
                lp__action_text(sa, sizeof sa, a);
                lp__action_text(sb, sizeof sb, b);
                return lp__cfgerr(err, pc->action_pos.key,
                                  "program.action is %s here but %s in lp_session_options.env; "
                                  "make the two agree (or declare the environment in one place "
                                  "only)",
                                  sa, sb);
            }
        }
    } else if (pc->has_env) {
        s->env = pc->env;
        int32_t rc = lp__action_take(s, &pc->env, "program.action", err);
        if (rc != LP_OK)
            return rc;
    } else {
        return lp__cfgerr(err, (lp__pos){s->cfg->file, 1, 1},
                          "no environment is declared; add program: {observation: {dtype: f32, "
                          "shape: [4]}, action: {dtype: i32, shape: [], num_actions: 2}} to the "
                          "config (see docs/config.md), or set lp_session_options.env and env_set");
    }
    s->env.struct_size = sizeof s->env;
    s->env.segments = s->cfg->buffer.segments;
    s->env.horizon = s->cfg->buffer.horizon;
    s->env.reserved = 0;
    return LP_OK;
}

/* Resolve one declaration's shape; the error names `who`. */
static int32_t resolve_decl(const lp_session *s, const lp_decl *d, const char *who, lp__pos pos,
                            int32_t *rank, int64_t *shape, lp_error *err) {
    int r = lp__resolve_shape(&s->env, d->rank, d->shape, rank, shape);
    if (r == 0)
        return LP_OK;
    char t[128];
    lp__type_text(t, sizeof t, d->dtype, d->rank, d->shape);
    const char *why = r == -2 ? "NUM_ACTIONS is 0 (the actions are continuous); use a fixed size"
                              : "it has more than 8 dimensions once OBS and ACTION are spliced in; "
                                "use fewer dimensions";
    if (pos.line != 0)
        return lp__cfgerr(err, pos, "%s.%s %s: %s", who, d->name, t, why);
    return lp__error_set(err, LP_EINVAL, "%s '%s' %s: %s", who, d->name, t, why);
}

/* The declarations in use: the options', the config's, or both when they
 * agree. On success *out (count *n, positions *pos or NULL) is owned by the
 * caller. */
typedef struct decl_src {
    const char *cfg_what; /* "program.fields" */
    const char *opt_what; /* "lp_session_options.fields" */
    const char *opt_member;
    int has_cfg;
    const lp__program_decl *cfg;
    size_t cfg_count;
    lp__kvpos cfg_pos;
    const lp_decl *opt;
    size_t opt_count;
} decl_src;

static int32_t agree(const lp_session *s, const decl_src *src, lp_error *err) {
    for (size_t i = 0; i < src->cfg_count; i++) {
        const lp__program_decl *c = &src->cfg[i];
        const lp_decl *o = NULL;
        for (size_t j = 0; j < src->opt_count && o == NULL; j++)
            if (strcmp(src->opt[j].name, c->decl.name) == 0)
                o = &src->opt[j];
        if (o == NULL)
            return lp__cfgerr(err, c->pos.key,
                              "%s declares '%s', which %s lacks; make the two agree (or declare "
                              "them in one place only)",
                              src->cfg_what, c->decl.name, src->opt_what);
        int32_t ra, rb;
        int64_t sa[LP_MAX_RANK], sb[LP_MAX_RANK];
        int32_t rc = resolve_decl(s, &c->decl, src->cfg_what, c->pos.key, &ra, sa, err);
        if (rc == LP_OK)
            rc = resolve_decl(s, o, src->opt_what, (lp__pos){0}, &rb, sb, err);
        if (rc != LP_OK)
            return rc;
        if (c->decl.dtype != o->dtype || !same_shape(ra, sa, rb, sb)) {
            char ta[128], tb[128];
            lp__type_text(ta, sizeof ta, c->decl.dtype, ra, sa);
            lp__type_text(tb, sizeof tb, o->dtype, rb, sb);
            return lp__cfgerr(err, c->pos.key,
                              "%s.%s is %s here but %s in %s; make the two agree (or declare them "
                              "in one place only)",
                              src->cfg_what, c->decl.name, ta, tb, src->opt_what);
        }
    }
    for (size_t j = 0; j < src->opt_count; j++) {
        int found = 0;
        for (size_t i = 0; i < src->cfg_count && !found; i++)
            found = strcmp(src->opt[j].name, src->cfg[i].decl.name) == 0;
        if (!found)
            return lp__cfgerr(err, src->cfg_pos.key,
                              "%s declares '%s', which %s lacks; make the two agree (or declare "
                              "them in one place only)",
                              src->opt_what, src->opt[j].name, src->cfg_what);
    }
    return LP_OK;
}

/* Copy the chosen declarations, resolved, with owned names. */
static int32_t take(const lp_session *s, const decl_src *src, lp_decl **out, size_t *n,
                    lp__kvpos **pos, lp_error *err) {
    for (size_t i = 0; i < src->opt_count; i++) {
        int32_t rc = check_option_decl(&src->opt[i], src->opt_member, i, err);
        if (rc != LP_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(src->opt[j].name, src->opt[i].name) == 0)
                return lp__error_set(err, LP_EINVAL, "%s declares '%s' twice; declare it once",
                                     src->opt_what, src->opt[i].name);
    }
    if (src->opt_count > 0 && src->has_cfg) {
        int32_t rc = agree(s, src, err);
        if (rc != LP_OK)
            return rc;
    }
    int from_cfg = src->opt_count == 0;
    size_t count = from_cfg ? src->cfg_count : src->opt_count;
    lp_decl *ds = calloc(count > 0 ? count : 1, sizeof *ds);
    lp__kvpos *ps = from_cfg ? calloc(count > 0 ? count : 1, sizeof *ps) : NULL;
    if (ds == NULL || (from_cfg && ps == NULL)) {
        free(ds);
        free(ps);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    int32_t rc = LP_OK;
    size_t i = 0;
    for (; i < count; i++) {
        const lp_decl *d = from_cfg ? &src->cfg[i].decl : &src->opt[i];
        lp__pos p = from_cfg ? src->cfg[i].pos.key : (lp__pos){0};
        ds[i].dtype = d->dtype;
        rc = resolve_decl(s, d, from_cfg ? src->cfg_what : src->opt_what, p, &ds[i].rank,
                          ds[i].shape, err);
        if (rc != LP_OK)
            break;
        ds[i].name = strdup(d->name);
        if (ds[i].name == NULL) {
            rc = lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
            break;
        }
        if (from_cfg)
            ps[i] = src->cfg[i].pos;
    }
    if (rc != LP_OK) {
        for (size_t j = 0; j < i; j++)
            free((void *)ds[j].name);
        free(ds);
        free(ps);
        return rc;
    }
    *out = ds;
    *n = count;
    *pos = ps;
    return LP_OK;
}

int32_t lp__program_resolve(lp_session *s, lp_error *err) {
    const lp__program_cfg *pc = &s->cfg->program;
    int32_t rc = resolve_env(s, err);
    if (rc != LP_OK)
        return rc;
    if (s->opt.field_count == 0 && !pc->has_fields)
        return lp__cfgerr(err, (lp__pos){s->cfg->file, 1, 1},
                          "the fields the program writes are not declared; add program: "
                          "{fields: {obs: \"f32[OBS]\", actions: i32, ...}} to the config (see "
                          "docs/config.md), or pass lp_session_options.fields");
    if (s->opt.output_count == 0 && !pc->has_outputs)
        return lp__cfgerr(err, (lp__pos){s->cfg->file, 1, 1},
                          "the model's outputs are not declared; add program: {outputs: {logits: "
                          "\"f32[NUM_ACTIONS]\", values: f32}} to the config ({} for none; see "
                          "docs/config.md), or pass lp_session_options.outputs");
    decl_src fs = {"program.fields",  "lp_session_options.fields",
                   "fields",          pc->has_fields,
                   pc->fields,        pc->field_count,
                   pc->fields_pos,    s->opt.fields,
                   s->opt.field_count};
    lp_decl *fields = NULL;
    size_t nf = 0;
    lp__kvpos *fpos = NULL;
    rc = take(s, &fs, &fields, &nf, &fpos, err);
    if (rc != LP_OK)
        return rc;
    s->prog_fields = calloc(nf > 0 ? nf : 1, sizeof *s->prog_fields);
    if (s->prog_fields == NULL) {
        for (size_t i = 0; i < nf; i++)
            free((void *)fields[i].name);
        free(fields);
        free(fpos);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    for (size_t i = 0; i < nf; i++) {
        lp__fdecl *f = &s->prog_fields[i];
        f->name = fields[i].name;
        f->dtype = fields[i].dtype;
        f->rank = fields[i].rank;
        memcpy(f->shape, fields[i].shape, sizeof f->shape);
        f->access = LP_FIELD_WRITE;
        f->phase = LP_PHASE_ROLLOUT;
    }
    s->prog_field_count = nf;
    s->prog_field_pos = fpos;
    free(fields);

    decl_src os = {"program.outputs",  "lp_session_options.outputs",
                   "outputs",          pc->has_outputs,
                   pc->outputs,        pc->output_count,
                   pc->outputs_pos,    s->opt.outputs,
                   s->opt.output_count};
    lp_decl *outs = NULL;
    size_t no = 0;
    lp__kvpos *opos = NULL;
    rc = take(s, &os, &outs, &no, &opos, err);
    free(opos);
    if (rc != LP_OK)
        return rc;
    s->outputs = calloc(no > 0 ? no : 1, sizeof *s->outputs);
    if (s->outputs == NULL) {
        for (size_t i = 0; i < no; i++)
            free((void *)outs[i].name);
        free(outs);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    for (size_t i = 0; i < no; i++) {
        s->outputs[i].decl = outs[i]; /* sizes: buffer.c, overflow-checked */
    }
    s->output_count = no;
    free(outs);
    return LP_OK;
}
