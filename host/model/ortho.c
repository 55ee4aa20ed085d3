/* Orthogonal initialisation through LAPACK's Householder QR (dgeqrf, then
 * dorgqr to form Q), in double precision, with Q's columns negated where
 * R's diagonal is negative: the Q of the QR factorisation whose R has a
 * positive diagonal, which is what torch gets from its QR followed by
 * q *= sign(diag(r)). O(rows cols min(rows, cols)) in blocked BLAS-3 code:
 * a 1024 x 1024 weight takes a fraction of a second (a column-strided
 * Gram-Schmidt took 40 s). */
#include "ortho.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* LAPACK as OpenBLAS exports it (Fortran calling convention, 32-bit
 * integers as Debian's libopenblas builds it; no string arguments here). */
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
             double *work, const int *lwork, int *info);

int lp__orthogonal(float *w, int64_t rows, int64_t cols, double gain, lp__rng *rng, double *g) {
    const size_t total = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < total; i++)
        g[i] = lp__rng_normal(rng);

    /* Factorise A [m, n] column-major, m >= n: the columns of G when tall or
     * square, the columns of G^T (its rows) when wide (torch factorises the
     * transpose then). The row-major G read column-major is G^T [cols,
     * rows]: used in place when wide, transposed into a copy when tall. */
    const int tall = rows >= cols;
    const int64_t m64 = tall ? rows : cols, n64 = tall ? cols : rows;
    if (m64 > INT_MAX || total > (size_t)INT_MAX)
        return LP__ORTHO_ENOMEM; /* beyond LAPACK's 32-bit sizes */
    const int m = (int)m64, n = (int)n64;
    double *a = g, *copy = NULL;
    if (tall) {
        copy = malloc(total * sizeof *copy);
        if (copy == NULL)
            return LP__ORTHO_ENOMEM;
        for (size_t i = 0; i < (size_t)rows; i++)
            for (size_t j = 0; j < (size_t)cols; j++)
                copy[i + j * (size_t)rows] = g[i * (size_t)cols + j];
        a = copy;
    }
    int rc = LP__ORTHO_ENOMEM, info = 0, lwork = -1;
    double query = 0.0, query2 = 0.0;
    double *tau = malloc((size_t)n * sizeof *tau), *sign = malloc((size_t)n * sizeof *sign);
    double *work = NULL;
    if (tau == NULL || sign == NULL)
        goto done;
    dgeqrf_(&m, &n, a, &m, tau, &query, &lwork, &info);
    dorgqr_(&m, &n, &n, a, &m, tau, &query2, &lwork, &info);
    if (query2 > query)
        query = query2;
    lwork = query >= 1.0 && query < (double)INT_MAX ? (int)query : n;
    if (lwork < n)
        lwork = n;
    work = malloc((size_t)lwork * sizeof *work);
    if (work == NULL)
        goto done;
    dgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    rc = LP__ORTHO_RANK;
    if (info != 0)
        goto done;
    for (size_t j = 0; j < (size_t)n; j++) {
        const double r = a[j + j * (size_t)m];
        if (!(fabs(r) > 1e-12)) /* rank-deficient draw (or NaN) */
            goto done;
        sign[j] = r > 0.0 ? gain : -gain;
    }
    dorgqr_(&m, &n, &n, a, &m, tau, work, &lwork, &info);
    if (info != 0)
        goto done;
    /* Column j of Q is column j of W (tall) or row j of W (wide). */
    for (size_t j = 0; j < (size_t)n; j++) {
        const double *q = a + j * (size_t)m;
        if (tall) {
            for (size_t i = 0; i < (size_t)m; i++)
                w[i * (size_t)cols + j] = (float)(sign[j] * q[i]);
        } else {
            for (size_t i = 0; i < (size_t)m; i++)
                w[j * (size_t)cols + i] = (float)(sign[j] * q[i]);
        }
    }
    rc = 0;
done:
    free(work);
    free(sign);
    free(tau);
    free(copy);
    return rc;
}
