/* Reading a checkpoint: the whole file into memory, then every check of
 * docs/checkpoint.md before anything is handed out. Every length in the file
 * is bounded by the bytes that remain before it is used. */
#include "state/ckpt_internal.h"
#include "state/crc32.h"

#include "util/file_kind.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct lp__ckpt {
    char *source;       /* path or label */
    unsigned char *buf; /* the whole file */
    size_t size;
    size_t count;
    lp__ckpt_entry *entries;        /* file order */
    const lp__ckpt_entry **by_name; /* sorted by strcmp of the names */
    char *names;                    /* NUL-terminated copies of the names */
};

void lp__ckpt_close(lp__ckpt *ck) {
    if (ck == NULL)
        return;
    free(ck->source);
    free(ck->buf);
    free(ck->entries);
    free(ck->by_name);
    free(ck->names);
    free(ck);
}

const char *lp__ckpt_source(const lp__ckpt *ck) {
    return ck->source;
}
size_t lp__ckpt_count(const lp__ckpt *ck) {
    return ck->count;
}

const lp__ckpt_entry *lp__ckpt_entry_at(const lp__ckpt *ck, size_t index) {
    return index < ck->count ? &ck->entries[index] : NULL;
}

const lp__ckpt_entry *lp__ckpt_find(const lp__ckpt *ck, const char *name) {
    size_t lo = 0, hi = ck->count;
    if (name == NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, ck->by_name[mid]->name);
        if (c == 0)
            return ck->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const lp__ckpt_entry *const *)a)->name,
                  (*(const lp__ckpt_entry *const *)b)->name);
}

#define CORRUPT(...) lp__error_set(err, LP_ECORRUPT, __VA_ARGS__)

