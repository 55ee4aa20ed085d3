/* Internal: the model's own seeded random numbers, identical on every
 * machine (xoshiro256** seeded through splitmix64; Box-Muller normals). */
#ifndef LP_MODEL_RNG_H
#define LP_MODEL_RNG_H

#include <stdint.h>

typedef struct lp__rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} lp__rng;

void lp__rng_seed(lp__rng *r, uint64_t seed);
uint64_t lp__rng_next(lp__rng *r);
/* Uniform in [0, 1), 53 bits. */
double lp__rng_uniform(lp__rng *r);
/* Standard normal. */
double lp__rng_normal(lp__rng *r);

#endif
