/*
 * exp and log in f32 made of arithmetic, bit moves and selects only, so that
 * a counted loop that calls them (inlined) vectorises without -ffast-math.
 * glibc's expf/logf are opaque calls the vectoriser cannot widen unless
 * -ffast-math lets it use libmvec. Header-only (static inline).
 *
 * Accuracy: within about 2 ulp of the correctly rounded result on the normal
 * range (checked against double-precision exp/log in tests/plugins).
 *
 * lp__expf(x):
 *   x < -86.5        -> 0 (true results there are below 2.5e-38, the
 *                       bottom of the normal range; the softmax only ever
 *                       adds such terms to a sum >= 1)
 *   x > 88.73        -> +Inf (overflow, as expf)
 *   NaN              -> NaN
 *   exp(0)           -> exactly 1
 * lp__logf(x):
 *   x == 0 -> -Inf, x < 0 -> NaN, +Inf -> +Inf, NaN -> NaN,
 *   subnormal x handled (scaled by 2^23 first), log(1) -> exactly 0.
 */
#ifndef LP_COMMON_VMATH_H
#define LP_COMMON_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef LP__RESTRICT
#ifdef __cplusplus
#define LP__RESTRICT __restrict
#else
#define LP__RESTRICT restrict
#endif
#endif

#if defined(__GNUC__)
#define LP__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define LP__ALWAYS_INLINE inline
#endif

static LP__ALWAYS_INLINE uint32_t lp__f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static LP__ALWAYS_INLINE float lp__bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* e^x. Range reduction x = n ln2 + r, |r| <= ln2/2, with ln2 split in two
 * so that n * ln2_hi is exact; e^r by its Taylor polynomial to degree 7
 * (remainder below 2^-28 relative), evaluated by Estrin's scheme; 2^n built in the exponent bits.
 * The integer n is read from the bits of a float rounded with the 1.5 * 2^23 trick: no float-to-int
 * conversion, so NaN stays defined behaviour. */
static LP__ALWAYS_INLINE float lp__expf_impl(float x, const int upper) {
    const float lo = -86.5f, hi = 88.75f;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x < lo ? lo : x;
    if (upper)
        xc = xc > hi ? hi : xc;
    const float t = xc * 1.44269504088896341f + shift;
    const float n = t - shift;
    /* n in [-125, 128]: 2^(n-1) has a normal exponent, and 2 * p * 2^(n-1)
     * overflows to Inf exactly where e^x does. */
    const uint32_t ni = lp__f32_bits(t) - lp__f32_bits(shift);
    float r = xc - n * 0.693359375f; /* ln2_hi: 9 significant bits, n * ln2_hi exact */
    r = r - n * -2.12194440e-4f;     /* ln2_lo = ln2 - ln2_hi */
    /* Estrin's scheme: the same polynomial with a dependency chain of 3
     * multiply-adds instead of 7, so that several rows' exponentials
     * overlap in the pipeline. */
    const float r2 = r * r, r4 = r2 * r2;
    const float p01 = 1.0f + r;                            /* 1 + r */
    const float p23 = 0.5f + r * 1.66666667e-1f;           /* 1/2! + r/3! */
    const float p45 = 4.16666667e-2f + r * 8.33333333e-3f; /* 1/4! + r/5! */
    const float p67 = 1.38888889e-3f + r * 1.98412698e-4f; /* 1/6! + r/7! */
    const float p = (p01 + r2 * p23) + r4 * (p45 + r2 * p67);
    /* 2^(n-1), doubled back, where n can be 128 (2^128 is not a float);
     * for x <= 0 (n <= 0) p * 2^n directly: the same value, rounded once
     * either way, one operation fewer. */
    const float scale = lp__bits_f32((ni + (upper ? 126u : 127u)) << 23);
    float y = upper ? (p + p) * scale : p * scale;
    y = x < lo ? 0.0f : y;
    if (upper)
        y = x > hi ? INFINITY : y;
    return y;
}

static LP__ALWAYS_INLINE float lp__expf(float x) {
    return lp__expf_impl(x, 1);
}

/* e^x for x <= 0 (a softmax's z - max): two selects and an add fewer than
 * lp__expf, the same bits for x <= 0. Positive x are not checked against
 * overflow (from x > 88.37 the result is Inf or wrong). */
static LP__ALWAYS_INLINE float lp__expf_nonpos(float x) {
    return lp__expf_impl(x, 0);
}

/* log(x). x = 2^e * m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(f / (2 + f)),
 * f = m - 1 (exact), by its odd series to s^11 (|s| <= 0.1716). */
static LP__ALWAYS_INLINE float lp__logf(float x) {
    const int sub = x < 1.17549435e-38f;       /* subnormal (or zero/negative: fixed below) */
    const float xs = sub ? x * 8388608.0f : x; /* * 2^23 */
    const uint32_t u = lp__f32_bits(xs);
    /* Subtracting the bits of sqrt(1/2) puts m in [sqrt(1/2), sqrt(2)). */
    const uint32_t off = u - 0x3f3504f3u;
    const int32_t e = (int32_t)(off >> 23) - (int32_t)((off >> 31) << 9) - (sub ? 23 : 0);
    const float m = lp__bits_f32((off & 0x007fffffu) + 0x3f3504f3u);
    const float f = m - 1.0f;
    const float s = f / (2.0f + f);
    const float s2 = s * s;
    float q = 0.0909090909f;   /* 1/11 */
    q = q * s2 + 0.111111111f; /* 1/9 */
    q = q * s2 + 0.142857143f; /* 1/7 */
    q = q * s2 + 0.2f;
    q = q * s2 + 0.333333333f;
    const float lm = 2.0f * s + 2.0f * s * s2 * q;
    const float ef = (float)e;
    float y = ef * 0.693359375f + (lm + ef * -2.12194440e-4f);
    y = x == INFINITY ? x : y;
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    y = x != x ? x : y;
    return y;
}

#endif /* LP_COMMON_VMATH_H */
