/* Binding a loss's raw params (and anneal rules) to its plugin's schema. */
#include "config.h"

#include "scalar.h"
#include "suggest.h"

#include <lp_errset.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy spec `i` into *out, reading with the array's own stride: fields the
 * plugin's (older) layout lacks are zero. */
static void spec_at(const lp_loss_desc *d, uint32_t i, lp_param_spec *out) {
    size_t stride = d->params[0].struct_size;
    memset(out, 0, sizeof *out);
    memcpy(out, (const char *)d->params + (size_t)i * stride,
           stride < sizeof *out ? stride : sizeof *out);
}

static int32_t check_desc(const lp_loss_desc *d, lp_error *err) {
    const char *id = d->id != NULL ? d->id : "?";
    if (d->param_count == 0)
        return LP_OK;
    if (d->params == NULL)
        return lp__seterr(err, LP_EPLUGIN, "plugin '%s' declares %u params but no specs", id,
                          (unsigned)d->param_count);
    size_t need = offsetof(lp_param_spec, type) + sizeof(int32_t);
    if (d->params[0].struct_size < need)
        return lp__seterr(err, LP_EPLUGIN,
                          "plugin '%s': param specs have struct_size %u, less than %zu", id,
                          (unsigned)d->params[0].struct_size, need);
    for (uint32_t i = 0; i < d->param_count; i++) {
        lp_param_spec s;
        spec_at(d, i, &s);
        if (s.name == NULL)
            return lp__seterr(err, LP_EPLUGIN, "plugin '%s': param %u has no name", id,
                              (unsigned)i);
        if (s.type < LP_PARAM_FLOAT || s.type > LP_PARAM_ENUM)
            return lp__seterr(err, LP_EPLUGIN, "plugin '%s': param '%s' has unknown type %d", id,
                              s.name, (int)s.type);
        if (s.type == LP_PARAM_ENUM && s.choices == NULL)
            return lp__seterr(err, LP_EPLUGIN, "plugin '%s': enum param '%s' has no choices", id,
                              s.name);
    }
    return LP_OK;
}

static long find_spec(const lp_loss_desc *d, const char *name, lp_param_spec *out) {
    for (uint32_t i = 0; i < d->param_count; i++) {
        spec_at(d, i, out);
        if (strcmp(out->name, name) == 0)
            return (long)i;
    }
    return -1;
}

/* "unknown param" with the nearest valid name or the list of them. */
static int32_t unknown_param(const lp_loss_desc *d, lp__pos pos, const char *name,
                             const char *where, lp_error *err) {
    if (d->param_count == 0)
        return lp__cfgerr(err, pos,
                          "unknown param '%s' in %s: plugin '%s' takes no params; remove it", name,
                          where, d->id);
    lp__suggester sg;
    lp__suggest_init(&sg, name, strlen(name));
    lp__sbuf list;
    lp__sbuf_init(&list);
    for (uint32_t i = 0; i < d->param_count; i++) {
        lp_param_spec s;
        spec_at(d, i, &s);
        lp__suggest_add(&sg, s.name);
        lp__sbuf_addf(&list, "%s%s", i == 0 ? "" : ", ", s.name);
    }
    const char *best = lp__suggest_result(&sg);
    if (best != NULL)
        return lp__cfgerr(err, pos, "unknown param '%s' in %s for plugin '%s'; did you mean '%s'?",
                          name, where, d->id, best);
    return lp__cfgerr(err, pos, "unknown param '%s' in %s for plugin '%s'; valid params: %s", name,
                      where, d->id, list.buf);
}

static const char *type_name(int32_t t) {
    switch (t) {
    case LP_PARAM_FLOAT:
        return "a float";
    case LP_PARAM_INT:
        return "an int";
    case LP_PARAM_BOOL:
        return "a bool";
    case LP_PARAM_STRING:
        return "a string";
    default:
        return "an enum";
    }
}

static void fmt_bound(char *buf, size_t n, int32_t type, double v) {
    if (type == LP_PARAM_INT && v >= -9.2e18 && v <= 9.2e18 && v == floor(v))
        snprintf(buf, n, "%lld", (long long)v);
    else
        snprintf(buf, n, "%.17g", v);
    /* %.17g shows 0.1 as 0.10000000000000001: prefer the shortest form that
     * reads back to the same double. */
    if (type != LP_PARAM_INT || v != floor(v)) {
        for (int prec = 1; prec <= 17; prec++) {
            char t[64];
            snprintf(t, sizeof t, "%.*g", prec, v);
            /* "1e+01" reads back as 10, but "10" is what a person wrote. */
            int exp_ok = fabs(v) >= 1e15 || (v != 0.0 && fabs(v) < 1e-4);
            if (strtod(t, NULL) == v && (exp_ok || strchr(t, 'e') == NULL)) {
                snprintf(buf, n, "%s", t);
                break;
            }
        }
    }
}

