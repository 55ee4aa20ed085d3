/*
 * kickstarter: distillation from a teacher's logits and values.
 *
 *   q_i = softmax(t_i / T),  p_i = softmax(z_i / T)
 *   L = action_coef * T^2 * mean_i KL(q_i || p_i)
 *       + value_coef * mean_i (V_i - Vt_i)^2
 *   dL/dz_ij = action_coef * T * (p_ij - q_ij) / M
 *   dL/dV_i  = 2 * value_coef * (V_i - Vt_i) / M
 *
 * over the M = rows * horizon samples of a minibatch. The teacher's logits
 * and values are the buffer fields `teacher_logits` and `teacher_values`,
 * written during rollout by the embedding program. KL uses log-softmax on
 * both sides (never the log of a probability), so it stays finite for any
 * finite logits. Masked actions: -inf logits on either side, or 0 in the
 * optional field `action_mask` (applied to both sides). A teacher's masked
 * action adds nothing; the student's gradient is exactly 0 where both mask.
 * The student masking an action the teacher takes makes the KL +inf: an
 * error, as is a row with every action masked on either side.
 * Multi-discrete (read once in create): the same per component, KL summed;
 * box: KL of the diagonal Gaussians, without temperature (ks_train_space).
 * docs/losses/kickstarter.md has the details.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_mask.h"
#include "lp_space.h"

#include <stdlib.h>

#define KS_F_TLOGITS "teacher_logits"
#define KS_F_TVALUES "teacher_values"
#define KS_O_LOGITS  "logits"
#define KS_O_VALUES  "values"

enum { KS_P_TEMPERATURE = 0, KS_P_ACTION_COEF, KS_P_VALUE_COEF };

static const lp_param_spec ks_params[] = {
    LP_PARAM_FLOAT_RANGE_SPEC("temperature",
                              "softmax temperature T (> 0) of both teacher and student", 2.0, 0.0,
                              1e6, LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_HAS_MAX),
    LP_PARAM_FLOAT_SPEC("action_coef", "coefficient of T^2 * mean KL(teacher || student)", 0.6, 0.0,
                        1e6),
    LP_PARAM_FLOAT_SPEC("value_coef", "coefficient of mean (V - teacher value)^2", 1.0, 0.0, 1e6),
};

static const lp_field_spec ks_fields[] = {
    LP_FIELD_SPEC(KS_F_TLOGITS,
                  "the teacher's logits at each step; written by the embedding program during "
                  "rollout",
                  LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32, LP_DIM_NUM_ACTIONS),
    LP_FIELD_SCALAR(KS_F_TVALUES,
                    "the teacher's value estimate at each step; written by the embedding program "
                    "during rollout",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP__MASK_FIELD_SPEC,
};

static const char *const ks_outputs[] = {KS_O_LOGITS, KS_O_VALUES, NULL};

typedef struct ks_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params; /* host-owned, updated in place (annealing) */
    const char *name;       /* host-owned (args->name), valid until destroy */
    int32_t field_tlogits, field_tvalues, out_logits, out_values; /* resolved in attach */
    int32_t field_mask;                                           /* -1: no action_mask */
    int32_t stat_action_loss, stat_value_loss;
    /* Scratch rows of `cap` floats: scaled logits and softmax of student
     * (zs, p) and teacher (ts, q). */
    float *zs, *p, *ts, *q;
    uint8_t *mrow; /* and a mask row */
    int64_t cap;
    /* The action space, read once in create: multi-discrete and box run
     * ks_train_space (lossplug/dist.h's lp_policy layer), which keeps every
     * sample's p and q (M * policy_width floats in `p`, `q`) between its
     * checking pass and its gradient pass. */
    lp_policy pol;
    lp_field_spec specs[LP__SPACE_MAX_FIELDS];
    uint32_t spec_count;
    lp_cat *cp, *cq; /* dims categorical pieces of student and teacher */
} ks_inst;

