/*
 * expert_ce: AllenAct's off-policy expert cross-entropy.
 *
 * The loss reads its own batches of (observation, expert action, episode
 * start) from an expert dataset (docs/losses/expert_ce.md), runs the model
 * on them through the host extension "lossplug.model/1" with the recurrent
 * memory it carries, and returns
 *
 *   L = -coef * mean_i log p_i[a*_i],   p_i = softmax(logits_i)
 *   dL/dlogits_ij = (coef / M) * (p_ij - 1[j = a*_i])
 *
 * over the M = rows * steps_per_batch samples of its batch; the gradient
 * (times the instance's weight) goes into the extension's gradient views,
 * which the host backpropagates before the minibatch's optimizer step.
 *
 * On a multi-discrete or box action (ABI 1.1; a version 2 dataset) the loss
 * is the same negative log-likelihood through lossplug/dist.h's lp_policy_*:
 * the sum of the components' cross-entropies, or the diagonal Gaussian's
 * NLL of the expert's f32 action. Those paths check every sample before
 * writing any gradient.
 *
 * The dataset's env streams are the batch rows; each train call takes the
 * next steps_per_batch steps of every stream. Memory is zeroed where an
 * episode starts (the model does it, from the start flags) and carried to
 * the next batch; at the end of the dataset the cursor wraps to step 0,
 * where every stream starts an episode, so memory is reset there too. The
 * cursor and the memory are registered state (checkpointed).
 */
#include <lossplug/ext/model.h>
#include <lossplug/plugin.h>

#include "lp_attach.h"
#include "lp_mask.h"
#include "lp_space.h"
#include "lpx_dataset.h"

#include <stdlib.h>

#define EC_OUTPUT "logits"

enum { EC_P_DATASET = 0, EC_P_COEF, EC_P_STEPS, EC_P_OBS_FIELD, EC_P_COUNT };

static const lp_param_spec ec_params[] = {
    {.struct_size = sizeof(lp_param_spec),
     .flags = LP_PARAM_REQUIRED,
     .name = "dataset",
     .doc = "expert dataset file (LPEXPERT format); relative to the config file's directory",
     .type = LP_PARAM_STRING},
    LP_PARAM_FLOAT_SPEC("coef", "multiplier of the cross-entropy against the expert's actions", 1.0,
                        0.0, 1e6),
    LP_PARAM_INT_SPEC("steps_per_batch",
                      "dataset steps per train call; the batch is [num_envs of the dataset, this]",
                      8, 1, 1 << 20),
    LP_PARAM_STRING_SPEC("obs_field",
                         "the experience field the model reads observations from; the dataset's "
                         "observations are handed to the model under its handle",
                         "obs"),
};

static const char *const ec_outputs[] = {EC_OUTPUT, NULL};

typedef struct ec_inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params; /* host-owned, updated in place (annealing) */
    const char *name;       /* host-owned (args->name), valid until destroy */
    lpx_dataset data;
    int64_t rows;    /* M = data.num_envs */
    int64_t horizon; /* H = steps_per_batch, fixed at create */

    const lp_model_ext *mx;
    int64_t mem_size;
    float *memory; /* [rows, mem_size], registered as "memory" when mem_size > 0 */

    /* registered state: the next dataset step, and which dataset it is in */
    int64_t cursor[1];
    int64_t ident[3]; /* num_envs, num_steps, payload CRC-32 */

    int32_t field_obs;
    int32_t out_logits;
    int32_t stat_ce;
    int32_t stat_acc;

    /* the action space (create): the dataset's, which matches the env's */
    lp_policy pol;
    int64_t width; /* policy outputs per sample */
    lp_cat *cats;  /* [components] */

    /* the batch handed to the model */
    lp_tensor *fields; /* [field_count] */
    uint32_t field_count;
    int32_t obs_rank; /* per step */
    int64_t obs_shape[LP_MAX_RANK];
    float *obs;        /* [rows, horizon, D] */
    uint8_t *starts;   /* [rows, horizon] */
    uint32_t *actions; /* [rows, horizon, action_dims]: i32 or f32 bits */
    float *probs;      /* [width] */
} ec_inst;