/* Parse and verify ck->buf; fills the entries. */
static int32_t verify(lp__ckpt *ck, lp_error *err) {
    const unsigned char *b = ck->buf;
    const size_t size = ck->size;
    const char *src = ck->source;
    uint16_t *name_len = NULL;
    uint32_t all_crc = 0, crc, stored;
    uint64_t count;
    size_t pos, names_size = 0;
    int32_t rc = LP_OK;

    if (size < LP__CKPT_HEADER_SIZE + LP__CKPT_FOOTER_SIZE) {
        if (size >= LP__CKPT_MAGIC_SIZE && memcmp(b, LP__CKPT_MAGIC, LP__CKPT_MAGIC_SIZE) != 0)
            return CORRUPT("'%s' is not a lossplug checkpoint (no magic number at offset 0)", src);
        return CORRUPT("checkpoint '%s' is truncated: %zu bytes, less than the %u of an empty "
                       "checkpoint",
                       src, size, LP__CKPT_HEADER_SIZE + LP__CKPT_FOOTER_SIZE);
    }
    if (memcmp(b, LP__CKPT_MAGIC, LP__CKPT_MAGIC_SIZE) != 0)
        return CORRUPT("'%s' is not a lossplug checkpoint (no magic number at offset 0)", src);
    crc = lp__crc32(b, LP__CKPT_HEADER_CRC_AT);
    stored = lp__get_u32(b + LP__CKPT_HEADER_CRC_AT);
    if (crc != stored)
        return CORRUPT("checkpoint '%s' is corrupt: header CRC32 mismatch (offset %u holds "
                       "0x%08X, bytes 0..%u give 0x%08X)",
                       src, LP__CKPT_HEADER_CRC_AT, (unsigned)stored, LP__CKPT_HEADER_CRC_AT - 1,
                       (unsigned)crc);
    if (lp__get_u32(b + 8) != LP__CKPT_VERSION)
        return lp__error_set(err, LP_EUNSUPPORTED,
                             "checkpoint '%s' has format version %u; this build reads version %u",
                             src, (unsigned)lp__get_u32(b + 8), LP__CKPT_VERSION);
    if (lp__get_u32(b + 12) != 0)
        return lp__error_set(err, LP_EUNSUPPORTED,
                             "checkpoint '%s' sets unknown flags 0x%08X; this build knows none",
                             src, (unsigned)lp__get_u32(b + 12));
    count = lp__get_u64(b + 16);
    if (count > (size - LP__CKPT_HEADER_SIZE - LP__CKPT_FOOTER_SIZE) / LP__CKPT_ENTRY_MIN)
        return CORRUPT("checkpoint '%s' is corrupt or truncated: the header announces %llu "
                       "entries, more than %zu bytes can hold",
                       src, (unsigned long long)count, size);
    ck->count = (size_t)count;
    ck->entries = calloc(ck->count ? ck->count : 1, sizeof *ck->entries);
    ck->by_name = calloc(ck->count ? ck->count : 1, sizeof *ck->by_name);
    name_len = calloc(ck->count ? ck->count : 1, sizeof *name_len);
    if (ck->entries == NULL || ck->by_name == NULL || name_len == NULL) {
        rc = lp__error_set(err, LP_ENOMEM, "cannot read checkpoint '%s': out of memory", src);
        goto done;
    }

    pos = LP__CKPT_HEADER_SIZE;
    for (size_t i = 0; i < ck->count; i++) {
        lp__ckpt_entry *e = &ck->entries[i];
        const size_t start = pos;
        size_t len = 0, rank; /* NEED reads len once e->name is set */
        uint64_t nbytes, nelem = 1;
        int too_big = 0;
        const char *why;

/* `n` more bytes are needed for `what` at pos */
#define NEED(n, what)                                                                              \
    do {                                                                                           \
        if ((uint64_t)(n) > (uint64_t)(size - pos)) {                                              \
            int named_ = e->name != NULL && lp__ckpt_name_check(e->name, len, &why) == 0;          \
            rc = CORRUPT("checkpoint '%s' is truncated or corrupt: entry %zu at offset %zu: its "  \
                         "%s needs %llu bytes at offset %zu, but the file ends at %zu%s%.*s%s",    \
                         src, i, start, what, (unsigned long long)(n), pos, size,                  \
                         named_ ? " (entry '" : "", named_ ? (int)len : 0, named_ ? e->name : "",  \
                         named_ ? "')" : "");                                                      \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

        NEED(2, "name length");
        len = lp__get_u16(b + pos);
        if (len == 0 || len > LP__CKPT_NAME_MAX) {
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu at offset %zu: name length %zu is "
                         "outside 1..%d",
                         src, i, start, len, LP__CKPT_NAME_MAX);
            goto done;
        }
        pos += 2;
        NEED(len + 2, "name, dtype and rank");
        rank = b[pos + len + 1];
        if (rank > LP_MAX_RANK) {
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu at offset %zu: rank %zu at offset "
                         "%zu is more than %d",
                         src, i, start, rank, pos + len + 1, LP_MAX_RANK);
            goto done;
        }
        e->name = (const char *)b + pos; /* not terminated yet: see below */
        name_len[i] = (uint16_t)len;
        e->dtype = b[pos + len];
        e->rank = (int32_t)rank;
        pos += len + 2;
        NEED(8 * rank + 8, "shape and byte count");
        for (size_t d = 0; d < rank; d++, pos += 8) {
            uint64_t s = lp__get_u64(b + pos);
            if (s > (uint64_t)INT64_MAX) {
                rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu at offset %zu: shape[%zu] at "
                             "offset %zu is out of range",
                             src, i, start, d, pos);
                goto done;
            }
            e->shape[d] = (int64_t)s;
        }
        nbytes = lp__get_u64(b + pos);
        pos += 8;
        NEED(nbytes, "data");
        e->data = b + pos;
        e->nbytes = nbytes;
        e->offset = start;
        pos += (size_t)nbytes;
        NEED(4, "CRC32");
        crc = lp__crc32(b + start, pos - start);
        stored = lp__get_u32(b + pos);
        if (crc != stored) {
            /* The name as stored, when it reads as one (it may be the
             * damaged part). */
            int named = lp__ckpt_name_check(e->name, len, &why) == 0;
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu at offset %zu: CRC32 mismatch "
                         "(offset %zu holds 0x%08X, bytes %zu..%zu give 0x%08X)%s%.*s%s",
                         src, i, start, pos, (unsigned)stored, start, pos - 1, (unsigned)crc,
                         named ? " (entry '" : "", named ? (int)len : 0, named ? e->name : "",
                         named ? "', as stored)" : "");
            goto done;
        }
        all_crc = lp__crc32_update(all_crc, b + pos, 4);
        pos += 4;
