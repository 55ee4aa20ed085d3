/* A naive double-precision MLP for the tests: one sample at a time, triple
 * loops, parameters found by NAME in the model's tensor table (so it checks
 * the table as well). It shares no code with host/model. */
#ifndef LP_TEST_MLP_REF_H
#define LP_TEST_MLP_REF_H

#include <lossplug/host.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_net {
    int64_t obs_dim, num_actions;
    size_t hidden_count;
    int64_t hidden[8];
    int relu;
    int shared;
    const lp_mlp *m; /* for the tensor table */
} ref_net;

static inline const lp_mlp_tensor_info *ref_tensor(const ref_net *r, const char *name) {
    for (size_t i = 0; i < lp_mlp_tensor_count(r->m); i++) {
        const lp_mlp_tensor_info *t = lp_mlp_tensor_at(r->m, i);
        if (strcmp(t->name, name) == 0)
            return t;
    }
    return NULL;
}

/* y[out] = W x + b for the layer "model/<group>/<idx>/{w,b}" (idx "head"
 * or a number). Returns 0, or -1 when the table lacks it or has it with
 * another shape. */
static inline int ref_affine(const ref_net *r, const double *p, const char *group, const char *idx,
                             int64_t in, int64_t out, const double *x, double *y) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "model/%s/%s/w", group, idx);
    snprintf(bn, sizeof bn, "model/%s/%s/b", group, idx);
    const lp_mlp_tensor_info *w = ref_tensor(r, wn), *b = ref_tensor(r, bn);
    if (w == NULL || b == NULL || w->rank != 2 || w->shape[0] != out || w->shape[1] != in ||
        b->rank != 1 || b->shape[0] != out)
        return -1;
    for (int64_t o = 0; o < out; o++) {
        double s = p[b->offset + (size_t)o];
        for (int64_t i = 0; i < in; i++)
            s += p[w->offset + (size_t)(o * in + i)] * x[i];
        y[o] = s;
    }
    return 0;
}

/* The trunk's output for x (h_out holds the widest layer). */
static inline int ref_trunk(const ref_net *r, const double *p, const char *group, const double *x,
                            double *h_out, int64_t *width) {
    double a[256], b[256];
    int64_t in = r->obs_dim;
    memcpy(a, x, (size_t)in * sizeof *a);
    for (size_t l = 0; l < r->hidden_count; l++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", l);
        int64_t out = r->hidden[l];
        if (ref_affine(r, p, group, idx, in, out, a, b) != 0)
            return -1;
        for (int64_t o = 0; o < out; o++)
            a[o] = r->relu ? (b[o] > 0 ? b[o] : 0.0) : tanh(b[o]);
        in = out;
    }
    memcpy(h_out, a, (size_t)in * sizeof *a);
    *width = in;
    return 0;
}

/* logits [n, A] and values [n] for n observations [n, obs_dim]. */
static inline int ref_forward(const ref_net *r, const double *p, const double *obs, int64_t n,
                              double *logits, double *values) {
    for (int64_t s = 0; s < n; s++) {
        double ha[256], hc[256];
        int64_t wa, wc;
        const double *x = obs + s * r->obs_dim;
        if (ref_trunk(r, p, r->shared ? "trunk" : "actor", x, ha, &wa) != 0 ||
            ref_trunk(r, p, r->shared ? "trunk" : "critic", x, hc, &wc) != 0)
            return -1;
        if (ref_affine(r, p, "actor", "head", wa, r->num_actions, ha,
                       logits + s * r->num_actions) != 0 ||
            ref_affine(r, p, "critic", "head", wc, 1, hc, values + s) != 0)
            return -1;
    }
    return 0;
}

/* L = sum(dlogits * logits) + sum(dvalues * values). */
static inline double ref_loss(const ref_net *r, const double *p, const double *obs, int64_t n,
                              const double *dlogits, const double *dvalues) {
    double *lg = malloc((size_t)(n * r->num_actions) * sizeof *lg);
    double *v = malloc((size_t)n * sizeof *v);
    double L = NAN;
    if (lg != NULL && v != NULL && ref_forward(r, p, obs, n, lg, v) == 0) {
        L = 0.0;
        for (int64_t i = 0; i < n * r->num_actions; i++)
            L += dlogits[i] * lg[i];
        for (int64_t i = 0; i < n; i++)
            L += dvalues[i] * v[i];
    }
    free(lg);
    free(v);
    return L;
}

/* |a - b| <= tol in double, naming both expressions on failure (cmocka's
 * assert_float_equal works in float). Needs cmocka.h. */
#define expect_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double lp_a_ = (double)(a), lp_b_ = (double)(b), lp_t_ = (double)(tol);                    \
        if (!(fabs(lp_a_ - lp_b_) <= lp_t_))                                                       \
            fail_msg("%s = %.9g but %s = %.9g (tolerance %g)", #a, lp_a_, #b, lp_b_, lp_t_);       \
    } while (0)

/* Deterministic test inputs in [-1, 1). */
static inline double ref_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-52 - 1.0;
}

#endif
