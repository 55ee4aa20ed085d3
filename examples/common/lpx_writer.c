/* The expert dataset writer: see lpx_writer.h. */
#include "lpx_writer.h"

#include <zlib.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LPXW_MAX_DIMS 4096u

struct lpx_writer {
    FILE *f;
    char *path, *tmp;
    uint32_t obs_dim, num_envs, dims, version, space, header_size, record_size;
    int64_t counts[LPXW_MAX_DIMS];
    uint64_t steps, seed;
    uint32_t crc;
    unsigned char *rec; /* one step's records */
};

static void le32(unsigned char *p, uint32_t v) {
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static void le64(unsigned char *p, uint64_t v) {
    le32(p, (uint32_t)v);
    le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t crc(uint32_t c, const unsigned char *p, size_t n) {
    return n == 0 ? c : (uint32_t)crc32_z(c, p, n);
}

/* The header (and version 2's descriptor) into h[header_size]. */
static void header(const lpx_writer *w, unsigned char *h) {
    memset(h, 0, w->header_size);
    memcpy(h, "LPEXPERT", 8);
    le32(h + 8, w->version);
    le32(h + 12, w->header_size);
    le32(h + 16, w->record_size);
    le32(h + 20, w->obs_dim);
    le32(h + 24, w->version == 1 ? (uint32_t)w->counts[0] : w->dims);
    le32(h + 28, w->num_envs);
    le64(h + 32, w->steps);
    le64(h + 40, w->steps * w->num_envs);
    le64(h + 48, w->seed);
    le32(h + 56, w->crc);
    if (w->version == 2) {
        le32(h + 64, w->space);
        for (uint32_t k = 0; w->space != LPX_W_BOX && k < w->dims; k++)
            le32(h + 72 + 4 * k, (uint32_t)w->counts[k]);
    }
    le32(h + 60, crc(crc(0, h, 60), h + 64, w->header_size - 64));
}

static void wfree(lpx_writer *w) {
    if (w == NULL)
        return;
    if (w->f != NULL)
        fclose(w->f);
    free(w->path);
    free(w->tmp);
    free(w->rec);
    free(w);
}

int lpx_writer_open(lpx_writer **out, const char *path, uint32_t obs_dim, uint32_t num_envs,
                    int space, uint32_t dims, const int64_t *counts, uint64_t seed) {
    *out = NULL;
    int ok = path != NULL && *path && obs_dim >= 1 && obs_dim <= (1u << 20) && num_envs >= 1 &&
             dims >= 1 && dims <= LPXW_MAX_DIMS &&
             (space == LPX_W_BOX || space == LPX_W_MULTI_DISCRETE ||
              (space == LPX_W_DISCRETE && dims == 1));
    int64_t sum = 0;
    for (uint32_t k = 0; ok && space != LPX_W_BOX && k < dims; k++) {
        ok = counts != NULL && counts[k] >= 1 && counts[k] <= (1 << 24);
        sum += ok ? counts[k] : 0;
    }
    if (!ok || sum > (1 << 24)) {
        errno = EINVAL;
        return -1;
    }
    lpx_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -1;
    w->obs_dim = obs_dim;
    w->num_envs = num_envs;
    w->dims = dims;
    w->space = (uint32_t)space;
    w->seed = seed;
    w->version = space == LPX_W_DISCRETE ? 1u : 2u;
    w->header_size = w->version == 1 ? 64u : 72u + (space == LPX_W_BOX ? 0u : 4u * dims);
    w->record_size = 4u * obs_dim + 4u * dims + 4u;
    for (uint32_t k = 0; space != LPX_W_BOX && k < dims; k++)
        w->counts[k] = counts[k];
    const size_t plen = strlen(path);
    w->path = malloc(plen + 1);
    w->tmp = malloc(plen + 5);
    w->rec = malloc((size_t)num_envs * w->record_size);
    if (w->path == NULL || w->tmp == NULL || w->rec == NULL) {
        wfree(w);
        return -1;
    }
    memcpy(w->path, path, plen + 1);
    memcpy(w->tmp, path, plen);
    memcpy(w->tmp + plen, ".tmp", 5);
    w->f = fopen(w->tmp, "wb");
    unsigned char h[72 + 4 * LPXW_MAX_DIMS];
    header(w, h); /* a placeholder until close */
    if (w->f == NULL || fwrite(h, 1, w->header_size, w->f) != w->header_size) {
        lpx_writer_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

int lpx_writer_step(lpx_writer *w, const float *obs, const void *actions, const uint8_t *starts) {
    const uint32_t K = w->dims;
    for (uint32_t e = 0; e < w->num_envs; e++) {
        unsigned char *p = w->rec + (size_t)e * w->record_size;
        for (uint32_t k = 0; k < w->obs_dim; k++) {
            uint32_t bits;
            memcpy(&bits, &obs[(size_t)e * w->obs_dim + k], 4);
            le32(p + 4 * k, bits);
        }
        for (uint32_t k = 0; k < K; k++) {
            uint32_t bits;
            memcpy(&bits, (const char *)actions + ((size_t)e * K + k) * 4, 4);
            float x;
            memcpy(&x, &bits, 4);
            if (w->space == LPX_W_BOX
                    ? !isfinite(x)
                    : (int32_t)bits < 0 || (int64_t)(int32_t)bits >= w->counts[k]) {
                errno = EINVAL;
                return -1;
            }
            le32(p + 4 * w->obs_dim + 4 * k, bits);
        }
        unsigned char *tail = p + 4 * w->obs_dim + 4 * K;
        tail[0] = w->steps == 0 || starts[e] != 0;
        tail[1] = tail[2] = tail[3] = 0;
    }
    const size_t bytes = (size_t)w->num_envs * w->record_size;
    if (fwrite(w->rec, 1, bytes, w->f) != bytes)
        return -1;
    w->crc = crc(w->crc, w->rec, bytes);
    w->steps++;
    return 0;
}

int lpx_writer_close(lpx_writer *w) {
    unsigned char h[72 + 4 * LPXW_MAX_DIMS];
    if (w->steps == 0) {
        errno = EINVAL;
        lpx_writer_abort(w);
        return -1;
    }
    header(w, h);
    if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, w->header_size, w->f) != w->header_size) {
        lpx_writer_abort(w);
        return -1;
    }
    const int closed = fclose(w->f);
    w->f = NULL;
    if (closed != 0 || rename(w->tmp, w->path) != 0) {
        lpx_writer_abort(w);
        return -1;
    }
    wfree(w);
    return 0;
}

void lpx_writer_abort(lpx_writer *w) {
    if (w == NULL)
        return;
    if (w->f != NULL) {
        fclose(w->f);
        w->f = NULL;
    }
    remove(w->tmp);
    wfree(w);
}
