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
    who updater;            /* first updater; updater.inst == -2: none */
    uint32_t update_phases; /* union of the updaters' phases */
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
        tmp[i].updater.inst = -2;
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
    if (d->access & LP_FIELD_UPDATE) {
        if (tmp[i].updater.inst == -2)
            tmp[i].updater = w;
        tmp[i].update_phases |= d->phase;
    }
    if ((d->access & LP_FIELD_READ) && !(d->access & LP_FIELD_OPTIONAL) &&
        tmp[i].reader.inst == -2) {
        tmp[i].reader = w;
        tmp[i].read_phase = d->phase;
    }
    return LP_OK;
}

/* ---- the chain of a field: writer, updaters (config order), readers ---- */

/* Position in a field's chain: 0 writer, 1 updater, 2 reader. */
static int chain_rank(uint32_t access) {
    return (access & LP_FIELD_WRITE) ? 0 : (access & LP_FIELD_UPDATE) ? 1 : 2;
}

/* The first phase a declaration acts in: rollout (1) comes before train (2). */
static uint32_t first_phase(uint32_t phase) {
    return (phase & LP_PHASE_ROLLOUT) ? LP_PHASE_ROLLOUT : LP_PHASE_TRAIN;
}

/* What a declaration does to a field, for messages. */
static const char *chain_verb(uint32_t access) {
    return (access & LP_FIELD_WRITE) ? "writes" : (access & LP_FIELD_UPDATE) ? "updates" : "reads";
}

/* Hooks run in config order within a phase, and the rollout phase before the
 * train phase. A field's chain (writer, then updaters, then readers) must
 * follow that order: an instance later in the chain is listed later in the
 * config and does not act in an earlier phase than one before it in the
 * chain, so that every reader sees every update and every update sees the
 * written value. The program writes at rollout before any hook. */
static int32_t check_chain(const lp_session *s, const char *name, lp_error *err) {
    for (size_t i = 0; i < s->inst_count; i++) {
        const lp__inst *a = &s->insts[i];
        for (uint32_t k = 0; k < a->field_count; k++) {
            const lp__fdecl *da = &a->fields[k];
            if (strcmp(da->name, name) != 0 || chain_rank(da->access) == 2)
                continue;
            for (size_t j = 0; j < s->inst_count; j++) {
                if (j == i)
                    continue;
                const lp__inst *b = &s->insts[j];
                for (uint32_t m = 0; m < b->field_count; m++) {
                    const lp__fdecl *db = &b->fields[m];
                    /* a comes before b in the chain; of two updaters, the one
                     * listed first. */
                    if (strcmp(db->name, name) != 0 || chain_rank(db->access) == 0 ||
                        (chain_rank(db->access) == 1 && chain_rank(da->access) == 1 && j < i))
                        continue;
                    char ta[512], tb[512];
                    who_text(s, (who){(int32_t)i, k}, ta, sizeof ta);
                    who_text(s, (who){(int32_t)j, m}, tb, sizeof tb);
                    if (j < i)
                        return lp__error_set(
                            err, LP_ESPEC,
                            "%s: field '%s': %s %s it (%s phase) but is listed before %s, which "
                            "%s it (%s phase); hooks run in config order and a field's chain is "
                            "its writer, then its updaters, then its readers: move '%s' above "
                            "'%s' in the losses list (or '%s' below '%s')",
                            b->pos_text, name, tb, chain_verb(db->access), phase_text(db->phase),
                            ta, chain_verb(da->access), phase_text(da->phase), a->cfg->name,
                            b->cfg->name, b->cfg->name, a->cfg->name);
                    if (first_phase(db->phase) < first_phase(da->phase))
                        return lp__error_set(
                            err, LP_ESPEC,
                            "%s: field '%s': %s %s it in the rollout phase, before %s %s it (train "
                            "phase only): the rollout phase runs first, so it would never see "
                            "that; make both act in the same phase (or drop the rollout access)",
                            b->pos_text, name, tb, chain_verb(db->access), ta,
                            chain_verb(da->access));
                }
            }
        }
    }
    return LP_OK;
}

