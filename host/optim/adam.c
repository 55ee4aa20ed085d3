/* lp_adam: torch.optim.Adam (no weight decay, no amsgrad) after
 * torch.nn.utils.clip_grad_norm_, over one flat f32 array. Per element in
 * f32 as torch does for f32 parameters; the norm and the per-step scalars
 * (bias corrections, step size) in f64. */
#include <lossplug/host.h>

#include "lp_dispatch.h"
#include "util/error.h"
#include "util/options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The per-element loops, in three builds (lp_dispatch.h) picked once at
 * create. Element-wise or summed in one fixed order, without FMA
 * contraction: every build gives the same bits. */
typedef struct adam_update_args {
    float b1, b2, ob1, ob2, step_size, bc2_sqrt, eps;
} adam_update_args;

/* Four partial sums in a fixed order: the same result on every run and
 * machine, and independent chains the compiler can vectorise without
 * reassociating (no -ffast-math). */
static inline __attribute__((always_inline)) double sumsq_body(const float *restrict g,
                                                               size_t count) {
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i4 = count - count % 4;
    for (size_t i = 0; i < i4; i += 4) {
        for (size_t k = 0; k < 4; k++)
            part[k] += (double)g[i + k] * (double)g[i + k];
    }
    for (size_t i = i4; i < count; i++)
        part[i - i4] += (double)g[i] * (double)g[i];
    return (part[0] + part[1]) + (part[2] + part[3]);
}

static inline __attribute__((always_inline)) void scale_body(float *restrict g, size_t count,
                                                             float c) {
    for (size_t i = 0; i < count; i++)
        g[i] *= c;
}

static inline __attribute__((always_inline)) void
update_body(float *restrict params, const float *restrict grads, float *restrict m,
            float *restrict v, size_t count, const adam_update_args *A) {
    const float b1 = A->b1, b2 = A->b2, ob1 = A->ob1, ob2 = A->ob2;
    const float step_size = A->step_size, bc2_sqrt = A->bc2_sqrt, eps = A->eps;
    for (size_t i = 0; i < count; i++) {
        const float g = grads[i];
        m[i] = b1 * m[i] + ob1 * g;
        v[i] = b2 * v[i] + ob2 * g * g;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] -= step_size * (m[i] / denom);
    }
}

LP__DEFINE_ISA_VARIANTS(adam_sumsq, double, (const float *g, size_t count),
                        { return sumsq_body(g, count); })
LP__DEFINE_ISA_VARIANTS(adam_scale, void, (float *g, size_t count, float c),
                        { scale_body(g, count, c); })
LP__DEFINE_ISA_VARIANTS(adam_update, void,
                        (float *params, const float *grads, float *m, float *v, size_t count,
                         const adam_update_args *A),
                        { update_body(params, grads, m, v, count, A); })

typedef struct adam_kern {
    double (*sumsq)(const float *g, size_t count);
    void (*scale)(float *g, size_t count, float c);
    void (*update)(float *params, const float *grads, float *m, float *v, size_t count,
                   const adam_update_args *A);
} adam_kern;

static adam_kern adam_kern_pick(void) {
    adam_kern k = {adam_sumsq_base, adam_scale_base, adam_update_base};
#if LP__HAVE_ISA_VARIANTS
    int isa = lp__isa_level();
    if (isa == LP__ISA_AVX512)
        k = (adam_kern){adam_sumsq_avx512, adam_scale_avx512, adam_update_avx512};
    else if (isa == LP__ISA_AVX2)
        k = (adam_kern){adam_sumsq_avx2, adam_scale_avx2, adam_update_avx2};
#endif
    return k;
}

struct lp_adam {
    adam_kern kern; /* picked at create */
    lp_adam_options opt;
    double lr; /* in use: opt.lr, or as annealed */
    size_t count;
    float *m;
    float *v;
    int64_t step;
    double grad_norm; /* before clipping, at the last step */
};

void lp_adam_options_init(lp_adam_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->lr = 2.5e-4;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-5;
    opt->max_grad_norm = 0.5;
}