static ec_inst *ec_of(const lp_loss *self) {
    return (ec_inst *)self->data;
}

static double ec_coef(const ec_inst *in) {
    const lp_value *v = &in->params[EC_P_COEF];
    return v->type == LP_PARAM_INT ? (double)v->i : v->f;
}

/* ---- attach: the extension, the memory, the observation field ------------- */

static int32_t ec_attach(const lp_loss *self, const lp_batch *all) {
    ec_inst *in = ec_of(self);
    const lp_host *h = in->host;
    const char *obs_name =
        in->params[EC_P_OBS_FIELD].s != NULL ? in->params[EC_P_OBS_FIELD].s : "obs";

    /* NULL when the host has no such extension; a "/1" table has all its
     * members. */
    in->mx = (const lp_model_ext *)h->get_extension(h, LP_EXT_MODEL);
    if (in->mx == NULL)
        return lp_errorf(h, LP_EUNSUPPORTED,
                         "expert_ce '%s': the host offers no \"" LP_EXT_MODEL
                         "\" extension, which runs the model on the dataset's batches: the "
                         "program's model must implement forward_aux, backward_aux and "
                         "memory_size (lp_model) and be given to the session at open "
                         "(lp_session_options.model); the reference MLP's adapter does",
                         in->name);
    in->mem_size = in->mx->memory_size(h);
    if (in->mem_size < 0 || in->mem_size > (INT64_C(1) << 32))
        return lp_errorf(h, LP_EPLUGIN, "expert_ce '%s': the model reports memory_size %lld",
                         in->name, (long long)in->mem_size);
    if (in->mem_size > 0) {
        if ((uint64_t)in->rows > SIZE_MAX / sizeof(float) / (uint64_t)in->mem_size)
            return lp_errorf(h, LP_ERANGE, "expert_ce '%s': memory too large", in->name);
        in->memory = calloc((size_t)in->rows * (size_t)in->mem_size, sizeof *in->memory);
        if (in->memory == NULL)
            return lp_errorf(h, LP_ENOMEM,
                             "expert_ce '%s': out of memory for the recurrent memory [%lld, %lld]",
                             in->name, (long long)in->rows, (long long)in->mem_size);
        int64_t shape[2] = {in->rows, in->mem_size};
        lp_tensor t = lp_tensor_make(in->memory, LP_DTYPE_F32, 2, shape);
        int32_t rc = h->state_register(h, "memory", &t);
        if (rc != LP_OK)
            return lp_errorf(h, rc, "expert_ce '%s': cannot register its memory as state",
                             in->name);
    }

    int32_t rc = lp__require_field(h, "expert_ce", in->name, obs_name,
                                   ", the observations the model reads; set obs_field to the name "
                                   "of that field",
                                   &in->field_obs);
    if (rc == LP_OK)
        rc = lp__require_output(h, "expert_ce", in->name, EC_OUTPUT,
                                " (f32, [rows, horizon, policy_width])", &in->out_logits);
    if (rc != LP_OK)
        return rc;
    const lp_tensor *v = &all->fields[in->field_obs];
    int64_t per = 1;
    for (int32_t d = 2; d < v->rank; d++)
        per *= v->shape[d];
    if (v->dtype != LP_DTYPE_F32 || v->rank < 2 || per != in->data.obs_dim)
        return lp_errorf(h, LP_ESPEC,
                         "expert_ce '%s': field '%s' has dtype %d and %lld values per step; the "
                         "dataset's observations are f32 with %lld values: record the dataset "
                         "on this environment",
                         in->name, obs_name, (int)v->dtype, (long long)per,
                         (long long)in->data.obs_dim);
    in->obs_rank = v->rank - 2;
    for (int32_t d = 2; d < v->rank; d++)
        in->obs_shape[d - 2] = v->shape[d];

    in->field_count = (uint32_t)in->field_obs + 1;
    in->fields = calloc(in->field_count, sizeof *in->fields);
    if (in->fields == NULL)
        return lp_errorf(h, LP_ENOMEM, "expert_ce '%s': out of memory", in->name);
    lp_tensor *t = &in->fields[in->field_obs];
    t->data = in->obs;
    t->dtype = LP_DTYPE_F32;
    t->rank = in->obs_rank + 2;
    t->shape[0] = in->rows;
    t->shape[1] = in->horizon;
    for (int32_t d = 0; d < in->obs_rank; d++)
        t->shape[d + 2] = in->obs_shape[d];
    int64_t stride = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d];
    }
    return LP_OK;
}

