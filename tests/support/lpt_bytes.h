/*
 * lpt_bytes: the byte-level helpers the tests that read or write file
 * formats from their pages share: CRC-32 by its definition (one bit at a
 * time, independent of the library's table-driven lp__crc32) and
 * little-endian integers. Header-only, no dependencies: include it by its
 * relative path where a test does not link lp_test_support.
 */
#ifndef LPT_BYTES_H
#define LPT_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of p[0..n) continued
 * from `crc` (0 to start). */
static inline uint32_t lpt_crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
    uint32_t c = ~crc;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ ((c & 1u) ? 0xEDB88320u : 0u);
    }
    return ~c;
}

static inline uint32_t lpt_crc32(const unsigned char *p, size_t n) {
    return lpt_crc32_update(0, p, n);
}

static inline uint32_t lpt_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t lpt_le64(const unsigned char *p) {
    return lpt_le32(p) | (uint64_t)lpt_le32(p + 4) << 32;
}

static inline void lpt_put_le32(unsigned char *p, uint32_t v) {
    for (int b = 0; b < 4; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

static inline void lpt_put_le64(unsigned char *p, uint64_t v) {
    lpt_put_le32(p, (uint32_t)v);
    lpt_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif /* LPT_BYTES_H */