static ks_inst *ks_of(const lp_loss *self) {
    return (ks_inst *)self->data;
}

static int32_t ks_attach(const lp_loss *self, const lp_batch *all) {
    ks_inst *in = ks_of(self);
    const lp_host *h = in->host;
    static const char heads[] =
        "; it needs a policy head ('" KS_O_LOGITS
        "', f32 [rows, horizon, policy_width]) and a value head ('" KS_O_VALUES
        "', f32 [rows, horizon])";
    int32_t rc =
        lp__require_field(h, "kickstarter", in->name, KS_F_TLOGITS,
                          " (f32, [policy_width] per step); the embedding program must run "
                          "the teacher and write its logits during rollout",
                          &in->field_tlogits);
    if (rc == LP_OK)
        rc = lp__require_field(h, "kickstarter", in->name, KS_F_TVALUES,
                               " (f32, one per step); the embedding program must run the teacher "
                               "and write its values during rollout",
                               &in->field_tvalues);
    if (rc == LP_OK)
        rc = lp__require_output(h, "kickstarter", in->name, KS_O_LOGITS, heads, &in->out_logits);
    if (rc == LP_OK)
        rc = lp__require_output(h, "kickstarter", in->name, KS_O_VALUES, heads, &in->out_values);
    if (rc == LP_OK)
        rc = lp__mask_attach(h, "kickstarter", in->name, all, &in->field_mask);
    return rc;
}

/* A per-step scalar output: [rows, horizon] or [rows, horizon, 1]. */
static int ks_is_scalar_view(const lp_tensor *t) {
    return t->dtype == LP_DTYPE_F32 && (t->rank == 2 || (t->rank == 3 && t->shape[2] == 1));
}

/* The outputs' per-sample shapes are the program's declaration, which the
 * host does not match against this loss or against teacher_logits (abi.h,
 * "what the host guarantees"); the fields' types, rows, horizon and
 * contiguity it does guarantee. */
static int32_t ks_check_batch(const ks_inst *in, const lp_batch *mb) {
    const lp_host *h = in->host;
    const int64_t rows = mb->rows, hor = mb->horizon;
    const lp_tensor *z = &mb->outputs[in->out_logits], *v = &mb->outputs[in->out_values];
    const lp_tensor *tl = &mb->fields[in->field_tlogits];
    if (z->dtype != LP_DTYPE_F32 || z->rank != 3 || z->shape[2] < 1)
        return lp_errorf(h, LP_ESPEC,
                         "kickstarter '%s': output '" KS_O_LOGITS
                         "' must be f32 [%lld, %lld, A >= 1]",
                         in->name, (long long)rows, (long long)hor);
    if (!ks_is_scalar_view(v))
        return lp_errorf(h, LP_ESPEC,
                         "kickstarter '%s': output '" KS_O_VALUES "' must be f32 [%lld, %lld]",
                         in->name, (long long)rows, (long long)hor);
    if (tl->shape[2] != z->shape[2])
        return lp_errorf(h, LP_ESPEC,
                         "kickstarter '%s': field '" KS_F_TLOGITS
                         "' must be f32 [%lld, %lld, %lld] (the student's number of actions) in a "
                         "minibatch; got rank %d, last dimension %lld",
                         in->name, (long long)rows, (long long)hor, (long long)z->shape[2],
                         (int)tl->rank, (long long)tl->shape[tl->rank - 1]);
    if (in->pol.space != LP_ACTION_DISCRETE && z->shape[2] != in->pol.width)
        return lp_errorf(h, LP_ESPEC,
                         "kickstarter '%s': output '" KS_O_LOGITS
                         "' must have policy_width %lld values",
                         in->name, (long long)in->pol.width);
    return LP_OK;
}