int32_t lp_adam_create(const lp_adam_options *opt, size_t param_count, lp_adam **out,
                       lp_error *err) {
    static const char fn[] = "lp_adam_create";
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: out is NULL: pass where to store the optimizer",
                             fn);
    *out = NULL;
    /* Older and newer callers alike (util/options.h). */
    lp_adam_options own;
    lp_adam_options_init(&own);
    int32_t rc =
        lp__opts_take(&own, sizeof own, opt, LP__SIZE_THROUGH(lp_adam_options, max_grad_norm), fn,
                      "lp_adam_options_init", err);
    if (rc != LP_OK)
        return rc;
    opt = &own;
    if (!isfinite(opt->lr) || opt->lr < 0.0)
        return lp__error_set(err, LP_EINVAL, "%s: lr is %g: give a finite learning rate >= 0", fn,
                             opt->lr);
    if (!(opt->beta1 >= 0.0 && opt->beta1 < 1.0) || !(opt->beta2 >= 0.0 && opt->beta2 < 1.0))
        return lp__error_set(err, LP_EINVAL,
                             "%s: beta1 %g, beta2 %g: each is in [0, 1) (defaults 0.9, 0.999)", fn,
                             opt->beta1, opt->beta2);
    if (!isfinite(opt->eps) || opt->eps < 0.0)
        return lp__error_set(err, LP_EINVAL, "%s: eps is %g: give a finite eps >= 0 (default 1e-5)",
                             fn, opt->eps);
    if (isnan(opt->max_grad_norm) || opt->max_grad_norm < 0.0)
        return lp__error_set(err, LP_EINVAL,
                             "%s: max_grad_norm is %g: give a norm > 0 (default 0.5), or 0 for no "
                             "clipping",
                             fn, opt->max_grad_norm);
    if (param_count == 0 || param_count > SIZE_MAX / (2 * sizeof(float)))
        return lp__error_set(err, LP_EINVAL,
                             "%s: param_count is %zu: give the model's lp_mlp_param_count", fn,
                             param_count);

    lp_adam *a = calloc(1, sizeof *a);
    if (a == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory for the optimizer", fn);
    a->m = calloc(param_count, sizeof *a->m);
    a->v = calloc(param_count, sizeof *a->v);
    if (a->m == NULL || a->v == NULL) {
        lp_adam_destroy(a);
        return lp__error_set(err, LP_ENOMEM,
                             "%s: out of memory for the moments of %zu parameters (%zu bytes)", fn,
                             param_count, 2 * param_count * sizeof(float));
    }
    a->opt = *opt;
    a->opt.struct_size = sizeof a->opt;
    a->lr = opt->lr;
    a->count = param_count;
    a->grad_norm = NAN;
    a->kern = adam_kern_pick();
    *out = a;
    return LP_OK;
}

void lp_adam_destroy(lp_adam *a) {
    if (a == NULL)
        return;
    free(a->m);
    free(a->v);
    free(a);
}

int32_t lp_adam_step(lp_adam *a, float *params, float *grads, size_t count, lp_error *err) {
    static const char fn[] = "lp_adam_step";
    if (a == NULL || params == NULL || grads == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: %s is NULL", fn,
                             a == NULL        ? "the optimizer"
                             : params == NULL ? "params"
                                              : "grads");
    if (count != a->count)
        return lp__error_set(err, LP_EINVAL,
                             "%s: %zu parameters but the optimizer was created for %zu: create "
                             "one per parameter array",
                             fn, count, a->count);
    if (a->step < 0 || a->step == INT64_MAX)
        return lp__error_set(err, LP_ESTATE,
                             "%s: the step count is %lld (restored from a checkpoint?): "
                             "\"optimizer/step\" must be >= 0",
                             fn, (long long)a->step);

    double norm = sqrt(a->kern.sumsq(grads, count));
    if (!isfinite(norm))
        return lp__error_set(err, LP_ENUMERIC,
                             "%s: the gradient norm is %g at step %lld; parameters unchanged: a "
                             "loss produced a non-finite gradient (lower the learning rate, check "
                             "the losses' inputs)",
                             fn, norm, (long long)a->step + 1);
    a->grad_norm = norm;
    if (a->opt.max_grad_norm > 0.0) {
        /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1. */
        double coef = a->opt.max_grad_norm / (norm + 1e-6);
        if (coef < 1.0) {
            a->kern.scale(grads, count, (float)coef);
        }
    }

    a->step++;
    const double t = (double)a->step;
    const double bc1 = 1.0 - pow(a->opt.beta1, t);
    const double bc2 = 1.0 - pow(a->opt.beta2, t);
    const adam_update_args args = {
        .b1 = (float)a->opt.beta1,
        .b2 = (float)a->opt.beta2,
        .ob1 = (float)(1.0 - a->opt.beta1),
        .ob2 = (float)(1.0 - a->opt.beta2),
        .step_size = (float)(a->lr / bc1),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)a->opt.eps,
    };
    a->kern.update(params, grads, a->m, a->v, count, &args);
    return LP_OK;
}

