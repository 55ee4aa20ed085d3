/* Forward and backward of lp_mlp on whole minibatches: one matrix product
 * per layer (row-major, W stored [out, in] so the forward multiplies by
 * W^T), the bias and the activation in a loop over the result. Products
 * up to OWN_MAX_WORK multiply-adds, and forwards on a few rows, go to the
 * model's own kernels (mlp_gemm.c: OpenBLAS's sgemm is slow at a rollout's
 * 4 rows, the 1-2 wide heads and the 4 wide first layer, and runs its AVX2
 * kernels here; docs/performance.md), larger ones to cblas_sgemm. */
#include "model/mlp_impl.h"

#include "util/error.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* The largest product (rows x out x in) the own kernels take: they do no
 * cache blocking, and beyond this sgemm wins on some of the three
 * products (bench/sgemm_shapes: at 128 rows the own kernels are 1.6-2.1x
 * faster up to 256 wide, the forward and dx 0.7-0.9x at 512 and 1024).
 * A forward on at most 8 rows (a rollout step) takes the dot-product
 * kernel at every width: 4.4-4.7x sgemm at 512 and 1024 wide. */
#define OWN_MAX_WORK ((int64_t)1 << 23)

static int own(int64_t rows, int64_t out, int64_t in) {
    const int64_t oi = out * in; /* each at most 2^24: no overflow */
    return oi <= OWN_MAX_WORK && (oi == 0 || rows <= OWN_MAX_WORK / oi);
}

/* y [n, out] (row distance ldy) = x [n, in] W^T. */
static void product_fwd(const lp_mlp *m, const lp__layer *L, const float *x, int64_t ldx, int64_t n,
                        float *y, int64_t ldy) {
    const float *w = m->params + L->w;
    if (n <= 8 || own(n, L->out, L->in))
        m->kern.fwd(y, (size_t)ldy, x, (size_t)ldx, w, (size_t)n, (size_t)L->out, (size_t)L->in);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)L->out,
                    (blasint)L->in, 1.0f, x, (blasint)ldx, w, (blasint)L->in, 0.0f, y,
                    (blasint)ldy);
}

/* y [n, out] = act(x [n, in] W^T + b). */
static void layer_forward(const lp_mlp *m, const lp__layer *L, const float *x, int64_t ldx,
                          int64_t n, float *y, int activate) {
    const float *b = m->params + L->b;
    const size_t out = (size_t)L->out;
    product_fwd(m, L, x, ldx, n, y, L->out);
    m->kern.bias_act(y, (size_t)n, out, b, activate ? m->activation : LP__ACT_NONE);
}

/* The Gaussian head: the means y [n, 2 * out] (row distance 2 * out) =
 * x W^T + b, then the state-independent log-stds after them. */
static void gaussian_forward(const lp_mlp *m, const lp__layer *L, const float *x, int64_t ldx,
                             int64_t n, float *y) {
    const float *b = m->params + L->b;
    const float *log_std = m->params + m->log_std;
    const int64_t d = L->out;
    product_fwd(m, L, x, ldx, n, y, 2 * d);
    for (int64_t i = 0; i < n; i++) {
        float *row = y + i * 2 * d;
        for (int64_t j = 0; j < d; j++) {
            row[j] += b[j];
            row[d + j] = log_std[j];
        }
    }
}

/* dW += g^T x and db += column sums of g, g [n, out] with row distance
 * ldg, x [n, in]. */
static void layer_param_grads(lp_mlp *m, const lp__layer *L, const float *g, int64_t ldg,
                              const float *x, int64_t ldx, int64_t n) {
    float *gw = m->grads + L->w;
    float *gb = m->grads + L->b;
    if (own(n, L->out, L->in))
        m->kern.grad_w(gw, g, (size_t)ldg, x, (size_t)ldx, (size_t)n, (size_t)L->out,
                       (size_t)L->in);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)L->out, (blasint)L->in,
                    (blasint)n, 1.0f, g, (blasint)ldg, x, (blasint)ldx, 1.0f, gw, (blasint)L->in);
    if (ldg == L->out) {
        m->kern.bias_grad(gb, g, (size_t)n, (size_t)L->out);
        return;
    }
    for (int64_t i = 0; i < n; i++) /* rows in order, as the kernel sums */
        for (int64_t j = 0; j < L->out; j++)
            gb[j] += g[i * ldg + j];
}

