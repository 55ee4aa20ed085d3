/* The merged experience spec: the program's fields and every instance's,
 * checked against each other before anything runs. Each error names both
 * declarers and where the config declares them. */
#include "session/session_impl.h"

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* Who declared something: the program (decl index) or an instance. */
typedef struct who {
    int32_t inst; /* -1: the program */
    size_t decl;
} who;

typedef struct mtmp {
    who type_from; /* whose declaration set dtype and shape */
    who writer;    /* writer.inst == -2: nobody */
    uint32_t write_phase;
    who reader; /* first non-optional reader; reader.inst == -2: none */
    uint32_t read_phase;
} mtmp;

static const char *phase_text(uint32_t phase) {
    switch (phase & (LP_PHASE_ROLLOUT | LP_PHASE_TRAIN)) {
    case LP_PHASE_ROLLOUT:
        return "rollout";
    case LP_PHASE_TRAIN:
        return "train";
    default:
        return "rollout and train";
    }
}

/* "instance 'a' (plugin p, FILE:L:C)" or "the program (FILE:L:C)" or "the
 * program (lp_session_options.fields)". */
static void who_text(const lp_session *s, who w, char *buf, size_t size) {
    if (w.inst >= 0) {
        const lp__inst *in = &s->insts[w.inst];
        snprintf(buf, size, "instance '%s' (plugin %s, %s)", in->cfg->name, in->cfg->plugin,
                 in->pos_text);
    } else if (s->prog_field_pos != NULL) {
        char p[256];
        lp__pos_text(p, sizeof p, s->prog_field_pos[w.decl].key);
        snprintf(buf, size, "the program (%s)", p);
    } else {
        snprintf(buf, size, "the program (lp_session_options.fields)");
    }
}

static const lp__fdecl *decl_of(const lp_session *s, who w) {
    return w.inst >= 0 ? &s->insts[w.inst].fields[w.decl] : &s->prog_fields[w.decl];
}

