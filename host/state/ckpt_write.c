/* Saving a checkpoint atomically: validate everything, write a temporary
 * file next to the target, fsync it, rename it over the target, fsync the
 * directory. Until the rename the previous checkpoint is never touched; on
 * any failure before it the temporary is removed. */
#include "state/ckpt_internal.h"
#include "state/crc32.h"

#include "util/file_kind.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes go out in chunks of this size (and tensors are gathered into it). */
#define WRITE_CHUNK ((size_t)1 << 20)
/* Temporaries tried per save before giving up (each name is new, so only
 * leftovers of killed saves with the same pid can be in the way). */
#define TMP_TRIES 1000u

typedef struct writer {
    const char *path; /* the checkpoint */
    char *tmp;        /* the temporary, NULL until created */
    int fd;
    unsigned char *buf; /* WRITE_CHUNK bytes */
    size_t used;
    uint64_t flushed; /* bytes already written to fd */
    lp_error *err;
} writer;

#define UNTOUCHED "; the previous checkpoint (if any) is untouched"

/* A failure on the temporary: what, where (a byte offset, or none when
 * `at` is UINT64_MAX) and the errno text. */
static int32_t io_error(writer *w, const char *what, uint64_t at, int e) {
    char text[128], where[48] = "";
    lp__errno_text(e, text, sizeof text);
    if (at != UINT64_MAX)
        snprintf(where, sizeof where, " at byte %llu", (unsigned long long)at);
    return lp__error_set(w->err, LP_EIO, "cannot save checkpoint '%s': %s '%s'%s: %s" UNTOUCHED,
                         w->path, what, w->tmp, where, text);
}

static int32_t flush(writer *w) {
    size_t done;
    int e = lp__write_all(w->fd, w->buf, w->used, &done);
    if (e != 0)
        return io_error(w, "writing", w->flushed + done, e);
    w->flushed += w->used;
    w->used = 0;
    return LP_OK;
}

static int32_t emit(writer *w, const void *data, size_t size) {
    const unsigned char *p = data;
    while (size > 0) {
        size_t k = WRITE_CHUNK - w->used;
        if (k == 0) {
            int32_t rc = flush(w);
            if (rc != LP_OK)
                return rc;
            continue;
        }
        if (k > size)
            k = size;
        memcpy(w->buf + w->used, p, k);
        w->used += k;
        p += k;
        size -= k;
    }
    return LP_OK;
}

/* One entry (docs/checkpoint.md); adds its CRC to *all_crc. */
static int32_t emit_entry(writer *w, const lp__ckpt_item *it, uint64_t nelem, uint64_t nbytes,
                          uint32_t *all_crc) {
    unsigned char head[LP__CKPT_ENTRY_HEAD_MAX], tail[4];
    size_t len = strlen(it->name), h = 0;
    const size_t es = lp_dtype_size(it->view.dtype);
    uint32_t crc;
    int32_t rc;

    lp__put_u16(head, (uint16_t)len);
    memcpy(head + 2, it->name, len);
    h = 2 + len;
    head[h++] = (unsigned char)it->view.dtype;
    head[h++] = (unsigned char)it->view.rank;
    for (int32_t d = 0; d < it->view.rank; d++, h += 8)
        lp__put_u64(head + h, (uint64_t)it->view.shape[d]);
    lp__put_u64(head + h, nbytes);
    h += 8;
    crc = lp__crc32_update(0, head, h);
    if ((rc = emit(w, head, h)) != LP_OK)
        return rc;

    for (uint64_t e = 0; e < nelem;) {
        uint64_t k = (WRITE_CHUNK - w->used) / es;
        if (k == 0) {
            if ((rc = flush(w)) != LP_OK)
                return rc;
            continue;
        }
        if (k > nelem - e)
            k = nelem - e;
        lp__ckpt_gather(&it->view, e, k, w->buf + w->used);
        crc = lp__crc32_update(crc, w->buf + w->used, (size_t)(k * es));
        w->used += (size_t)(k * es);
        e += k;
    }

    lp__put_u32(tail, crc);
    *all_crc = lp__crc32_update(*all_crc, tail, 4);
    return emit(w, tail, 4);
}

