/*
 * value: the critic's loss (CleanRL's ppo.py value term).
 *
 *   V_c  = V_old + clip(V - V_old, -vclip, +vclip)
 *   L_v  = 0.5 * mean_i max((V_i - R_i)^2, (V_c,i - R_i)^2)   (clip_vloss)
 *        = 0.5 * mean_i (V_i - R_i)^2                          (otherwise)
 *   L    = vf_coef * L_v
 *   dL/dV_i = vf_coef * (V_i - R_i) / M where the unclipped term is the
 *             max (ties included), else 0.
 *
 * R = the field `returns`, V_old = the field `values` (recorded at rollout),
 * V = the model output `values`. explained_variance = 1 - Var(R - V_old) /
 * Var(R) over the whole buffer, accumulated over the minibatches of update
 * epoch 0 and recorded at train_end. docs/losses/value.md has the details.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_dispatch.h"
#include "lp_vmath.h"

#include <stdlib.h>

#define VAL_F_RET "returns"
#define VAL_F_OLD "values"
#define VAL_O_V   "values"

enum { VAL_P_COEF = 0, VAL_P_CLIP, VAL_P_VCLIP, VAL_NPARAMS };

static const lp_param_spec val_params[] = {
    LP_PARAM_FLOAT_SPEC("vf_coef", "multiplier of the value loss", 0.5, 0.0, 1e6),
    LP_PARAM_BOOL_SPEC("clip_vloss",
                       "take the max of the plain and the clipped squared error (CleanRL's "
                       "clip_vloss)",
                       1),
    LP_PARAM_FLOAT_SPEC("vclip", "how far V may move from the rollout's value before clipping", 0.2,
                        0.0, 1e6),
};

static const lp_field_spec val_fields[] = {
    LP_FIELD_SCALAR(VAL_F_RET, "return targets (written by gae at train-phase start)",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR(VAL_F_OLD,
                    "V(obs_t) under the policy that acted (V_old); written by the embedding "
                    "program during rollout",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
};

static const char *const val_outputs[] = {VAL_O_V, NULL};

/* ---- the kernel ----------------------------------------------------------- */

typedef struct val_job {
    const float *R, *Vo; /* [rows, horizon] strided fields */
    int64_t R_s0, R_s1, Vo_s0, Vo_s1;
    const float *V; /* [rows, horizon] contiguous output */
    float *g;       /* its gradient, or NULL */
    int64_t rows, hor;
    float vclip; /* +Inf when clip_vloss is off: then V_c = V */
    float k;     /* weight * vf_coef / M */
} val_job;

/* n samples of one row; `sR`, `sVo` are inner strides (inlined with 1 for
 * the contiguous case). The per-sample loss goes into 8 f64 lanes. */
static LP__ALWAYS_INLINE void val_row(const val_job *J, const float *LP__RESTRICT R, int64_t sR,
                                      const float *LP__RESTRICT Vo, int64_t sVo,
                                      const float *LP__RESTRICT V, float *LP__RESTRICT g, int64_t n,
                                      double *acc) {
    const float vc = J->vclip, k = J->k;
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) {
        for (int l = 0; l < 8; l++) {
            const float v = V[t + l], r = R[(t + l) * sR], vo = Vo[(t + l) * sVo];
            const float d = v - r, dv = v - vo;
            /* Inside the clip range V_c is V itself (not V_old + (V - V_old),
             * which may round differently and steal the gradient). */
            const float vcl = dv > vc ? vo + vc : dv < -vc ? vo - vc : v;
            const float dc = vcl - r;
            const float lu = d * d, lc = dc * dc;
            /* the unclipped term carries the gradient when it is the max,
             * ties included */
            acc[l] += (double)(lu >= lc ? lu : lc);
            if (g != NULL)
                g[t + l] += lu >= lc ? k * d : 0.0f;
        }
    }
    for (; t < n; t++) {
        const float v = V[t], r = R[t * sR], vo = Vo[t * sVo];
        const float d = v - r, dv = v - vo;
        const float vcl = dv > vc ? vo + vc : dv < -vc ? vo - vc : v;
        const float dc = vcl - r;
        const float lu = d * d, lc = dc * dc;
        acc[0] += (double)(lu >= lc ? lu : lc);
        if (g != NULL)
            g[t] += lu >= lc ? k * d : 0.0f;
    }
}

