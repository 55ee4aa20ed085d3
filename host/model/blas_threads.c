/* lp__blas_threads_apply (model/blas_threads.h). */
#include "model/blas_threads.h"

#include <cblas.h>
#include <stdlib.h>

int64_t lp__blas_threads_apply(int64_t threads) {
    if (threads < 1) {
        const char *env = getenv("OPENBLAS_NUM_THREADS");
        const char *omp = getenv("OMP_NUM_THREADS");
        if ((env != NULL && *env != '\0') || (omp != NULL && *omp != '\0'))
            return openblas_get_num_threads();
        threads = 1;
    }
    openblas_set_num_threads(threads > 4096 ? 4096 : (int)threads);
    return openblas_get_num_threads();
}