/* "in [min, max]", "in (min, max)", ">= min", "> min", "<= max" or "< max". */
static void fmt_range(char *buf, size_t n, const lp_param_spec *s) {
    char lo[64], hi[64];
    fmt_bound(lo, sizeof lo, s->type, s->min);
    fmt_bound(hi, sizeof hi, s->type, s->max);
    int has_min = (s->flags & LP_PARAM_HAS_MIN) != 0, has_max = (s->flags & LP_PARAM_HAS_MAX) != 0;
    int min_ex = (s->flags & LP_PARAM_MIN_EXCLUSIVE) != 0;
    int max_ex = (s->flags & LP_PARAM_MAX_EXCLUSIVE) != 0;
    if (has_min && has_max)
        snprintf(buf, n, "in %c%s, %s%c", min_ex ? '(' : '[', lo, hi, max_ex ? ')' : ']');
    else if (has_min)
        snprintf(buf, n, "%s %s", min_ex ? ">" : ">=", lo);
    else
        snprintf(buf, n, "%s %s", max_ex ? "<" : "<=", hi);
}

/* The loader accepts the EXCLUSIVE bits only beside HAS_MIN / HAS_MAX. */
static int in_range(const lp_param_spec *s, double v) {
    if ((s->flags & LP_PARAM_HAS_MIN) &&
        ((s->flags & LP_PARAM_MIN_EXCLUSIVE) ? v <= s->min : v < s->min))
        return 0;
    if ((s->flags & LP_PARAM_HAS_MAX) &&
        ((s->flags & LP_PARAM_MAX_EXCLUSIVE) ? v >= s->max : v > s->max))
        return 0;
    return 1;
}

static int32_t out_of_range(const lp_param_spec *s, lp__pos pos, const char *where,
                            const char *text, lp_error *err) {
    char range[160];
    fmt_range(range, sizeof range, s);
    return lp__cfgerr(err, pos, "%s = %s is out of range; use a value %s", where, text, range);
}

static int32_t convert(const lp_param_spec *s, const lp__raw_param *p, const char *where,
                       lp_value *v, lp_error *err) {
    char q[LP__QUOTE_MAX];
    const char *text = lp__quote(q, p->text, strlen(p->text));
    size_t len = strlen(p->text);
    lp__pos pos = p->pos.value;
    v->type = s->type;
    switch (s->type) {
    case LP_PARAM_FLOAT:
    case LP_PARAM_INT: {
        int is_int = s->type == LP_PARAM_INT;
        const char *what = is_int ? "an integer" : "a number";
        if (p->quoted)
            return lp__cfgerr(err, pos, "%s must be %s, found a quoted string; remove the quotes",
                              where, what);
        lp__lit lit;
        if (is_int) {
            lit = lp__parse_int(p->text, len, &v->i);
            if (lit == LP__LIT_SYNTAX)
                return lp__cfgerr(err, pos,
                                  "%s must be an integer, found '%s'; write a whole number such "
                                  "as 8",
                                  where, text);
            if (lit == LP__LIT_OK && !in_range(s, (double)v->i))
                lit = LP__LIT_RANGE;
        } else {
            lit = lp__parse_float(p->text, len, &v->f);
            if (lit == LP__LIT_SYNTAX)
                return lp__cfgerr(err, pos,
                                  "%s must be a number, found '%s'; write a number such as 0.5",
                                  where, text);
            if (lit == LP__LIT_OK && !in_range(s, v->f))
                lit = LP__LIT_RANGE;
        }
        if (lit == LP__LIT_RANGE) {
            if ((s->flags & (LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX)) == 0)
                return lp__cfgerr(err, pos, "%s = %s is out of range; use a smaller %s", where,
                                  text, is_int ? "integer (64-bit)" : "number (finite double)");
            return out_of_range(s, pos, where, text, err);
        }
        return LP_OK;
    }
    case LP_PARAM_BOOL:
        if (p->quoted)
            return lp__cfgerr(err, pos,
                              "%s must be true or false, found a quoted string; remove the quotes",
                              where);
        if (lp__parse_bool(p->text, len, &v->b) != LP__LIT_OK)
            return lp__cfgerr(err, pos, "%s must be true or false, found '%s'; write true or false",
                              where, text);
        return LP_OK;
    case LP_PARAM_STRING:
        v->s = p->text;
        return LP_OK;
    default: {
        lp__suggester sg;
        lp__suggest_init(&sg, p->text, len);
        lp__sbuf list;
        lp__sbuf_init(&list);
        for (size_t i = 0; s->choices[i] != NULL; i++) {
            if (strcmp(s->choices[i], p->text) == 0) {
                v->s = p->text;
                return LP_OK;
            }
            lp__suggest_add(&sg, s->choices[i]);
            lp__sbuf_addf(&list, "%s%s", i == 0 ? "" : ", ", s->choices[i]);
        }
        const char *best = lp__suggest_result(&sg);
        if (best != NULL)
            return lp__cfgerr(err, pos, "%s '%s' is not a choice; did you mean '%s'? (choices: %s)",
                              where, text, best, list.buf);
        return lp__cfgerr(err, pos, "%s '%s' is not a choice; use one of: %s", where, text,
                          list.buf);
    }
    }
}

