/* lp_gru (lossplug/rnn.h): the encoder, the GRU core and the two heads;
 * creation, initialisation, forward over [rows, horizon] and
 * backpropagation through time. Gate equations as torch.nn.GRU:
 *
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *   h' = (1 - z) * n + z * h
 *
 * The input side (encoder, W_ih) and the heads are one sgemm each over the
 * whole minibatch; only W_hh h runs step by step ([rows, M] x [M, 3M]). */
#include "model/gru_impl.h"

#include "util/error.h"
#include "model/ortho.h"
#include "model/rng.h"
#include "model/vtanh.h"

#include "lp_dispatch.h"
#include "util/options.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void lp_gru_options_init(lp_gru_options *opt) {
    if (!lp__opts_reset(opt, sizeof *opt))
        return;
    opt->encoder = 64;
    opt->memory = 128;
    opt->seed = 1;
    opt->max_batch = 1024;
    opt->encoder_gain = sqrt(2.0);
    opt->gru_gain = 1.0;
    opt->actor_gain = 0.01;
    opt->critic_gain = 1.0;
    opt->critic_trunk = 1.0;
}

/* ---- layout and initialisation ------------------------------------------------------ */

static size_t add_tensor(lp_gru *m, size_t *count, size_t *off, const char *name, int64_t d0,
                         int64_t d1) {
    lp_mlp_tensor_info *ti = &m->tensors[(*count)++];
    ti->name = name;
    ti->offset = *off;
    ti->rank = d1 > 0 ? 2 : 1;
    ti->shape[0] = d0;
    ti->shape[1] = d1 > 0 ? d1 : 0;
    *off += (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
    return ti->offset;
}

static void layout(lp_gru *m) {
    size_t n = 0, off = 0;
    const int64_t D = m->D, E = m->E, M = m->M, A = m->A;
    m->we = add_tensor(m, &n, &off, "model/encoder/w", E, D);
    m->be = add_tensor(m, &n, &off, "model/encoder/b", E, 0);
    m->wih = add_tensor(m, &n, &off, "model/gru/w_ih", 3 * M, E);
    m->bih = add_tensor(m, &n, &off, "model/gru/b_ih", 3 * M, 0);
    m->whh = add_tensor(m, &n, &off, "model/gru/w_hh", 3 * M, M);
    m->bhh = add_tensor(m, &n, &off, "model/gru/b_hh", 3 * M, 0);
    m->wa = add_tensor(m, &n, &off, "model/actor/w", A, M);
    m->ba = add_tensor(m, &n, &off, "model/actor/b", A, 0);
    m->wc = add_tensor(m, &n, &off, "model/critic/w", 1, M);
    m->bc = add_tensor(m, &n, &off, "model/critic/b", 1, 0);
    m->param_count = off;
}

/* Orthogonal weights (one stream, flat-array order), zero biases. */
static int32_t init_params(lp_gru *m, const lp_gru_options *o, lp_error *err) {
    size_t largest = 0;
    for (size_t i = 0; i < LP__GRU_TENSORS; i++) {
        const lp_mlp_tensor_info *ti = &m->tensors[i];
        size_t sz = ti->rank == 2 ? (size_t)(ti->shape[0] * ti->shape[1]) : 0;
        largest = sz > largest ? sz : largest;
    }
    double *scratch = malloc(largest * sizeof *scratch);
    if (scratch == NULL)
        return lp__error_set(err, LP_ENOMEM,
                             "lp_gru_create: out of memory for %zu bytes of initialisation scratch",
                             largest * sizeof *scratch);
    lp__rng rng;
    lp__rng_seed(&rng, o->seed);
    memset(m->params, 0, m->param_count * sizeof *m->params);
    int32_t rc = LP_OK;
    for (size_t i = 0; i < LP__GRU_TENSORS && rc == LP_OK; i++) {
        const lp_mlp_tensor_info *ti = &m->tensors[i];
        if (ti->rank != 2)
            continue;
        double gain = ti->offset == m->we   ? o->encoder_gain
                      : ti->offset == m->wa ? o->actor_gain
                      : ti->offset == m->wc ? o->critic_gain
                                            : o->gru_gain;
        int orc =
            lp__orthogonal(m->params + ti->offset, ti->shape[0], ti->shape[1], gain, &rng, scratch);
        if (orc == LP__ORTHO_ENOMEM)
            rc = lp__error_set(err, LP_ENOMEM, "lp_gru_create: out of memory for the QR of %s",
                               ti->name);
        else if (orc != 0)
            rc = lp__error_set(err, LP_ENUMERIC,
                               "lp_gru_create: the random draw for %s is rank-deficient: try "
                               "another seed",
                               ti->name);
    }
    free(scratch);
    return rc;
}

int32_t lp__gru_work_alloc(const lp_gru *m, int64_t cap, lp__gru_work *w) {
    const size_t N = (size_t)cap, E = (size_t)m->E, M = (size_t)m->M;
    /* x, gi, h, hp, gate, ghn per sample; gh and dc per row (rows <= N). */
    size_t floats = N * (E + 3 * M + M + M + 3 * M + M + E) + N * (3 * M + M);
    size_t bytes = floats * sizeof(float) + N;
    float *b = malloc(bytes > 0 ? bytes : 1);
    if (b == NULL)
        return LP_ENOMEM;
    memset(w, 0, sizeof *w);
    w->block = b;
    w->cap = cap;
    w->x = b;
    w->gi = w->x + N * E;
    w->h = w->gi + N * 3 * M;
    w->hp = w->h + N * M;
    w->gate = w->hp + N * M;
    w->ghn = w->gate + N * 3 * M;
    w->dx = w->ghn + N * M;
    w->gh = w->dx + N * E;
    w->dc = w->gh + N * 3 * M;
    w->starts = (uint8_t *)(w->dc + N * M);
    w->rows = -1;
    return LP_OK;
}

void lp__gru_work_free(lp__gru_work *w) {
    if (w == NULL)
        return;
    free(w->block);
    memset(w, 0, sizeof *w);
    w->rows = -1;
}

int32_t lp_gru_create(const lp_gru_options *o, lp_gru **out, lp_error *err) {
    static const char fn[] = "lp_gru_create";
    if (out == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (o == NULL || o->struct_size < sizeof *o)
        return lp__error_set(err, LP_EINVAL,
                             "%s: options.struct_size is %u, expected %zu: fill the options with "
                             "lp_gru_options_init first",
                             fn, o == NULL ? 0u : (unsigned)o->struct_size, sizeof *o);
    const int64_t dims[4] = {o->obs_dim, o->num_actions, o->encoder, o->memory};
    static const char *const names[4] = {"obs_dim", "num_actions", "encoder", "memory"};
    for (int i = 0; i < 4; i++)
        if (dims[i] < 1 || dims[i] > LP__GRU_MAX_DIM)
            return lp__error_set(err, LP_EINVAL, "%s: options.%s is %lld: give 1 .. %lld", fn,
                                 names[i], (long long)dims[i], (long long)LP__GRU_MAX_DIM);
    if (o->max_batch < 1 || o->max_batch > LP__GRU_MAX_BATCH)
        return lp__error_set(err, LP_EINVAL, "%s: options.max_batch is %lld: give 1 .. %lld", fn,
                             (long long)o->max_batch, (long long)LP__GRU_MAX_BATCH);
    const double gains[5] = {o->encoder_gain, o->gru_gain, o->actor_gain, o->critic_gain,
                             o->critic_trunk};
    for (int i = 0; i < 5; i++)
        if (!isfinite(gains[i]) || gains[i] < 0)
            return lp__error_set(err, LP_EINVAL,
                                 "%s: a gain or critic_trunk is %g: give a finite value >= 0", fn,
                                 gains[i]);
    lp_gru *m = calloc(1, sizeof *m);
    if (m == NULL)
        return lp__error_set(err, LP_ENOMEM, "%s: out of memory", fn);
    m->D = o->obs_dim;
    m->A = o->num_actions;
    m->E = o->encoder;
    m->M = o->memory;
    m->critic_trunk = (float)o->critic_trunk;
    lp__gru_kern_pick(m, lp__isa_level());
    m->own.rows = -1;
    m->w = &m->own;
    layout(m);
    m->params = malloc(m->param_count * sizeof *m->params);
    m->grads = calloc(m->param_count, sizeof *m->grads);
    int32_t rc = LP_OK;
    if (m->params == NULL || m->grads == NULL ||
        lp__gru_work_alloc(m, o->max_batch, &m->own) != LP_OK)
        rc = lp__error_set(err, LP_ENOMEM,
                           "%s: out of memory for %zu parameters and the work buffers of %lld "
                           "samples: use a smaller model or max_batch",
                           fn, m->param_count, (long long)o->max_batch);
    if (rc == LP_OK)
        rc = init_params(m, o, err);
    if (rc != LP_OK) {
        lp_gru_destroy(m);
        return rc;
    }
    *out = m;
    return LP_OK;
}

void lp_gru_destroy(lp_gru *m) {
    if (m == NULL)
        return;
    lp__gru_work_free(&m->own);
    free(m->params);
    free(m->grads);
    free(m);
}

int64_t lp_gru_memory_size(const lp_gru *m) {
    return m != NULL ? m->M : 0;
}
int64_t lp_gru_max_batch(const lp_gru *m) {
    return m != NULL ? m->own.cap : 0;
}
size_t lp_gru_param_count(const lp_gru *m) {
    return m != NULL ? m->param_count : 0;
}
float *lp_gru_params(lp_gru *m) {
    return m != NULL ? m->params : NULL;
}
float *lp_gru_grads(lp_gru *m) {
    return m != NULL ? m->grads : NULL;
}
void lp_gru_zero_grad(lp_gru *m) {
    if (m != NULL)
        memset(m->grads, 0, m->param_count * sizeof *m->grads);
}
size_t lp_gru_tensor_count(const lp_gru *m) {
    return m != NULL ? LP__GRU_TENSORS : 0;
}
const lp_mlp_tensor_info *lp_gru_tensor_at(const lp_gru *m, size_t index) {
    return m != NULL && index < LP__GRU_TENSORS ? &m->tensors[index] : NULL;
}

size_t lp_gru_named_params(lp_gru *m, lp_named_tensor *out, size_t cap) {
    if (m == NULL)
        return 0;
    for (size_t i = 0; i < LP__GRU_TENSORS && i < cap && out != NULL; i++) {
        const lp_mlp_tensor_info *ti = &m->tensors[i];
        lp_named_tensor *nt = &out[i];
        memset(nt, 0, sizeof *nt);
        nt->name = ti->name;
        nt->view.data = m->params + ti->offset;
        nt->view.dtype = LP_DTYPE_F32;
        nt->view.rank = ti->rank;
        nt->view.shape[0] = ti->shape[0];
        nt->view.shape[1] = ti->shape[1];
        nt->view.strides[0] = ti->rank == 2 ? ti->shape[1] : 1;
        nt->view.strides[1] = 1;
    }
    return LP__GRU_TENSORS;
}

/* ---- forward ---------------------------------------------------------------------- */

/* y [n, out] (row distance ldy) = x [n, in] W^T (+ b when b != NULL). */
static void affine(const float *x, int64_t ldx, int64_t n, const float *w, const float *b,
                   int64_t in, int64_t out, float *y, int64_t ldy) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)n, (blasint)out, (blasint)in,
                1.0f, x, (blasint)ldx, w, (blasint)in, 0.0f, y, (blasint)ldy);
    if (b != NULL)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < out; j++)
                y[i * ldy + j] += b[j];
}

