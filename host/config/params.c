/* Binding a loss's raw params (and anneal rules) to its plugin's schema. */
#include "config/config.h"

#include "config/read.h"
#include "util/suggest.h"

#include "util/error.h"

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
        return lp__error_set(err, LP_EPLUGIN, "plugin '%s' declares %u params but no specs", id,
                             (unsigned)d->param_count);
    size_t need = offsetof(lp_param_spec, type) + sizeof(int32_t);
    if (d->params[0].struct_size < need)
        return lp__error_set(err, LP_EPLUGIN,
                             "plugin '%s': param specs have struct_size %u, less than %zu", id,
                             (unsigned)d->params[0].struct_size, need);
    for (uint32_t i = 0; i < d->param_count; i++) {
        lp_param_spec s;
        spec_at(d, i, &s);
        if (s.name == NULL)
            return lp__error_set(err, LP_EPLUGIN, "plugin '%s': param %u has no name", id,
                                 (unsigned)i);
        if (s.type < LP_PARAM_FLOAT || s.type > LP_PARAM_ENUM)
            return lp__error_set(err, LP_EPLUGIN, "plugin '%s': param '%s' has unknown type %d", id,
                                 s.name, (int)s.type);
        if (s.type == LP_PARAM_ENUM && s.choices == NULL)
            return lp__error_set(err, LP_EPLUGIN, "plugin '%s': enum param '%s' has no choices", id,
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

static int32_t convert(const lp_param_spec *s, const lp__raw_param *p, const char *where,
                       lp_value *v, lp_error *err) {
    return lp__read_scalar(s, p->text, strlen(p->text), p->quoted, p->pos.value, where,
                           LP__READ_PARAM, NULL, v, err);
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
                          where, r->param, lp__spec_type_name(s.type));
    char text[64];
    if (s.type == LP_PARAM_INT) {
        if (!r->to_is_int)
            return lp__cfgerr(err, r->to_pos.value,
                              "%s.to must be an integer (param '%s' is an int), found %.17g; "
                              "write a whole number",
                              where, r->param, r->to);
        snprintf(text, sizeof text, "%lld", (long long)r->to_int);
    } else {
        lp__spec_fmt_bound(text, sizeof text, LP_PARAM_FLOAT, r->to);
    }
    if (!lp__spec_in_range(&s, r->to)) {
        char w2[256];
        lp__strf(w2, sizeof w2, "%s.to", where);
        return lp__spec_out_of_range(&s, r->to_pos.value, w2, text, LP__READ_PARAM, err);
    }
    if (index != NULL)
        *index = (uint32_t)i;
    return LP_OK;
}

int32_t lp__config_bind_params(const lp__config *cfg, const lp__loss_cfg *loss,
                               const lp_loss_desc *desc, lp_value *values, uint32_t *anneal_index,
                               lp_error *err) {
    if (cfg == NULL || loss == NULL || desc == NULL || (values == NULL && desc->param_count != 0))
        return lp__error_set(err, LP_EINVAL, "lp__config_bind_params: invalid arguments");
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
                              s.name, lp__spec_type_name(s.type), desc->id, loss->name, s.name);
        } else {
            lp__spec_default(&s, &values[i]);
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
