/*
 * Checkpoints: named tensors saved to one file and restored from it.
 * Internal to liblossplug (not installed). The format is documented byte by
 * byte in docs/checkpoint.md.
 *
 * A checkpoint is a list of entries, each a name (UTF-8, 1..255 bytes, no
 * control characters, unique within the file) and a tensor (lp_dtype, rank
 * 0..LP_MAX_RANK, shape, dense row-major little-endian data). The host uses
 * "<instance>/<name>" for the state a loss registered, "host/<counter>" for
 * its own counters (i64 scalars) and whatever names the embedding program
 * chooses ("model/...", "optimizer/...") for the tensors it hands in.
 *
 * Rules for every function here:
 *  - Functions that can fail return an lp_status and, when `err` is not NULL,
 *    fill it (caller-owned) with what failed and where: file, entry index and
 *    name, byte offset, errno text.
 *  - Nothing is printed, nothing global is touched: distinct objects may be
 *    used from distinct threads; one object from one thread at a time.
 *  - Tensor views are never owned by this module: the caller keeps `data`
 *    valid during the call, and nothing keeps a pointer into it afterwards.
 */
#ifndef LP_STATE_CHECKPOINT_H
#define LP_STATE_CHECKPOINT_H

#include <lossplug/host.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest entry name in bytes (without the terminating NUL). */
#define LP__CKPT_NAME_MAX 255

/* A named tensor view handed in: the source of a save, the destination of a
 * restore. Caller-owned, both `name` and `view.data`; valid during the call.
 * `view.strides` count elements and may describe any strided view. */
typedef struct lp__ckpt_item {
    const char *name;
    lp_tensor view;
} lp__ckpt_item;

/* ---- save ------------------------------------------------------------------ */

/* Write `items` (in this order) to `path`, atomically: the data goes to a new
 * temporary file `<path>.tmp.<pid>.<n>` in the same directory, which is
 * fsync'ed and renamed over `path`; then the directory is fsync'ed. Views
 * are written densely, row-major, little-endian.
 * On failure the temporary is removed and `path` is untouched (whatever it
 * held before, or nothing). A process killed mid-write may leave its
 * temporary behind; it is never read and never reused (docs/checkpoint.md).
 * Fails with LP_EINVAL (bad name, duplicate name, bad view: nothing is
 * created), LP_EIO (with the errno text), LP_ENOMEM. */
int32_t lp__ckpt_write(const char *path, const lp__ckpt_item *items, size_t count, lp_error *err);

/* ---- read ------------------------------------------------------------------ */

/* A checkpoint read into memory and fully verified. Owned by whoever opened
 * it; free with lp__ckpt_close. Immutable: may be read from several threads. */
typedef struct lp__ckpt lp__ckpt;

/* One entry of an opened checkpoint. Owned by the lp__ckpt, valid until
 * lp__ckpt_close. */
typedef struct lp__ckpt_entry {
    const char *name;           /* NUL-terminated, valid UTF-8 */
    int32_t dtype;              /* lp_dtype */
    int32_t rank;               /* 0 .. LP_MAX_RANK */
    int64_t shape[LP_MAX_RANK]; /* zero beyond rank */
    uint64_t nbytes;            /* dense data size: elements * dtype size */
    const unsigned char *data;  /* nbytes, dense row-major, little-endian,
                                   not aligned: read it with memcpy or with
                                   lp__ckpt_entry_copy */
    uint64_t offset;            /* where the entry starts in the file */
} lp__ckpt_entry;

/* Read the file at `path` into memory and verify all of it (header, every
 * entry's structure and CRC32, unique names, footer) before returning. On
 * failure *out is NULL and nothing was kept: LP_EIO (cannot open/read, with
 * the errno text), LP_ECORRUPT (truncated or damaged: which entry, which
 * offset, which check), LP_EUNSUPPORTED (a newer format version), LP_ENOMEM.
 * `*out` must be freed with lp__ckpt_close. */
int32_t lp__ckpt_open(const char *path, lp__ckpt **out, lp_error *err);

/* The bytes of the file at `path`, unverified, as lp__ckpt_open reads them:
 * opened without blocking, a regular file only (a FIFO, a device or a
 * directory is refused, naming its kind). `*data` is malloc'd (free it);
 * on failure it is NULL and `err` says what, LP_EIO or LP_ENOMEM. */
int32_t lp__ckpt_read_file(const char *path, unsigned char **data, size_t *size, lp_error *err);

/* The same from `size` bytes at `data` (copied; the caller keeps its
 * buffer). `label` names the source in messages (may be NULL). */
int32_t lp__ckpt_parse(const void *data, size_t size, const char *label, lp__ckpt **out,
                       lp_error *err);