#undef NEED

        /* The CRC matched, so what follows was written like this: a writer
         * that is not ours, or a damage the CRC cannot see. */
        if (lp__ckpt_name_check(e->name, len, &why) != 0) {
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu at offset %zu: %s", src, i, start,
                         why);
            goto done;
        }
        if (lp_dtype_size(e->dtype) == 0) {
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu ('%.*s') at offset %zu: unknown "
                         "dtype %d",
                         src, i, (int)len, e->name, start, (int)e->dtype);
            goto done;
        }
        for (int32_t d = 0; d < e->rank; d++)
            if (e->shape[d] == 0)
                nelem = 0;
        for (int32_t d = 0; d < e->rank && nelem != 0; d++) {
            /* The product may not exceed nbytes (so it cannot overflow). */
            if (nelem > nbytes / (uint64_t)e->shape[d]) {
                too_big = 1;
                break;
            }
            nelem *= (uint64_t)e->shape[d];
        }
        if (too_big || nelem * lp_dtype_size(e->dtype) != nbytes) {
            char type[160];
            rc = CORRUPT("checkpoint '%s' is corrupt: entry %zu ('%.*s') at offset %zu: %llu data "
                         "bytes do not fit its type %s",
                         src, i, (int)len, e->name, start, (unsigned long long)nbytes,
                         lp__ckpt_format_type(type, sizeof type, e->dtype, e->rank, e->shape));
            goto done;
        }
        names_size += len + 1;
    }

    if (LP__CKPT_FOOTER_SIZE > size - pos) {
        rc = CORRUPT("checkpoint '%s' is truncated: the footer needs %u bytes at offset %zu, but "
                     "the file ends at %zu",
                     src, LP__CKPT_FOOTER_SIZE, pos, size);
        goto done;
    }
    if (memcmp(b + pos, LP__CKPT_FOOTER_MAGIC, LP__CKPT_MAGIC_SIZE) != 0) {
        rc = CORRUPT("checkpoint '%s' is corrupt: no footer magic at offset %zu, after the last "
                     "of %zu entries",
                     src, pos, ck->count);
        goto done;
    }
    crc = lp__crc32_update(all_crc, b + pos, 16);
    stored = lp__get_u32(b + pos + 16);
    if (crc != stored) {
        rc = CORRUPT("checkpoint '%s' is corrupt: footer CRC32 mismatch (offset %zu holds 0x%08X, "
                     "the entry CRCs and footer give 0x%08X)",
                     src, pos + 16, (unsigned)stored, (unsigned)crc);
        goto done;
    }
    if (lp__get_u64(b + pos + 8) != size || pos + LP__CKPT_FOOTER_SIZE != size) {
        rc = CORRUPT("checkpoint '%s' is corrupt: the footer at offset %zu records a file of %llu "
                     "bytes, but it has %zu",
                     src, pos, (unsigned long long)lp__get_u64(b + pos + 8), size);
        goto done;
    }

    /* Verified: give the names their terminating NUL, then index them. */
    ck->names = malloc(names_size ? names_size : 1);
    if (ck->names == NULL) {
        rc = lp__error_set(err, LP_ENOMEM, "cannot read checkpoint '%s': out of memory", src);
        goto done;
    }
    {
        char *p = ck->names;
        for (size_t i = 0; i < ck->count; i++) {
            memcpy(p, ck->entries[i].name, name_len[i]);
            p[name_len[i]] = '\0';
            ck->entries[i].name = p;
            ck->by_name[i] = &ck->entries[i];
            p += name_len[i] + 1;
        }
    }
    qsort(ck->by_name, ck->count, sizeof *ck->by_name, by_name);
    for (size_t i = 1; i < ck->count; i++) {
        if (strcmp(ck->by_name[i - 1]->name, ck->by_name[i]->name) == 0) {
            size_t a = (size_t)(ck->by_name[i - 1] - ck->entries);
            size_t c = (size_t)(ck->by_name[i] - ck->entries);
            rc = CORRUPT("checkpoint '%s' is corrupt: entries %zu and %zu are both named '%s'", src,
                         a < c ? a : c, a < c ? c : a, ck->by_name[i]->name);
            goto done;
        }
    }

