/*
 * reward_norm: reward scaling by the running standard deviation of the
 * discounted return, as gym's NormalizeReward wrapper (used by CleanRL's
 * continuous-action PPO) does it (docs/losses/reward_norm.md).
 *
 * At every rollout step t, for every buffer row (one environment) e:
 *
 *   G_e   <- gamma * G_e + r_e                (the discounted return so far)
 *   (count, mean, var) <- merged with the batch {G_e} over the rows
 *   r_e   <- clip(r_e / sqrt(var + epsilon), -clip, clip)
 *   G_e   <- 0 where done_e                   (the next episode starts afresh)
 *
 * The running moments start at count 1e-4, mean 0, var 1 (gym's
 * RunningMeanStd) and are merged per step with Chan et al.'s parallel
 * formula, in f64. It rewrites the field `rewards` in place in the rollout
 * phase (LP_FIELD_UPDATE, ABI 1.1): the program writes it first, readers
 * such as gae (train phase) see the scaled values. G (per row) and the
 * moments are registered state: a resumed run continues with them. It adds
 * no loss. Stats: `scale` (1 / sqrt(var + epsilon)) and `return_std`
 * (sqrt(var)) at each train start.
 */
#include <lossplug/plugin.h>

#include "lp_attach.h"

#include <math.h>
#include <stdlib.h>

enum { RN_P_GAMMA = 0, RN_P_EPSILON, RN_P_CLIP, RN_NPARAMS };

static const lp_param_spec rn_params[] = {
    LP_PARAM_FLOAT_SPEC("gamma", "discount of the running return whose spread scales rewards", 0.99,
                        0.0, 1.0),
    LP_PARAM_FLOAT_RANGE_SPEC("epsilon", "added to the return variance before the square root",
                              1e-8, 0.0, 1.0,
                              LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_HAS_MAX),
    LP_PARAM_FLOAT_RANGE_SPEC("clip", "scaled rewards are clipped to [-clip, clip]", 10.0, 0.0, 0.0,
                              LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE),
};

enum { RN_F_REWARDS = 0, RN_F_DONES, RN_F_COUNT };

static const lp_field_spec rn_fields[] = {
    LP_FIELD_SCALAR("rewards", "reward for the step taken at t: scaled in place at rollout",
                    LP_FIELD_UPDATE, LP_PHASE_ROLLOUT, LP_DTYPE_F32),
    LP_FIELD_SCALAR("dones", "1 when the step taken at t ended its episode", LP_FIELD_READ,
                    LP_PHASE_ROLLOUT, LP_DTYPE_U8),
};

typedef char rn_fields_match[LP_COUNT_OF(rn_fields) == RN_F_COUNT ? 1 : -1];
typedef char rn_params_match[LP_COUNT_OF(rn_params) == RN_NPARAMS ? 1 : -1];

enum { RN_COUNT = 0, RN_MEAN, RN_VAR };

typedef struct rn_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params; /* host-owned, updated in place (annealing) */
    const char *name;
    int64_t rows;
    double *ret;   /* [rows]: the discounted return of each row's episode so far */
    double rms[3]; /* count, mean, var of the returns seen */
    int32_t fh[RN_F_COUNT];
    int32_t stat_scale, stat_std;
} rn_inst;

static rn_inst *rn_of(const lp_loss *self) {
    return (rn_inst *)self->data;
}

static int32_t rn_attach(const lp_loss *self, const lp_batch *all) {
    rn_inst *in = rn_of(self);
    const lp_host *h = in->host;
    int32_t rc = lp__require_field(h, "reward_norm", in->name, "rewards",
                                   " (f32, one per step); the program must write it at rollout",
                                   &in->fh[RN_F_REWARDS]);
    if (rc == LP_OK)
        rc = lp__require_field(h, "reward_norm", in->name, "dones",
                               " (u8, one per step); the program must write it at rollout",
                               &in->fh[RN_F_DONES]);
    for (int f = 0; f < RN_F_COUNT && rc == LP_OK; f++)
        rc = lp__check_dtype(h, "reward_norm", in->name, all, in->fh[f], rn_fields[f].name,
                             rn_fields[f].dtype);
    return rc;
}

