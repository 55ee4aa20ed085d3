/*
 * a2c: the vanilla policy gradient with an entropy bonus.
 *
 *   L = -mean_i(A_i * log p_i[a_i]) - ent_coef * mean_i(H_i)
 *   dL/dz_ij = -(A_i / M) (1[j = a_i] - p_ij)
 *              + (ent_coef / M) p_ij (log p_ij + H_i)
 *
 * over the M = rows * horizon samples of a minibatch, with the advantages
 * normalised per minibatch when norm_adv (as PPO does). The advantages come
 * from the buffer field `advantages` (written by gae), the actions taken from
 * `actions`. Masked actions (-inf logits, or 0 in the optional field
 * `action_mask`) have probability 0 and gradient 0; taking one is an error.
 * docs/losses/a2c.md has the details.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_mask.h"
#include "lp_space.h"

#include <stdlib.h>

#define A2C_F_ADV "advantages"
#define A2C_F_ACT "actions"
#define A2C_OUT   "logits"

enum { A2C_P_ENT_COEF = 0, A2C_P_NORM_ADV };

static const lp_param_spec a2c_params[] = {
    LP_PARAM_FLOAT_SPEC("ent_coef", "coefficient of the entropy bonus (subtracted from the loss)",
                        0.01, 0.0, 1e6),
    LP_PARAM_BOOL_SPEC("norm_adv",
                       "normalise the advantages per minibatch: (A - mean) / (std + 1e-8), "
                       "unbiased std",
                       0),
};

static const lp_field_spec a2c_fields[] = {
    LP_FIELD_SCALAR(A2C_F_ADV, "advantage estimates (written by gae at train start)", LP_FIELD_READ,
                    LP_PHASE_TRAIN, LP_DTYPE_F32),
    LP_FIELD_SCALAR(A2C_F_ACT, "action taken at t, in [0, num_actions)", LP_FIELD_READ,
                    LP_PHASE_TRAIN, LP_DTYPE_I32),
    LP__MASK_FIELD_SPEC,
};

static const char *const a2c_outputs[] = {A2C_OUT, NULL};

typedef struct a2c_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params;                   /* host-owned, updated in place (annealing) */
    const char *name;                         /* host-owned (args->name), valid until destroy */
    int32_t field_adv, field_act, out_logits; /* resolved in attach */
    int32_t field_mask;                       /* -1: no action_mask */
    int32_t stat_policy_loss, stat_entropy;
    float *probs;  /* scratch row of `probs_cap` floats */
    uint8_t *mrow; /* scratch mask row of `probs_cap` bytes */
    int64_t probs_cap;
    /* The action space, read once in create: multi-discrete and box run
     * a2c_train_space (lossplug/dist.h's lp_policy layer). */
    lp_policy pol;
    lp_field_spec specs[LP__SPACE_MAX_FIELDS];
    uint32_t spec_count;
    lp_cat *sp_c;  /* dims categorical pieces */
    float *sp_act; /* dims action values (i32 or f32 bits) */
} a2c_inst;

static a2c_inst *a2c_of(const lp_loss *self) {
    return (a2c_inst *)self->data;
}

static int32_t a2c_attach(const lp_loss *self, const lp_batch *all) {
    a2c_inst *in = a2c_of(self);
    const lp_host *h = in->host;
    int32_t rc = lp__require_field(h, "a2c", in->name, A2C_F_ADV,
                                   " (f32, one per step); compose a2c with a loss that writes it, "
                                   "such as gae",
                                   &in->field_adv);
    if (rc == LP_OK)
        rc = lp__require_field(h, "a2c", in->name, A2C_F_ACT,
                               " (i32, one per step); the embedding program must write the "
                               "actions taken during rollout",
                               &in->field_act);
    if (rc == LP_OK)
        rc = lp__require_output(h, "a2c", in->name, A2C_OUT,
                                " (f32, [rows, horizon, num_actions]); it needs a discrete policy "
                                "head",
                                &in->out_logits);
    if (rc == LP_OK)
        rc = lp__mask_attach(h, "a2c", in->name, all, &in->field_mask);
    return rc;
}

/* The output's per-sample shape is the program's declaration, which the
 * host does not match against this loss (abi.h, "what the host
 * guarantees"); fields, rows, horizon and contiguity it does guarantee. */
