/*
 * Internal: a checked resume. lp__session_load_checked is lp_session_load
 * with the checkpoint's values checked before anything is restored: the
 * session's own counters (host/epoch, host/env_steps: 0 .. 2^62, so that no
 * increment overflows), then every `extra` entry, which must be present with
 * the target's dtype and shape (when extra_required) and passes `check`.
 * On a refusal nothing of the run has changed: no tensor written, no load
 * hook called. The entry data is the file's (dense, little-endian, not
 * aligned): read elements with lp__load_entry_f64 / _i64.
 */
#ifndef LP_INTERNAL_LOAD_CHECK_H
#define LP_INTERNAL_LOAD_CHECK_H

#include <lossplug/host.h>

#include <stdint.h>
#include <string.h>

/* One checkpoint entry as the check sees it. */
typedef struct lp__load_entry {
    const char *name;
    int32_t dtype;
    int64_t numel;
    const unsigned char *data; /* numel elements of dtype, unaligned */
} lp__load_entry;

static inline double lp__load_entry_f64(const lp__load_entry *e, int64_t i) {
    if (e->dtype == LP_DTYPE_F32) {
        float f;
        memcpy(&f, e->data + 4 * i, 4);
        return f;
    }
    if (e->dtype == LP_DTYPE_F64) {
        double d;
        memcpy(&d, e->data + 8 * i, 8);
        return d;
    }
    return 0.0;
}

static inline int64_t lp__load_entry_i64(const lp__load_entry *e, int64_t i) {
    if (e->dtype == LP_DTYPE_I64) {
        int64_t v;
        memcpy(&v, e->data + 8 * i, 8);
        return v;
    }
    if (e->dtype == LP_DTYPE_I32) {
        int32_t v;
        memcpy(&v, e->data + 4 * i, 4);
        return v;
    }
    return 0;
}

/* LP_OK, or an error code with `err` set (naming the entry and `path`). */
typedef int32_t (*lp__load_check_fn)(void *user, const char *path, const lp__load_entry *e,
                                     lp_error *err);

/* From the file at `path`, or, when `data` is not NULL, from its `size`
 * bytes (a checkpoint read by one rank and broadcast; `path` then names it
 * in messages). */
int32_t lp__session_load_checked(lp_session *s, const char *path, const void *data, size_t size,
                                 const lp_named_tensor *extra, size_t extra_count, int strict,
                                 int extra_required, lp__load_check_fn check, void *user,
                                 lp_load_report **report, lp_error *err);

#endif /* LP_INTERNAL_LOAD_CHECK_H */