/* sigmoid(a) = (1 + tanh(a / 2)) / 2 on lp__tanhf (vtanh.h): arithmetic and
 * selects only, so the gate loop vectorises (scalar expf and tanhf took 38%
 * of a CartPole run). Its absolute error is below 2e-7 on the whole range;
 * far in the tails it rounds to 0 or 1 a little earlier than the exact
 * sigmoid (below 4e-8 away). */
static inline __attribute__((always_inline)) float vsigmoid(float a) {
    return 0.5f + 0.5f * lp__tanhf(0.5f * a);
}

/* One step's gates for one row of M units (torch.nn.GRU's equations); g
 * gets r, z, n, hn the W_hn h + b_hn the backward needs, h the new state. */
static inline __attribute__((always_inline)) void
gates_body(const float *restrict gi, const float *restrict gh, const float *restrict h0,
           float *restrict g, float *restrict hn, float *restrict h, size_t M) {
    for (size_t j = 0; j < M; j++) {
        const float rr = vsigmoid(gi[j] + gh[j]);
        const float z = vsigmoid(gi[M + j] + gh[M + j]);
        const float n = lp__tanhf(gi[2 * M + j] + rr * gh[2 * M + j]);
        g[j] = rr;
        g[M + j] = z;
        g[2 * M + j] = n;
        hn[j] = gh[2 * M + j];
        h[j] = (1.0f - z) * n + z * h0[j];
    }
}