static int32_t a2c_check_batch(const a2c_inst *in, const lp_batch *mb) {
    const lp_tensor *z = &mb->outputs[in->out_logits];
    if (z->dtype != LP_DTYPE_F32 || z->rank != 3 || z->shape[2] < 1)
        return lp_errorf(in->host, LP_ESPEC,
                         "a2c '%s': output '" A2C_OUT "' must be f32 [%lld, %lld, A >= 1]",
                         in->name, (long long)mb->rows, (long long)mb->horizon);
    if (in->pol.space != LP_ACTION_DISCRETE && z->shape[2] != in->pol.width)
        return lp_errorf(in->host, LP_ESPEC,
                         "a2c '%s': output '" A2C_OUT "' must have policy_width %lld values",
                         in->name, (long long)in->pol.width);
    return LP_OK;
}

/* Multi-discrete and box: the same loss per sample through lp_policy_*.
 * Every input is checked in a first pass (lp__space_check_action: the
 * actions against their ranges, the mask and the logits; the advantages),
 * so nothing is written before a failure. */
static int32_t a2c_train_space(a2c_inst *in, const lp_batch *mb, float weight, lp_train_result *out,
                               double ent_coef, int norm_adv) {
    const lp_host *h = in->host;
    const lp_policy *pol = &in->pol;
    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *advt = &mb->fields[in->field_adv];
    const lp_tensor *actt = &mb->fields[in->field_act];
    const int64_t rows = mb->rows, hor = mb->horizon, W = pol->width, M = rows * hor;
    if (M == 0) {
        if (LP_HAS_FIELD(out, lp_train_result, loss))
            out->loss = 0.0;
        return LP_OK;
    }
    const lp_tensor *maskt = NULL;
    int32_t rc = LP_OK;
    if (pol->space == LP_ACTION_MULTI_DISCRETE)
        rc = lp__mask_check(h, "a2c", in->name, mb, in->field_mask, W, &maskt);
    if (rc == LP_OK)
        rc = lp__row_scratch(h, "a2c", in->name, W, &in->probs, &in->mrow, &in->probs_cap);
    if (rc != LP_OK)
        return rc;
    const float *adv = (const float *)advt->data, *logits = (const float *)zt->data;
    const int64_t vs0 = advt->strides[0], vs1 = advt->strides[1];
    double sum = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            rc =
                lp__space_check_action(h, "a2c", in->name, A2C_F_ACT, "action", pol, actt, maskt,
                                       logits + (r * hor + t) * W, r, t, hor, in->sp_act, in->mrow);
            if (rc != LP_OK)
                return rc;
            const float v = adv[r * vs0 + t * vs1];
            if (!isfinite(v))
                return lp__report_nonfinite(h, "a2c", in->name, "field '" A2C_F_ADV "'", v, r, t);
            sum += (double)v;
        }
    double shift = 0.0, scale = 1.0;
    if (norm_adv) {
        double sd;
        lp__space_adv_moments(advt, rows, hor, sum, &shift, &sd);
        scale = M > 1 ? 1.0 / (sd + 1e-8) : 0.0;
    }
    float *grads = (float *)mb->grads[in->out_logits].data;
    const double wm = (double)weight / (double)M;
    const float ce = (float)(wm * ent_coef);
    double pg_sum = 0.0, ent_sum = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const float *z = logits + i * W;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, W, in->mrow);
            lp__space_action(actt, r, t, pol->dims, in->sp_act);
            if (lp_policy_setup(pol, z, mrow, in->probs, in->sp_c))
                return lp_errorf(h, LP_ENUMERIC,
                                 "a2c '%s': every action of a component is masked at row %lld, "
                                 "step %lld: no distribution; allow at least one per component",
                                 in->name, (long long)r, (long long)t);
            const float logp = lp_policy_log_prob(pol, z, mrow, in->sp_c, in->sp_act);
            if (logp == -INFINITY)
                return lp_errorf(h, LP_ERANGE,
                                 "a2c '%s': a component of the action at row %lld, step %lld has "
                                 "probability 0 (masked): its log-probability is -inf; the "
                                 "program must not take a masked action",
                                 in->name, (long long)r, (long long)t);
            const float H = lp_policy_entropy(pol, z, in->probs, in->sp_c);
            const double A = ((double)adv[r * vs0 + t * vs1] - shift) * scale;
            pg_sum -= A * (double)logp;
            ent_sum += (double)H;
            float *g = grads + i * W;
            lp_policy_grad_log_prob(pol, z, in->probs, in->sp_act, (float)(-wm * A), g);
            lp_policy_grad_entropy(pol, z, in->probs, in->sp_c, H, -ce, g);
        }
    if (!isfinite(pg_sum) || !isfinite(ent_sum))
        return lp__report_nonfinite(h, "a2c", in->name, "the loss", pg_sum + ent_sum, -1, -1);
    const double pg = pg_sum / (double)M, ent = ent_sum / (double)M;
    if (LP_HAS_FIELD(out, lp_train_result, loss))
        out->loss = pg - ent_coef * ent;
    lp_stat(h, in->stat_policy_loss, pg);
    lp_stat(h, in->stat_entropy, ent);
    return LP_OK;
}