static int32_t ks_reserve(ks_inst *in, int64_t n) {
    if (n <= in->cap)
        return LP_OK;
    float **bufs[4] = {&in->zs, &in->p, &in->ts, &in->q};
    for (int k = 0; k < 4; k++) {
        float *b = realloc(*bufs[k], (size_t)n * sizeof *b);
        if (b == NULL)
            return lp_errorf(in->host, LP_ENOMEM, "kickstarter '%s': out of memory (%lld actions)",
                             in->name, (long long)n);
        *bufs[k] = b;
    }
    uint8_t *m = realloc(in->mrow, (size_t)n);
    if (m == NULL)
        return lp_errorf(in->host, LP_ENOMEM, "kickstarter '%s': out of memory (%lld actions)",
                         in->name, (long long)n);
    in->mrow = m;
    in->cap = n;
    return LP_OK;
}

/* The report for a row whose KL is not finite: which side, and why. */
static int32_t ks_bad_row(const ks_inst *in, const float *z, const float *tl, int64_t ls2,
                          const uint8_t *mrow, int64_t K, lp_cat sp, lp_cat sq, float kl, int64_t r,
                          int64_t t) {
    const lp_host *h = in->host;
    int tbad = 0;
    for (int64_t j = 0; j < K; j++) {
        const float v = tl[j * ls2];
        tbad |= (mrow == NULL || mrow[j] != 0) && (v != v || v == INFINITY);
    }
    if (tbad)
        return lp__report_nonfinite(h, "kickstarter", in->name, "field '" KS_F_TLOGITS "'", NAN, r,
                                    t);
    if (lp__logits_bad(z, mrow, K))
        return lp__report_nonfinite(h, "kickstarter", in->name, "output '" KS_O_LOGITS "'", NAN, r,
                                    t);
    if (lp_cat_empty(sq) || lp_cat_empty(sp))
        return lp_errorf(h, LP_ERANGE,
                         "kickstarter '%s': every action of the %s is masked at row %lld, step "
                         "%lld: it has no distribution",
                         in->name, lp_cat_empty(sq) ? "teacher" : "student", (long long)r,
                         (long long)t);
    if (kl == INFINITY)
        return lp_errorf(h, LP_ERANGE,
                         "kickstarter '%s': at row %lld, step %lld the student gives probability 0 "
                         "(logit -inf) to an action the teacher takes: KL(teacher || student) is "
                         "+inf",
                         in->name, (long long)r, (long long)t);
    return lp__report_nonfinite(h, "kickstarter", in->name, "KL(teacher || student)", kl, r, t);
}

/* The report for a multi-discrete or box row whose KL is not finite. */
static int32_t ks_bad_space_row(const ks_inst *in, const float *z, const float *tl, int64_t ls2,
                                const uint8_t *mrow, int empty_q, int empty_p, float kl, int64_t r,
                                int64_t t) {
    const lp_host *h = in->host;
    const int64_t W = in->pol.width;
    const int box = in->pol.space == LP_ACTION_BOX;
    int tbad = 0;
    for (int64_t j = 0; j < W; j++) {
        const float v = tl[j * ls2];
        tbad |= box ? !isfinite(v) : (mrow == NULL || mrow[j] != 0) && (v != v || v == INFINITY);
    }
    if (tbad)
        return lp__report_nonfinite(h, "kickstarter", in->name, "field '" KS_F_TLOGITS "'", NAN, r,
                                    t);
    int zbad = 0;
    for (int64_t j = 0; box && j < W; j++)
        zbad |= !isfinite(z[j]);
    if (zbad || (!box && lp__logits_bad(z, mrow, W)))
        return lp__report_nonfinite(h, "kickstarter", in->name, "output '" KS_O_LOGITS "'", NAN, r,
                                    t);
    if (empty_q || empty_p)
        return lp_errorf(h, LP_ERANGE,
                         "kickstarter '%s': every action of a component of the %s is masked at "
                         "row %lld, step %lld: it has no distribution",
                         in->name, empty_q ? "teacher" : "student", (long long)r, (long long)t);
    if (kl == INFINITY && !box)
        return lp_errorf(h, LP_ERANGE,
                         "kickstarter '%s': at row %lld, step %lld the student gives probability 0 "
                         "(logit -inf) to an action the teacher takes: KL(teacher || student) is "
                         "+inf",
                         in->name, (long long)r, (long long)t);
    return lp__report_nonfinite(h, "kickstarter", in->name, "KL(teacher || student)", kl, r, t);
}