static inline __attribute__((always_inline)) void tanh_body(float *restrict x, size_t count) {
    for (size_t i = 0; i < count; i++)
        x[i] = lp__tanhf(x[i]);
}

/* Builds for the baseline ISA, AVX2+FMA and AVX-512 (lp_dispatch.h); each
 * computes the same bits (element-wise, nothing contracted into FMA). */
LP__DEFINE_ISA_VARIANTS(gru_gates, void,
                        (const float *gi, const float *gh, const float *h0, float *g, float *hn,
                         float *h, size_t M),
                        { gates_body(gi, gh, h0, g, hn, h, M); })
LP__DEFINE_ISA_VARIANTS(gru_tanh, void, (float *x, size_t count), { tanh_body(x, count); })

void lp__gru_kern_pick(lp_gru *m, int isa) {
    m->gates = gru_gates_base;
    m->tanh = gru_tanh_base;
#if LP__HAVE_ISA_VARIANTS
    if (isa == LP__ISA_AVX2) {
        m->gates = gru_gates_avx2;
        m->tanh = gru_tanh_avx2;
    } else if (isa == LP__ISA_AVX512) {
        m->gates = gru_gates_avx512;
        m->tanh = gru_tanh_avx512;
    }
#else
    (void)isa;
#endif
}