static int32_t a2c_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                         lp_train_result *out) {
    (void)ctx;
    a2c_inst *in = a2c_of(self);
    const lp_host *h = in->host;
    int32_t rc = a2c_check_batch(in, mb);
    if (rc != LP_OK)
        return rc;

    /* Read at every call: the host may anneal them in place. */
    const double ent_coef = lp_value_f(&in->params[A2C_P_ENT_COEF]);
    const int norm_adv = lp_value_b(&in->params[A2C_P_NORM_ADV]);
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "a2c '%s': weight %g is not finite", in->name,
                         (double)weight);

    if (in->pol.space != LP_ACTION_DISCRETE)
        return a2c_train_space(in, mb, weight, out, ent_coef, norm_adv);

    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *advt = &mb->fields[in->field_adv];
    const lp_tensor *actt = &mb->fields[in->field_act];
    const int64_t rows = mb->rows, hor = mb->horizon, K = zt->shape[2], M = rows * hor;
    const float *adv = (const float *)advt->data;
    const int32_t *act = (const int32_t *)actt->data;
    const int64_t vs0 = advt->strides[0], vs1 = advt->strides[1];
    const int64_t as0 = actt->strides[0], as1 = actt->strides[1];

    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }

    const lp_tensor *maskt = NULL;
    rc = lp__mask_check(h, "a2c", in->name, mb, in->field_mask, K, &maskt);
    if (rc != LP_OK)
        return rc;
    rc = lp__row_scratch(h, "a2c", in->name, K, &in->probs, &in->mrow, &in->probs_cap);
    if (rc != LP_OK)
        return rc;
    const float *logits = (const float *)zt->data;

    /* Inputs first, so that a failing call writes nothing: actions in range
     * and not masked, advantages finite; their moments in the same pass
     * (f64). */
    double sum = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int32_t a = act[r * as0 + t * as1];
            if (a < 0 || (int64_t)a >= K)
                return lp_errorf(h, LP_ERANGE,
                                 "a2c '%s': action %d at sample %lld (row %lld, step %lld) is "
                                 "outside [0, %lld)",
                                 in->name, (int)a, (long long)(r * hor + t), (long long)r,
                                 (long long)t, (long long)K);
            const uint8_t *mrow = lp__mask_row(maskt, r, t, K, in->mrow);
            if (lp_cat_masked(logits + (r * hor + t) * K, mrow, a))
                return lp__report_masked_action(h, "a2c", in->name, "action", a, r, t,
                                                mrow != NULL && mrow[a] == 0);
            const float v = adv[r * vs0 + t * vs1];
            if (!isfinite(v))
                return lp__report_nonfinite(h, "a2c", in->name, "field '" A2C_F_ADV "'", v, r, t);
            sum += (double)v;
        }
    double shift = 0.0, scale = 1.0;
    if (norm_adv) {
        const double mean = sum / (double)M;
        double ss = 0.0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < hor; t++) {
                const double d = (double)adv[r * vs0 + t * vs1] - mean;
                ss += d * d;
            }
        /* One sample has no spread: its normalised advantage is 0. */
        const double sd = M > 1 ? sqrt(ss / (double)(M - 1)) : 0.0;
        shift = mean;
        scale = M > 1 ? 1.0 / (sd + 1e-8) : 0.0;
    }

    float *grads = (float *)mb->grads[in->out_logits].data;
    float *LP__RESTRICT p = in->probs;
    const double wm = (double)weight / (double)M;
    const float ce = (float)(wm * ent_coef);
    double pg_sum = 0.0, ent_sum = 0.0;

    for (int64_t r = 0; r < rows; r++) {
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const int64_t a = act[r * as0 + t * as1];
            const double A = ((double)adv[r * vs0 + t * vs1] - shift) * scale;
            const float *LP__RESTRICT z = logits + i * K;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, K, in->mrow);
            const lp_cat s = lp_cat_softmax(z, mrow, K, p);
            const float H = lp_cat_entropy(z, p, K, s);
            pg_sum -= A * (double)lp_cat_log_prob(z, mrow, a, s);
            ent_sum += (double)H;

            /* -(A/M)(1[j=a] - p_j) - (ent_coef/M) dH/dz_j, times the
             * weight; both exactly 0 at masked j. */
            float *LP__RESTRICT g = grads + i * K;
            lp_cat_grad_log_prob(p, K, a, (float)(-wm * A), g);
            lp_cat_grad_entropy(z, p, K, s, H, -ce, g);
        }
    }
    if (!isfinite(pg_sum) || !isfinite(ent_sum)) {
        /* Inputs were checked: the logits are the source. Find the row. */
        for (int64_t i = 0; i < M; i++) {
            const int64_t r = i / hor, t = i % hor;
            if (lp__logits_bad(logits + i * K, lp__mask_row(maskt, r, t, K, in->mrow), K))
                return lp__report_nonfinite(h, "a2c", in->name, "output '" A2C_OUT "'", NAN, r, t);
        }
        return lp__report_nonfinite(h, "a2c", in->name, "the loss", pg_sum + ent_sum, -1, -1);
    }

    const double pg = pg_sum / (double)M, ent = ent_sum / (double)M;
    out->loss = pg - ent_coef * ent;
    lp_stat(h, in->stat_policy_loss, pg);
    lp_stat(h, in->stat_entropy, ent);
    return LP_OK;
}