/* Returns sum_i of the per-sample squared error (the max of the two when
 * clipping). */
static LP__ALWAYS_INLINE double val_run(const val_job *J) {
    double acc[8] = {0};
    for (int64_t r = 0; r < J->rows; r++) {
        const float *R = J->R + r * J->R_s0, *Vo = J->Vo + r * J->Vo_s0;
        const float *V = J->V + r * J->hor;
        float *g = J->g != NULL ? J->g + r * J->hor : NULL;
        if (J->R_s1 == 1 && J->Vo_s1 == 1)
            val_row(J, R, 1, Vo, 1, V, g, J->hor, acc);
        else
            val_row(J, R, J->R_s1, Vo, J->Vo_s1, V, g, J->hor, acc);
    }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

typedef double (*val_kernel_fn)(const val_job *J);

/* One body per instruction set (lp_dispatch.h). */
LP__DEFINE_KERNELS(val_kernel_fn, val_kernel, double, (const val_job *J), { return val_run(J); })

/* ---- explained variance --------------------------------------------------- */

/* Count, mean and sum of squared deviations of a sample, mergeable (Chan et
 * al.'s parallel update), in f64. */
typedef struct val_moments {
    double n, mean, m2;
} val_moments;

static void val_merge(val_moments *acc, val_moments b) {
    if (b.n == 0.0)
        return;
    if (acc->n == 0.0) {
        *acc = b;
        return;
    }
    const double n = acc->n + b.n, delta = b.mean - acc->mean;
    acc->mean += delta * (b.n / n);
    acc->m2 += b.m2 + delta * delta * (acc->n * b.n / n);
    acc->n = n;
}

/* ---- the instance --------------------------------------------------------- */

typedef struct val_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params;
    const char *name; /* host-owned (args->name), valid until destroy */
    int32_t f_ret, f_old, o_v;
    int32_t stat_loss, stat_ev;
    val_kernel_fn kernel;
    val_moments ev_y, ev_d; /* R and R - V_old over update epoch 0 */
} val_inst;

static val_inst *val_of(const lp_loss *self) {
    return (val_inst *)self->data;
}

static int32_t val_attach(const lp_loss *self, const lp_batch *all) {
    (void)all; /* field types are declared, and guaranteed */
    val_inst *in = val_of(self);
    const lp_host *h = in->host;
    int32_t rc = lp__require_field(h, "value", in->name, VAL_F_RET,
                                   " (f32, one per step); compose value with gae, which writes it",
                                   &in->f_ret);
    if (rc == LP_OK)
        rc = lp__require_field(h, "value", in->name, VAL_F_OLD,
                               " (f32, one per step); the embedding program must record V(obs) "
                               "during rollout",
                               &in->f_old);
    if (rc == LP_OK)
        rc = lp__require_output(h, "value", in->name, VAL_O_V,
                                " (f32, [rows, horizon]); it needs a value head", &in->o_v);
    return rc;
}

/* The output's per-sample shape is the program's declaration, which the
 * host does not match against this loss (abi.h, "what the host
 * guarantees"); fields, rows, horizon and contiguity it does guarantee. */
static int32_t val_check_batch(const val_inst *in, const lp_batch *mb) {
    const int64_t rows = mb->rows, hor = mb->horizon;
    const lp_tensor *v = &mb->outputs[in->o_v];
    /* [rows, horizon] or [rows, horizon, 1] */
    if (v->dtype != LP_DTYPE_F32 || !(v->rank == 2 || (v->rank == 3 && v->shape[2] == 1)))
        return lp_errorf(
            in->host, LP_ESPEC,
            "value '%s': output '" VAL_O_V "' must be f32 [%lld, %lld] (or [%lld, %lld, 1])",
            in->name, (long long)rows, (long long)hor, (long long)rows, (long long)hor);
    return LP_OK;
}