done:
    free(name_len);
    return rc;
}

#undef CORRUPT

/* Take ownership of `buf` (malloc'd, `size` bytes) and verify it. */
static int32_t open_owned(unsigned char *buf, size_t size, const char *label, lp__ckpt **out,
                          lp_error *err) {
    lp__ckpt *ck = calloc(1, sizeof *ck);
    int32_t rc;
    const char *src = label ? label : "(memory)";
    *out = NULL;
    if (ck == NULL || (ck->source = malloc(strlen(src) + 1)) == NULL) {
        free(ck);
        free(buf);
        return lp__error_set(err, LP_ENOMEM, "cannot read checkpoint '%s': out of memory", src);
    }
    strcpy(ck->source, src);
    ck->buf = buf;
    ck->size = size;
    rc = verify(ck, err);
    if (rc != LP_OK) {
        lp__ckpt_close(ck);
        return rc;
    }
    *out = ck;
    return LP_OK;
}

int32_t lp__ckpt_parse(const void *data, size_t size, const char *label, lp__ckpt **out,
                       lp_error *err) {
    unsigned char *copy;
    if (out == NULL || (data == NULL && size > 0))
        return lp__error_set(err, LP_EINVAL, "cannot read checkpoint: NULL argument");
    *out = NULL;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return lp__error_set(err, LP_ENOMEM, "cannot read checkpoint '%s': out of memory",
                             label ? label : "(memory)");
    if (size > 0)
        memcpy(copy, data, size);
    return open_owned(copy, size, label, out, err);
}

int32_t lp__ckpt_read_file(const char *path, unsigned char **data, size_t *size, lp_error *err) {
    struct stat st;
    unsigned char *buf = NULL;
    size_t want, got;
    char text[128];
    int fd, e;

    if (data == NULL || size == NULL || path == NULL)
        return lp__error_set(err, LP_EINVAL, "cannot read checkpoint: NULL argument");
    *data = NULL;
    *size = 0;
    /* NONBLOCK: opening a FIFO for reading would wait for a writer; this
     * way it fails the regular-file check below instead. It changes nothing
     * for a regular file. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return lp__error_set(err, LP_EIO, "cannot open checkpoint '%s': %s", path,
                             lp__errno_text(errno, text, sizeof text));
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        return lp__error_set(err, LP_EIO, "cannot stat checkpoint '%s': %s", path,
                             lp__errno_text(e, text, sizeof text));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lp__error_set(err, LP_EIO,
                             "cannot read checkpoint '%s': not a regular file: it is %s; give the "
                             "path of a checkpoint file",
                             path, lp__file_kind(st.st_mode));
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return lp__error_set(err, LP_ENOMEM, "cannot read checkpoint '%s': %lld bytes is too large",
                             path, (long long)st.st_size);
    }
    want = (size_t)st.st_size;
    buf = malloc(want ? want : 1);
    if (buf == NULL) {
        close(fd);
        return lp__error_set(
            err, LP_ENOMEM, "cannot read checkpoint '%s': out of memory for %zu bytes", path, want);
    }
    e = lp__read_all(fd, buf, want, &got);
    close(fd);
    if (e != 0) {
        free(buf);
        return lp__error_set(err, LP_EIO, "cannot read checkpoint '%s' at byte %zu: %s", path, got,
                             lp__errno_text(e, text, sizeof text));
    }
    /* A file that shrank while we read it is verified as what we got: the
     * checks then report it as truncated. */
    *data = buf;
    *size = got;
    return LP_OK;
}

int32_t lp__ckpt_open(const char *path, lp__ckpt **out, lp_error *err) {
    unsigned char *buf;
    size_t got;

    if (out == NULL || path == NULL)
        return lp__error_set(err, LP_EINVAL, "cannot read checkpoint: NULL argument");
    *out = NULL;
    int32_t rc = lp__ckpt_read_file(path, &buf, &got, err);
    if (rc != LP_OK)
        return rc;
    return open_owned(buf, got, path, out, err);
}