static void a2c_destroy(const lp_loss *self) {
    a2c_inst *in = a2c_of(self);
    if (in == NULL)
        return;
    free(in->probs);
    free(in->mrow);
    free(in->sp_c);
    free(in->sp_act);
    free(in);
}

static int32_t a2c_fields_hook(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    const a2c_inst *in = a2c_of(self);
    *specs = in->specs;
    *count = in->spec_count;
    return LP_OK;
}

static int32_t a2c_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    a2c_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "a2c: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    in->field_adv = in->field_act = in->out_logits = in->field_mask = -1;
    in->stat_policy_loss = lp_stat_handle(h, "policy_loss");
    in->stat_entropy = lp_stat_handle(h, "entropy");
    const int32_t space_rc = lp__space_init(h, "a2c", args->env, &in->pol);
    if (space_rc != LP_OK) {
        free(in);
        return space_rc;
    }
    if (in->pol.space != LP_ACTION_DISCRETE) {
        lp__space_fields(a2c_fields, (uint32_t)LP_COUNT_OF(a2c_fields), A2C_F_ACT, &in->pol,
                         in->specs, &in->spec_count);
        in->sp_c = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->sp_c);
        in->sp_act = calloc((size_t)in->pol.dims, sizeof *in->sp_act);
        in->loss.fields = a2c_fields_hook;
        if (in->sp_c == NULL || in->sp_act == NULL) {
            a2c_destroy(&(lp_loss){.data = in});
            return lp_errorf(h, LP_ENOMEM, "a2c: out of memory creating the instance");
        }
    }

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = a2c_attach;
    in->loss.train = a2c_train;
    in->loss.destroy = a2c_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc a2c_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "a2c",
    .version = "1.0.0",
    .summary = "vanilla policy gradient -mean(A log p[a]) with an entropy bonus",
    LP_DESC_PARAMS(a2c_params),
    LP_DESC_FIELDS(a2c_fields),
    .outputs = a2c_outputs,
    .create = a2c_create,
};

LP_PLUGIN_ENTRY(&a2c_desc)
