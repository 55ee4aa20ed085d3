/* The segment order of an update epoch: a permutation from a PRNG seeded by
 * (seed, epoch, update epoch) alone, so a resumed run (whose counters were
 * restored) shuffles exactly as the original would have. SplitMix64, with
 * rejection sampling for unbiased indices. */
#include "session/session_impl.h"

#include "util/rng.h"

/* Uniform in [0, n), n > 0. */
static uint64_t below(uint64_t *x, uint64_t n) {
    uint64_t limit = (0 - n) % n; /* 2^64 mod n: values below it are biased */
    for (;;) {
        uint64_t r = lp__splitmix64(x);
        if (r >= limit)
            return r % n;
    }
}

void lp__permutation(int64_t *perm, int64_t n, int64_t seed, int64_t epoch, int64_t update_epoch) {
    uint64_t x = (uint64_t)seed;
    uint64_t a = lp__splitmix64(&x);
    x = a ^ (uint64_t)epoch;
    uint64_t b = lp__splitmix64(&x);
    x = b ^ ((uint64_t)update_epoch * UINT64_C(0xd1b54a32d192ed03));
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(&x, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
