/* util/rng.h's core: splitmix64 expands the seed into xoshiro256**'s state
 * (never all zero); Box-Muller turns pairs of uniforms into pairs of normals. Only integer
 * arithmetic, log, sqrt, cos and sin: the same numbers on every IEEE-754
 * machine with a faithful libm. */
#include "model/rng.h"

#include "util/rng.h"

#include <math.h>

void lp__rng_seed(lp__rng *r, uint64_t seed) {
    lp__xoshiro_seed(r->s, seed);
    r->has_spare = 0;
    r->spare = 0.0;
}

uint64_t lp__rng_next(lp__rng *r) {
    return lp__xoshiro_next(r->s);
}

double lp__rng_uniform(lp__rng *r) {
    return (double)(lp__rng_next(r) >> 11) * 0x1.0p-53;
}

double lp__rng_normal(lp__rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - lp__rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = lp__rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    r->spare = rad * sin(th);
    r->has_spare = 1;
    return rad * cos(th);
}
