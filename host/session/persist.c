/* Checkpoints of a session (docs/checkpoint.md): every instance's registered
 * tensors as "<instance>/<name>", the counters as "host/epoch" and
 * "host/env_steps" (i64 scalars), and what the program hands in. */
#include "session/session_impl.h"

#include "state/checkpoint.h"

#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* The restore's own report, kept whole: no copy, so that handing it out
 * cannot fail after the targets were written. */
struct lp_load_report {
    lp__ckpt_report *cr;
};

void lp__states_free(lp_session *s) {
    for (size_t i = 0; i < s->state_count; i++)
        free(s->states[i].name);
    free(s->states);
    s->states = NULL;
    s->state_count = 0;
}

static lp_tensor i64_scalar(int64_t *v) {
    lp_tensor t;
    memset(&t, 0, sizeof t);
    t.data = v;
    t.dtype = LP_DTYPE_I64;
    t.rank = 0;
    return t;
}

/* Extra names may not take the host's or an instance's place. */
static int32_t check_extra(const lp_session *s, const lp_named_tensor *extra, size_t n,
                           const char *fn, lp_error *err) {
    if (n > 0 && extra == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: extra is NULL while extra_count is %zu", fn, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = extra[i].name;
        if (name == NULL)
            return lp__error_set(err, LP_EINVAL, "%s: extra[%zu] has no name", fn, i);
        if (strncmp(name, "host/", 5) == 0)
            return lp__error_set(err, LP_EINVAL,
                                 "%s: extra[%zu] '%.200s' is under \"host/\", which the session "
                                 "uses for its counters; choose another prefix such as \"model/\"",
                                 fn, i, name);
        for (size_t k = 0; k < s->inst_count; k++) {
            size_t len = strlen(s->insts[k].cfg->name);
            if (strncmp(name, s->insts[k].cfg->name, len) == 0 && name[len] == '/')
                return lp__error_set(err, LP_EINVAL,
                                     "%s: extra[%zu] '%.200s' is under \"%s/\", the prefix of "
                                     "instance '%s'; choose another prefix such as \"model/\"",
                                     fn, i, name, s->insts[k].cfg->name, s->insts[k].cfg->name);
        }
    }
    return LP_OK;
}

/* The items of a save or the targets of a load; counters through
 * `counters[2]`. */
static lp__ckpt_item *build_items(const lp_session *s, const lp_named_tensor *extra, size_t n,
                                  int64_t *counters, size_t *count) {
    size_t total = s->state_count + 2 + n + 1; /* + 1: the save's metadata entry */
    lp__ckpt_item *items = calloc(total, sizeof *items);
    if (items == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < s->state_count; i++) {
        items[k].name = s->states[i].name;
        items[k++].view = s->states[i].view;
    }
    items[k].name = "host/epoch";
    items[k++].view = i64_scalar(&counters[0]);
    items[k].name = "host/env_steps";
    items[k++].view = i64_scalar(&counters[1]);
    for (size_t i = 0; i < n; i++) {
        items[k].name = extra[i].name;
        items[k++].view = extra[i].view;
    }
    *count = k;
    return items;
}

/* The text of the entry LP__CKPT_META_PLUGINS: one line per instance,
 * "<instance> <plugin id> <plugin version>\n", in config order. A
 * malloc'ed string (its length in *len), or NULL when out of memory. */
static char *plugins_text(const lp_session *s, size_t *len) {
    size_t size = 1;
    for (size_t i = 0; i < s->inst_count; i++) {
        const lp_loss_desc *d = s->insts[i].info->desc;
        size += strlen(s->insts[i].cfg->name) + strlen(d->id) + strlen(d->version) + 3;
    }
    char *text = malloc(size);
    if (text == NULL)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < s->inst_count; i++) {
        const lp_loss_desc *d = s->insts[i].info->desc;
        at += (size_t)snprintf(text + at, size - at, "%s %s %s\n", s->insts[i].cfg->name, d->id,
                               d->version);
    }
    *len = at;
    return text;
}