/* ---- train ------------------------------------------------------------------- */

/* The next `horizon` steps of every stream, from the cursor, wrapping. */
static void ec_gather(ec_inst *in) {
    const lpx_dataset *d = &in->data;
    const int64_t M = in->rows, H = in->horizon, D = d->obs_dim, N = d->num_steps;
    const int64_t K = d->action_dims;
    int64_t step = in->cursor[0];
    for (int64_t t = 0; t < H; t++) {
        for (int64_t r = 0; r < M; r++) {
            const int64_t rec = step * M + r;
            memcpy(in->obs + (r * H + t) * D, d->obs + rec * D, (size_t)D * sizeof(float));
            memcpy(in->actions + (r * H + t) * K, d->action + rec * K,
                   (size_t)K * sizeof *in->actions);
            /* Step 0 starts every stream's first episode (the reader checks
             * it): wrapping resets the memory. */
            in->starts[r * H + t] = step == 0 ? 1 : d->start[rec];
        }
        step = step + 1 == N ? 0 : step + 1;
    }
}

/* Multi-discrete and box (lp_policy_*): every sample's outputs and expert
 * action are checked in a first pass, so nothing is written on failure;
 * then the NLL, its gradient and the stats. The cursor advances on success
 * only (as on the discrete path). */
static int32_t ec_train_space(ec_inst *in, const float *logits, float *grads, float weight,
                              double coef, lp_train_result *out) {
    const lp_host *h = in->host;
    const lp_policy *pol = &in->pol;
    const int64_t H = in->horizon, W = in->width, S = in->rows * H, K = pol->dims;
    for (int64_t i = 0; i < S; i++) {
        const float *z = logits + i * W;
        if (pol->space == LP_ACTION_BOX) {
            for (int64_t j = 0; j < W; j++)
                if (!isfinite(z[j]))
                    return lp__report_nonfinite(h, "expert_ce", in->name,
                                                "the model's output '" EC_OUTPUT "'", z[j], i / H,
                                                i % H);
            continue;
        }
        const int32_t *a = (const int32_t *)(in->actions + i * K);
        int64_t o = 0;
        for (int32_t k = 0; k < pol->dims; o += pol->nvec[k], k++) {
            if (lp__logits_bad(z + o, NULL, pol->nvec[k]))
                return lp__report_nonfinite(h, "expert_ce", in->name,
                                            "the model's output '" EC_OUTPUT "'", NAN, i / H,
                                            i % H);
            if (lp_cat_masked(z + o, NULL, a[k]))
                return lp_errorf(h, LP_ERANGE,
                                 "expert_ce '%s': expert action component %d (%d) at row %lld, "
                                 "step %lld of the batch has probability 0 (its logit is -inf): "
                                 "its log-probability is -inf; the model must not mask the "
                                 "expert's action",
                                 in->name, (int)k, (int)a[k], (long long)(i / H),
                                 (long long)(i % H));
        }
    }
    const float c = (float)((double)weight * coef / (double)S);
    double nll_sum = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < S; i++) {
        const float *z = logits + i * W;
        const uint32_t *a = in->actions + i * K;
        (void)lp_policy_setup(pol, z, NULL, in->probs, in->cats); /* no component is empty */
        nll_sum -= (double)lp_policy_log_prob(pol, z, NULL, in->cats, a);
        if (pol->space == LP_ACTION_MULTI_DISCRETE) {
            int all = 1;
            int64_t o = 0;
            for (int32_t k = 0; k < pol->dims; o += pol->nvec[k], k++)
                all &= lp_cat_argmax(z + o, NULL, pol->nvec[k]) == ((const int32_t *)a)[k];
            correct += all;
        }
        if (c != 0.0f)
            lp_policy_grad_log_prob(pol, z, in->probs, a, -c, grads + i * W);
    }
    if (!isfinite(nll_sum)) /* finite outputs, so only an overflow of the sum */
        return lp__report_nonfinite(h, "expert_ce", in->name, "the negative log-likelihood",
                                    nll_sum, -1, -1);
    in->cursor[0] = (in->cursor[0] + H) % in->data.num_steps;
    const double ce = nll_sum / (double)S;
    out->loss = coef * ce;
    lp_stat(h, in->stat_ce, ce);
    if (pol->space == LP_ACTION_MULTI_DISCRETE) /* a box has no exact match */
        lp_stat(h, in->stat_acc, (double)correct / (double)S);
    return LP_OK;
}

