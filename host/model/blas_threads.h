/* Internal: the number of threads OpenBLAS uses, set by the training loop
 * (the library's objects never set it themselves: a program that embeds
 * them decides). Process-wide, as OpenBLAS's own setting is: call it from
 * the thread that trains, before the first BLAS call. */
#ifndef LP_INTERNAL_BLAS_H
#define LP_INTERNAL_BLAS_H

#include <stdint.h>

/* threads >= 1: use that many. -1 (the trainer's default): one thread,
 * unless the environment sets OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS, which
 * OpenBLAS also reads), which is then left in force. Returns the count
 * OpenBLAS reports afterwards. */
int64_t lp__blas_threads_apply(int64_t threads);

#endif