/* dx [n, in] = g [n, out] W (+ dx when accumulate), g's row distance ldg. */
static void layer_input_grad(const lp_mlp *m, const lp__layer *L, const float *g, int64_t ldg,
                             int64_t n, float *dx, int accumulate) {
    if (own(n, L->out, L->in))
        m->kern.grad_x(dx, g, (size_t)ldg, m->params + L->w, (size_t)n, (size_t)L->out,
                       (size_t)L->in, accumulate);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)L->in,
                    (blasint)L->out, 1.0f, g, (blasint)ldg, m->params + L->w, (blasint)L->in,
                    accumulate ? 1.0f : 0.0f, dx, (blasint)L->in);
}

/* The input of trunk t's layer l, or of the heads when l == hidden_count. */
static const float *layer_input(lp_mlp *m, size_t t, size_t l, const float *obs, int64_t ld_obs,
                                int64_t *ldx) {
    if (l == 0) {
        *ldx = ld_obs;
        return obs;
    }
    const lp__layer *prev = lp__trunk_layer(m, t, l - 1);
    *ldx = prev->out;
    return prev->act;
}

static int32_t check_call(const lp_mlp *m, const char *fn, const float *obs, int64_t ld_obs,
                          int64_t n, lp_error *err) {
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the model is NULL", fn);
    if (n < 0)
        return lp__error_set(err, LP_EINVAL, "%s: n is %lld: give the number of rows (>= 0)", fn,
                             (long long)n);
    if (n > m->max_batch)
        return lp__error_set(err, LP_ERANGE,
                             "%s: batch of %lld rows exceeds the model's max_batch of %lld: create "
                             "the model with a larger max_batch or call lp_mlp_reserve first",
                             fn, (long long)n, (long long)m->max_batch);
    if (n > 0 && obs == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: obs is NULL: pass [n, obs_dim] observations", fn);
    if (ld_obs < m->obs_dim || ld_obs > INT_MAX)
        return lp__error_set(err, LP_EINVAL,
                             "%s: ld_obs is %lld: the distance between observation rows is at "
                             "least obs_dim (%lld) and at most INT_MAX",
                             fn, (long long)ld_obs, (long long)m->obs_dim);
    return LP_OK;
}

int32_t lp_mlp_forward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n, float *logits,
                       float *values, lp_error *err) {
    int32_t rc = check_call(m, "lp_mlp_forward", obs, ld_obs, n, err);
    if (rc != LP_OK)
        return rc;
    m->fwd_rows = -1;
    const int need[2] = {logits != NULL, values != NULL};
    const size_t hc = m->hidden_count;
    if (n > 0) {
        for (size_t t = 0; t < m->trunk_count; t++) {
            if (m->shared ? !(need[0] || need[1]) : !need[t])
                continue;
            for (size_t l = 0; l < hc; l++) {
                int64_t ldx;
                const float *x = layer_input(m, t, l, obs, ld_obs, &ldx);
                const lp__layer *L = lp__trunk_layer(m, t, l);
                layer_forward(m, L, x, ldx, n, L->act, 1);
            }
        }
        int64_t ldx;
        if (need[0]) {
            const float *x = layer_input(m, 0, hc, obs, ld_obs, &ldx);
            if (m->action_space == LP_ACTION_BOX)
                gaussian_forward(m, lp__actor_head(m), x, ldx, n, logits);
            else
                layer_forward(m, lp__actor_head(m), x, ldx, n, logits, 0);
        }
        if (need[1]) {
            const float *x = layer_input(m, lp__critic_trunk(m), hc, obs, ld_obs, &ldx);
            layer_forward(m, lp__critic_head(m), x, ldx, n, values, 0);
        }
    }
    m->fwd_rows = n;
    m->fwd_actor = need[0];
    m->fwd_critic = need[1];
    return LP_OK;
}