/* Append "NAME (PHASE[, update])" to the chain text. */
static size_t chain_add(char *out, size_t len, size_t cap, const char *who_name, uint32_t phase,
                        uint32_t access) {
    int n = snprintf(out ? out + len : NULL, out ? cap - len : 0, "%s%s (%s%s%s)",
                     len > 0 ? " -> " : "", who_name, phase_text(phase),
                     (access & LP_FIELD_UPDATE) ? ", update" : "",
                     (access & LP_FIELD_OPTIONAL) ? ", optional" : "");
    return len + (size_t)(n > 0 ? n : 0);
}

/* "program (rollout) -> rn (rollout, update) -> gae (train)": the field's
 * chain in the order its parties act; malloc'ed, NULL when out of memory.
 * (`updaters` receives the ", "-joined updater names, malloc'ed.) */
static char *chain_of(const lp_session *s, const char *name, const char *writer,
                      uint32_t write_phase, char **updaters) {
    char *out = NULL, *up = NULL;
    size_t cap = 0, ucap = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t len = chain_add(out, 0, cap, writer, write_phase, 0), ulen = 0;
        for (int rank = 1; rank <= 2; rank++)
            for (size_t i = 0; i < s->inst_count; i++)
                for (uint32_t k = 0; k < s->insts[i].field_count; k++) {
                    const lp__fdecl *d = &s->insts[i].fields[k];
                    if (strcmp(d->name, name) != 0 || chain_rank(d->access) != rank)
                        continue;
                    len = chain_add(out, len, cap, s->insts[i].cfg->name, d->phase, d->access);
                    if (rank == 1) {
                        int n = snprintf(up ? up + ulen : NULL, up ? ucap - ulen : 0, "%s%s",
                                         ulen > 0 ? ", " : "", s->insts[i].cfg->name);
                        ulen += (size_t)(n > 0 ? n : 0);
                    }
                }
        if (pass == 0) {
            cap = len + 1;
            ucap = ulen + 1;
            out = malloc(cap);
            up = calloc(1, ucap);
            if (out == NULL || up == NULL) {
                free(out);
                free(up);
                return NULL;
            }
        }
    }
    *updaters = up;
    return out;
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
    /* Updates of a field nobody writes. */
    for (size_t i = 0; rc == LP_OK && i < n; i++) {
        if (tmp[i].writer.inst != -2 || tmp[i].updater.inst == -2)
            continue;
        const lp__inst *in = &s->insts[tmp[i].updater.inst];
        char a[512];
        who_text(s, tmp[i].updater, a, sizeof a);
        rc = lp__error_set(err, LP_ESPEC,
                           "%s: field '%s' is updated by %s, but nobody writes it: an update "
                           "rewrites a value another party wrote; declare '%s' in program.fields "
                           "(the program writes it at rollout) or add a loss that writes it",
                           in->pos_text, s->fields[i].name, a, s->fields[i].name);
    }
    for (size_t i = 0; rc == LP_OK && i < n; i++)
        if (tmp[i].updater.inst != -2)
            rc = check_chain(s, s->fields[i].name, err);
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
        /* A train-phase update of a minibatch is scattered back too. */
        f.train_written = (f.writer >= 0 && (tmp[i].write_phase & LP_PHASE_TRAIN)) ||
                          (tmp[i].update_phases & LP_PHASE_TRAIN);
        f.readers = readers_of(s, f.name);
        const char *wname = f.writer >= 0 ? s->insts[f.writer].cfg->name : "program";
        f.chain = f.readers ? chain_of(s, f.name, wname, tmp[i].write_phase, &f.updaters) : NULL;
        if (f.readers == NULL || f.chain == NULL) {
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
        f.info.updaters = f.updaters;
        f.info.chain = f.chain;
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
        free(s->fields[i].updaters);
        free(s->fields[i].chain);
    }
    free(s->fields);
    s->fields = NULL;
    s->field_count = 0;
}
