/* Internal: orthogonal initialisation as torch.nn.init.orthogonal_. */
#ifndef LP_MODEL_ORTHO_H
#define LP_MODEL_ORTHO_H

#include "model/rng.h"

#include <stdint.h>

/* Fill w [rows, cols] (row-major) with gain * Q, Q from the QR of a
 * Gaussian matrix drawn from `rng` in row-major order (of its transpose
 * when wide), signs fixed so that R has a positive diagonal. Tall or
 * square: orthonormal columns; wide: orthonormal rows. `scratch` holds
 * rows * cols doubles; LAPACK's workspace is allocated here and freed
 * before return. Returns 0, LP__ORTHO_RANK when the draw is rank-deficient
 * (probability zero), LP__ORTHO_ENOMEM when memory runs out. */
enum { LP__ORTHO_RANK = -1, LP__ORTHO_ENOMEM = -2 };
int lp__orthogonal(float *w, int64_t rows, int64_t cols, double gain, lp__rng *rng,
                   double *scratch);

#endif
