/* The expert dataset reader. The file is read once, in chunks, decoding
 * little-endian fields explicitly (any host byte order) and checking each
 * rule of the format as it goes; the CRC of the records is compared after
 * the last byte, so a damaged file is refused before anyone trains on it. */
#include "lpx_dataset.h"

#include <lossplug/abi.h>

#include <zlib.h>

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

/* zlib's CRC-32 (crc32_z takes a size_t length): the same function the
 * writers document and the host uses for checkpoints, and zlib's is
 * table-driven with slicing, several times faster than a byte table on the
 * large datasets read here. */
uint32_t lpx_crc32(uint32_t crc, const void *data, size_t n) {
    if (data == NULL) /* zlib would return its initial value */
        return crc;
    return (uint32_t)crc32_z(crc, (const Bytef *)data, n);
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
    free(d->nvec);
    memset(d, 0, sizeof *d);
}

#define CHUNK_RECORDS 4096

int32_t lpx_dataset_read(const char *path, lpx_dataset *d, char *why, size_t why_len) {
    memset(d, 0, sizeof *d);
    unsigned char h[LPX_HEADER_SIZE];
    unsigned char *chunk = NULL, *ext = NULL;
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
    const uint32_t version = rd32(h + 8), header_size = rd32(h + 12), record_size = rd32(h + 16);
    const uint32_t obs_dim = rd32(h + 20), num_envs = rd32(h + 28);
    const uint64_t num_steps = rd64(h + 32), count = rd64(h + 40);
    /* Version 2: the action descriptor after the 64 bytes (space, reserved,
     * then one count per component unless a box), under the header CRC. */
    if (version == LPX_VERSION_2 && (header_size < LPX_HEADER_SIZE + 8 ||
                                     header_size > LPX_HEADER_SIZE + 8 + 4 * LPX_MAX_DIMS ||
                                     header_size % 4 != 0 || header_size > size)) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' (version 2): header_size %u is not a multiple of 4 in [72, %u] "
                  "within the file's %llu bytes: the header is damaged",
                  path, (unsigned)header_size, (unsigned)(LPX_HEADER_SIZE + 8 + 4 * LPX_MAX_DIMS),
                  (unsigned long long)size);
        goto done;
    }
    const uint32_t ext_size = version == LPX_VERSION_2 ? header_size - LPX_HEADER_SIZE : 0;
    if (ext_size > 0) {
        ext = malloc(ext_size);
        if (ext == NULL) {
            rc = fail(why, why_len, LP_ENOMEM, "out of memory reading dataset '%s'", path);
            goto done;
        }
        if (fread(ext, 1, ext_size, f) != ext_size) {
            rc = fail(why, why_len, LP_EIO, "reading the header of dataset '%s' failed", path);
            goto done;
        }
    }
    uint32_t hcrc = lpx_crc32(0, h, 60);
    if (ext_size > 0) /* zlib: a NULL buffer asks for the initial value */
        hcrc = lpx_crc32(hcrc, ext, ext_size);
    if (rd32(h + 60) != hcrc) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': the header's CRC-32 does not match: the header is damaged", path);
        goto done;
    }
    if (version != LPX_VERSION && version != LPX_VERSION_2) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' has format version %u; this plugin reads versions 1 and 2", path,
                  (unsigned)version);
        goto done;
    }
    /* The action: version 1 is discrete with A = the word at offset 24;
     * version 2 has K = that word and the descriptor. */
    uint32_t space = LPX_SPACE_DISCRETE, dims = 1;
    uint64_t width = rd32(h + 24);
    if (version == LPX_VERSION_2) {
        space = rd32(ext);
        dims = rd32(h + 24);
        const uint32_t want = space == LPX_SPACE_BOX ? 8u : 8u + 4u * dims;
        if (space > LPX_SPACE_BOX || dims < 1 || dims > LPX_MAX_DIMS ||
            (space == LPX_SPACE_DISCRETE && dims != 1) || rd32(ext + 4) != 0 || ext_size != want) {
            rc = fail(why, why_len, LP_ECORRUPT,
                      "dataset '%s' (version 2): action space %u, action_dims %u, reserved %u, "
                      "header_size %u: expected a space 0 (discrete, 1 dim), 1 (multi-discrete) "
                      "or 2 (box), 1..%u dims, zero reserved and 72 + 4 counts per dim (72 for "
                      "a box)",
                      path, (unsigned)space, (unsigned)dims, (unsigned)rd32(ext + 4),
                      (unsigned)header_size, (unsigned)LPX_MAX_DIMS);
            goto done;
        }
        width = 0;
        if (space != LPX_SPACE_BOX) {
            d->nvec = malloc((size_t)dims * sizeof *d->nvec);
            if (d->nvec == NULL) {
                rc = fail(why, why_len, LP_ENOMEM, "out of memory reading dataset '%s'", path);
                goto done;
            }
            for (uint32_t k = 0; k < dims; k++) {
                const uint32_t n = rd32(ext + 8 + 4 * k);
                if (n < 1 || n > LPX_MAX_ACTIONS) {
                    rc = fail(why, why_len, LP_ECORRUPT,
                              "dataset '%s': component %u of the action has %u choices; "
                              "expected 1..%u",
                              path, (unsigned)k, (unsigned)n, (unsigned)LPX_MAX_ACTIONS);
                    goto done;
                }
                d->nvec[k] = n;
                width += n;
            }
        }
    }
    if ((version == LPX_VERSION && header_size != LPX_HEADER_SIZE) || obs_dim < 1 ||
        obs_dim > LPX_MAX_OBS_DIM || (space != LPX_SPACE_BOX && width < 1) ||
        width > LPX_MAX_ACTIONS || record_size != 4u * obs_dim + 4u * dims + 4u) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s': header_size %u, obs_dim %u, %llu actions, record_size %u: "
                  "expected 64 (version 1), 1..%u, 1..%u and 4 * obs_dim + 8 (version 2: 4 * "
                  "obs_dim + 4 * action_dims + 4)",
                  path, (unsigned)header_size, (unsigned)obs_dim, (unsigned long long)width,
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
    if (payload / record_size != count || size - header_size != payload) {
        rc = fail(why, why_len, LP_ECORRUPT,
                  "dataset '%s' is %llu bytes; its header promises %llu (%u + %llu records of "
                  "%u bytes): the file is %s",
                  path, (unsigned long long)size, (unsigned long long)(header_size + payload),
                  (unsigned)header_size, (unsigned long long)count, (unsigned)record_size,
                  size - header_size < payload ? "truncated" : "followed by extra bytes");
        goto done;
    }
    if (payload > SIZE_MAX / 2) {
        rc = fail(why, why_len, LP_ERANGE, "dataset '%s' is too large for this machine", path);
        goto done;
    }
    if (version == LPX_VERSION) {
        d->nvec = malloc(sizeof *d->nvec);
        if (d->nvec == NULL) {
            rc = fail(why, why_len, LP_ENOMEM, "out of memory reading dataset '%s'", path);
            goto done;
        }
        d->nvec[0] = (int64_t)width;
    }
    d->num_envs = num_envs;
    d->num_steps = (int64_t)num_steps;
    d->obs_dim = obs_dim;
    d->version = version;
    d->space = space;
    d->action_dims = (int32_t)dims;
    d->num_actions = (int64_t)width;
    d->obs = malloc((size_t)count * obs_dim * sizeof *d->obs);
    d->action = malloc((size_t)count * dims * sizeof *d->action);
    d->start = malloc((size_t)count);
    chunk = malloc((size_t)CHUNK_RECORDS * record_size);
    if (d->obs == NULL || d->action == NULL || d->start == NULL || chunk == NULL) {
        rc = fail(why, why_len, LP_ENOMEM,
                  "out of memory reading dataset '%s' (%llu records of %u floats)", path,
                  (unsigned long long)count, (unsigned)obs_dim);
        goto done;
    }
    uint32_t crc = 0;
    for (uint64_t r0 = 0; r0 < count; r0 += CHUNK_RECORDS) {
        size_t n = count - r0 < CHUNK_RECORDS ? (size_t)(count - r0) : CHUNK_RECORDS;
        if (fread(chunk, record_size, n, f) != n) {
            rc = fail(why, why_len, LP_EIO, "reading dataset '%s' failed at record %llu", path,
                      (unsigned long long)r0);
            goto done;
        }
        crc = lpx_crc32(crc, chunk, n * record_size);
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
            uint32_t *act = d->action + r * dims;
            for (uint32_t k = 0; k < dims; k++) {
                act[k] = rd32(q + 4 * k);
                float x;
                memcpy(&x, &act[k], 4);
                if (space == LPX_SPACE_BOX && !isfinite(x)) {
                    rc = fail(why, why_len, LP_ECORRUPT,
                              "dataset '%s': record %llu (step %llu, env %llu): action "
                              "component %u is %g; expected a finite value",
                              path, (unsigned long long)r, (unsigned long long)(r / num_envs),
                              (unsigned long long)(r % num_envs), (unsigned)k, (double)x);
                    goto done;
                }
                if (space != LPX_SPACE_BOX && act[k] >= (uint64_t)d->nvec[k]) {
                    rc = fail(why, why_len, LP_ECORRUPT,
                              "dataset '%s': record %llu (step %llu, env %llu): action %lld "
                              "(component %u): expected an action in [0, %lld)",
                              path, (unsigned long long)r, (unsigned long long)(r / num_envs),
                              (unsigned long long)(r % num_envs), (long long)(int32_t)act[k],
                              (unsigned)k, (long long)d->nvec[k]);
                    goto done;
                }
            }
            q += 4 * dims;
            const int first = r < num_envs;
            if (q[0] > 1 || q[1] != 0 || q[2] != 0 || q[3] != 0 || (first && q[0] != 1)) {
                rc = fail(why, why_len, LP_ECORRUPT,
                          "dataset '%s': record %llu (step %llu, env %llu): episode start %u, "
                          "reserved %u %u %u: expected a start of 0 or 1 (1 at every env's "
                          "first step) and zero reserved bytes",
                          path, (unsigned long long)r, (unsigned long long)(r / num_envs),
                          (unsigned long long)(r % num_envs), (unsigned)q[0], (unsigned)q[1],
                          (unsigned)q[2], (unsigned)q[3]);
                goto done;
            }
            d->start[r] = q[0];
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
    free(ext);
    if (f != NULL)
        fclose(f);
    if (rc != LP_OK)
        lpx_dataset_free(d);
    return rc;
}