static int32_t ec_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                        lp_train_result *out) {
    (void)ctx;
    (void)mb; /* the loss trains on its own batches */
    ec_inst *in = ec_of(self);
    const lp_host *h = in->host;
    const double coef = ec_coef(in);
    if (!isfinite(weight))
        return lp_errorf(h, LP_ERANGE, "expert_ce '%s': weight %g is not finite", in->name,
                         (double)weight);

    ec_gather(in);
    lp_batch b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.field_count = in->field_count;
    b.fields = in->fields;
    b.rows = in->rows;
    b.horizon = in->horizon;
    lp_model_pass pass;
    memset(&pass, 0, sizeof pass);
    pass.struct_size = sizeof pass;
    int32_t rc = in->mx->forward(h, &b, in->starts, in->memory, &pass);
    if (rc != LP_OK)
        return rc; /* the host has the reason */

    const int64_t M = in->rows, H = in->horizon, A = in->width, S = M * H;
    const lp_tensor *zt = pass.outputs != NULL && (uint32_t)in->out_logits < pass.output_count
                              ? &pass.outputs[in->out_logits]
                              : NULL;
    const lp_tensor *gt = zt != NULL && pass.grads != NULL ? &pass.grads[in->out_logits] : NULL;
    if (zt == NULL || gt == NULL || zt->dtype != LP_DTYPE_F32 || zt->rank != 3 ||
        zt->shape[0] != M || zt->shape[1] != H || zt->shape[2] != A ||
        !lp_tensor_is_contiguous(zt) || gt->dtype != LP_DTYPE_F32 || gt->rank != 3 ||
        gt->shape[2] != A || !lp_tensor_is_contiguous(gt) || gt->data == NULL)
        return lp_errorf(h, LP_ESPEC,
                         "expert_ce '%s': the model's '" EC_OUTPUT
                         "' for the dataset's batch is not contiguous f32 [%lld, %lld, %lld] "
                         "(the policy width of the dataset's action space)",
                         in->name, (long long)M, (long long)H, (long long)A);

    const float *logits = (const float *)zt->data;
    float *grads = (float *)gt->data;
    if (in->pol.space != LP_ACTION_DISCRETE)
        return ec_train_space(in, logits, grads, weight, coef, out);
    const int32_t *actions = (const int32_t *)in->actions;
    /* An expert action the model masks (-inf logit) has no log-probability,
     * and a NaN or +inf logit no distribution: both checked before any
     * gradient is written. */
    for (int64_t i = 0; i < S; i++) {
        if (lp__logits_bad(logits + i * A, NULL, A))
            return lp__report_nonfinite(h, "expert_ce", in->name,
                                        "the model's output '" EC_OUTPUT "'", NAN, i / H, i % H);
        if (lp_cat_masked(logits + i * A, NULL, actions[i]))
            return lp__report_masked_action(h, "expert_ce", in->name, "expert action", actions[i],
                                            i / H, i % H, 0);
    }
    float *LP__RESTRICT p = in->probs;
    const float c = (float)((double)weight * coef / (double)S);
    double nll_sum = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < S; i++) {
        const int64_t a = actions[i];
        const float *z = logits + i * A;
        const lp_cat s = lp_cat_softmax(z, NULL, A, p);
        nll_sum -= (double)lp_cat_log_prob(z, NULL, a, s);
        correct += lp_cat_argmax(z, NULL, A) == a;
        /* (coef/S)(p_j - 1[j = a]), exactly 0 at masked j */
        if (c != 0.0f)
            lp_cat_grad_log_prob(p, A, a, -c, grads + i * A);
    }
    if (!isfinite(nll_sum)) /* finite logits: only an overflow of the sum */
        return lp__report_nonfinite(h, "expert_ce", in->name, "the cross-entropy", nll_sum, -1, -1);
    in->cursor[0] = (in->cursor[0] + H) % in->data.num_steps;

    const double ce = nll_sum / (double)S;
    out->loss = coef * ce;
    lp_stat(h, in->stat_ce, ce);
    lp_stat(h, in->stat_acc, (double)correct / (double)S);
    return LP_OK;
}

