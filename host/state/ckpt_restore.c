/* Restoring: compare the targets with the file's entries, report, and only
 * then copy. Since lp__ckpt_open verified every byte and the comparison
 * checked every target, the copies cannot fail: nothing is half-loaded. */
#include "state/ckpt_report.h"

#include "util/error.h"

#include <stdlib.h>

enum { MATCH, MISSING, MISMATCHED };

typedef struct verdict {
    const lp__ckpt_entry *entry; /* NULL when missing */
    int kind;
    const char *name; /* the report's copy */
} verdict;

int lp__ckpt_same_type(const lp__ckpt_entry *e, const lp_tensor *t) {
    if (e->dtype != t->dtype || e->rank != t->rank)
        return 0;
    for (int32_t d = 0; d < e->rank; d++)
        if (e->shape[d] != t->shape[d])
            return 0;
    return 1;
}

int32_t lp__ckpt_entry_copy(const lp__ckpt_entry *entry, const lp_tensor *dst, lp_error *err) {
    uint64_t nelem, nbytes;
    char why[96], a[160], b[160];
    if (entry == NULL)
        return lp__error_set(err, LP_EINVAL, "cannot copy a checkpoint entry: entry is NULL");
    if (lp__ckpt_view_check(dst, &nelem, &nbytes, why, sizeof why) != 0)
        return lp__error_set(err, LP_EINVAL, "cannot copy checkpoint entry '%s': the target: %s",
                             entry->name, why);
    if (!lp__ckpt_same_type(entry, dst))
        return lp__error_set(
            err, LP_ESTATE, "cannot copy checkpoint entry '%s': it is %s but the target is %s",
            entry->name, lp__ckpt_format_type(a, sizeof a, entry->dtype, entry->rank, entry->shape),
            lp__ckpt_format_type(b, sizeof b, dst->dtype, dst->rank, dst->shape));
    lp__ckpt_scatter(entry->data, dst);
    return LP_OK;
}

/* A metadata entry (checkpoint.h): neither wanted nor unexpected. */
static int is_meta(const char *name) {
    return strncmp(name, LP__CKPT_META_PREFIX, sizeof LP__CKPT_META_PREFIX - 1) == 0;
}

static int wanted(const lp__ckpt_item **sorted, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, sorted[mid]->name);
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

int32_t lp__ckpt_restore(const lp__ckpt *ck, const lp__ckpt_item *targets, size_t count,
                         lp__ckpt_mode mode, lp__ckpt_report **report, lp_error *err) {
    const lp__ckpt_item **sorted = NULL;
    verdict *v = NULL;
    lp__ckpt_report *r = NULL;
    size_t n_match = 0, n_missing = 0, n_mismatched = 0, n_unexpected = 0, bytes = 0, used = 0;
    const size_t n_entries = ck ? lp__ckpt_count(ck) : 0;
    const char *src = ck ? lp__ckpt_source(ck) : "?";
    int32_t rc = LP_OK;

    if (report != NULL)
        *report = NULL;
    if (ck == NULL || (count > 0 && targets == NULL))
        return lp__error_set(err, LP_EINVAL, "cannot restore from a checkpoint: NULL argument");
    if (mode != LP__CKPT_STRICT && mode != LP__CKPT_LENIENT)
        return lp__error_set(err, LP_EINVAL, "cannot restore from checkpoint '%s': unknown mode %d",
                             src, (int)mode);
    sorted = malloc((count ? count : 1) * sizeof *sorted);
    v = malloc((count ? count : 1) * sizeof *v);
    if (sorted == NULL || v == NULL) {
        rc = lp__error_set(err, LP_ENOMEM, "cannot restore from checkpoint '%s': out of memory",
                           src);
        goto done;
    }
    if ((rc = lp__ckpt_items_check("cannot restore from checkpoint", src, "target", targets, count,
                                   sorted, err)) != LP_OK)
        goto done;

    /* The comparison: every verdict before any copy. */
    for (size_t i = 0; i < count; i++) {
        v[i].entry = lp__ckpt_find(ck, targets[i].name);
        v[i].kind = v[i].entry == NULL                                 ? MISSING
                    : lp__ckpt_same_type(v[i].entry, &targets[i].view) ? MATCH
                                                                       : MISMATCHED;
        n_match += v[i].kind == MATCH;
        n_missing += v[i].kind == MISSING;
        n_mismatched += v[i].kind == MISMATCHED;
        bytes += strlen(targets[i].name) + 1;
    }
    for (size_t j = 0; j < n_entries; j++) {
        const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, j);
        if (!wanted(sorted, count, e->name) && !is_meta(e->name)) {
            n_unexpected++;
            bytes += strlen(e->name) + 1;
        }
    }

    r = lp__ckpt_report_new(n_match, n_missing, n_unexpected, n_mismatched, bytes);
    if (r == NULL) {
        rc = lp__error_set(err, LP_ENOMEM, "cannot restore from checkpoint '%s': out of memory",
                           src);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = lp__ckpt_report_name(r, &used, targets[i].name);
        if (v[i].kind == MISSING) {
            r->missing[r->missing_count++] = name;
        } else if (v[i].kind == MISMATCHED) {
            lp__ckpt_mismatch *m = &r->mismatched[r->mismatched_count++];
            const lp_tensor *t = &targets[i].view;
            m->name = name;
            m->file_dtype = v[i].entry->dtype;
            m->file_rank = v[i].entry->rank;
            memcpy(m->file_shape, v[i].entry->shape, sizeof m->file_shape);
            m->target_dtype = t->dtype;
            m->target_rank = t->rank;
            for (int32_t d = 0; d < LP_MAX_RANK; d++)
                m->target_shape[d] = d < t->rank ? t->shape[d] : 0;
        }
        v[i].name = name;
    }
    for (size_t j = 0; j < n_entries; j++) {
        const lp__ckpt_entry *e = lp__ckpt_entry_at(ck, j);
        if (!wanted(sorted, count, e->name) && !is_meta(e->name))
            r->unexpected[r->unexpected_count++] = lp__ckpt_report_name(r, &used, e->name);
    }

    if (mode == LP__CKPT_STRICT && (n_missing || n_unexpected || n_mismatched)) {
        if (err != NULL) {
            err->code = LP_ESTATE;
            lp__ckpt_report_describe(r, src, err->message, sizeof err->message);
        }
        rc = LP_ESTATE;
        goto done;
    }

    /* The copies. */
    for (size_t i = 0; i < count; i++) {
        if (v[i].kind != MATCH)
            continue;
        lp__ckpt_scatter(v[i].entry->data, &targets[i].view);
        r->restored[r->restored_count++] = v[i].name;
    }

done:
    free(sorted);
    free(v);
    if (r != NULL && report != NULL && (rc == LP_OK || rc == LP_ESTATE))
        *report = r;
    else
        lp__ckpt_report_free(r);
    return rc;
}

int32_t lp__ckpt_load(const char *path, const lp__ckpt_item *targets, size_t count,
                      lp__ckpt_mode mode, lp__ckpt_report **report, lp_error *err) {
    lp__ckpt *ck;
    int32_t rc;
    if (report != NULL)
        *report = NULL;
    rc = lp__ckpt_open(path, &ck, err);
    if (rc != LP_OK)
        return rc;
    rc = lp__ckpt_restore(ck, targets, count, mode, report, err);
    lp__ckpt_close(ck);
    return rc;
}