/* Multi-discrete: the discrete loss per component (temperature on each
 * component's logits), KL = sum_k KL(q_k || p_k). Box: KL between the
 * teacher's and the student's diagonal Gaussians, no temperature (and no
 * T^2). A first pass computes and checks every sample, keeping p and q; the
 * second writes the gradients, so that a failing call writes nothing. */
static int32_t ks_train_space(ks_inst *in, const lp_batch *mb, float weight, lp_train_result *out,
                              double T, double ac, double vc) {
    const lp_host *h = in->host;
    const lp_policy *pol = &in->pol;
    const int box = pol->space == LP_ACTION_BOX;
    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *tlt = &mb->fields[in->field_tlogits];
    const lp_tensor *tvt = &mb->fields[in->field_tvalues];
    const int64_t rows = mb->rows, hor = mb->horizon, W = pol->width, M = rows * hor;
    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }
    int32_t rc = ks_reserve(in, M * W);
    const lp_tensor *maskt = NULL;
    if (rc == LP_OK && !box)
        rc = lp__mask_check(h, "kickstarter", in->name, mb, in->field_mask, W, &maskt);
    if (rc != LP_OK)
        return rc;

    const float *logits = (const float *)zt->data;
    float *gz = (float *)mb->grads[in->out_logits].data;
    const float *V = (const float *)mb->outputs[in->out_values].data;
    float *gv = (float *)mb->grads[in->out_values].data;
    const float *tl = (const float *)tlt->data;
    const float *tv = (const float *)tvt->data;
    const int64_t ls0 = tlt->strides[0], ls1 = tlt->strides[1], ls2 = tlt->strides[2];
    const int64_t vs0 = tvt->strides[0], vs1 = tvt->strides[1];
    /* A box: no temperature (scale 1, no T^2). */
    const double Te = box ? 1.0 : T;
    const float invT = (float)(1.0 / Te);
    float *LP__RESTRICT zs = in->zs, *LP__RESTRICT ts = in->ts;
    double kl_sum = 0.0, v_sum = 0.0;

    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const float *z = logits + i * W;
            const float *tli = tl + r * ls0 + t * ls1;
            float *p = in->p + i * W, *q = in->q + i * W;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, W, in->mrow);
            int empty_q = 0, empty_p = 0;
            float kl;
            if (box) {
                for (int64_t j = 0; j < W; j++)
                    q[j] = tli[j * ls2];
                kl = lp_gauss_kl(q, z, pol->dims);
            } else {
                for (int64_t j = 0; j < W; j++)
                    zs[j] = z[j] * invT, ts[j] = tli[j * ls2] * invT;
                empty_p = lp_md_softmax(zs, mrow, pol->nvec, pol->dims, p, in->cp);
                empty_q = lp_md_softmax(ts, mrow, pol->nvec, pol->dims, q, in->cq);
                kl = lp_md_kl(ts, q, in->cq, zs, in->cp, pol->nvec, pol->dims);
            }
            if (!isfinite(kl) || empty_q || empty_p)
                return ks_bad_space_row(in, z, tli, ls2, mrow, empty_q, empty_p, kl, r, t);
            kl_sum += (double)kl;
            const float d = V[i] - tv[r * vs0 + t * vs1];
            if (!isfinite(d))
                return lp__report_nonfinite(
                    h, "kickstarter", in->name,
                    isfinite(V[i]) ? "field '" KS_F_TVALUES "'" : "output '" KS_O_VALUES "'",
                    isfinite(V[i]) ? (double)tv[r * vs0 + t * vs1] : V[i], r, t);
            v_sum += (double)d * (double)d;
        }

    /* d(T^2 KL(z / T)) / dz = T * dKL / d(z / T); a box: dKL / dz. */
    const float ca = (float)((double)weight * ac * Te / (double)M);
    const float cv = (float)((double)weight * 2.0 * vc / (double)M);
    for (int64_t i = 0; i < M; i++) {
        const int64_t r = i / hor, t = i % hor;
        if (box)
            lp_gauss_grad_kl(in->q + i * W, logits + i * W, pol->dims, ca, gz + i * W);
        else
            lp_md_grad_kl(in->p + i * W, in->q + i * W, W, ca, gz + i * W);
        gv[i] += cv * (V[i] - tv[r * vs0 + t * vs1]);
    }

    const double action_loss = Te * Te * kl_sum / (double)M;
    const double value_loss = v_sum / (double)M;
    out->loss = ac * action_loss + vc * value_loss;
    lp_stat(h, in->stat_action_loss, action_loss);
    lp_stat(h, in->stat_value_loss, value_loss);
    return LP_OK;
}