/* Everything that can be refused is refused here, before a file exists. */
static int32_t check_items(const char *path, const lp__ckpt_item *items, size_t count,
                           lp_error *err) {
    const lp__ckpt_item **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (sorted == NULL)
        return lp__error_set(err, LP_ENOMEM, "cannot save checkpoint '%s': out of memory", path);
    int32_t rc =
        lp__ckpt_items_check("cannot save checkpoint", path, "item", items, count, sorted, err);
    free(sorted);
    return rc;
}

/* Create a new temporary next to `path`; w->tmp and w->fd on success. */
static int32_t create_tmp(writer *w) {
    size_t cap = strlen(w->path) + 64;
    int e = 0;
    w->tmp = malloc(cap);
    if (w->tmp == NULL)
        return lp__error_set(w->err, LP_ENOMEM, "cannot save checkpoint '%s': out of memory",
                             w->path);
    for (unsigned n = 0; n < TMP_TRIES; n++) {
        snprintf(w->tmp, cap, "%s.tmp.%ld.%u", w->path, (long)getpid(), n);
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0)
            return LP_OK;
        e = errno;
        if (e != EEXIST && e != EINTR)
            break;
    }
    {
        char text[128];
        int32_t rc = lp__error_set(w->err, LP_EIO,
                                   "cannot save checkpoint '%s': cannot create the temporary file "
                                   "'%s': %s" UNTOUCHED,
                                   w->path, w->tmp, lp__errno_text(e, text, sizeof text));
        free(w->tmp);
        w->tmp = NULL;
        return rc;
    }
}

/* The directory part of `path` into `dir` ("." when none). */
static void dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Remove the temporaries `<name>.tmp.<pid>.<n>` of earlier saves of this
 * checkpoint whose process is gone (kill(pid, 0) says ESRCH): a save killed
 * mid-write leaves one. A live process's temporaries, this process's own and
 * anything not named exactly so are left alone. A pid reused by an unrelated
 * process keeps a leftover until that process ends; a process in another
 * pid namespace writing the same checkpoint could be taken for dead, which
 * sharing one checkpoint path across containers does not allow anyway.
 * Best effort: nothing here fails the save. */
static void remove_stale_tmps(const char *path, char *dir, size_t cap) {
    dir_of(path, dir, cap);
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(n + blen + 5, &end, 10);
        if (errno != 0 || end == n + blen + 5 || *end != '.' || pid <= 0 || pid == (long)getpid())
            continue;
        const char *k = end + 1;
        if (*k < '0' || *k > '9')
            continue;
        while (*k >= '0' && *k <= '9')
            k++;
        if (*k != '\0')
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to signal: maybe writing */
        struct stat st;
        if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            unlinkat(dfd, n, 0);
    }
    closedir(d);
}

/* A checkpoint replaces its target by rename: a target that exists and is
 * not a regular file (a device such as /dev/null, a FIFO, a directory, a
 * socket), followed through symbolic links, is refused before anything is
 * written. */
static int32_t check_target(const char *path, lp_error *err) {
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return LP_OK; /* absent (or unreadable: the save reports it) */
    return lp__error_set(err, LP_EINVAL,
                         "cannot save checkpoint '%s': it exists and is %s, not a regular file, "
                         "which a checkpoint would replace; give the path of a regular file or of "
                         "a new one",
                         path, lp__file_kind(st.st_mode));
}

/* fsync the directory holding `path`, so that the rename is durable. */
static int sync_dir(const char *path, char *dir, size_t cap) {
    int fd, e = 0;
    dir_of(path, dir, cap);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
        e = errno; /* EINVAL/ENOTSUP: this file system cannot sync directories */
    close(fd);
    return e;
}

