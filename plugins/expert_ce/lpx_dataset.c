/* The expert dataset reader. The file is read once, in chunks, decoding
 * little-endian fields explicitly (any host byte order) and checking each
 * rule of the format as it goes; the CRC of the records is compared after
 * the last byte, so a damaged file is refused before anyone trains on it. */
#include "lpx_dataset.h"

#include <lossplug/abi.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The byte table of the reflected polynomial 0xEDB88320, built on the
 * caller's stack (no global state, 1 KiB, microseconds). */
static void crc_table(uint32_t t[256]) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        t[i] = c;
    }
}

static uint32_t crc_update(const uint32_t t[256], uint32_t crc, const unsigned char *p, size_t n) {
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++)
        c = t[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return ~c;
}

uint32_t lpx_crc32(uint32_t crc, const void *data, size_t n) {
    uint32_t t[256];
    crc_table(t);
    return crc_update(t, crc, data, n);
}

static int32_t fail(char *why, size_t len, int32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int32_t fail(char *why, size_t len, int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return code;
}

void lpx_dataset_free(lpx_dataset *d) {
    if (d == NULL)
        return;
    free(d->obs);
    free(d->action);
    free(d->start);
    memset(d, 0, sizeof *d);
}

#define CHUNK_RECORDS 4096

int32_t lpx_dataset_read(const char *path, lpx_dataset *d, char *why, size_t why_len) {
    memset(d, 0, sizeof *d);
    unsigned char h[LPX_HEADER_SIZE];
    unsigned char *chunk = NULL;
    int32_t rc = LP_OK;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(why, why_len, LP_EIO,
                    "cannot open the dataset '%s' (relative paths are relative to the config "
                    "file's directory)",
                    path);
    if (fseek(f, 0, SEEK_END) != 0) {
        rc = fail(why, why_len, LP_EIO, "cannot seek in the dataset '%s'", path);
        goto done;
    }
    long end = ftell(f);
    if (end < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = fail(why, why_len, LP_EIO, "cannot find the size of the dataset '%s'", path);
        goto done;
    }
    const uint64_t size = (uint64_t)end;
    if (size < LPX_HEADER_SIZE || fread(h, 1, sizeof h, f) != sizeof h) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' is %llu bytes, shorter than its 64-byte header: truncated or "
                  "not an expert dataset",
                  path, (unsigned long long)size);
        goto done;
    }
    if (memcmp(h, LPX_MAGIC, 8) != 0) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "'%s' is not a lossplug expert dataset: it does not start with \"" LPX_MAGIC
                  "\" (write it with the format of docs/losses/expert_ce.md)",
                  path);
        goto done;
    }
    if (rd32(h + 60) != lpx_crc32(0, h, 60)) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': the header's CRC-32 does not match: the header is damaged", path);
        goto done;
    }
    const uint32_t version = rd32(h + 8), header_size = rd32(h + 12), record_size = rd32(h + 16);
    const uint32_t obs_dim = rd32(h + 20), num_actions = rd32(h + 24), num_envs = rd32(h + 28);
    const uint64_t num_steps = rd64(h + 32), count = rd64(h + 40);
    if (version != LPX_VERSION) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' has format version %u; this plugin reads version %u", path,
                  (unsigned)version, (unsigned)LPX_VERSION);
        goto done;
    }
    if (header_size != LPX_HEADER_SIZE || obs_dim < 1 || obs_dim > LPX_MAX_OBS_DIM ||
        num_actions < 1 || num_actions > LPX_MAX_ACTIONS || record_size != 4u * obs_dim + 8u) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': header_size %u, obs_dim %u, num_actions %u, record_size %u: "
                  "expected 64, 1..%u, 1..%u and 4 * obs_dim + 8",
                  path, (unsigned)header_size, (unsigned)obs_dim, (unsigned)num_actions,
                  (unsigned)record_size, (unsigned)LPX_MAX_OBS_DIM, (unsigned)LPX_MAX_ACTIONS);
        goto done;
    }
    /* 2^40 records at most, as the writers promise: no product overflows. */
    if (num_envs < 1 || num_steps < 1 || num_steps > (UINT64_C(1) << 40) / num_envs ||
        count != (uint64_t)num_envs * num_steps) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': num_envs %u, num_steps %llu, record_count %llu: expected "
                  "num_envs >= 1, num_steps >= 1, record_count = num_envs * num_steps <= 2^40",
                  path, (unsigned)num_envs, (unsigned long long)num_steps,
                  (unsigned long long)count);
        goto done;
    }
    const uint64_t payload = count * record_size;
    if (payload / record_size != count || size - LPX_HEADER_SIZE != payload) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' is %llu bytes; its header promises %llu (64 + %llu records of "
                  "%u bytes): the file is %s",
                  path, (unsigned long long)size, (unsigned long long)(LPX_HEADER_SIZE + payload),
                  (unsigned long long)count, (unsigned)record_size,
                  size - LPX_HEADER_SIZE < payload ? "truncated" : "followed by extra bytes");
        goto done;
    }
    if (payload > SIZE_MAX / 2) {
        rc = fail(why, why_len, LP_ERANGE, "dataset '%s' is too large for this machine", path);
        goto done;
    }
    d->num_envs = num_envs;
    d->num_steps = (int64_t)num_steps;
    d->obs_dim = obs_dim;
    d->num_actions = num_actions;
    d->obs = malloc((size_t)count * obs_dim * sizeof *d->obs);
    d->action = malloc((size_t)count * sizeof *d->action);
    d->start = malloc((size_t)count);
    chunk = malloc((size_t)CHUNK_RECORDS * record_size);
    if (d->obs == NULL || d->action == NULL || d->start == NULL || chunk == NULL) {
        rc = fail(why, why_len, LP_ENOMEM,
                  "out of memory reading dataset '%s' (%llu records of %u floats)", path,
                  (unsigned long long)count, (unsigned)obs_dim);
        goto done;
    }
    uint32_t table[256], crc = 0;
    crc_table(table);
    for (uint64_t r0 = 0; r0 < count; r0 += CHUNK_RECORDS) {
        size_t n = count - r0 < CHUNK_RECORDS ? (size_t)(count - r0) : CHUNK_RECORDS;
        if (fread(chunk, record_size, n, f) != n) {
            rc = fail(why, why_len, LP_EIO, "reading dataset '%s' failed at record %llu", path,
                      (unsigned long long)r0);
            goto done;
        }
        crc = crc_update(table, crc, chunk, n * record_size);
        for (size_t i = 0; i < n; i++) {
            const uint64_t r = r0 + i;
            const unsigned char *p = chunk + i * record_size;
            float *o = d->obs + r * obs_dim;
            for (uint32_t k = 0; k < obs_dim; k++) {
                uint32_t bits = rd32(p + 4 * k);
                memcpy(&o[k], &bits, 4);
                if (!isfinite(o[k])) {
                    rc = fail(why, why_len, LP_ECORRUPT,
                              "dataset '%s': record %llu (step %llu, env %llu) has a non-finite "
                              "observation value at index %u",
                              path, (unsigned long long)r, (unsigned long long)(r / num_envs),
                              (unsigned long long)(r % num_envs), (unsigned)k);
                    goto done;
                }
            }
            const unsigned char *q = p + 4 * obs_dim;
            const uint32_t a = rd32(q);
            const int first = r < num_envs;
            if (a >= num_actions || q[4] > 1 || q[5] != 0 || q[6] != 0 || q[7] != 0 ||
                (first && q[4] != 1)) {
                rc = fail(why, why_len, LP_ECORRUPT,
                          "dataset '%s': record %llu (step %llu, env %llu): action %lld, episode "
                          "start %u, reserved %u %u %u: expected an action in [0, %u), a start "
                          "of 0 or 1 (1 at every env's first step) and zero reserved bytes",
                          path, (unsigned long long)r, (unsigned long long)(r / num_envs),
                          (unsigned long long)(r % num_envs), (long long)(int32_t)a, (unsigned)q[4],
                          (unsigned)q[5], (unsigned)q[6], (unsigned)q[7], (unsigned)num_actions);
                goto done;
            }
            d->action[r] = (int32_t)a;
            d->start[r] = q[4];
        }
    }
    if (crc != rd32(h + 56)) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': the records' CRC-32 is %08x, the header says %08x: the data is "
                  "damaged",
                  path, (unsigned)crc, (unsigned)rd32(h + 56));
        goto done;
    }
    d->payload_crc = crc;
done:
    free(chunk);
    if (f != NULL)
        fclose(f);
    if (rc != LP_OK)
        lpx_dataset_free(d);
    return rc;
}
