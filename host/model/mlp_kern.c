/* The model's element-wise loops in three builds (mlp_kern.h). */
#if defined(__clang__)
/* Clang contracts a * b + c into an FMA by default (GCC in ISO C mode does
 * not): off, for the same bits in every build (here and in vtanh.h). */
#pragma STDC FP_CONTRACT OFF
#endif
#include "model/mlp_kern.h"
#include "model/vtanh.h"

#include "lp_dispatch.h"

#include <lossplug/host.h>

/* Separate counted loops over restrict pointers: each vectorises. */
static inline __attribute__((always_inline)) void bias_act_body(float *y, size_t rows, size_t out,
                                                                const float *b, int32_t act) {
    const float *restrict bias = b;
    if (act == LP_ACTIVATION_TANH) {
        for (size_t i = 0; i < rows; i++) {
            float *restrict row = y + i * out;
            for (size_t j = 0; j < out; j++)
                row[j] = lp__tanhf(row[j] + bias[j]);
        }
    } else if (act == LP_ACTIVATION_RELU) {
        for (size_t i = 0; i < rows; i++) {
            float *restrict row = y + i * out;
            for (size_t j = 0; j < out; j++) {
                float z = row[j] + bias[j];
                row[j] = !(z <= 0.0f) ? z : 0.0f; /* NaN passes, as torch's relu */
            }
        }
    } else {
        for (size_t i = 0; i < rows; i++) {
            float *restrict row = y + i * out;
            for (size_t j = 0; j < out; j++)
                row[j] += bias[j];
        }
    }
}

static inline __attribute__((always_inline)) void
act_grad_body(float *restrict g, const float *restrict h, size_t count, int32_t act) {
    if (act == LP_ACTIVATION_TANH) {
        for (size_t i = 0; i < count; i++)
            g[i] *= 1.0f - h[i] * h[i];
    } else {
        for (size_t i = 0; i < count; i++)
            g[i] = h[i] > 0.0f ? g[i] : 0.0f;
    }
}

static inline __attribute__((always_inline)) void
bias_grad_body(float *restrict gb, const float *restrict g, size_t rows, size_t out) {
    for (size_t i = 0; i < rows; i++) {
        const float *restrict row = g + i * out;
        for (size_t j = 0; j < out; j++)
            gb[j] += row[j];
    }
}

LP__DEFINE_ISA_VARIANTS(bias_act, void,
                        (float *y, size_t rows, size_t out, const float *b, int32_t act),
                        { bias_act_body(y, rows, out, b, act); })
LP__DEFINE_ISA_VARIANTS(act_grad, void, (float *g, const float *h, size_t count, int32_t act),
                        { act_grad_body(g, h, count, act); })
LP__DEFINE_ISA_VARIANTS(bias_grad, void, (float *gb, const float *g, size_t rows, size_t out),
                        { bias_grad_body(gb, g, rows, out); })

int lp__mlp_kern_get(int isa, lp__mlp_kern *out) {
    if (isa < LP__ISA_BASE || isa > lp__isa_level())
        return 0;
    out->isa = isa;
    out->bias_act = bias_act_base;
    out->act_grad = act_grad_base;
    out->bias_grad = bias_grad_base;
    lp__mlp_gemm_set(isa, out);
#if LP__HAVE_ISA_VARIANTS
    if (isa == LP__ISA_AVX2) {
        out->bias_act = bias_act_avx2;
        out->act_grad = act_grad_avx2;
        out->bias_grad = bias_grad_avx2;
    } else if (isa == LP__ISA_AVX512) {
        out->bias_act = bias_act_avx512;
        out->act_grad = act_grad_avx512;
        out->bias_grad = bias_grad_avx512;
    }
#endif
    return 1;
}

void lp__mlp_kern_best(lp__mlp_kern *out) {
    (void)lp__mlp_kern_get(lp__isa_level(), out);
}