int32_t lp_adam_step_fn(void *user, float *params, float *grads, size_t count, const lp_ctx *ctx,
                        lp_error *err) {
    (void)ctx;
    return lp_adam_step(user, params, grads, count, err);
}

double lp_adam_lr(const lp_adam *a) {
    return a != NULL ? a->lr : 0.0;
}

int32_t lp_adam_set_lr(lp_adam *a, double lr, lp_error *err) {
    if (a == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_adam_set_lr: the optimizer is NULL");
    if (!isfinite(lr) || lr < 0.0)
        return lp__error_set(err, LP_ERANGE,
                             "lp_adam_set_lr: lr %g: give a finite learning rate >= 0", lr);
    a->lr = lr;
    return LP_OK;
}

int32_t lp_adam_set_lr_fraction(lp_adam *a, double fraction, lp_error *err) {
    if (a == NULL)
        return lp__error_set(err, LP_EINVAL, "lp_adam_set_lr_fraction: the optimizer is NULL");
    if (!(fraction >= 0.0 && fraction <= 1.0))
        return lp__error_set(err, LP_ERANGE,
                             "lp_adam_set_lr_fraction: fraction %g: give 0 .. 1 of the base lr "
                             "(lp_lr_linear_fraction computes CleanRL's schedule)",
                             fraction);
    a->lr = a->opt.lr * fraction;
    return LP_OK;
}

double lp_lr_linear_fraction(int64_t update, int64_t num_updates) {
    if (num_updates <= 0)
        return 1.0;
    double f = 1.0 - ((double)update - 1.0) / (double)num_updates;
    return f < 0.0 ? 0.0 : f > 1.0 ? 1.0 : f;
}

int64_t lp_adam_step_count(const lp_adam *a) {
    return a != NULL ? a->step : 0;
}

double lp_adam_grad_norm(const lp_adam *a) {
    return a != NULL ? a->grad_norm : NAN;
}

void lp_adam_reset(lp_adam *a) {
    if (a == NULL)
        return;
    memset(a->m, 0, a->count * sizeof *a->m);
    memset(a->v, 0, a->count * sizeof *a->v);
    a->step = 0;
    a->grad_norm = NAN;
}

size_t lp_adam_named_tensors(lp_adam *a, lp_named_tensor *out) {
    if (a == NULL || out == NULL)
        return 0;
    memset(out, 0, LP_ADAM_TENSOR_COUNT * sizeof *out);
    out[0].name = "optimizer/m";
    out[0].view.data = a->m;
    out[1].name = "optimizer/v";
    out[1].view.data = a->v;
    for (int i = 0; i < 2; i++) {
        out[i].view.dtype = LP_DTYPE_F32;
        out[i].view.rank = 1;
        out[i].view.shape[0] = (int64_t)a->count;
        out[i].view.strides[0] = 1;
    }
    out[2].name = "optimizer/step";
    out[2].view.data = &a->step;
    out[2].view.dtype = LP_DTYPE_I64;
    out[2].view.rank = 0;
    return LP_ADAM_TENSOR_COUNT;
}
