/*
 * action_supervised: behaviour cloning against a teacher's actions.
 *
 *   L = -coef * mean_i log p_i[a*_i],   p_i = softmax(logits_i)
 *   dL/dlogits_ij = (coef / M) * (p_ij - 1[j = a*_i])
 *
 * over the M = rows * horizon samples of a minibatch. The teacher's actions
 * are the experience field `teacher_actions` (i32, one per step), which the
 * embedding program writes during rollout. Masked actions (-inf logits, or 0
 * in the optional field `action_mask`) have probability 0 and gradient 0; a
 * masked teacher action is an error. On a multi-discrete or box action
 * (read once in create) the loss is -coef * mean_i log pi(a*_i) through
 * lossplug/dist.h's lp_policy_*, the field i32 / f32 [ACTION].
 * docs/losses/action_supervised.md has the details.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_mask.h"
#include "lp_space.h"

#include <stdlib.h>

#define AS_FIELD  "teacher_actions"
#define AS_OUTPUT "logits"

enum { AS_P_COEF = 0 };

static const lp_param_spec as_params[] = {
    LP_PARAM_FLOAT_SPEC("coef", "multiplier of the cross-entropy against the teacher's actions",
                        1.0, 0.0, 1e6),
};

static const lp_field_spec as_fields[] = {
    LP_FIELD_SCALAR(AS_FIELD,
                    "the teacher's action at each step (discrete: in [0, num_actions)); written "
                    "by the embedding program during rollout",
                    LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_I32),
    LP__MASK_FIELD_SPEC,
};

static const char *const as_outputs[] = {AS_OUTPUT, NULL};

/* The instance. `loss` is what create hands out; the host may copy it, so
 * hooks find the instance through self->data, never through `self`. */
typedef struct as_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params; /* host-owned, updated in place (annealing) */
    const char *name;       /* host-owned (args->name), valid until destroy */
    int32_t field_actions;  /* handles resolved in attach */
    int32_t out_logits;
    int32_t field_mask;    /* -1: no action_mask */
    int32_t stat_accuracy; /* negative: the host keeps no stats */
    int32_t stat_entropy;
    float *probs;  /* scratch row of `probs_cap` floats */
    uint8_t *mrow; /* scratch mask row of `probs_cap` bytes */
    int64_t probs_cap;
    /* The action space, read once in create: multi-discrete and box run
     * as_train_space (lossplug/dist.h's lp_policy layer). */
    lp_policy pol;
    lp_field_spec specs[LP__SPACE_MAX_FIELDS];
    uint32_t spec_count;
    lp_cat *sp_c;  /* dims categorical pieces */
    float *sp_act; /* dims action values (i32 or f32 bits) */
} as_inst;

static as_inst *as_of(const lp_loss *self) {
    return (as_inst *)self->data;
}

static int32_t as_attach(const lp_loss *self, const lp_batch *all) {
    as_inst *in = as_of(self);
    const lp_host *h = in->host;
    int32_t rc = lp__require_field(h, "action_supervised", in->name, AS_FIELD,
                                   " (i32, one per step); the embedding program must write the "
                                   "teacher's actions into it during rollout",
                                   &in->field_actions);
    if (rc == LP_OK)
        rc = lp__require_output(h, "action_supervised", in->name, AS_OUTPUT,
                                " (f32, [rows, horizon, policy_width]); it needs a policy head",
                                &in->out_logits);
    /* The whole buffer, when given, lets a dtype clash surface before training. */
    if (rc == LP_OK)
        rc = lp__mask_attach(h, "action_supervised", in->name, all, &in->field_mask);
    return rc;
}

/* The output's per-sample shape is the program's declaration, which the
 * host does not match against this loss (abi.h, "what the host
 * guarantees"); fields, rows, horizon and contiguity it does guarantee. */
static int32_t as_check_batch(const as_inst *in, const lp_batch *mb) {
    const lp_tensor *z = &mb->outputs[in->out_logits];
    if (z->dtype != LP_DTYPE_F32 || z->rank != 3 || z->shape[2] < 1)
        return lp_errorf(in->host, LP_ESPEC,
                         "action_supervised '%s': output '" AS_OUTPUT
                         "' must be f32 [%lld, %lld, A >= 1]",
                         in->name, (long long)mb->rows, (long long)mb->horizon);
    if (in->pol.space != LP_ACTION_DISCRETE && z->shape[2] != in->pol.width)
        return lp_errorf(in->host, LP_ESPEC,
                         "action_supervised '%s': output '" AS_OUTPUT
                         "' must have policy_width %lld values",
                         in->name, (long long)in->pol.width);
    return LP_OK;
}

/* Multi-discrete and box: L = -coef * mean_i log pi(a*_i) through
 * lp_policy_* (multi-discrete: the sum of the components' cross-entropies;
 * box: the Gaussian negative log-likelihood). Inputs are checked in a first
 * pass (nothing written before a failure). */