static void set_default(const lp_param_spec *s, lp_value *v) {
    memset(v, 0, sizeof *v);
    v->type = s->type;
    v->b = s->default_bool;
    v->i = s->default_int;
    v->f = s->default_float;
    v->s = s->default_string;
}

static int32_t check_anneal(const lp__loss_cfg *loss, const lp_loss_desc *d,
                            const lp__anneal_rule *r, uint32_t *index, lp_error *err) {
    char where[256];
    lp__strf(where, sizeof where, "losses.%s.schedule.anneal", loss->name);
    lp_param_spec s;
    long i = find_spec(d, r->param, &s);
    if (i < 0)
        return unknown_param(d, r->pos, r->param, where, err);
    lp__strf(where, sizeof where, "losses.%s.schedule.anneal.%s", loss->name, r->param);
    if (s.type != LP_PARAM_FLOAT && s.type != LP_PARAM_INT)
        return lp__cfgerr(err, r->pos,
                          "%s: param '%s' is %s, and only float and int params can be annealed; "
                          "remove this rule",
                          where, r->param, type_name(s.type));
    char text[64];
    if (s.type == LP_PARAM_INT) {
        if (!r->to_is_int)
            return lp__cfgerr(err, r->to_pos.value,
                              "%s.to must be an integer (param '%s' is an int), found %.17g; "
                              "write a whole number",
                              where, r->param, r->to);
        snprintf(text, sizeof text, "%lld", (long long)r->to_int);
    } else {
        fmt_bound(text, sizeof text, LP_PARAM_FLOAT, r->to);
    }
    if (!in_range(&s, r->to)) {
        char w2[256];
        lp__strf(w2, sizeof w2, "%s.to", where);
        return out_of_range(&s, r->to_pos.value, w2, text, err);
    }
    if (index != NULL)
        *index = (uint32_t)i;
    return LP_OK;
}

int32_t lp__config_bind_params(const lp__config *cfg, const lp__loss_cfg *loss,
                               const lp_loss_desc *desc, lp_value *values, uint32_t *anneal_index,
                               lp_error *err) {
    if (cfg == NULL || loss == NULL || desc == NULL || (values == NULL && desc->param_count != 0))
        return lp__seterr(err, LP_EINVAL, "lp__config_bind_params: invalid arguments");
    int32_t rc = check_desc(desc, err);
    if (rc != LP_OK)
        return rc;
    char where[256];
    lp__strf(where, sizeof where, "losses.%s.params", loss->name);
    /* Every configured param must exist: report them in file order. */
    for (size_t i = 0; i < loss->param_count; i++) {
        lp_param_spec s;
        if (find_spec(desc, loss->params[i].key, &s) < 0)
            return unknown_param(desc, loss->params[i].pos.key, loss->params[i].key, where, err);
    }
    for (uint32_t i = 0; i < desc->param_count; i++) {
        lp_param_spec s;
        spec_at(desc, i, &s);
        const lp__raw_param *p = NULL;
        for (size_t j = 0; j < loss->param_count && p == NULL; j++)
            if (strcmp(loss->params[j].key, s.name) == 0)
                p = &loss->params[j];
        if (p != NULL) {
            char wk[256];
            lp__strf(wk, sizeof wk, "%s.%s", where, s.name);
            rc = convert(&s, p, wk, &values[i], err);
            if (rc != LP_OK)
                return rc;
        } else if (s.flags & LP_PARAM_REQUIRED) {
            lp__pos pos = loss->params_pos.key.line != 0 ? loss->params_pos.key : loss->pos;
            return lp__cfgerr(err, pos,
                              "missing required param '%s' (%s) for plugin '%s' in losses.%s; "
                              "add %s: VALUE under params",
                              s.name, type_name(s.type), desc->id, loss->name, s.name);
        } else {
            set_default(&s, &values[i]);
        }
    }
    for (size_t i = 0; i < loss->schedule.anneal_count; i++) {
        rc = check_anneal(loss, desc, &loss->schedule.anneal[i],
                          anneal_index != NULL ? &anneal_index[i] : NULL, err);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}