int32_t lp_gru_forward(lp_gru *m, const float *obs, int64_t ld_obs, int64_t rows, int64_t horizon,
                       const uint8_t *starts, float *memory, float *logits, float *values,
                       lp_error *err) {
    static const char fn[] = "lp_gru_forward";
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the model is NULL", fn);
    lp__gru_work *w = m->w;
    w->rows = -1;
    if (rows < 0 || horizon < 1 || (rows > 0 && horizon > w->cap / rows))
        return lp__error_set(err, rows < 0 || horizon < 1 ? LP_EINVAL : LP_ERANGE,
                             "%s: %lld rows x %lld steps: give rows >= 0 and horizon >= 1 with "
                             "rows * horizon <= max_batch (%lld)",
                             fn, (long long)rows, (long long)horizon, (long long)w->cap);
    if (rows > 0 && (obs == NULL || memory == NULL || ld_obs < m->D))
        return lp__error_set(err, LP_EINVAL,
                             "%s: obs or memory is NULL, or ld_obs %lld < obs_dim %lld", fn,
                             (long long)ld_obs, (long long)m->D);
    const int64_t R = rows, T = horizon, N = R * T, E = m->E, M = m->M, M3 = 3 * M;
    const float *P = m->params;
    if (N == 0) {
        w->rows = 0;
        w->horizon = T;
        return LP_OK;
    }
    /* Input side for every sample at once. */
    affine(obs, ld_obs, N, P + m->we, P + m->be, m->D, E, w->x, E);
    m->tanh(w->x, (size_t)(N * E));
    affine(w->x, E, N, P + m->wih, P + m->bih, E, M3, w->gi, M3);
    if (starts != NULL)
        memcpy(w->starts, starts, (size_t)N);
    else
        memset(w->starts, 0, (size_t)N);

    for (int64_t t = 0; t < T; t++) {
        float *hp = w->hp + t * R * M, *gate = w->gate + t * R * M3, *ghn = w->ghn + t * R * M;
        for (int64_t r = 0; r < R; r++) {
            float *dst = hp + r * M;
            if (w->starts[r * T + t])
                memset(dst, 0, (size_t)M * sizeof *dst);
            else
                memcpy(dst, t == 0 ? memory + r * M : w->h + (r * T + t - 1) * M,
                       (size_t)M * sizeof *dst);
        }
        affine(hp, M, R, P + m->whh, P + m->bhh, M, M3, w->gh, M3);
        for (int64_t r = 0; r < R; r++) {
            const float *gi = w->gi + (r * T + t) * M3, *gh = w->gh + r * M3, *h0 = hp + r * M;
            float *g = gate + r * M3, *hn = ghn + r * M, *h = w->h + (r * T + t) * M;
            m->gates(gi, gh, h0, g, hn, h, (size_t)M);
        }
    }
    for (int64_t r = 0; r < R; r++)
        memcpy(memory + r * M, w->h + (r * T + T - 1) * M, (size_t)M * sizeof *memory);
    if (logits != NULL)
        affine(w->h, M, N, P + m->wa, P + m->ba, M, m->A, logits, m->A);
    if (values != NULL)
        affine(w->h, M, N, P + m->wc, P + m->bc, M, 1, values, 1);
    w->rows = R;
    w->horizon = T;
    w->did_logits = logits != NULL;
    w->did_values = values != NULL;
    return LP_OK;
}

