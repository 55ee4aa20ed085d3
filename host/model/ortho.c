/* Modified Gram-Schmidt, each vector orthogonalised twice ("twice is
 * enough") in double precision. It yields the Q of the QR factorisation
 * whose R has a positive diagonal, which is what torch gets from Householder
 * QR followed by q *= sign(diag(r)). */
#include "ortho.h"

#include <math.h>
#include <stddef.h>

int lp__orthogonal(float *w, int64_t rows, int64_t cols, double gain, lp__rng *rng, double *g) {
    size_t total = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < total; i++)
        g[i] = lp__rng_normal(rng);

    /* k vectors of length len, element e of vector j at g[j * vs + e * es]:
     * the columns of g when tall (or square), its rows when wide (torch
     * factorises the transpose then). */
    int tall = rows >= cols;
    size_t k = (size_t)(tall ? cols : rows);
    size_t len = (size_t)(tall ? rows : cols);
    size_t vs = tall ? 1 : (size_t)cols;
    size_t es = tall ? (size_t)cols : 1;

    for (size_t j = 0; j < k; j++) {
        double *vj = g + j * vs;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t p = 0; p < j; p++) {
                const double *vp = g + p * vs;
                double dot = 0.0;
                for (size_t e = 0; e < len; e++)
                    dot += vp[e * es] * vj[e * es];
                for (size_t e = 0; e < len; e++)
                    vj[e * es] -= dot * vp[e * es];
            }
        }
        double nrm = 0.0;
        for (size_t e = 0; e < len; e++)
            nrm += vj[e * es] * vj[e * es];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-12))
            return -1;
        for (size_t e = 0; e < len; e++)
            vj[e * es] /= nrm;
    }
    for (size_t i = 0; i < total; i++)
        w[i] = (float)(gain * g[i]);
    return 0;
}
