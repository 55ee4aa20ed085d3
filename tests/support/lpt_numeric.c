/* Random numbers and finite-difference gradients for lpt.h. */
#include "lpt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

lpt_rng lpt_rng_seed(uint64_t seed) {
    lpt_rng r = {seed};
    return r;
}

/* splitmix64 (Steele, Lea, Flood 2014). */
uint64_t lpt_rng_u64(lpt_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double lpt_rng_uniform(lpt_rng *r, double lo, double hi) {
    double u = (double)(lpt_rng_u64(r) >> 11) * 0x1.0p-53; /* [0, 1) */
    return lo + (hi - lo) * u;
}

/* Box-Muller; one of the pair is dropped, which keeps the state simple. */
double lpt_rng_normal(lpt_rng *r) {
    double u1 = lpt_rng_uniform(r, 0.0, 1.0), u2 = lpt_rng_uniform(r, 0.0, 1.0);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t lpt_rng_int(lpt_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)(hi - lo) + 1u;
    return span == 0 ? (int64_t)lpt_rng_u64(r) : lo + (int64_t)(lpt_rng_u64(r) % span);
}

void lpt_fd_grad(lpt_scalar_fn f, void *ctx, double *x, size_t n, double h, double *grad) {
    for (size_t i = 0; i < n; i++) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double fp = f(x, n, ctx);
        x[i] = x0 - h;
        const double fm = f(x, n, ctx);
        x[i] = x0;
        grad[i] = (fp - fm) / (2.0 * h);
    }
}

size_t lpt_grad_compare(const double *analytic, const double *numeric, size_t n, double atol,
                        double rtol, size_t *worst, double *max_abs) {
    size_t failures = 0, wi = 0;
    double worst_excess = -INFINITY, mabs = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(analytic[i] - numeric[i]);
        const double excess = d - (atol + rtol * fabs(numeric[i]));
        /* NaN anywhere is a failure, and the worst one. */
        if (!(excess <= 0.0))
            failures++;
        if (!(excess <= worst_excess)) {
            worst_excess = isnan(excess) ? INFINITY : excess;
            wi = i;
        }
        if (!(d <= mabs))
            mabs = isnan(d) ? INFINITY : d;
    }
    if (worst != NULL)
        *worst = wi;
    if (max_abs != NULL)
        *max_abs = mabs;
    return failures;
}

/* lpt_check_own_gradient: the instance's loss at weight 0 as a function of
 * the values of one output. */
typedef struct own_loss {
    lpt_inst *in;
    float *out;
} own_loss;

static double own_loss_of(const double *x, size_t n, void *ctx) {
    own_loss *c = ctx;
    for (size_t k = 0; k < n; k++)
        c->out[k] = (float)x[k];
    lp_train_result res;
    if (lpt_train(c->in, 0.0f, &res) != LP_OK)
        return NAN;
    return res.loss;
}

size_t lpt_check_own_gradient(lpt_inst *in, float *out, const float *grad, size_t n, double h,
                              double atol, double rtol, lpt_own_grad *r) {
    r->worst = 0;
    r->analytic = r->numeric = NAN;
    r->rc = lpt_train(in, 1.0f, NULL);
    if (r->rc != LP_OK)
        return SIZE_MAX;
    double *x = malloc((n ? n : 1) * 3 * sizeof *x);
    if (x == NULL) {
        r->rc = LP_ENOMEM;
        return SIZE_MAX;
    }
    double *an = x + n, *fd = an + n;
    for (size_t k = 0; k < n; k++) {
        x[k] = out[k];
        an[k] = grad[k];
    }
    own_loss c = {in, out};
    lpt_fd_grad(own_loss_of, &c, x, n, h, fd);
    for (size_t k = 0; k < n; k++)
        out[k] = (float)x[k];
    const size_t bad = lpt_grad_compare(an, fd, n, atol, rtol, &r->worst, NULL);
    if (n > 0) {
        r->analytic = an[r->worst];
        r->numeric = fd[r->worst];
    }
    free(x);
    return bad;
}