static int32_t as_train_space(as_inst *in, const lp_batch *mb, float weight, lp_train_result *out,
                              double coef) {
    const lp_host *h = in->host;
    const lp_policy *pol = &in->pol;
    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *at = &mb->fields[in->field_actions];
    const int64_t rows = mb->rows, hor = mb->horizon, W = pol->width, M = rows * hor;
    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }
    const lp_tensor *maskt = NULL;
    int32_t rc = LP_OK;
    if (pol->space == LP_ACTION_MULTI_DISCRETE)
        rc = lp__mask_check(h, "action_supervised", in->name, mb, in->field_mask, W, &maskt);
    if (rc == LP_OK)
        rc = lp__row_scratch(h, "action_supervised", in->name, W, &in->probs, &in->mrow,
                             &in->probs_cap);
    if (rc != LP_OK)
        return rc;
    const float *logits = (const float *)zt->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            rc = lp__space_check_action(
                h, "action_supervised", in->name, AS_FIELD, "teacher action", pol, at, maskt,
                logits + (r * hor + t) * W, r, t, hor, in->sp_act, in->mrow);
            if (rc != LP_OK)
                return rc;
        }
    float *grads = (float *)mb->grads[in->out_logits].data;
    const float c = (float)((double)weight * coef / (double)M);
    double nll_sum = 0.0, ent_sum = 0.0;
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const float *z = logits + i * W;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, W, in->mrow);
            lp__space_action(at, r, t, pol->dims, in->sp_act);
            if (lp_policy_setup(pol, z, mrow, in->probs, in->sp_c))
                return lp_errorf(h, LP_ENUMERIC,
                                 "action_supervised '%s': every action of a component is masked "
                                 "at row %lld, step %lld: no distribution; allow at least one "
                                 "per component",
                                 in->name, (long long)r, (long long)t);
            nll_sum -= (double)lp_policy_log_prob(pol, z, mrow, in->sp_c, in->sp_act);
            if (pol->space == LP_ACTION_MULTI_DISCRETE) {
                const int32_t *a = (const int32_t *)in->sp_act;
                int all = 1;
                int64_t o = 0;
                for (int32_t k = 0; k < pol->dims; o += pol->nvec[k], k++)
                    all &=
                        lp_cat_argmax(z + o, mrow != NULL ? mrow + o : NULL, pol->nvec[k]) == a[k];
                correct += all;
            }
            ent_sum += (double)lp_policy_entropy(pol, z, in->probs, in->sp_c);
            /* -(coef/M) d log pi(a*) / dz */
            if (c != 0.0f)
                lp_policy_grad_log_prob(pol, z, in->probs, in->sp_act, -c, grads + i * W);
        }
    if (!isfinite(nll_sum) || !isfinite(ent_sum))
        return lp__report_nonfinite(h, "action_supervised", in->name, "the loss", nll_sum + ent_sum,
                                    -1, -1);
    out->loss = coef * nll_sum / (double)M;
    if (pol->space == LP_ACTION_MULTI_DISCRETE) /* a box has no exact match */
        lp_stat(h, in->stat_accuracy, (double)correct / (double)M);
    lp_stat(h, in->stat_entropy, ent_sum / (double)M);
    return LP_OK;
}