/* Free an opened checkpoint and every entry and name it handed out. NULL is a
 * no-op. */
void lp__ckpt_close(lp__ckpt *ck);

/* The path or label it was opened from. Owned by `ck`. */
const char *lp__ckpt_source(const lp__ckpt *ck);

/* Entries in file order (what `lossplug inspect` lists); NULL when `index` is
 * out of range. */
size_t lp__ckpt_count(const lp__ckpt *ck);
const lp__ckpt_entry *lp__ckpt_entry_at(const lp__ckpt *ck, size_t index);

/* The entry named `name`, or NULL. O(log n). */
const lp__ckpt_entry *lp__ckpt_find(const lp__ckpt *ck, const char *name);

/* Copy one entry into `dst` (any strides). LP_ESTATE, and nothing written,
 * when the dtype or shape differ (the message gives both); LP_EINVAL for a
 * bad view. */
int32_t lp__ckpt_entry_copy(const lp__ckpt_entry *entry, const lp_tensor *dst, lp_error *err);

/* ---- restore --------------------------------------------------------------- */

/* Metadata entries: written by a save for readers such as `lossplug
 * inspect`, never restored and never reported as unexpected by a restore
 * (a checkpoint without them restores the same). */
#define LP__CKPT_META_PREFIX "host/meta/"
/* "<instance> <plugin id> <plugin version>\n" per loss instance (u8 text). */
#define LP__CKPT_META_PLUGINS LP__CKPT_META_PREFIX "plugins"

typedef enum lp__ckpt_mode {
    /* Any missing, unexpected or mismatched entry fails the restore and
     * nothing is written. */
    LP__CKPT_STRICT = 0,
    /* Entries that match are restored; the rest is only reported. */
    LP__CKPT_LENIENT = 1,
} lp__ckpt_mode;

/* A target whose entry exists but differs in dtype or shape: both sides. */
typedef struct lp__ckpt_mismatch {
    const char *name;
    int32_t file_dtype;
    int32_t file_rank;
    int64_t file_shape[LP_MAX_RANK];
    int32_t target_dtype;
    int32_t target_rank;
    int64_t target_shape[LP_MAX_RANK];
} lp__ckpt_mismatch;

/* What a restore found. Every array and string is owned by the report (so it
 * outlives both the checkpoint and the targets); free the whole with
 * lp__ckpt_report_free. Orders: `restored`, `missing` and `mismatched`
 * follow the targets' order, `unexpected` the file's. */
typedef struct lp__ckpt_report {
    size_t restored_count; /* copied into their targets (none under a failed strict restore) */
    const char **restored;
    size_t missing_count; /* a target that the file lacks */
    const char **missing;
    size_t unexpected_count; /* an entry that no target names */
    const char **unexpected;
    size_t mismatched_count; /* same name, other dtype or shape */
    lp__ckpt_mismatch *mismatched;
    char *storage_; /* private: the names */
} lp__ckpt_report;

/* Compare `targets` with the entries of `ck`, then restore. Every check is
 * made before the first byte is copied, so a target is either fully written
 * or untouched:
 *  - strict: any missing, unexpected or mismatched entry -> LP_ESTATE, whose
 *    message lists them, and no target is written;
 *  - lenient: every matching entry is copied; LP_OK.
 * When `report` is not NULL, *report receives the report whenever the
 * comparison was made (LP_OK and LP_ESTATE) and NULL otherwise; free it with
 * lp__ckpt_report_free. Bad targets (invalid name or view, a name given
 * twice) fail with LP_EINVAL before any comparison. */
int32_t lp__ckpt_restore(const lp__ckpt *ck, const lp__ckpt_item *targets, size_t count,
                         lp__ckpt_mode mode, lp__ckpt_report **report, lp_error *err);

/* Whether `e` has the dtype, rank and shape of `t`. */
int lp__ckpt_same_type(const lp__ckpt_entry *e, const lp_tensor *t);

/* lp__ckpt_open + lp__ckpt_restore + lp__ckpt_close. */
int32_t lp__ckpt_load(const char *path, const lp__ckpt_item *targets, size_t count,
                      lp__ckpt_mode mode, lp__ckpt_report **report, lp_error *err);

/* Free a report. NULL is a no-op. */
void lp__ckpt_report_free(lp__ckpt_report *report);

/* ---- helpers --------------------------------------------------------------- */

/* Write "f32[3,4]" ("i64[]" for a scalar) into buf (always NUL-terminated,
 * truncated to `size`). Returns buf. */
char *lp__ckpt_format_type(char *buf, size_t size, int32_t dtype, int32_t rank,
                           const int64_t *shape);

#ifdef __cplusplus
}
#endif

#endif /* LP_STATE_CHECKPOINT_H */