int32_t lp_session_save(lp_session *s, const char *path, const lp_named_tensor *extra,
                        size_t extra_count, lp_error *err) {
    if (s == NULL || path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_session_save: the session or the path is NULL");
    int32_t rc = check_extra(s, extra, extra_count, "lp_session_save", err);
    if (rc != LP_OK)
        return rc;
    lp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.struct_size = sizeof ctx;
    ctx.epoch = s->epoch;
    ctx.env_steps = s->env_steps;
    for (size_t i = 0; i < s->inst_count; i++) {
        lp__inst *in = &s->insts[i];
        if (in->loss.save == NULL)
            continue;
        lp__hook_begin(in);
        rc = in->loss.save(&in->loss, &ctx);
        if (rc != LP_OK)
            return lp__hook_result(in, "save", rc, err);
    }
    int64_t counters[2] = {s->epoch, s->env_steps};
    size_t count = 0;
    lp__ckpt_item *items = build_items(s, extra, extra_count, counters, &count);
    size_t text_len = 0;
    char *text = items != NULL ? plugins_text(s, &text_len) : NULL;
    if (text == NULL) {
        free(items);
        return lp__error_set(err, LP_ENOMEM, "lp_session_save: out of memory");
    }
    const size_t written = count + (text_len > 0); /* no instance: no entry */
    /* Which plugin each instance came from, for `lossplug inspect`: a
     * metadata entry that no restore wants or reports (ckpt_restore.c).
     * build_items left room for it. */
    items[count].name = LP__CKPT_META_PLUGINS;
    memset(&items[count].view, 0, sizeof items[count].view);
    items[count].view.data = text;
    items[count].view.dtype = LP_DTYPE_U8;
    items[count].view.rank = 1;
    items[count].view.shape[0] = (int64_t)text_len;
    items[count].view.strides[0] = 1;
    rc = lp__ckpt_write(path, items, written, err);
    free(text);
    free(items);
    return rc;
}

/* The counters never exceed 2^62: epoch + 1 and env_steps + segments
 * (segments <= 2^20) cannot overflow after a resume. */
#define LP__COUNTER_MAX ((int64_t)1 << 62)

static lp_load_entry entry_of(const lp__ckpt_entry *e) {
    lp_load_entry le = {0};
    le.name = e->name;
    le.dtype = e->dtype;
    le.numel = 1;
    for (int32_t d = 0; d < e->rank; d++)
        le.numel *= e->shape[d];
    le.data = e->data;
    return le;
}

/* Every check of a checked load, on the file's data, before any restore. */
static int32_t check_values(const lp__ckpt *ck, const char *path, const lp_named_tensor *extra,
                            size_t extra_count, int extra_required, lp_load_check_fn check,
                            void *user, lp_error *err) {
    static const char *const counters[2] = {"host/epoch", "host/env_steps"};
    for (int k = 0; k < 2; k++) {
        const lp__ckpt_entry *e = lp__ckpt_find(ck, counters[k]);
        if (e == NULL || e->dtype != LP_DTYPE_I64 || e->nbytes != 8)
            continue; /* the restore's report says missing or mismatched */
        int64_t v;
        memcpy(&v, e->data, sizeof v); /* unaligned; the format is little-endian */
        if (v < 0 || v > LP__COUNTER_MAX)
            return lp__error_set(
                err, LP_ECORRUPT,
                "%s: checkpoint entry '%s' = %lld is outside [0, 2^62]; refusing "
                "to resume from it (nothing was changed); the file was not written "
                "by lp_session_save",
                path, counters[k], (long long)v);
    }
    for (size_t i = 0; i < extra_count; i++) {
        const lp__ckpt_entry *e = lp__ckpt_find(ck, extra[i].name);
        if (e == NULL || !lp__ckpt_same_type(e, &extra[i].view)) {
            if (!extra_required)
                continue;
            return lp__error_set(
                err, LP_ESTATE,
                "%s: the checkpoint %s '%s'; resume from a checkpoint of this "
                "program with the same model, trainer.return_window, number of "
                "environments and environment (nothing was changed)",
                path, e == NULL ? "has no entry" : "has another dtype or shape for", extra[i].name);
        }
        if (check != NULL) {
            const lp_load_entry le = entry_of(e);
            int32_t rc = check(user, path, &le, err);
            if (rc != LP_OK)
                return rc;
        }
    }
    return LP_OK;
}

/* Every load: from the file at `path`, or from `size` bytes at `data` when
 * `path` is NULL (named `label` in messages). */
static int32_t load(lp_session *s, const char *path, const void *data, size_t size,
                    const char *label, const lp_named_tensor *extra, size_t extra_count, int strict,
                    int extra_required, lp_load_check_fn check, void *user, lp_load_report **report,
                    lp_error *err) {
    const char *fn = path != NULL ? "lp_session_load" : "lp_session_load_buffer";
    const char *where = path != NULL ? path : label != NULL ? label : "<buffer>";
    if (report != NULL)
        *report = NULL;
    if (s == NULL || (path == NULL && data == NULL))
        return lp__error_set(err, LP_EINVAL, "%s: the session or the %s is NULL", fn,
                             path == NULL ? "data" : "path");
    int32_t rc = check_extra(s, extra, extra_count, fn, err);
    if (rc != LP_OK)
        return rc;
    int64_t counters[2] = {s->epoch, s->env_steps};
    size_t count = 0;
    lp__ckpt_item *items = build_items(s, extra, extra_count, counters, &count);
    if (items == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", fn);
    /* The report's shell is allocated before anything is restored. */
    lp_load_report *shell = NULL;
    if (report != NULL && (shell = calloc(1, sizeof *shell)) == NULL) {
        free(items);
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", fn);
    }
    lp__ckpt *ck = NULL;
    lp__ckpt_report *cr = NULL;
    rc = path != NULL ? lp__ckpt_open(path, &ck, err) : lp__ckpt_parse(data, size, where, &ck, err);
    if (rc == LP_OK)
        rc = check_values(ck, where, extra, extra_count, extra_required, check, user, err);
    if (rc == LP_OK)
        rc = lp__ckpt_restore(ck, items, count, strict ? LP__CKPT_STRICT : LP__CKPT_LENIENT, &cr,
                              err);
    lp__ckpt_close(ck);
    free(items);
    if (cr == NULL) {
        free(shell);
        return rc;
    }
    if (shell != NULL) {
        shell->cr = cr; /* owned by the report from here on */
        *report = shell;
    }
    if (rc != LP_OK) {
        if (shell == NULL)
            lp__ckpt_report_free(cr);
        return rc;
    }
    /* Restored: the counters, then each instance that got state back is
     * told. */
    for (size_t i = 0; i < cr->restored_count; i++) {
        if (strcmp(cr->restored[i], "host/epoch") == 0)
            s->epoch = counters[0];
        else if (strcmp(cr->restored[i], "host/env_steps") == 0)
            s->env_steps = counters[1];
    }
    lp_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.struct_size = sizeof ctx;
    ctx.epoch = s->epoch;
    ctx.env_steps = s->env_steps;
    for (size_t k = 0; rc == LP_OK && k < s->inst_count; k++) {
        lp__inst *in = &s->insts[k];
        size_t len = strlen(in->cfg->name);
        int restored = 0;
        for (size_t i = 0; i < cr->restored_count && !restored; i++)
            restored =
                strncmp(cr->restored[i], in->cfg->name, len) == 0 && cr->restored[i][len] == '/';
        if (!restored || in->loss.load == NULL)
            continue;
        lp__hook_begin(in);
        rc = lp__hook_result(in, "load", in->loss.load(&in->loss, &ctx), err);
    }
    if (shell == NULL)
        lp__ckpt_report_free(cr);
    return rc;
}

int32_t lp_session_load(lp_session *s, const char *path, const lp_named_tensor *extra,
                        size_t extra_count, int strict, lp_load_report **report, lp_error *err) {
    if (path == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_session_load: the path is NULL");
    return load(s, path, NULL, 0, NULL, extra, extra_count, strict, 0, NULL, NULL, report, err);
}

int32_t lp_session_load_buffer(lp_session *s, const void *data, size_t size, const char *label,
                               const lp_named_tensor *extra, size_t extra_count, int strict,
                               lp_load_report **report, lp_error *err) {
    if (data == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_session_load_buffer: the data is NULL");
    return load(s, NULL, data, size, label, extra, extra_count, strict, 0, NULL, NULL, report, err);
}

int32_t lp_checkpoint_read(const char *path, void **data, size_t *size, lp_error *err) {
    unsigned char *buf = NULL;
    if (data != NULL)
        *data = NULL;
    if (size != NULL)
        *size = 0;
    if (data == NULL || size == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_checkpoint_read: data and size must not be NULL");
    int32_t rc = lp__ckpt_read_file(path, &buf, size, err);
    *data = buf;
    return rc;
}

int32_t lp_session_load_checked(lp_session *s, const char *path, const void *data, size_t size,
                                const lp_named_tensor *extra, size_t extra_count, int strict,
                                int extra_required, lp_load_check_fn check, void *check_user,
                                lp_load_report **report, lp_error *err) {
    if (path == NULL && data == NULL)
        return lp__error_set(err, LP_EINVAL,
                             "lp_session_load_checked: the path and the data are NULL");
    return load(s, data != NULL ? NULL : path, data, size, path, extra, extra_count, strict,
                extra_required, check, check_user, report, err);
}

size_t lp_load_report_count(const lp_load_report *r, int32_t kind) {
    if (r == NULL || r->cr == NULL)
        return 0;
    switch (kind) {
    case LP_LOAD_RESTORED:
        return r->cr->restored_count;
    case LP_LOAD_MISSING:
        return r->cr->missing_count;
    case LP_LOAD_UNEXPECTED:
        return r->cr->unexpected_count;
    case LP_LOAD_MISMATCHED:
        return r->cr->mismatched_count;
    default:
        return 0;
    }
}

const char *lp_load_report_name(const lp_load_report *r, int32_t kind, size_t index) {
    if (index >= lp_load_report_count(r, kind))
        return NULL;
    switch (kind) {
    case LP_LOAD_RESTORED:
        return r->cr->restored[index];
    case LP_LOAD_MISSING:
        return r->cr->missing[index];
    case LP_LOAD_UNEXPECTED:
        return r->cr->unexpected[index];
    default:
        return r->cr->mismatched[index].name;
    }
}

void lp_load_report_free(lp_load_report *r) {
    if (r == NULL)
        return;
    lp__ckpt_report_free(r->cr);
    free(r);
}
