/*
 * lossplug/checkpoint.h: saving and restoring a session's state with the
 * program's own tensors (docs/checkpoint.md). Part of liblossplug.
 *
 * The rules of lossplug/registry.h hold for every function here (status
 * and lp_error, no global state, one thread per object, nothing printed).
 */
#ifndef LOSSPLUG_CHECKPOINT_H
#define LOSSPLUG_CHECKPOINT_H

#include <lossplug/session.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor the program saves with the session's state (model parameters,
 * optimizer moments): caller-owned, valid during the call. */
typedef struct lp_named_tensor {
    const char *name; /* e.g. "model/w1"; not "host/..." nor an instance's prefix */
    lp_tensor view;
} lp_named_tensor;

/* Write every instance's registered state (after its save hook), the host's
 * counters and `extra` to `path`, atomically: on failure the previous file
 * is intact. */
LP_API int32_t lp_session_save(lp_session *s, const char *path, const lp_named_tensor *extra,
                               size_t extra_count, lp_error *err);

typedef struct lp_load_report lp_load_report;

/* Restore from `path` into the instances' registered state, the counters and
 * `extra` (the targets). strict: any missing, unexpected or mismatched entry
 * fails and nothing is written. lenient: what matches by name is restored
 * and the rest reported (resuming with another set of losses restores the
 * instances whose names match). A corrupt or truncated file fails and
 * nothing is written. Instances whose state was restored get their load
 * hook. `*report` (may be NULL) must be freed with lp_load_report_free. */
LP_API int32_t lp_session_load(lp_session *s, const char *path, const lp_named_tensor *extra,
                               size_t extra_count, int strict, lp_load_report **report,
                               lp_error *err);

/* lp_session_load from `size` bytes of a checkpoint file held in memory
 * (read once and broadcast to the processes of a data-parallel run);
 * `label` names it in messages (NULL: "<buffer>"). The bytes are copied;
 * the caller keeps its buffer. */
LP_API int32_t lp_session_load_buffer(lp_session *s, const void *data, size_t size,
                                      const char *label, const lp_named_tensor *extra,
                                      size_t extra_count, int strict, lp_load_report **report,
                                      lp_error *err);

/* The bytes of the checkpoint file at `path`, read as lp_session_load
 * reads it (without blocking; a FIFO, device or directory is refused,
 * naming its kind), not yet verified: for a program that reads a file once
 * and hands it to lp_session_load_buffer in several processes. `*data` is
 * malloc'd and the caller's to free(); on failure it is NULL. */
LP_API int32_t lp_checkpoint_read(const char *path, void **data, size_t *size, lp_error *err);

/* One checkpoint entry as a load check sees it: `numel` elements of
 * `dtype`, the file's bytes (dense, little-endian, NOT aligned: copy an
 * element out with memcpy). Valid during the call. */
typedef struct lp_load_entry {
    const char *name;
    int32_t dtype; /* lp_dtype */
    int32_t reserved;
    int64_t numel;
    const void *data;
} lp_load_entry;

/* LP_OK, or a negative status with `err` set (naming the entry and `label`,
 * the file's path or the buffer's label). */
typedef int32_t (*lp_load_check_fn)(void *user, const char *label, const lp_load_entry *e,
                                    lp_error *err);

/* lp_session_load (data NULL: from the file at `path`) or
 * lp_session_load_buffer (from `size` bytes at `data`, labelled `path`) with
 * the checkpoint's values checked before anything is restored: the
 * session's own counters (host/epoch, host/env_steps in 0 .. 2^62, so that
 * no increment overflows), then each `extra` entry, which must be in the
 * file with the target's dtype and shape when `extra_required` is 1, and
 * which is passed to `check` (may be NULL) when it is. On a refusal nothing
 * has changed: no tensor written, no load hook called. A program resuming
 * its own state (a trainer's counters and random state) refuses values it
 * could not have written here. */
LP_API int32_t lp_session_load_checked(lp_session *s, const char *path, const void *data,
                                       size_t size, const lp_named_tensor *extra,
                                       size_t extra_count, int strict, int extra_required,
                                       lp_load_check_fn check, void *check_user,
                                       lp_load_report **report, lp_error *err);

typedef enum lp_load_kind {
    LP_LOAD_RESTORED = 0,
    LP_LOAD_MISSING = 1,    /* the session has it, the file does not */
    LP_LOAD_UNEXPECTED = 2, /* the file has it, the session does not */
    LP_LOAD_MISMATCHED = 3, /* both, with another dtype or shape */
} lp_load_kind;

/* Entries of a report by kind; names are report-owned. */
LP_API size_t lp_load_report_count(const lp_load_report *r, int32_t kind);
LP_API const char *lp_load_report_name(const lp_load_report *r, int32_t kind, size_t index);
LP_API void lp_load_report_free(lp_load_report *r);

#ifdef __cplusplus
}
#endif

#endif /* LOSSPLUG_CHECKPOINT_H */