/* ---- checkpoints ---------------------------------------------------------------- */

static int32_t ec_load(const lp_loss *self, const lp_ctx *ctx) {
    (void)ctx;
    ec_inst *in = ec_of(self);
    const lpx_dataset *d = &in->data;
    const int64_t now[3] = {d->num_envs, d->num_steps, (int64_t)d->payload_crc};
    if (memcmp(in->ident, now, sizeof now) != 0) {
        /* Another dataset (or another recording of it): a cursor into the
         * old one means nothing here. Start over, and say so. */
        lp_logf(in->host, LP_LOG_WARN,
                "expert_ce '%s': the checkpoint was taken on another dataset (%lld x %lld "
                "steps, CRC %08llx; now %lld x %lld, %08llx): starting at its step 0 with zero "
                "memory",
                in->name, (long long)in->ident[0], (long long)in->ident[1],
                (unsigned long long)in->ident[2], (long long)now[0], (long long)now[1],
                (unsigned long long)now[2]);
        memcpy(in->ident, now, sizeof now);
        in->cursor[0] = 0;
        if (in->memory != NULL)
            memset(in->memory, 0, (size_t)in->rows * (size_t)in->mem_size * sizeof *in->memory);
        return LP_OK;
    }
    if (in->cursor[0] < 0 || in->cursor[0] >= d->num_steps)
        return lp_errorf(in->host, LP_ESTATE,
                         "expert_ce '%s': the checkpoint's cursor %lld is outside the dataset's "
                         "%lld steps: the checkpoint is damaged",
                         in->name, (long long)in->cursor[0], (long long)d->num_steps);
    return LP_OK;
}

/* ---- create, destroy ---------------------------------------------------------- */

static void ec_free(ec_inst *in) {
    if (in == NULL)
        return;
    lpx_dataset_free(&in->data);
    free(in->memory);
    free(in->fields);
    free(in->obs);
    free(in->starts);
    free(in->actions);
    free(in->probs);
    free(in->cats);
    free(in);
}

static void ec_destroy(const lp_loss *self) {
    ec_free(ec_of(self));
}

