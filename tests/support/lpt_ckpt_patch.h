/*
 * lpt_ckpt_patch: rewrite a value inside a checkpoint and make every CRC
 * valid again, from docs/checkpoint.md's format alone: a file that passes
 * every integrity check but holds a bad value, for the resume-check tests.
 * Header-only; returns 0, or -1 (I/O, no such entry, out of range).
 */
#ifndef LPT_CKPT_PATCH_H
#define LPT_CKPT_PATCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpt_bytes.h"

/* Copies checkpoint `in` to `out` with `len` bytes at byte `at` of the data
 * of the first entry whose name starts with `prefix` replaced by `bytes`;
 * the entry's CRC and the footer CRC are recomputed. The entry's full name
 * goes to `name`. */
static inline int lpt_ckpt_patch(const char *in, const char *out, const char *prefix, size_t at,
                                 const void *bytes, size_t len, char *name, size_t name_size) {
    FILE *f = fopen(in, "rb");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size);
    const size_t got = b != NULL ? fread(b, 1, (size_t)size, f) : 0;
    fclose(f);
    if (b == NULL || got != (size_t)size || size < 48) {
        free(b);
        return -1;
    }
    const uint64_t count = lpt_le64(b + 16);
    unsigned char *crcs = malloc((size_t)count * 4 + 16);
    size_t o = 28, nc = 0;
    int done = 0;
    for (uint64_t e = 0; crcs != NULL && e < count; e++) {
        const size_t n = (size_t)(b[o] | (b[o + 1] << 8));
        const size_t r = b[o + 3 + n];
        const size_t nb = (size_t)lpt_le64(b + o + 4 + n + 8 * r);
        unsigned char *data = b + o + 12 + n + 8 * r;
        if (!done && n >= strlen(prefix) && memcmp(b + o + 2, prefix, strlen(prefix)) == 0 &&
            at + len <= nb) {
            memcpy(data + at, bytes, len);
            snprintf(name, name_size, "%.*s", (int)n, (const char *)(b + o + 2));
            lpt_put_le32(data + nb, lpt_crc32(b + o, 12 + n + 8 * r + nb));
            done = 1;
        }
        memcpy(crcs + nc, data + nb, 4);
        nc += 4;
        o += 16 + n + 8 * r + nb;
    }
    int rc = -1;
    if (crcs != NULL && done) {
        memcpy(crcs + nc, b + o, 16);
        lpt_put_le32(b + o + 16, lpt_crc32(crcs, nc + 16));
        FILE *w = fopen(out, "wb");
        if (w != NULL) {
            rc = fwrite(b, 1, (size_t)size, w) == (size_t)size ? 0 : -1;
            rc = fclose(w) == 0 ? rc : -1;
        }
    }
    free(crcs);
    free(b);
    return rc;
}

/* Copies up to `cap` bytes of the data of the entry named exactly `name`
 * in checkpoint `path` into `out`; returns the entry's byte count, or -1
 * (I/O, no such entry). The same walk as lpt_ckpt_patch; no CRC check (the
 * session's load does those). */
static inline long lpt_ckpt_read(const char *path, const char *name, void *out, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size);
    const size_t got = b != NULL ? fread(b, 1, (size_t)size, f) : 0;
    fclose(f);
    long rc = -1;
    if (b != NULL && got == (size_t)size && size >= 48) {
        const uint64_t count = lpt_le64(b + 16);
        size_t o = 28;
        for (uint64_t e = 0; e < count && rc < 0; e++) {
            const size_t n = (size_t)(b[o] | (b[o + 1] << 8));
            const size_t r = b[o + 3 + n];
            const size_t nb = (size_t)lpt_le64(b + o + 4 + n + 8 * r);
            const unsigned char *data = b + o + 12 + n + 8 * r;
            if (n == strlen(name) && memcmp(b + o + 2, name, n) == 0) {
                memcpy(out, data, nb < cap ? nb : cap);
                rc = (long)nb;
            }
            o += 16 + n + 8 * r + nb;
        }
    }
    free(b);
    return rc;
}

#endif /* LPT_CKPT_PATCH_H */