int32_t lp__field_find(const lp_session *s, const char *name) {
    for (size_t i = 0; i < s->field_count; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return (int32_t)i;
    return -1;
}

static int same_type(const lp__fdecl *a, const lp__fdecl *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int32_t d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* Add `w`'s declaration to the merge. */
static int32_t merge_one(lp_session *s, mtmp *tmp, size_t *n, who w, lp_error *err) {
    const lp__fdecl *d = decl_of(s, w);
    const lp__inst *in = w.inst >= 0 ? &s->insts[w.inst] : NULL;
    size_t i = 0;
    while (i < *n && strcmp(s->fields[i].name, d->name) != 0)
        i++;
    char a[512], b[512];
    if (i == *n) {
        lp__mfield *f = &s->fields[i];
        f->name = strdup(d->name);
        if (f->name == NULL)
            return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
        (*n)++;
        tmp[i].type_from = w;
        tmp[i].writer.inst = -2;
        tmp[i].reader.inst = -2;
    } else {
        const lp__fdecl *first = decl_of(s, tmp[i].type_from);
        if (!same_type(first, d)) {
            char ta[128], tb[128];
            lp__type_text(ta, sizeof ta, d->dtype, d->rank, d->shape);
            lp__type_text(tb, sizeof tb, first->dtype, first->rank, first->shape);
            who_text(s, w, a, sizeof a);
            who_text(s, tmp[i].type_from, b, sizeof b);
            return lp__error_set(err, LP_ESPEC,
                                 "%s: field '%s' clashes: %s declares it %s, %s declares it %s; "
                                 "make both declare the same dtype and shape",
                                 in->pos_text, d->name, a, ta, b, tb);
        }
    }
    if (d->access & LP_FIELD_WRITE) {
        if (tmp[i].writer.inst != -2) {
            who_text(s, w, a, sizeof a);
            who_text(s, tmp[i].writer, b, sizeof b);
            return lp__error_set(
                err, LP_ESPEC,
                "%s: field '%s' is written by two: %s in the %s phase and %s in the "
                "%s phase; each field has one writer: remove the write from one of "
                "them (or rename the field)",
                in->pos_text, d->name, a, phase_text(d->phase), b, phase_text(tmp[i].write_phase));
        }
        tmp[i].writer = w;
        tmp[i].write_phase = d->phase;
    }
    if ((d->access & LP_FIELD_READ) && !(d->access & LP_FIELD_OPTIONAL) &&
        tmp[i].reader.inst == -2) {
        tmp[i].reader = w;
        tmp[i].read_phase = d->phase;
    }
    return LP_OK;
}

/* ", "-joined names of the instances that read field `name`. */
static char *readers_of(const lp_session *s, const char *name) {
    size_t len = 1;
    for (size_t i = 0; i < s->inst_count; i++)
        for (uint32_t k = 0; k < s->insts[i].field_count; k++)
            if ((s->insts[i].fields[k].access & LP_FIELD_READ) &&
                strcmp(s->insts[i].fields[k].name, name) == 0)
                len += strlen(s->insts[i].cfg->name) + 2;
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < s->inst_count; i++)
        for (uint32_t k = 0; k < s->insts[i].field_count; k++)
            if ((s->insts[i].fields[k].access & LP_FIELD_READ) &&
                strcmp(s->insts[i].fields[k].name, name) == 0) {
                if (out[0] != '\0')
                    strcat(out, ", ");
                strcat(out, s->insts[i].cfg->name);
            }
    return out;
}

static int32_t check_outputs(const lp_session *s, lp_error *err) {
    for (size_t i = 0; i < s->inst_count; i++) {
        const lp__inst *in = &s->insts[i];
        const char *const *outs = in->info->desc->outputs;
        for (size_t k = 0; outs != NULL && k < 256 && outs[k] != NULL; k++) {
            int found = 0;
            for (size_t j = 0; j < s->output_count && !found; j++)
                found = strcmp(s->outputs[j].decl.name, outs[k]) == 0;
            if (found)
                continue;
            char has[512];
            size_t len = 0;
            has[0] = '\0';
            for (size_t j = 0; j < s->output_count && len < sizeof has; j++)
                len += (size_t)snprintf(has + len, sizeof has - len, "%s%s", j ? ", " : "",
                                        s->outputs[j].decl.name);
            return lp__error_set(err, LP_ESPEC,
                                 "%s: instance '%s' (plugin %s, %s) needs model output '%.64s', "
                                 "which the model lacks (it has: %s); declare '%.64s' in "
                                 "program.outputs (or remove this loss)",
                                 in->pos_text, in->cfg->name, in->cfg->plugin, in->pos_text,
                                 outs[k], s->output_count ? has : "none", outs[k]);
        }
    }
    return LP_OK;
}

int32_t lp__spec_merge(lp_session *s, lp_error *err) {
    size_t cap = s->prog_field_count;
    for (size_t i = 0; i < s->inst_count; i++)
        cap += s->insts[i].field_count;
    s->fields = calloc(cap > 0 ? cap : 1, sizeof *s->fields);
    mtmp *tmp = calloc(cap > 0 ? cap : 1, sizeof *tmp);
    if (s->fields == NULL || tmp == NULL) {
        free(tmp);
        return lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
    }
    size_t n = 0;
    int32_t rc = LP_OK;
    for (size_t j = 0; rc == LP_OK && j < s->prog_field_count; j++)
        rc = merge_one(s, tmp, &n, (who){-1, j}, err);
    for (size_t i = 0; rc == LP_OK && i < s->inst_count; i++)
        for (uint32_t k = 0; rc == LP_OK && k < s->insts[i].field_count; k++)
            rc = merge_one(s, tmp, &n, (who){(int32_t)i, k}, err);
    s->field_count = n;
    /* Reads nobody satisfies: an error, unless every read is optional (then
     * the field is not in the buffer and its handle is -1). */
    for (size_t i = 0; rc == LP_OK && i < n; i++) {
        if (tmp[i].writer.inst != -2 || tmp[i].reader.inst == -2)
            continue;
        const lp__inst *in = &s->insts[tmp[i].reader.inst];
        char a[512];
        who_text(s, tmp[i].reader, a, sizeof a);
        rc = lp__error_set(err, LP_ESPEC,
                           "%s: field '%s' is read by %s in the %s phase, but nobody writes it; "
                           "declare it in program.fields (the program writes it at rollout) or add "
                           "a loss that writes it",
                           in->pos_text, s->fields[i].name, a, phase_text(tmp[i].read_phase));
    }
    if (rc == LP_OK)
        rc = check_outputs(s, err);
    size_t kept = 0;
    for (size_t i = 0; rc == LP_OK && i < n; i++) {
        if (tmp[i].writer.inst == -2) {
            free(s->fields[i].name);
            continue;
        }
        lp__mfield f = s->fields[i];
        const lp__fdecl *d = decl_of(s, tmp[i].type_from);
        f.writer = tmp[i].writer.inst;
        f.train_written = f.writer >= 0 && (tmp[i].write_phase & LP_PHASE_TRAIN);
        f.readers = readers_of(s, f.name);
        if (f.readers == NULL) {
            s->fields[kept++] = f;
            rc = lp__error_set(err, LP_ENOMEM, "lp_session_open: out of memory");
            for (size_t j = i + 1; j < n; j++)
                free(s->fields[j].name);
            break;
        }
        f.info.name = f.name;
        f.info.dtype = d->dtype;
        f.info.rank = d->rank;
        memcpy(f.info.shape, d->shape, sizeof f.info.shape);
        f.info.writer = f.writer >= 0 ? s->insts[f.writer].cfg->name : "program";
        f.info.readers = f.readers;
        f.info.write_phase = tmp[i].write_phase;
        s->fields[kept++] = f;
    }
    if (rc == LP_OK)
        s->field_count = kept;
    else if (kept > 0)
        s->field_count = kept;
    free(tmp);
    return rc;
}

void lp__spec_free(lp_session *s) {
    for (size_t i = 0; i < s->field_count; i++) {
        free(s->fields[i].name);
        free(s->fields[i].readers);
    }
    free(s->fields);
    s->fields = NULL;
    s->field_count = 0;
}
