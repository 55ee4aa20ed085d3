/*
 * l2_logits: an L2 penalty on the policy's logits, as a third party would
 * write it against an installed lossplug SDK.
 *
 *   L = coef * mean over the M = rows * horizon steps of sum_j z_j^2
 *   dL/dz = 2 * coef * z / M
 *
 * It reads no experience field; it needs the model output "logits".
 */
#include <lossplug/plugin.h>

#include <stdlib.h>

static const lp_param_spec l2_params[] = {
    LP_PARAM_FLOAT_SPEC("coef", "weight of the penalty on the squared logits", 1e-3, 0.0, 1e6),
};

static const char *const l2_outputs[] = {"logits", NULL};

static int32_t l2_create(const lp_create_args *args, const lp_loss **out);

static const lp_loss_desc l2_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "l2_logits",
    .version = "1.0.0",
    .summary = "L2 penalty on the logits: coef * mean(sum_j z_j^2)",
    LP_DESC_PARAMS(l2_params),
    .outputs = l2_outputs,
    .create = l2_create,
};

/* Everything an instance owns: the lp_loss handed to the host and its state. */
typedef struct l2_state {
    lp_loss loss;
    const lp_host *host;    /* host-owned, valid until destroy */
    const lp_value *params; /* host-owned, valid until destroy; annealed in place */
    int32_t coef_index;
    int32_t logits;   /* output handle, resolved in attach */
    int32_t stat_sum; /* "sum_sq": mean squared logit sum per step */
} l2_state;

static int32_t l2_attach(const lp_loss *self, const lp_batch *all) {
    (void)all;
    l2_state *s = self->data;
    const lp_host *host = s->host;
    s->logits = host->output_handle(host, "logits");
    if (s->logits < 0)
        return lp_errorf(host, LP_ESPEC, "l2_logits: the model has no output 'logits'");
    return LP_OK;
}

static int32_t l2_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                        lp_train_result *out) {
    (void)ctx;
    l2_state *s = self->data;
    const lp_host *host = s->host;
    if (s->logits < 0 || (uint32_t)s->logits >= mb->output_count)
        return lp_errorf(host, LP_ESTATE, "l2_logits: train before attach");
    const lp_tensor *z = &mb->outputs[s->logits];
    const lp_tensor *g = &mb->grads[s->logits];
    const float *zd = lp_tensor_f32(z);
    float *gd = lp_tensor_f32(g);
    if (zd == NULL || gd == NULL || z->rank < 2)
        return lp_errorf(host, LP_EINVAL, "l2_logits: logits must be f32 [rows, horizon, ...]");

    /* Outputs and gradients are contiguous [rows, horizon, ...]. */
    int64_t steps = z->shape[0] * z->shape[1];
    int64_t total = lp_tensor_numel(z);
    if (steps <= 0) {
        out->loss = 0.0;
        return LP_OK;
    }
    double coef = lp_value_f(&s->params[s->coef_index]);
    double sum = 0.0;
    for (int64_t k = 0; k < total; k++)
        sum += (double)zd[k] * (double)zd[k];
    float scale = (float)(weight * 2.0 * coef / (double)steps);
    for (int64_t k = 0; k < total; k++)
        gd[k] += scale * zd[k];

    out->loss = coef * sum / (double)steps;
    lp_stat(host, s->stat_sum, sum / (double)steps);
    return LP_OK;
}

static void l2_destroy(const lp_loss *self) {
    free(self->data);
}

static int32_t l2_create(const lp_create_args *args, const lp_loss **out) {
    l2_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "l2_logits: out of memory");
    s->host = args->host;
    s->params = args->params;
    s->coef_index = lp_param_index(&l2_desc, "coef");
    s->logits = -1;
    s->stat_sum = lp_stat_handle(args->host, "sum_sq");
    s->loss.struct_size = sizeof(lp_loss);
    s->loss.data = s;
    s->loss.attach = l2_attach;
    s->loss.train = l2_train;
    s->loss.destroy = l2_destroy;
    *out = &s->loss;
    return LP_OK;
}

LP_PLUGIN_ENTRY(&l2_desc)