static int32_t ks_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                        lp_train_result *out) {
    (void)ctx;
    ks_inst *in = ks_of(self);
    const lp_host *h = in->host;
    int32_t rc = ks_check_batch(in, mb);
    if (rc != LP_OK)
        return rc;

    /* Read at every call: the host may anneal them in place. */
    const double T = lp_value_f(&in->params[KS_P_TEMPERATURE]);
    const double ac = lp_value_f(&in->params[KS_P_ACTION_COEF]);
    const double vc = lp_value_f(&in->params[KS_P_VALUE_COEF]);
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "kickstarter '%s': weight %g is not finite", in->name,
                         (double)weight);

    if (in->pol.space != LP_ACTION_DISCRETE)
        return ks_train_space(in, mb, weight, out, T, ac, vc);

    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *tlt = &mb->fields[in->field_tlogits];
    const lp_tensor *tvt = &mb->fields[in->field_tvalues];
    const int64_t rows = mb->rows, hor = mb->horizon, K = zt->shape[2], M = rows * hor;
    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }
    /* p and q of every sample are kept ([M, K]): a first pass computes and
     * checks every sample, the second writes the gradients, so that a
     * failing call writes nothing (as on the other spaces). */
    if (M > INT64_MAX / K)
        return lp_errorf(h, LP_ERANGE, "kickstarter '%s': a minibatch of %lld x %lld is too large",
                         in->name, (long long)M, (long long)K);
    rc = ks_reserve(in, M * K);
    if (rc != LP_OK)
        return rc;
    const lp_tensor *maskt = NULL;
    rc = lp__mask_check(h, "kickstarter", in->name, mb, in->field_mask, K, &maskt);
    if (rc != LP_OK)
        return rc;

    const float *logits = (const float *)zt->data;
    float *gz = (float *)mb->grads[in->out_logits].data;
    const float *V = (const float *)mb->outputs[in->out_values].data;
    float *gv = (float *)mb->grads[in->out_values].data;
    const float *tl = (const float *)tlt->data;
    const float *tv = (const float *)tvt->data;
    const int64_t ls0 = tlt->strides[0], ls1 = tlt->strides[1], ls2 = tlt->strides[2];
    const int64_t vs0 = tvt->strides[0], vs1 = tvt->strides[1];

    const float invT = (float)(1.0 / T);
    const float ca = (float)((double)weight * ac * T / (double)M);
    const float cv = (float)((double)weight * 2.0 * vc / (double)M);
    float *LP__RESTRICT zs = in->zs, *LP__RESTRICT ts = in->ts;
    double kl_sum = 0.0, v_sum = 0.0;

    for (int64_t r = 0; r < rows; r++) {
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const float *LP__RESTRICT z = logits + i * K;
            const float *tli = tl + r * ls0 + t * ls1;
            float *LP__RESTRICT p = in->p + i * K, *LP__RESTRICT q = in->q + i * K;
            for (int64_t j = 0; j < K; j++)
                zs[j] = z[j] * invT;
            if (ls2 == 1)
                for (int64_t j = 0; j < K; j++)
                    ts[j] = tli[j] * invT;
            else
                for (int64_t j = 0; j < K; j++)
                    ts[j] = tli[j * ls2] * invT;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, K, in->mrow);
            const lp_cat sp = lp_cat_softmax(zs, mrow, K, p);
            const lp_cat sq = lp_cat_softmax(ts, mrow, K, q);
            const float kl = lp_cat_kl(ts, q, sq, zs, sp, K);
            if (!isfinite(kl) || lp_cat_empty(sq) || lp_cat_empty(sp))
                return ks_bad_row(in, z, tli, ls2, mrow, K, sp, sq, kl, r, t);
            kl_sum += (double)kl;
            const float d = V[i] - tv[r * vs0 + t * vs1];
            if (!isfinite(d))
                return lp__report_nonfinite(
                    h, "kickstarter", in->name,
                    isfinite(V[i]) ? "field '" KS_F_TVALUES "'" : "output '" KS_O_VALUES "'",
                    isfinite(V[i]) ? (double)tv[r * vs0 + t * vs1] : V[i], r, t);
            v_sum += (double)d * (double)d;
        }
    }
    for (int64_t i = 0; i < M; i++) {
        const int64_t r = i / hor, t = i % hor;
        lp_cat_grad_kl(in->p + i * K, in->q + i * K, K, ca, gz + i * K);
        gv[i] += cv * (V[i] - tv[r * vs0 + t * vs1]);
    }

    const double action_loss = T * T * kl_sum / (double)M;
    const double value_loss = v_sum / (double)M;
    out->loss = ac * action_loss + vc * value_loss;
    lp_stat(h, in->stat_action_loss, action_loss);
    lp_stat(h, in->stat_value_loss, value_loss);
    return LP_OK;
}