/* Whether the dataset's action space is the environment's (pol). */
static int ec_space_matches(const lp_policy *pol, const lpx_dataset *d) {
    if ((int64_t)pol->space != (int64_t)d->space)
        return 0;
    if (pol->space == LP_ACTION_DISCRETE)
        return pol->width == d->num_actions;
    if (pol->dims != d->action_dims)
        return 0;
    for (int32_t k = 0; pol->space == LP_ACTION_MULTI_DISCRETE && k < pol->dims; k++)
        if (pol->nvec[k] != d->nvec[k])
            return 0;
    return 1;
}

/* "a discrete action of 3 choices", "a multi-discrete action [5, 2]",
 * "a box action of 3 dimensions" (lists cut at 8 components). */
static void ec_describe(uint32_t space, int64_t dims, int64_t actions, const int64_t *nvec,
                        char *buf, size_t len) {
    if (space == LPX_SPACE_DISCRETE) {
        snprintf(buf, len, "a discrete action of %lld choices", (long long)actions);
        return;
    }
    if (space == LPX_SPACE_BOX) {
        snprintf(buf, len, "a box action of %lld dimensions", (long long)dims);
        return;
    }
    if (space != LPX_SPACE_MULTI_DISCRETE || nvec == NULL) {
        snprintf(buf, len, "an action space %u", (unsigned)space);
        return;
    }
    size_t n = (size_t)snprintf(buf, len, "a multi-discrete action [");
    for (int64_t k = 0; k < dims && k < 8 && n < len; k++)
        n += (size_t)snprintf(buf + n, len - n, "%s%lld", k > 0 ? ", " : "", (long long)nvec[k]);
    if (n < len)
        snprintf(buf + n, len - n, "%s]", dims > 8 ? ", ..." : "");
}

static void ec_describe_data(const lpx_dataset *d, char *buf, size_t len) {
    ec_describe(d->space, d->action_dims, d->num_actions, d->nvec, buf, len);
}

static void ec_describe_env(const lp_env_info *env, char *buf, size_t len) {
    lp_policy pol;
    if (env == NULL) {
        snprintf(buf, len, "no action space");
        return;
    }
    (void)lp_policy_init(&pol, env);
    ec_describe((uint32_t)pol.space, pol.dims, pol.width, pol.nvec, buf, len);
}

/* `dataset` against the config file's directory, unless absolute. */
static char *ec_path(const lp_create_args *args, const char *file) {
    const char *dir = args->config_dir;
    if (file[0] == '/' || dir == NULL || dir[0] == '\0')
        dir = NULL;
    size_t dl = dir != NULL ? strlen(dir) : 0, fl = strlen(file);
    char *p = malloc(dl + 1 + fl + 1);
    if (p == NULL)
        return NULL;
    if (dir != NULL) {
        memcpy(p, dir, dl);
        p[dl++] = '/';
    }
    memcpy(p + dl, file, fl + 1);
    return p;
}

