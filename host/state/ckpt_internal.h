/*
 * What the checkpoint files share and nobody else needs: the format's
 * constants (docs/checkpoint.md), little-endian encoding, and the checks and
 * copies of names and tensor views.
 */
#ifndef LP_STATE_CKPT_INTERNAL_H
#define LP_STATE_CKPT_INTERNAL_H

#include "state/checkpoint.h"
#include "util/io.h"         /* lp__write_all, lp__read_all */
#include "util/errno_text.h" /* lp__errno_text */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- format ------------------------------------------------------------- */

#define LP__CKPT_MAGIC         "\x89LPCKPT\n" /* 8 bytes, at offset 0 */
#define LP__CKPT_FOOTER_MAGIC  "\x89LPCEND\n" /* 8 bytes, first of the footer */
#define LP__CKPT_MAGIC_SIZE    8
#define LP__CKPT_VERSION       1u
#define LP__CKPT_HEADER_SIZE   28u /* magic 8, version 4, flags 4, count 8, crc 4 */
#define LP__CKPT_FOOTER_SIZE   20u /* magic 8, file size 8, crc 4 */
#define LP__CKPT_HEADER_CRC_AT 24u /* the header CRC covers bytes 0..23 */
/* An entry's fixed parts with a 1-byte name: name length 2, name 1, dtype 1,
 * rank 1, byte count 8, CRC 4. No entry is smaller, so this bounds the entry
 * count a file of a given size can hold. */
#define LP__CKPT_ENTRY_MIN 17u
/* Largest entry head: name length, name, dtype, rank, shape, byte count. */
#define LP__CKPT_ENTRY_HEAD_MAX (2u + LP__CKPT_NAME_MAX + 2u + 8u * LP_MAX_RANK + 8u)

/* ---- little-endian ------------------------------------------------------ */

static inline void lp__put_u16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static inline void lp__put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void lp__put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t lp__get_u16(const unsigned char *p) {
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}
static inline uint32_t lp__get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static inline uint64_t lp__get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- names and views (ckpt_name.c, ckpt_tensor.c) ----------------------- */

/* 0 when `name` is a valid entry name (1..255 bytes of UTF-8, no control
 * characters); otherwise -1 and a static reason in *why. `len` is its length
 * in bytes (the name need not be NUL-terminated). */
int lp__ckpt_name_check(const char *name, size_t len, const char **why);

/* 0 when `t` is a view this module can copy (known dtype, rank 0..8, shape
 * >= 0, data present when there are elements, byte size representable);
 * then *nelem and *nbytes are its dense element count and byte size.
 * Otherwise -1 and a reason in `why`. Strides are not checked: they describe
 * the caller's memory. */
int lp__ckpt_view_check(const lp_tensor *t, uint64_t *nelem, uint64_t *nbytes, char *why,
                        size_t why_size);

/* Every item (of a list to write, or the targets of a restore) has a valid
 * name and view, and each name is given once; `sorted` (`count` pointers,
 * the caller's) receives the items sorted by name. LP_EINVAL otherwise,
 * "<what> '<file>': <noun> 3 ('name'): why" or "... <noun>s 1 and 4 are
 * both named 'x'" (what: "cannot save checkpoint"; noun: "item"). */
int32_t lp__ckpt_items_check(const char *what, const char *file, const char *noun,
                             const lp__ckpt_item *items, size_t count, const lp__ckpt_item **sorted,
                             lp_error *err);

/* Copy elements [first, first + count) of view `t`, in row-major order, into
 * `out` densely as little-endian. `t` passed lp__ckpt_view_check. */
void lp__ckpt_gather(const lp_tensor *t, uint64_t first, uint64_t count, unsigned char *out);

/* Copy all elements from dense little-endian `src` into view `t`. */
void lp__ckpt_scatter(const unsigned char *src, const lp_tensor *t);

#endif