int32_t lp__ckpt_write(const char *path, const lp__ckpt_item *items, size_t count, lp_error *err) {
    writer w = {.path = path, .fd = -1, .err = err};
    unsigned char header[LP__CKPT_HEADER_SIZE], footer[LP__CKPT_FOOTER_SIZE];
    uint32_t all_crc = 0;
    int32_t rc;
    int e;

    if (path == NULL || path[0] == '\0')
        return lp__error_set(err, LP_EINVAL, "cannot save checkpoint: the path is empty");
    if (count > 0 && items == NULL)
        return lp__error_set(err, LP_EINVAL, "cannot save checkpoint '%s': items is NULL", path);
    if ((rc = check_items(path, items, count, err)) != LP_OK ||
        (rc = check_target(path, err)) != LP_OK)
        return rc;
    w.buf = malloc(WRITE_CHUNK);
    if (w.buf == NULL)
        return lp__error_set(err, LP_ENOMEM, "cannot save checkpoint '%s': out of memory", path);
    if ((rc = create_tmp(&w)) != LP_OK)
        goto done;

    memcpy(header, LP__CKPT_MAGIC, LP__CKPT_MAGIC_SIZE);
    lp__put_u32(header + 8, LP__CKPT_VERSION);
    lp__put_u32(header + 12, 0); /* flags */
    lp__put_u64(header + 16, (uint64_t)count);
    lp__put_u32(header + LP__CKPT_HEADER_CRC_AT, lp__crc32(header, LP__CKPT_HEADER_CRC_AT));
    if ((rc = emit(&w, header, sizeof header)) != LP_OK)
        goto done;

    for (size_t i = 0; i < count; i++) {
        uint64_t nelem, nbytes;
        char why[8];
        lp__ckpt_view_check(&items[i].view, &nelem, &nbytes, why, sizeof why);
        if ((rc = emit_entry(&w, &items[i], nelem, nbytes, &all_crc)) != LP_OK)
            goto done;
    }

    memcpy(footer, LP__CKPT_FOOTER_MAGIC, LP__CKPT_MAGIC_SIZE);
    lp__put_u64(footer + 8, w.flushed + w.used + LP__CKPT_FOOTER_SIZE);
    lp__put_u32(footer + 16, lp__crc32_update(all_crc, footer, 16));
    if ((rc = emit(&w, footer, sizeof footer)) != LP_OK || (rc = flush(&w)) != LP_OK)
        goto done;

    if (fsync(w.fd) != 0) {
        rc = io_error(&w, "fsync of", UINT64_MAX, errno);
        goto done;
    }
    e = close(w.fd);
    w.fd = -1;
    if (e != 0 && errno != EINTR) {
        rc = io_error(&w, "closing", UINT64_MAX, errno);
        goto done;
    }
    if (rename(w.tmp, path) != 0) {
        char text[128];
        rc = lp__error_set(err, LP_EIO,
                           "cannot save checkpoint '%s': cannot rename '%s' over it: %s" UNTOUCHED,
                           path, w.tmp, lp__errno_text(errno, text, sizeof text));
        goto done;
    }
    free(w.tmp);
    w.tmp = NULL; /* renamed: nothing to remove any more */

    {
        size_t cap = strlen(path) + 2;
        char *dir = malloc(cap);
        char text[128];
        if (dir == NULL) {
            rc = lp__error_set(err, LP_ENOMEM,
                               "checkpoint '%s' was written but its directory was not synced: "
                               "out of memory",
                               path);
            goto done;
        }
        if ((e = sync_dir(path, dir, cap)) != 0)
            rc = lp__error_set(err, LP_EIO,
                               "checkpoint '%s' was written but syncing directory '%s' failed: %s; "
                               "the new file may not survive a power loss",
                               path, dir, lp__errno_text(e, text, sizeof text));
        remove_stale_tmps(path, dir, cap);
        free(dir);
    }

done:
    if (w.fd >= 0)
        close(w.fd);
    if (w.tmp != NULL) {
        unlink(w.tmp);
        free(w.tmp);
    }
    free(w.buf);
    return rc;
}