static int32_t rn_rollout_step(const lp_loss *self, const lp_ctx *ctx, const lp_batch *step) {
    (void)ctx;
    rn_inst *in = rn_of(self);
    const lp_tensor *tr = &step->fields[in->fh[RN_F_REWARDS]];
    const lp_tensor *td = &step->fields[in->fh[RN_F_DONES]];
    const int64_t R = step->rows;
    if (R != in->rows || tr->rank != 1 || td->rank != 1 || tr->shape[0] != R || td->shape[0] != R)
        return lp_errorf(in->host, LP_ESPEC,
                         "reward_norm '%s': a rollout step must hold %lld rows of 'rewards' and "
                         "'dones' (got %lld rows)",
                         in->name, (long long)in->rows, (long long)R);
    float *rew = tr->data;
    const uint8_t *done = td->data;
    const int64_t sr = tr->strides[0], sd = td->strides[0];
    for (int64_t r = 0; r < R; r++)
        if (!isfinite(rew[r * sr]))
            return lp_errorf(in->host, LP_ENUMERIC,
                             "reward_norm '%s': reward %g of row %lld at step %d is not finite; "
                             "nothing was changed",
                             in->name, (double)rew[r * sr], (long long)r, (int)ctx->step);
    const double gamma = lp_value_f(&in->params[RN_P_GAMMA]);
    const double eps = lp_value_f(&in->params[RN_P_EPSILON]);
    const double clip = lp_value_f(&in->params[RN_P_CLIP]);
    /* The returns, and their batch moments (two passes: mean, then M2). */
    double bmean = 0.0;
    for (int64_t r = 0; r < R; r++) {
        in->ret[r] = gamma * in->ret[r] + (double)rew[r * sr];
        bmean += in->ret[r];
    }
    bmean /= (double)R;
    double bm2 = 0.0;
    for (int64_t r = 0; r < R; r++)
        bm2 += (in->ret[r] - bmean) * (in->ret[r] - bmean);
    /* Chan et al.: merge (count, mean, var) with the batch (R, bmean, bm2/R). */
    const double n = in->rms[RN_COUNT], tot = n + (double)R, delta = bmean - in->rms[RN_MEAN];
    const double m2 = in->rms[RN_VAR] * n + bm2 + delta * delta * n * (double)R / tot;
    in->rms[RN_MEAN] += delta * (double)R / tot;
    in->rms[RN_VAR] = m2 / tot;
    in->rms[RN_COUNT] = tot;
    const double scale = 1.0 / sqrt(in->rms[RN_VAR] + eps);
    for (int64_t r = 0; r < R; r++) {
        double v = (double)rew[r * sr] * scale;
        v = v > clip ? clip : v < -clip ? -clip : v;
        rew[r * sr] = (float)v;
        if (done[r * sd])
            in->ret[r] = 0.0;
    }
    return LP_OK;
}

static int32_t rn_train_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    (void)ctx, (void)all;
    rn_inst *in = rn_of(self);
    const double eps = lp_value_f(&in->params[RN_P_EPSILON]);
    lp_stat(in->host, in->stat_scale, 1.0 / sqrt(in->rms[RN_VAR] + eps));
    lp_stat(in->host, in->stat_std, sqrt(in->rms[RN_VAR]));
    return LP_OK;
}

static void rn_destroy(const lp_loss *self) {
    rn_inst *in = rn_of(self);
    if (in == NULL)
        return;
    free(in->ret);
    free(in);
}

static int32_t rn_create(const lp_create_args *args, const lp_loss **out) {
    if (args == NULL || out == NULL || !LP_HAS_FIELD(args, lp_create_args, env) ||
        args->host == NULL || args->env == NULL || args->params == NULL)
        return LP_EINVAL;
    const lp_host *h = args->host;
    const char *name = args->name != NULL ? args->name : "reward_norm";
    if (args->env->segments <= 0)
        return lp_errorf(h, LP_EINVAL, "reward_norm '%s': the buffer has no rows", name);
    rn_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "reward_norm '%s': out of memory", name);
    in->host = h;
    in->name = name;
    in->params = args->params;
    in->rows = args->env->segments;
    in->ret = calloc((size_t)in->rows, sizeof *in->ret);
    if (in->ret == NULL) {
        free(in);
        return lp_errorf(h, LP_ENOMEM, "reward_norm '%s': out of memory for %lld returns", name,
                         (long long)args->env->segments);
    }
    in->rms[RN_COUNT] = 1e-4; /* gym's RunningMeanStd prior */
    in->rms[RN_MEAN] = 0.0;
    in->rms[RN_VAR] = 1.0;
    in->fh[RN_F_REWARDS] = in->fh[RN_F_DONES] = -1;
    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    int64_t rshape[1] = {in->rows}, mshape[1] = {3};
    lp_tensor tret = lp_tensor_make(in->ret, LP_DTYPE_F64, 1, rshape);
    lp_tensor trms = lp_tensor_make(in->rms, LP_DTYPE_F64, 1, mshape);
    int32_t rc = LP_OK;
    if (h->state_register == NULL || (rc = h->state_register(h, "returns", &tret)) != LP_OK ||
        (rc = h->state_register(h, "moments", &trms)) != LP_OK) {
        rn_destroy(&in->loss);
        return lp_errorf(h, rc != LP_OK ? rc : LP_EUNSUPPORTED,
                         "reward_norm '%s': cannot register its running statistics as state", name);
    }
    in->stat_scale = lp_stat_handle(h, "scale");
    in->stat_std = lp_stat_handle(h, "return_std");
    in->loss.attach = rn_attach;
    in->loss.rollout_step = rn_rollout_step;
    in->loss.train_start = rn_train_start;
    in->loss.destroy = rn_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc rn_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "reward_norm",
    .version = "1.0.0",
    .summary = "scales rewards at rollout by the running std of the discounted return (gym's "
               "NormalizeReward); adds no loss",
    LP_DESC_PARAMS(rn_params),
    LP_DESC_FIELDS(rn_fields),
    .outputs = NULL,
    .create = rn_create,
};

LP_PLUGIN_ENTRY(&rn_desc)
