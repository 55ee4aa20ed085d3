/* Test plugin "recorder": logs every hook call through host->log as
 * "hook[:details]" (the host prefixes "NAME: ") so that a test can check the order of calls against
 * docs/abi.md. Reads `rewards`; its loss is the `loss` param. */
#include <lossplug/plugin.h>

#include <stdlib.h>

typedef struct rec {
    const lp_host *host;
    const char *name;
    const lp_value *params;
} rec;

static const lp_param_spec rec_params[] = {
    LP_PARAM_FLOAT_SPEC("loss", "the loss it reports", 1.0, -1e9, 1e9),
};

static const lp_field_spec rec_fields[] = {
    LP_FIELD_SCALAR("rewards", "read, not used", LP_FIELD_READ, LP_PHASE_ROLLOUT | LP_PHASE_TRAIN,
                    LP_DTYPE_F32),
};

static const rec *R(const lp_loss *self) {
    return self->data;
}

static int32_t rec_fields_hook(const lp_loss *self, const lp_field_spec **specs, uint32_t *count) {
    lp_logf(R(self)->host, LP_LOG_INFO, "fields");
    *specs = rec_fields;
    *count = (uint32_t)LP_COUNT_OF(rec_fields);
    return LP_OK;
}

static int32_t rec_attach(const lp_loss *self, const lp_batch *all) {
    lp_logf(R(self)->host, LP_LOG_INFO, "attach:%lld", (long long)all->rows);
    return LP_OK;
}

static int32_t rec_epoch_start(const lp_loss *self, const lp_ctx *c) {
    lp_logf(R(self)->host, LP_LOG_INFO, "epoch_start:%lld", (long long)c->epoch);
    return LP_OK;
}

static int32_t rec_rollout_start(const lp_loss *self, const lp_ctx *c) {
    lp_logf(R(self)->host, LP_LOG_INFO, "rollout_start:%lld", (long long)c->epoch);
    return LP_OK;
}

static int32_t rec_rollout_step(const lp_loss *self, const lp_ctx *c, const lp_batch *step) {
    (void)step;
    lp_logf(R(self)->host, LP_LOG_INFO, "rollout_step:%d", (int)c->step);
    return LP_OK;
}

static int32_t rec_train_start(const lp_loss *self, const lp_ctx *c, const lp_batch *all) {
    (void)c;
    (void)all;
    lp_logf(R(self)->host, LP_LOG_INFO, "train_start");
    return LP_OK;
}

static int32_t rec_update_epoch_start(const lp_loss *self, const lp_ctx *c, const lp_batch *all) {
    (void)all;
    lp_logf(R(self)->host, LP_LOG_INFO, "update_epoch_start:%d", (int)c->update_epoch);
    return LP_OK;
}

static int32_t rec_train(const lp_loss *self, const lp_ctx *c, const lp_batch *mb, float weight,
                         lp_train_result *out) {
    (void)mb;
    lp_logf(R(self)->host, LP_LOG_INFO, "train:%d.%d:w=%g", (int)c->update_epoch, (int)c->minibatch,
            (double)weight);
    out->loss = lp_value_f(&R(self)->params[0]);
    return LP_OK;
}

static int32_t rec_minibatch_end(const lp_loss *self, const lp_ctx *c) {
    lp_logf(R(self)->host, LP_LOG_INFO, "minibatch_end:%d.%d", (int)c->update_epoch,
            (int)c->minibatch);
    return LP_OK;
}

static int32_t rec_train_end(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    lp_logf(R(self)->host, LP_LOG_INFO, "train_end");
    return LP_OK;
}

static int32_t rec_save(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    lp_logf(R(self)->host, LP_LOG_INFO, "save");
    return LP_OK;
}

static int32_t rec_load(const lp_loss *self, const lp_ctx *c) {
    (void)c;
    lp_logf(R(self)->host, LP_LOG_INFO, "load");
    return LP_OK;
}

static void rec_destroy(const lp_loss *self) {
    rec *r = self->data;
    lp_logf(r->host, LP_LOG_INFO, "destroy");
    free(r);
    /* `self` is the host's copy; the original lives in the same block. */
}

typedef struct rec_block {
    rec r;
    lp_loss loss;
} rec_block;

static int32_t rec_create(const lp_create_args *args, const lp_loss **out) {
    rec_block *b = calloc(1, sizeof *b);
    if (b == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "out of memory");
    b->r.host = args->host;
    b->r.name = args->name;
    b->r.params = args->params;
    b->loss.struct_size = sizeof b->loss;
    b->loss.data = &b->r;
    b->loss.fields = rec_fields_hook;
    b->loss.attach = rec_attach;
    b->loss.epoch_start = rec_epoch_start;
    b->loss.rollout_start = rec_rollout_start;
    b->loss.rollout_step = rec_rollout_step;
    b->loss.train_start = rec_train_start;
    b->loss.update_epoch_start = rec_update_epoch_start;
    b->loss.train = rec_train;
    b->loss.minibatch_end = rec_minibatch_end;
    b->loss.train_end = rec_train_end;
    b->loss.save = rec_save;
    b->loss.load = rec_load;
    b->loss.destroy = rec_destroy;
    lp_logf(args->host, LP_LOG_INFO, "create");
    *out = &b->loss;
    return LP_OK;
}

static const lp_loss_desc rec_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "recorder",
    .version = "1.0.0",
    .summary = "test plugin: logs every hook call",
    LP_DESC_PARAMS(rec_params),
    LP_DESC_FIELDS(rec_fields),
    .create = rec_create,
};

LP_PLUGIN_ENTRY(&rec_desc)