/* Moments of R and of R - V_old over one minibatch (two passes, f64). */
static void val_ev_accumulate(val_inst *in, const lp_tensor *Rt, const lp_tensor *Vt, int64_t rows,
                              int64_t hor) {
    const float *R = Rt->data, *Vo = Vt->data;
    double sy = 0.0, sd = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const double y = R[r * Rt->strides[0] + t * Rt->strides[1]];
            sy += y;
            sd += y - Vo[r * Vt->strides[0] + t * Vt->strides[1]];
        }
    const double n = (double)(rows * hor), my = sy / n, md = sd / n;
    double qy = 0.0, qd = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const double y = R[r * Rt->strides[0] + t * Rt->strides[1]];
            const double dy = y - my;
            const double dd = (y - Vo[r * Vt->strides[0] + t * Vt->strides[1]]) - md;
            qy += dy * dy;
            qd += dd * dd;
        }
    val_merge(&in->ev_y, (val_moments){n, my, qy});
    val_merge(&in->ev_d, (val_moments){n, md, qd});
}

static int32_t val_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                         lp_train_result *out) {
    val_inst *in = val_of(self);
    const lp_host *h = in->host;
    int32_t rc = val_check_batch(in, mb);
    if (rc != LP_OK)
        return rc;

    const double vf_coef = lp_value_f(&in->params[VAL_P_COEF]);
    const int clip = lp_value_b(&in->params[VAL_P_CLIP]);
    const double vclip = lp_value_f(&in->params[VAL_P_VCLIP]);
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "value '%s': weight %g is not finite", in->name,
                         (double)weight);

    const int64_t rows = mb->rows, hor = mb->horizon, M = rows * hor;
    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }
    const lp_tensor *Rt = &mb->fields[in->f_ret], *Vt = &mb->fields[in->f_old];
    val_job J = {
        .R = Rt->data,
        .R_s0 = Rt->strides[0],
        .R_s1 = Rt->strides[1],
        .Vo = Vt->data,
        .Vo_s0 = Vt->strides[0],
        .Vo_s1 = Vt->strides[1],
        .V = mb->outputs[in->o_v].data,
        .g = weight != 0.0f ? mb->grads[in->o_v].data : NULL,
        .rows = rows,
        .hor = hor,
        .vclip = clip ? (float)vclip : INFINITY,
        .k = (float)((double)weight * vf_coef / (double)M),
    };
    const double lv = 0.5 * in->kernel(&J) / (double)M;
    out->loss = vf_coef * lv;
    lp_stat(h, in->stat_loss, lv);

    if (ctx->update_epoch == 0)
        val_ev_accumulate(in, Rt, Vt, rows, hor);
    return LP_OK;
}

static int32_t val_train_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    (void)ctx;
    (void)all;
    val_inst *in = val_of(self);
    memset(&in->ev_y, 0, sizeof in->ev_y);
    memset(&in->ev_d, 0, sizeof in->ev_d);
    return LP_OK;
}

static int32_t val_train_end(const lp_loss *self, const lp_ctx *ctx) {
    (void)ctx;
    val_inst *in = val_of(self);
    if (in->ev_y.n > 0.0) {
        /* Var(R) == 0: nothing to explain. As sklearn's
         * explained_variance_score (force_finite): 1 when R - V_old is
         * constant too, else 0; never NaN (CleanRL logs NaN). */
        const double vy = in->ev_y.m2, vd = in->ev_d.m2;
        const double ev = vy > 0.0 ? 1.0 - vd / vy : vd == 0.0 ? 1.0 : 0.0;
        lp_stat(in->host, in->stat_ev, ev);
    }
    memset(&in->ev_y, 0, sizeof in->ev_y);
    memset(&in->ev_d, 0, sizeof in->ev_d);
    return LP_OK;
}

static void val_destroy(const lp_loss *self) {
    val_inst *in = val_of(self);
    if (in == NULL)
        return;
    free(in);
}

static int32_t val_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    val_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "value: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    in->f_ret = in->f_old = in->o_v = -1;
    in->stat_loss = lp_stat_handle(h, "value_loss");
    in->stat_ev = lp_stat_handle(h, "explained_variance");
    in->kernel = val_kernel_pick();

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = val_attach;
    in->loss.train_start = val_train_start;
    in->loss.train = val_train;
    in->loss.train_end = val_train_end;
    in->loss.destroy = val_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc val_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "value",
    .version = "1.0.0",
    .summary = "the critic: clipped or plain squared error of the value head against the returns",
    LP_DESC_PARAMS(val_params),
    LP_DESC_FIELDS(val_fields),
    .outputs = val_outputs,
    .create = val_create,
};

LP_PLUGIN_ENTRY(&val_desc)