/* ---- backward through time ---------------------------------------------------------- */

/* dW [out, in] += g^T x and db += column sums of g (g [n, out] at row
 * distance ldg). */
static void param_grads(const float *g, int64_t ldg, const float *x, int64_t ldx, int64_t n,
                        int64_t in, int64_t out, float *dw, float *db) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)out, (blasint)in, (blasint)n,
                1.0f, g, (blasint)ldg, x, (blasint)ldx, 1.0f, dw, (blasint)in);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < out; j++)
            db[j] += g[i * ldg + j];
}

int32_t lp_gru_backward(lp_gru *m, const float *obs, int64_t ld_obs, const float *dlogits,
                        const float *dvalues, lp_error *err) {
    static const char fn[] = "lp_gru_backward";
    if (m == NULL)
        return lp__error_set(err, LP_EINVAL, "%s: the model is NULL", fn);
    lp__gru_work *w = m->w;
    if (w->rows < 0)
        return lp__error_set(err, LP_ESTATE, "%s: no forward to backpropagate: call lp_gru_forward",
                             fn);
    if ((dlogits != NULL && !w->did_logits) || (dvalues != NULL && !w->did_values))
        return lp__error_set(err, LP_ESTATE,
                             "%s: a gradient for a head the last forward did not compute: forward "
                             "with logits and values",
                             fn);
    const int64_t R = w->rows, T = w->horizon, N = R * T, E = m->E, M = m->M, M3 = 3 * M;
    if (N == 0)
        return LP_OK;
    if (obs == NULL || ld_obs < m->D)
        return lp__error_set(err, LP_EINVAL, "%s: obs is NULL or ld_obs %lld < obs_dim %lld", fn,
                             (long long)ld_obs, (long long)m->D);
    const float *P = m->params;
    float *G = m->grads;
    /* Heads: parameter gradients, then dh [N, M] into w->h's place once
     * they have read h. */
    if (dlogits != NULL)
        param_grads(dlogits, m->A, w->h, M, N, M, m->A, G + m->wa, G + m->ba);
    if (dvalues != NULL)
        param_grads(dvalues, 1, w->h, M, N, M, 1, G + m->wc, G + m->bc);
    float *dh = w->h;
    if (dlogits != NULL)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)M,
                    (blasint)m->A, 1.0f, dlogits, (blasint)m->A, P + m->wa, (blasint)M, 0.0f, dh,
                    (blasint)M);
    else
        memset(dh, 0, (size_t)(N * M) * sizeof *dh);
    if (dvalues != NULL && m->critic_trunk != 0.0f)
        for (int64_t i = 0; i < N; i++) {
            const float dv = m->critic_trunk * dvalues[i];
            for (int64_t j = 0; j < M; j++)
                dh[i * M + j] += dv * P[m->wc + (size_t)j];
        }

    /* Through time: w->gi becomes d(gi) step by step (each step reads only
     * its own gi, already consumed by the forward). */
    float *dc = w->dc, *dgh = w->gh;
    memset(dc, 0, (size_t)(R * M) * sizeof *dc);
    for (int64_t t = T - 1; t >= 0; t--) {
        const float *hp = w->hp + t * R * M, *gate = w->gate + t * R * M3,
                    *ghn = w->ghn + t * R * M;
        for (int64_t r = 0; r < R; r++) {
            const float *g = gate + r * M3, *hn = ghn + r * M, *h0 = hp + r * M;
            const float *dht = dh + (r * T + t) * M;
            float *dgi = w->gi + (r * T + t) * M3, *dg = dgh + r * M3, *c = dc + r * M;
            for (int64_t j = 0; j < M; j++) {
                float d = dht[j] + c[j];
                float rr = g[j], z = g[M + j], n = g[2 * M + j];
                float dn = d * (1.0f - z), dz = d * (h0[j] - n);
                float dan = dn * (1.0f - n * n);
                float dar = dan * hn[j] * rr * (1.0f - rr);
                float daz = dz * z * (1.0f - z);
                dgi[j] = dar;
                dgi[M + j] = daz;
                dgi[2 * M + j] = dan;
                dg[j] = dar;
                dg[M + j] = daz;
                dg[2 * M + j] = dan * rr;
                c[j] = d * z; /* through h' = ... + z h */
            }
        }
        param_grads(dgh, M3, hp, M, R, M, M3, G + m->whh, G + m->bhh);
        /* c += d(gh) W_hh: the gradient reaching the state before step t. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)R, (blasint)M, (blasint)M3,
                    1.0f, dgh, (blasint)M3, P + m->whh, (blasint)M, 1.0f, dc, (blasint)M);
        /* A reset cut the state: nothing flows further back in that row. */
        for (int64_t r = 0; r < R; r++)
            if (w->starts[r * T + t])
                memset(dc + r * M, 0, (size_t)M * sizeof *dc);
    }
    /* Input side: W_ih, then the encoder. */
    param_grads(w->gi, M3, w->x, E, N, E, M3, G + m->wih, G + m->bih);
    float *dx = w->dx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)N, (blasint)E, (blasint)M3,
                1.0f, w->gi, (blasint)M3, P + m->wih, (blasint)E, 0.0f, dx, (blasint)E);
    for (int64_t i = 0; i < N * E; i++)
        dx[i] *= 1.0f - w->x[i] * w->x[i];
    param_grads(dx, E, obs, ld_obs, N, m->D, E, G + m->we, G + m->be);
    w->rows = -1; /* the activations are consumed */
    return LP_OK;
}