/* d (in dbuf[0], [n, hidden_last]) is d loss / d output of trunk t: add the
 * trunk's parameter gradients. */
static void trunk_backward(lp_mlp *m, size_t t, const float *obs, int64_t ld_obs, int64_t n) {
    float *cur = m->dbuf[0], *other = m->dbuf[1];
    for (size_t l = m->hidden_count; l-- > 0;) {
        const lp__layer *L = lp__trunk_layer(m, t, l);
        const size_t count = (size_t)n * (size_t)L->out;
        m->kern.act_grad(cur, L->act, count, m->activation);
        int64_t ldx;
        const float *x = layer_input(m, t, l, obs, ld_obs, &ldx);
        layer_param_grads(m, L, cur, L->out, x, ldx, n);
        if (l > 0) {
            layer_input_grad(m, L, cur, L->out, n, other, 0);
            float *tmp = cur;
            cur = other;
            other = tmp;
        }
    }
}

int32_t lp_mlp_backward(lp_mlp *m, const float *obs, int64_t ld_obs, int64_t n,
                        const float *dlogits, const float *dvalues, lp_error *err) {
    int32_t rc = check_call(m, "lp_mlp_backward", obs, ld_obs, n, err);
    if (rc != LP_OK)
        return rc;
    if (m->fwd_rows != n)
        return lp__error_set(err, LP_ESTATE,
                             "lp_mlp_backward: %lld rows but the last forward had %lld%s: call "
                             "lp_mlp_forward on the same batch first",
                             (long long)n, (long long)m->fwd_rows,
                             m->fwd_rows < 0 ? " (none since create, reserve or a failed call)"
                                             : "");
    if ((dlogits != NULL && !m->fwd_actor) || (dvalues != NULL && !m->fwd_critic))
        return lp__error_set(err, LP_ESTATE,
                             "lp_mlp_backward: gradients for the %s head, which the last forward "
                             "skipped: pass its output to lp_mlp_forward",
                             dlogits != NULL && !m->fwd_actor ? "actor" : "critic");
    if (n == 0)
        return LP_OK;
    const size_t hc = m->hidden_count;
    int64_t ldx;
    lp__layer *actor = lp__actor_head(m), *critic = lp__critic_head(m);
    /* dlogits' row distance: the policy width (BOX: the means' gradients
     * then the log-stds'). */
    const int64_t ldl = m->num_actions;
    if (dlogits != NULL) {
        const float *x = layer_input(m, 0, hc, obs, ld_obs, &ldx);
        layer_param_grads(m, actor, dlogits, ldl, x, ldx, n);
        if (m->action_space == LP_ACTION_BOX) {
            float *gs = m->grads + m->log_std;
            const int64_t d = actor->out;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < d; j++)
                    gs[j] += dlogits[i * ldl + d + j];
        }
    }
    if (dvalues != NULL) {
        const float *x = layer_input(m, lp__critic_trunk(m), hc, obs, ld_obs, &ldx);
        layer_param_grads(m, critic, dvalues, 1, x, ldx, n);
    }
    if (hc == 0)
        return LP_OK;
    if (m->shared) {
        if (dlogits == NULL && dvalues == NULL)
            return LP_OK;
        if (dlogits != NULL)
            layer_input_grad(m, actor, dlogits, ldl, n, m->dbuf[0], 0);
        if (dvalues != NULL)
            layer_input_grad(m, critic, dvalues, 1, n, m->dbuf[0], dlogits != NULL);
        trunk_backward(m, 0, obs, ld_obs, n);
        return LP_OK;
    }
    if (dlogits != NULL) {
        layer_input_grad(m, actor, dlogits, ldl, n, m->dbuf[0], 0);
        trunk_backward(m, 0, obs, ld_obs, n);
    }
    if (dvalues != NULL) {
        layer_input_grad(m, critic, dvalues, 1, n, m->dbuf[0], 0);
        trunk_backward(m, 1, obs, ld_obs, n);
    }
    return LP_OK;
}
