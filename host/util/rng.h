/* Internal: the host's one pseudo-random core, shared by the model's
 * initialisation (host/model/rng.c), the trainer's action sampler
 * (host/train/rollout.c) and the session's minibatch permutation
 * (host/session/rng.c). Integer arithmetic only: the same sequence on every
 * machine. Checkpoints and seeded tests rely on these exact sequences: do
 * not change them. Not installed. */
#ifndef LP_INTERNAL_RNG_H
#define LP_INTERNAL_RNG_H

#include <stdint.h>

/* SplitMix64: advances *x and returns the next output. */
static inline uint64_t lp__splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline uint64_t lp__rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**'s state from four SplitMix64 outputs of `seed` (never all
 * zero). */
static inline void lp__xoshiro_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = lp__splitmix64(&x);
}

/* xoshiro256**: the next 64 bits. */
static inline uint64_t lp__xoshiro_next(uint64_t s[4]) {
    uint64_t result = lp__rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = lp__rotl64(s[3], 45);
    return result;
}

#endif