static int32_t as_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                        lp_train_result *out) {
    (void)ctx;
    as_inst *in = as_of(self);
    const lp_host *h = in->host;

    int32_t rc = as_check_batch(in, mb);
    if (rc != LP_OK)
        return rc;

    /* Read at every call: the host may anneal it in place. */
    const lp_value *pc = &in->params[AS_P_COEF];
    const double coef = pc->type == LP_PARAM_INT ? (double)pc->i : pc->f;
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "action_supervised '%s': weight %g is not finite", in->name,
                         (double)weight);

    if (in->pol.space != LP_ACTION_DISCRETE)
        return as_train_space(in, mb, weight, out, coef);

    const lp_tensor *zt = &mb->outputs[in->out_logits];
    const lp_tensor *at = &mb->fields[in->field_actions];
    const int64_t rows = mb->rows, hor = mb->horizon, A = zt->shape[2];
    const int64_t M = rows * hor;
    const int32_t *act = (const int32_t *)at->data;
    const int64_t as0 = at->strides[0], as1 = at->strides[1];

    if (M == 0) {
        out->loss = 0.0;
        return LP_OK;
    }

    const lp_tensor *maskt = NULL;
    rc = lp__mask_check(h, "action_supervised", in->name, mb, in->field_mask, A, &maskt);
    if (rc != LP_OK)
        return rc;
    rc =
        lp__row_scratch(h, "action_supervised", in->name, A, &in->probs, &in->mrow, &in->probs_cap);
    if (rc != LP_OK)
        return rc;
    const float *logits = (const float *)zt->data;

    /* Every action is checked before any gradient is written, so that a
     * failing call leaves the host's buffers as they were. */
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t t = 0; t < hor; t++) {
            const int32_t a = act[r * as0 + t * as1];
            if (a < 0 || (int64_t)a >= A)
                return lp_errorf(h, LP_ERANGE,
                                 "action_supervised '%s': teacher action %d at sample %lld "
                                 "(row %lld, step %lld) is outside [0, %lld)",
                                 in->name, (int)a, (long long)(r * hor + t), (long long)r,
                                 (long long)t, (long long)A);
            const uint8_t *mrow = lp__mask_row(maskt, r, t, A, in->mrow);
            if (lp_cat_masked(logits + (r * hor + t) * A, mrow, a))
                return lp__report_masked_action(h, "action_supervised", in->name, "teacher action",
                                                a, r, t, mrow != NULL && mrow[a] == 0);
        }
    }

    float *grads = (float *)mb->grads[in->out_logits].data;
    float *LP__RESTRICT p = in->probs;
    const float c = (float)((double)weight * coef / (double)M);
    double nll_sum = 0.0, ent_sum = 0.0;
    int64_t correct = 0;

    for (int64_t r = 0; r < rows; r++) {
        for (int64_t t = 0; t < hor; t++) {
            const int64_t i = r * hor + t;
            const int64_t a = act[r * as0 + t * as1];
            const float *z = logits + i * A;
            const uint8_t *mrow = lp__mask_row(maskt, r, t, A, in->mrow);
            const lp_cat s = lp_cat_softmax(z, mrow, A, p);

            nll_sum -= (double)lp_cat_log_prob(z, mrow, a, s);
            ent_sum += (double)lp_cat_entropy(z, p, A, s);
            correct += lp_cat_argmax(z, mrow, A) == a;

            /* (coef/M)(p_j - 1[j = a]) = -(coef/M) d log p_a / dz_j */
            if (c != 0.0f)
                lp_cat_grad_log_prob(p, A, a, -c, grads + i * A);
        }
    }
    if (!isfinite(nll_sum) || !isfinite(ent_sum)) {
        for (int64_t i = 0; i < M; i++) {
            const int64_t r = i / hor, t = i % hor;
            if (lp__logits_bad(logits + i * A, lp__mask_row(maskt, r, t, A, in->mrow), A))
                return lp__report_nonfinite(h, "action_supervised", in->name,
                                            "output '" AS_OUTPUT "'", NAN, r, t);
        }
        return lp__report_nonfinite(h, "action_supervised", in->name, "the loss", nll_sum + ent_sum,
                                    -1, -1);
    }

    out->loss = coef * nll_sum / (double)M;
    lp_stat(h, in->stat_accuracy, (double)correct / (double)M);
    lp_stat(h, in->stat_entropy, ent_sum / (double)M);
    return LP_OK;
}

static void as_destroy(const lp_loss *self) {
    as_inst *in = as_of(self);
    if (in == NULL)
        return;
    free(in->probs);
    free(in->mrow);
    free(in->sp_c);
    free(in->sp_act);
    free(in);
}

static int32_t as_fields_hook(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    const as_inst *in = as_of(self);
    *specs = in->specs;
    *count = in->spec_count;
    return LP_OK;
}

static int32_t as_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    as_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "action_supervised: out of memory creating the instance");
    in->name = args->name;
    in->host = h;
    in->params = args->params;
    in->field_actions = -1;
    in->out_logits = -1;
    in->field_mask = -1;
    /* A host that keeps no stats returns a negative handle; lp_stat then
     * records nothing. */
    in->stat_accuracy = lp_stat_handle(h, "accuracy");
    in->stat_entropy = lp_stat_handle(h, "entropy");
    const int32_t space_rc = lp__space_init(h, "action_supervised", args->env, &in->pol);
    if (space_rc != LP_OK) {
        free(in);
        return space_rc;
    }
    if (in->pol.space != LP_ACTION_DISCRETE) {
        lp__space_fields(as_fields, (uint32_t)LP_COUNT_OF(as_fields), AS_FIELD, &in->pol, in->specs,
                         &in->spec_count);
        in->sp_c = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->sp_c);
        in->sp_act = calloc((size_t)in->pol.dims, sizeof *in->sp_act);
        in->loss.fields = as_fields_hook;
        if (in->sp_c == NULL || in->sp_act == NULL) {
            as_destroy(&(lp_loss){.data = in});
            return lp_errorf(h, LP_ENOMEM,
                             "action_supervised: out of memory creating the instance");
        }
    }

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = as_attach;
    in->loss.train = as_train;
    in->loss.destroy = as_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc as_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "action_supervised",
    .version = "1.0.0",
    .summary = "behaviour cloning: cross-entropy of the policy against a teacher's actions",
    LP_DESC_PARAMS(as_params),
    LP_DESC_FIELDS(as_fields),
    .outputs = as_outputs,
    .create = as_create,
};

LP_PLUGIN_ENTRY(&as_desc)
