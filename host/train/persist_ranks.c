/* Checkpoints of a data-parallel run (docs/distributed.md "Checkpoints").
 *
 * The model, the optimizer and the session's state are the same on every
 * rank and are saved once. Each rank's own entries (trainer/rng,
 * trainer/obs, trainer/returns, trainer/lengths, trainer/counters,
 * env/snapshot) differ: rank 0's keep their names, rank r's are saved as
 * "rank<r>/<name>". Every rank's entry table names all ranks' entries: its
 * own point to its live state, the others' to copies in `blobs` (filled on
 * rank 0 by a gather before a save, scratch elsewhere), so that a strict
 * resume finds every entry accounted for and each rank restores its own
 * directly.
 *
 * Save: every rank packs its entries into `blob`, rank 0 gathers them and
 * writes the file. Resume: rank 0 reads the file, broadcasts its bytes, and
 * every rank restores from them (lp_session_load_buffer): no shared file
 * system is needed. */
#include "train/train_impl.h"

#include "util/errno_text.h"

#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t view_bytes(const lp_tensor *v) {
    size_t n = lp_dtype_size(v->dtype);
    for (int32_t d = 0; d < v->rank; d++)
        n *= (size_t)v->shape[d];
    return n;
}

int32_t lp__persist_ranks_setup(lp__trainer *t, size_t first, lp_error *err) {
    const int32_t size = t->comm.size, rank = t->comm.rank;
    const size_t per = t->extra_count - first;
    size_t bytes = 0, names = 0;
    for (size_t j = first; j < t->extra_count; j++) {
        bytes += view_bytes(&t->extra[j].view);
        names += strlen(t->extra[j].name) + 16;
    }
    lp_named_tensor *extra = realloc(t->extra, (first + per * (size_t)size) * sizeof *extra);
    if (extra == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_train_run: out of memory for the checkpoint table");
    t->extra = extra;
    t->blob_size = bytes;
    t->blobs = calloc((size_t)size, bytes > 0 ? bytes : 1);
    t->blob = calloc(1, bytes > 0 ? bytes : 1);
    t->rank_names = malloc(names * (size_t)size);
    if (t->blobs == NULL || t->blob == NULL || t->rank_names == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_train_run: out of memory for %d ranks' checkpoint entries (%zu "
                             "bytes each)",
                             (int)size, bytes);
    /* The live entries, as persist.c made them (block 0), become rank
     * `rank`'s; block 0 is rewritten last, so it is read intact. */
    lp_named_tensor *own = extra + first;
    char *np = t->rank_names, *end = t->rank_names + names * (size_t)size;
    for (int32_t r = size - 1; r >= 0; r--) {
        lp_named_tensor *dst = extra + first + (size_t)r * per;
        size_t off = 0;
        for (size_t j = 0; j < per; j++) {
            lp_named_tensor e = own[j];
            size_t b = view_bytes(&e.view);
            if (r != rank)
                e.view.data = t->blobs + (size_t)r * bytes + off;
            if (r > 0) {
                int len = snprintf(np, (size_t)(end - np), "rank%d/%s", (int)r, own[j].name);
                e.name = np;
                np += len + 1;
            }
            dst[j] = e;
            off += b;
        }
    }
    t->own_first = first;
    t->own_count = per;
    t->extra_count = first + per * (size_t)size;
    return LP_OK;
}

int32_t lp__persist_ranks_gather(lp__trainer *t, lp_error *err) {
    const lp_named_tensor *own = t->extra + t->own_first + (size_t)t->comm.rank * t->own_count;
    size_t off = 0;
    for (size_t j = 0; j < t->own_count; j++) {
        size_t b = view_bytes(&own[j].view);
        memcpy(t->blob + off, own[j].view.data, b);
        off += b;
    }
    return t->comm.gather(t->comm.user, t->blob, t->comm.rank == 0 ? t->blobs : NULL, t->blob_size,
                          0, err);
}

/* "rank<digits>/..." with a rank this run does not have. */
static int other_run_rank(const char *name, int32_t size) {
    if (strncmp(name, "rank", 4) != 0)
        return 0;
    char *end = NULL;
    long r = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '/' && r >= size;
}

int32_t lp__persist_ranks_load(lp__trainer *t, const char *path, lp_load_check_fn check,
                               lp_load_report **report, lp_error *err) {
    const lp_comm *c = &t->comm;
    *report = NULL;
    unsigned char *data = NULL;
    /* [0]: the file's size, or -1 when rank 0 could not read it. */
    double head[1] = {-1.0};
    int32_t rc = LP_OK;
    if (c->rank == 0) {
        size_t size = 0;
        void *bytes = NULL;
        rc = lp_checkpoint_read(path, &bytes, &size, err);
        data = bytes;
        if (rc == LP_OK)
            head[0] = (double)size;
    }
    int32_t brc = c->broadcast(c->user, head, sizeof head, 0, err);
    if (brc != LP_OK) {
        free(data);
        return brc;
    }
    if (head[0] < 0.0) {
        if (c->rank == 0)
            return rc;
        return lp__error_set(err, LP_EIO,
                             "%s: rank 0 could not read the checkpoint (its message "
                             "says why)",
                             path);
    }
    size_t size = (size_t)head[0];
    if (c->rank != 0)
        data = malloc(size > 0 ? size : 1);
    /* Every rank votes before the second broadcast: a rank that could not
     * make room for the bytes must not leave the others waiting in it (as
     * lp__dist_agree does for a stop). [0]: 1 when some rank ran out. */
    double vote[1] = {data == NULL ? 1.0 : 0.0};
    rc = c->allreduce_f64(c->user, vote, 1, LP_COMM_MAX, err);
    if (rc != LP_OK) {
        free(data);
        return rc;
    }
    if (vote[0] > 0.0) {
        free(data);
        if (data == NULL)
            return lp__error_set(err, LP_ENOMEM,
                                 "%s: out of memory for the checkpoint (%zu bytes) on rank %d",
                                 path, size, (int)c->rank);
        return lp__error_set(err, LP_ENOMEM,
                             "%s: another rank ran out of memory for the checkpoint (%zu bytes); "
                             "its message says which",
                             path, size);
    }
    rc = c->broadcast(c->user, data, size, 0, err);
    if (rc == LP_OK) {
        lp_load_report *r = NULL;
        rc = lp_session_load_checked(t->s, path, data, size, t->extra, t->extra_count,
                                     t->opt->resume_strict, 1, check, t, &r, err);
        if (rc != LP_OK)
            lp_load_report_free(r);
        else
            *report = r;
    }
    free(data);
    return rc;
}

int32_t lp__persist_ranks_check(const lp__trainer *t, const char *path, const lp_load_report *r,
                                lp_error *err) {
    for (size_t i = 0; i < lp_load_report_count(r, LP_LOAD_UNEXPECTED); i++) {
        const char *name = lp_load_report_name(r, LP_LOAD_UNEXPECTED, i);
        if (other_run_rank(name, t->comm.size))
            return lp__error_set(err, LP_ESTATE,
                                 "%s: the checkpoint holds '%s', of a run with more ranks than "
                                 "this one's %d; resume with as many ranks as wrote it (mpirun -np "
                                 "N)",
                                 path, name, (int)t->comm.size);
    }
    return LP_OK;
}