static void ks_destroy(const lp_loss *self) {
    ks_inst *in = ks_of(self);
    if (in == NULL)
        return;
    free(in->zs);
    free(in->p);
    free(in->ts);
    free(in->q);
    free(in->mrow);
    free(in->cp);
    free(in->cq);
    free(in);
}

static int32_t ks_fields_hook(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    const ks_inst *in = ks_of(self);
    *specs = in->specs;
    *count = in->spec_count;
    return LP_OK;
}

static int32_t ks_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    ks_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "kickstarter: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    in->field_tlogits = in->field_tvalues = in->out_logits = in->out_values = -1;
    in->field_mask = -1;
    in->stat_action_loss = lp_stat_handle(h, "action_loss");
    in->stat_value_loss = lp_stat_handle(h, "value_loss");
    const int32_t space_rc = lp__space_init(h, "kickstarter", args->env, &in->pol);
    if (space_rc != LP_OK) {
        free(in);
        return space_rc;
    }
    if (in->pol.space != LP_ACTION_DISCRETE) {
        lp__space_fields(ks_fields, (uint32_t)LP_COUNT_OF(ks_fields), NULL, &in->pol, in->specs,
                         &in->spec_count);
        in->cp = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->cp);
        in->cq = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->cq);
        in->loss.fields = ks_fields_hook;
        if (in->cp == NULL || in->cq == NULL) {
            ks_destroy(&(lp_loss){.data = in});
            return lp_errorf(h, LP_ENOMEM, "kickstarter: out of memory creating the instance");
        }
    }

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = ks_attach;
    in->loss.train = ks_train;
    in->loss.destroy = ks_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc ks_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "kickstarter",
    .version = "1.0.0",
    .summary = "distillation: T^2 KL(teacher || student) on logits plus squared error on values",
    LP_DESC_PARAMS(ks_params),
    LP_DESC_FIELDS(ks_fields),
    .outputs = ks_outputs,
    .create = ks_create,
};

LP_PLUGIN_ENTRY(&ks_desc)
