/* Tensor views: validation, and the copies between a strided view in host
 * byte order and the dense little-endian layout of a checkpoint entry. */
#include "state/ckpt_internal.h"

#include <stdio.h>

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

char *lp__ckpt_format_type(char *buf, size_t size, int32_t dtype, int32_t rank,
                           const int64_t *shape) {
    size_t len;
    int n;
    if (size == 0)
        return buf;
    n = snprintf(buf, size, "%s[", lp_dtype_name(dtype));
    len = n < 0 ? size : (size_t)n;
    for (int32_t d = 0; d < rank && d < LP_MAX_RANK && len < size; d++) {
        n = snprintf(buf + len, size - len, d ? ",%lld" : "%lld", (long long)shape[d]);
        len = n < 0 ? size : len + (size_t)n;
    }
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

int lp__ckpt_view_check(const lp_tensor *t, uint64_t *nelem, uint64_t *nbytes, char *why,
                        size_t why_size) {
    size_t es;
    uint64_t n = 1;
    if (t == NULL) {
        snprintf(why, why_size, "the view is NULL");
        return -1;
    }
    es = lp_dtype_size(t->dtype);
    if (es == 0) {
        snprintf(why, why_size, "unknown dtype %d", (int)t->dtype);
        return -1;
    }
    if (t->rank < 0 || t->rank > LP_MAX_RANK) {
        snprintf(why, why_size, "rank %d is outside 0..%d", (int)t->rank, LP_MAX_RANK);
        return -1;
    }
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0) {
            snprintf(why, why_size, "shape[%d] is %lld, negative", (int)d, (long long)t->shape[d]);
            return -1;
        }
    }
    /* Multiply only when no dimension is 0, so that a zero anywhere gives 0
     * and never hides an overflow of the others. */
    for (int32_t d = 0; d < t->rank; d++)
        if (t->shape[d] == 0)
            n = 0;
    for (int32_t d = 0; d < t->rank && n != 0; d++) {
        uint64_t s = (uint64_t)t->shape[d];
        if (n > (uint64_t)INT64_MAX / s) {
            snprintf(why, why_size, "the element count overflows");
            return -1;
        }
        n *= s;
    }
    if (n > (uint64_t)INT64_MAX / es || n * es > (uint64_t)SIZE_MAX) {
        snprintf(why, why_size, "the byte size overflows");
        return -1;
    }
    if (n > 0 && t->data == NULL) {
        snprintf(why, why_size, "data is NULL");
        return -1;
    }
    *nelem = n;
    *nbytes = n * es;
    return 0;
}

/* True when the elements lie densely in row-major order from `data`. */
static int is_dense(const lp_tensor *t) {
    int64_t expect = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect)
            return 0;
        expect *= t->shape[d];
    }
    return 1;
}

/* Copy `n` elements of `es` bytes, reversing each element's bytes when
 * `swap` (a big-endian host). Strides in bytes. */
static void copy_run(unsigned char *dst, ptrdiff_t dst_step, const unsigned char *src,
                     ptrdiff_t src_step, uint64_t n, size_t es, int swap) {
    if (!swap && dst_step == (ptrdiff_t)es && src_step == (ptrdiff_t)es) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    for (uint64_t i = 0; i < n; i++, dst += dst_step, src += src_step) {
        if (swap)
            for (size_t b = 0; b < es; b++)
                dst[b] = src[es - 1 - b];
        else
            memcpy(dst, src, es);
    }
}

/* Walk elements [first, first + count) of `t` in row-major order, copying
 * each from the view into `out`, or, when `out` is NULL, from `in` into the
 * view. `out` and `in` are dense. */
static void walk(const lp_tensor *t, uint64_t first, uint64_t count, unsigned char *out,
                 const unsigned char *in) {
    const size_t es = lp_dtype_size(t->dtype);
    const int swap = es > 1 && !host_is_le();
    unsigned char *base = t->data;
    int64_t idx[LP_MAX_RANK];
    int64_t off = 0; /* element offset of idx in the view */
    int32_t last = t->rank - 1;
    size_t done = 0; /* bytes of out / in consumed */

    if (count == 0)
        return;
    if (t->rank == 0 || is_dense(t)) {
        unsigned char *v = base + (size_t)first * es;
        if (out != NULL)
            copy_run(out, (ptrdiff_t)es, v, (ptrdiff_t)es, count, es, swap);
        else
            copy_run(v, (ptrdiff_t)es, in, (ptrdiff_t)es, count, es, swap);
        return;
    }
    for (int32_t d = last; d >= 0; d--) {
        idx[d] = (int64_t)(first % (uint64_t)t->shape[d]);
        first /= (uint64_t)t->shape[d];
        off += idx[d] * t->strides[d];
    }
    while (count > 0) {
        uint64_t n = (uint64_t)(t->shape[last] - idx[last]);
        ptrdiff_t vstep = (ptrdiff_t)(t->strides[last] * (int64_t)es);
        unsigned char *v = base + (ptrdiff_t)(off * (int64_t)es);
        if (n > count)
            n = count;
        if (out != NULL)
            copy_run(out + done, (ptrdiff_t)es, v, vstep, n, es, swap);
        else
            copy_run(v, vstep, in + done, (ptrdiff_t)es, n, es, swap);
        done += (size_t)n * es;
        count -= n;
        idx[last] += (int64_t)n;
        off += (int64_t)n * t->strides[last];
        for (int32_t d = last; d > 0 && idx[d] == t->shape[d]; d--) {
            off -= idx[d] * t->strides[d];
            idx[d] = 0;
            idx[d - 1]++;
            off += t->strides[d - 1];
        }
    }
}

void lp__ckpt_gather(const lp_tensor *t, uint64_t first, uint64_t count, unsigned char *out) {
    walk(t, first, count, out, NULL);
}

void lp__ckpt_scatter(const unsigned char *src, const lp_tensor *t) {
    uint64_t nelem, nbytes;
    char why[8];
    if (lp__ckpt_view_check(t, &nelem, &nbytes, why, sizeof why) != 0)
        return;
    walk(t, 0, nelem, NULL, src);
}
