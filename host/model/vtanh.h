/* Internal: tanh in f32 from arithmetic, bit moves and selects only, so
 * that the activation loops vectorise (glibc's tanhf is an opaque call and
 * took 80% of a CartPole forward). Within 2.5 ulp of tanh on the whole
 * range (tests/model/test_vtanh.c); NaN gives NaN, +-Inf gives +-1, -0
 * gives -0.
 *
 *   tanh(x) = -e / (2 + e) * sign(x), e = expm1(-2|x|)
 *   expm1(y) = 2^k (exp(r) - 1) + (2^k - 1), y = k ln2 + r, |r| <= ln2 / 2,
 * with exp(r) - 1 by its Taylor series to r^7 (truncation < 1e-8 relative)
 * and ln2 split in two (Cody and Waite) so that k ln2 is exact. Using
 * expm1 rather than exp keeps full relative accuracy near 0, where k = 0. */
#ifndef LP_MODEL_VTANH_H
#define LP_MODEL_VTANH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float lp__tanhf(float x) {
    /* Clamp, sign and NaN by mask arithmetic on the bits: no compare for
     * GCC to turn into a branch (it would thread the saturated case), so
     * the loop stays branch-free and vectorises. */
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    const uint32_t ab = xb & 0x7FFFFFFFu;
    const uint32_t nine = 0x41100000u;                    /* 9.0f: tanh(9) is 1 in f32 */
    const uint32_t below = 0u - ((ab - nine) >> 31);      /* all ones when ab < nine */
    const uint32_t cb = nine + ((ab - nine) & below);     /* min(|x|, 9) */
    const uint32_t nan = 0u - ((0x7F800000u - ab) >> 31); /* all ones for NaN */
    float ax;
    memcpy(&ax, &cb, sizeof ax);
    const float y = -2.0f * ax; /* [-18, 0] */
    /* k = round(y / ln2) with the 1.5 * 2^23 trick: t's low bits hold k. */
    const float shifter = 12582912.0f;
    const float t = y * 1.44269504f + shifter;
    const float kf = t - shifter;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    const uint32_t sb = (tb - 0x4B400000u + 127u) << 23; /* 2^k, k in [-26, 0] */
    float s;
    memcpy(&s, &sb, sizeof s);
    const float r = (y - kf * 0.693145751953125f) - kf * 1.42860677e-6f;
    const float p =
        r *
        (1.0f +
         r * (0.5f + r * (1.66666672e-1f +
                          r * (4.16666679e-2f +
                               r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));
    const float e = s * p + (s - 1.0f);
    const float th = -e / (2.0f + e); /* tanh(|x|) >= 0 */
    uint32_t rb;
    memcpy(&rb, &th, sizeof rb);
    rb = (rb & 0x7FFFFFFFu) | (xb & 0x80000000u) | (nan & 0x7FC00000u); /* tanh(0) is +0 */
    float out;
    memcpy(&out, &rb, sizeof out);
    return out;
}

#endif
