/*
 * CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and
 * final xor 0xFFFFFFFF), the checksum of every checkpoint part, computed by
 * zlib's crc32_z: the same function the format has always used, so files
 * written by earlier builds keep loading (tests/state/test_ckpt_compat.c).
 * Check value: lp__crc32("123456789", 9) == 0xCBF43926.
 */
#ifndef LP_STATE_CRC32_H
#define LP_STATE_CRC32_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

/* Incremental form: start from 0 and feed the pieces in order;
 * lp__crc32_update(lp__crc32_update(0, a, n), b, m) equals the CRC of a
 * followed by b. `data` may be NULL when size is 0. */
static inline uint32_t lp__crc32_update(uint32_t crc, const void *data, size_t size) {
    if (size == 0)
        return crc;
    return (uint32_t)crc32_z(crc, (const Bytef *)data, (z_size_t)size);
}

/* CRC of `size` bytes at `data` (NULL allowed when size is 0). */
static inline uint32_t lp__crc32(const void *data, size_t size) {
    return lp__crc32_update(0, data, size);
}

#endif
