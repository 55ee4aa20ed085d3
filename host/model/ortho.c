/* Orthogonal initialisation through LAPACK's Householder factorisations,
 * in double precision, with Q's vectors negated where R's diagonal is
 * negative: the Q of the QR factorisation whose R has a positive diagonal,
 * which is what torch gets from its QR followed by q *= sign(diag(r)).
 * Blocked BLAS-3 code, in place on the row-major draw (no transpose): a
 * 1024 x 1024 weight takes a fraction of a second (a column-strided
 * Gram-Schmidt took 40 s). */
#include "model/ortho.h"

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
void dgelqf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorglq_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
             double *work, const int *lwork, int *info);

int lp__orthogonal(float *w, int64_t rows, int64_t cols, double gain, lp__rng *rng, double *g) {
    const size_t total = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < total; i++)
        g[i] = lp__rng_normal(rng);

    /* The row-major draw G [rows, cols], read column-major, is G^T: a
     * [cols, rows] matrix with leading dimension cols.
     * - Wide (rows < cols): torch orthonormalises G's rows, the columns of
     *   G^T: G^T = Q R (dgeqrf, dorgqr); Q [cols, rows] column-major is
     *   W [rows, cols] row-major.
     * - Tall or square: G's columns, the rows of G^T: G^T = L Q' (dgelqf,
     *   dorglq), i.e. G = Q'^T L^T, the QR of G with R = L^T; Q' [cols,
     *   rows] column-major is Q'^T = Q [rows, cols] row-major.
     * Either way the factor overwrites the draw in W's own layout. */
    const int tall = rows >= cols;
    if (rows > INT_MAX || cols > INT_MAX || total > (size_t)INT_MAX)
        return LP__ORTHO_ENOMEM; /* beyond LAPACK's 32-bit sizes */
    const int m = (int)cols, n = (int)rows;
    const int kk = tall ? m : n; /* the number of orthonormal vectors */
    int rc = LP__ORTHO_ENOMEM, info = 0, lwork = -1;
    double query = 0.0, query2 = 0.0;
    double *tau = malloc((size_t)kk * sizeof *tau), *sign = malloc((size_t)kk * sizeof *sign);
    double *work = NULL;
    if (tau == NULL || sign == NULL)
        goto done;
    if (tall) {
        dgelqf_(&m, &n, g, &m, tau, &query, &lwork, &info);
        dorglq_(&m, &n, &kk, g, &m, tau, &query2, &lwork, &info);
    } else {
        dgeqrf_(&m, &n, g, &m, tau, &query, &lwork, &info);
        dorgqr_(&m, &n, &kk, g, &m, tau, &query2, &lwork, &info);
    }
    if (query2 > query)
        query = query2;
    lwork = query >= 1.0 && query < (double)INT_MAX ? (int)query : kk;
    if (lwork < kk)
        lwork = kk;
    work = malloc((size_t)lwork * sizeof *work);
    if (work == NULL)
        goto done;
    if (tall)
        dgelqf_(&m, &n, g, &m, tau, work, &lwork, &info);
    else
        dgeqrf_(&m, &n, g, &m, tau, work, &lwork, &info);
    rc = LP__ORTHO_RANK;
    if (info != 0)
        goto done;
    for (size_t j = 0; j < (size_t)kk; j++) {
        const double r = g[j + j * (size_t)m]; /* the diagonal of R, or of L */
        if (!(fabs(r) > 1e-12))                /* rank-deficient draw (or NaN) */
            goto done;
        sign[j] = r > 0.0 ? gain : -gain;
    }
    if (tall)
        dorglq_(&m, &n, &kk, g, &m, tau, work, &lwork, &info);
    else
        dorgqr_(&m, &n, &kk, g, &m, tau, work, &lwork, &info);
    if (info != 0)
        goto done;
    /* Vector j is W's column j (tall: entry j of each row) or row j (wide). */
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++)
            w[i * (size_t)cols + j] = (float)(sign[tall ? j : i] * g[i * (size_t)cols + j]);
    rc = 0;
done:
    free(work);
    free(sign);
    free(tau);
    return rc;
}