static int32_t ec_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host; /* params: schema order, types and ranges guaranteed */
    const lp_value *pv = args->params;
    const char *name = args->name;
    const char *file = pv[EC_P_DATASET].s;
    if (file[0] == '\0')
        return lp_errorf(h, LP_EINVAL,
                         "expert_ce '%s': parameter 'dataset' is empty: give the expert dataset's "
                         "path",
                         name);
    const int64_t H = pv[EC_P_STEPS].i;

    int32_t rc = LP_ENOMEM;
    char why[1024] = "";
    ec_inst *in = calloc(1, sizeof *in);
    char *path = NULL;
    if (in == NULL || (path = ec_path(args, file)) == NULL) {
        snprintf(why, sizeof why, "expert_ce '%s': out of memory creating the instance", name);
        goto fail;
    }
    in->name = name;
    char why_data[900];
    rc = lpx_dataset_read(path, &in->data, why_data, sizeof why_data);
    if (rc != LP_OK) {
        snprintf(why, sizeof why, "expert_ce '%s': %s", name, why_data);
        goto fail;
    }
    const lpx_dataset *d = &in->data;
    if (args->env == NULL || lp_policy_init(&in->pol, args->env) != 0 ||
        !ec_space_matches(&in->pol, d)) {
        char have[160], want[160];
        rc = LP_ESPEC;
        ec_describe_data(d, have, sizeof have);
        ec_describe_env(args->env, want, sizeof want);
        snprintf(why, sizeof why,
                 "expert_ce '%s': dataset '%s' has %s, the environment %s: record the dataset on "
                 "this environment (a multi-discrete or box action needs a version 2 dataset, "
                 "docs/losses/expert_ce.md)",
                 name, path, have, want);
        goto fail;
    }
    in->width = in->pol.space == LP_ACTION_DISCRETE ? d->num_actions : in->pol.width;
    in->rows = d->num_envs;
    in->horizon = H;
    const int64_t S = in->rows * H;
    if (S > (INT64_C(1) << 31) || (uint64_t)S > SIZE_MAX / sizeof(float) / (uint64_t)d->obs_dim) {
        rc = LP_ERANGE;
        snprintf(why, sizeof why,
                 "expert_ce '%s': a batch of %lld streams x %lld steps is too large: lower "
                 "steps_per_batch",
                 name, (long long)in->rows, (long long)H);
        goto fail;
    }
    rc = LP_ENOMEM;
    in->obs = malloc((size_t)S * (size_t)d->obs_dim * sizeof *in->obs);
    in->starts = malloc((size_t)S);
    in->actions = malloc((size_t)S * (size_t)d->action_dims * sizeof *in->actions);
    in->probs = malloc((size_t)(in->width > 0 ? in->width : 1) * sizeof *in->probs);
    in->cats = calloc((size_t)lp_policy_cats(&in->pol), sizeof *in->cats);
    if (in->obs == NULL || in->starts == NULL || in->actions == NULL || in->probs == NULL ||
        in->cats == NULL) {
        snprintf(why, sizeof why, "expert_ce '%s': out of memory for a batch of %lld samples", name,
                 (long long)S);
        goto fail;
    }

    in->host = h;
    in->params = pv;
    in->field_obs = -1;
    in->out_logits = -1;
    in->ident[0] = d->num_envs;
    in->ident[1] = d->num_steps;
    in->ident[2] = (int64_t)d->payload_crc;
    in->stat_ce = lp_stat_handle(h, "cross_entropy");
    in->stat_acc = lp_stat_handle(h, "accuracy");
    const int64_t one = 1, three = 3;
    lp_tensor tc = lp_tensor_make(in->cursor, LP_DTYPE_I64, 1, &one);
    lp_tensor ti = lp_tensor_make(in->ident, LP_DTYPE_I64, 1, &three);
    if (h->state_register == NULL || (rc = h->state_register(h, "cursor", &tc)) != LP_OK ||
        (rc = h->state_register(h, "dataset", &ti)) != LP_OK) {
        if (rc == LP_OK)
            rc = LP_EUNSUPPORTED;
        snprintf(why, sizeof why, "expert_ce '%s': cannot register its cursor as state", name);
        goto fail;
    }

    in->loss.struct_size = sizeof(lp_loss);
    in->loss.data = in;
    in->loss.attach = ec_attach;
    in->loss.train = ec_train;
    in->loss.load = ec_load;
    in->loss.destroy = ec_destroy;
    free(path);
    *out = &in->loss;
    return LP_OK;

fail:
    free(path);
    ec_free(in);
    return lp_errorf(h, rc, "%s", why);
}

static const lp_loss_desc ec_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "expert_ce",
    .version = "1.0.0",
    .summary = "off-policy expert cross-entropy on batches of an expert dataset (AllenAct), run "
               "through the host's model extension",
    LP_DESC_PARAMS(ec_params),
    .outputs = ec_outputs,
    .create = ec_create,
};

LP_PLUGIN_ENTRY(&ec_desc)
