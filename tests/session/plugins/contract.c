/* Test plugin "contract": asserts, at every hook, each guarantee that abi.h
 * ("what the host guarantees") makes, so that test_contract.c can show the
 * real host keeps them through a session with annealing and both ways of
 * sampling minibatches. A breach fails the hook with "contract: <what>".
 * At train_end it logs "checked N" (hooks checked since the last
 * train_end), so that the test also sees that every hook ran.
 *
 * Fields: reads obs f32 [OBS] (rollout and train), actions i32 [] (train)
 * and mask u8 [NUM_ACTIONS] (train, optional: nobody writes it); writes
 * scratch f32 [3] in the train phase. Outputs: logits and values. */
#include <lossplug/plugin.h>

#include <stdlib.h>

enum { P_COEF, P_STEPS, P_FLAG, P_MODE, P_TAG, P_COUNT };
enum { F_OBS, F_ACT, F_MASK, F_SCRATCH, F_COUNT };

static const char *const modes[] = {"a", "b", NULL};

static const lp_param_spec params[] = {
    LP_PARAM_FLOAT_SPEC("coef", "annealed to an end of its range", 0.3, 0.1, 0.3),
    LP_PARAM_INT_SPEC("steps", "annealed to an end of its range", 7, 1, 7),
    LP_PARAM_BOOL_SPEC("flag", "a bool", 1),
    LP_PARAM_ENUM_SPEC("mode", "an enum", "a", modes),
    LP_PARAM_STRING_SPEC("tag", "a string", "x"),
};

static const lp_field_spec fields[] = {
    LP_FIELD_SPEC("obs", "observations", LP_FIELD_READ, LP_PHASE_ROLLOUT | LP_PHASE_TRAIN,
                  LP_DTYPE_F32, LP_DIM_OBS),
    LP_FIELD_SCALAR("actions", "actions", LP_FIELD_READ, LP_PHASE_TRAIN, LP_DTYPE_I32),
    LP_FIELD_SPEC("mask", "nobody writes it", LP_FIELD_READ | LP_FIELD_OPTIONAL, LP_PHASE_TRAIN,
                  LP_DTYPE_U8, LP_DIM_NUM_ACTIONS),
    LP_FIELD_SPEC("scratch", "written per minibatch", LP_FIELD_WRITE, LP_PHASE_TRAIN, LP_DTYPE_F32,
                  3),
};

static const char *const outputs[] = {"logits", "values", NULL};

/* The 1.0 layouts: a struct the host hands over is at least this large. */
#define END(type, member) (offsetof(type, member) + sizeof(((const type *)0)->member))

typedef struct inst {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params;
    const lp_env_info *env;
    int attached;
    int32_t fh[F_COUNT];
    int32_t out_logits, out_values;
    int64_t checked;
} inst;

static inst *of(const lp_loss *self) {
    return (inst *)self->data;
}

#define BREACH(in, ...) lp_errorf((in)->host, LP_EPLUGIN, "contract: " __VA_ARGS__)

static int32_t check_params(const inst *in) {
    for (int i = 0; i < P_COUNT; i++) {
        const lp_param_spec *sp = &params[i];
        const lp_value *v = &in->params[i];
        if (v->type != sp->type)
            return BREACH(in, "param '%s' has type %d, not %d", sp->name, (int)v->type,
                          (int)sp->type);
        double x = v->type == LP_PARAM_INT ? (double)v->i : v->f;
        if ((v->type == LP_PARAM_FLOAT || v->type == LP_PARAM_INT) &&
            !(isfinite(x) && x >= sp->min && x <= sp->max))
            return BREACH(in, "param '%s' = %.17g is outside [%g, %g]", sp->name, x, sp->min,
                          sp->max);
        if (v->type == LP_PARAM_BOOL && v->b != 0 && v->b != 1)
            return BREACH(in, "bool '%s' is %d", sp->name, (int)v->b);
        if ((v->type == LP_PARAM_STRING || v->type == LP_PARAM_ENUM) && v->s == NULL)
            return BREACH(in, "string '%s' is NULL", sp->name);
        if (v->type == LP_PARAM_ENUM && strcmp(v->s, "a") != 0 && strcmp(v->s, "b") != 0)
            return BREACH(in, "enum '%s' is '%s'", sp->name, v->s);
    }
    return LP_OK;
}

/* The per-step shape of field f, resolved against the environment. */
static int32_t step_shape(const inst *in, int f, int64_t *shape) {
    const lp_env_info *e = in->env;
    switch (f) {
    case F_OBS:
        memcpy(shape, e->obs_shape, sizeof(int64_t) * (size_t)e->obs_rank);
        return e->obs_rank;
    case F_ACT:
        return 0;
    case F_MASK:
        shape[0] = e->num_actions;
        return 1;
    default:
        shape[0] = 3;
        return 1;
    }
}

/* `b` views the whole buffer or a minibatch (step = 0), or a rollout step
 * (step = 1); `train`: a minibatch with outputs and gradients. */
static int32_t check_batch(const inst *in, const lp_batch *b, int step, int train) {
    if (b == NULL || b->struct_size < END(lp_batch, step_index))
        return BREACH(in, "a batch is NULL or shorter than the 1.0 layout");
    if (b->rows < 1 || b->horizon < 1 || b->fields == NULL || b->row_index == NULL)
        return BREACH(in, "a batch has rows %lld, horizon %lld or NULL views", (long long)b->rows,
                      (long long)b->horizon);
    for (int f = 0; f < F_COUNT; f++) {
        if (in->fh[f] < 0)
            continue;
        if ((uint32_t)in->fh[f] >= b->field_count)
            return BREACH(in, "handle %d of field #%d is not in the batch", (int)in->fh[f], f);
        const lp_tensor *t = &b->fields[in->fh[f]];
        int64_t shape[LP_MAX_RANK];
        const int32_t r = step_shape(in, f, shape), lead = step ? 1 : 2;
        int ok = t->data != NULL && t->dtype == fields[f].dtype && t->rank == r + lead &&
                 t->shape[0] == b->rows && (step || t->shape[1] == b->horizon);
        for (int32_t d = 0; ok && d < r; d++)
            ok = t->shape[lead + d] == shape[d];
        if (!ok)
            return BREACH(in, "field '%s' is not %s of the declared shape", fields[f].name,
                          lp_dtype_name(fields[f].dtype));
    }
    if (!train)
        return LP_OK;
    const int32_t hs[2] = {in->out_logits, in->out_values};
    for (int k = 0; k < 2; k++) {
        if (b->outputs == NULL || b->grads == NULL || (uint32_t)hs[k] >= b->output_count)
            return BREACH(in, "output #%d is not in the minibatch", k);
        const lp_tensor *o = &b->outputs[hs[k]], *g = &b->grads[hs[k]];
        int ok = o->data != NULL && g->data != NULL && o->rank >= 2 && o->shape[0] == b->rows &&
                 o->shape[1] == b->horizon && g->dtype == o->dtype && g->rank == o->rank &&
                 lp_tensor_is_contiguous(o) && lp_tensor_is_contiguous(g);
        for (int32_t d = 0; ok && d < o->rank; d++)
            ok = g->shape[d] == o->shape[d];
        if (!ok)
            return BREACH(in,
                          "output #%d and its gradient are not contiguous [%lld, %lld, ...] "
                          "of one shape",
                          k, (long long)b->rows, (long long)b->horizon);
        /* The only loss of the session: the first train hook of the
         * minibatch sees zeros. */
        const float *gd = g->data;
        for (int64_t e = 0; e < lp_tensor_numel(g); e++)
            if (gd[e] != 0.0f)
                return BREACH(in, "gradient #%d is not zero at the minibatch's start", k);
    }
    return LP_OK;
}

static int32_t check_hook(inst *in, const lp_ctx *ctx, const lp_batch *b, int step, int train) {
    if (!in->attached)
        return BREACH(in, "a hook before a successful attach");
    if (ctx == NULL || ctx->struct_size < END(lp_ctx, reserved))
        return BREACH(in, "a context is NULL or shorter than the 1.0 layout");
    int32_t rc = check_params(in);
    if (rc == LP_OK && b != NULL)
        rc = check_batch(in, b, step, train);
    in->checked++;
    return rc;
}

static int32_t c_attach(const lp_loss *self, const lp_batch *all) {
    inst *in = of(self);
    const lp_host *h = in->host;
    int32_t rc = check_params(in);
    for (int f = 0; f < F_COUNT; f++)
        in->fh[f] = h->field_handle(h, fields[f].name);
    in->out_logits = h->output_handle(h, "logits");
    in->out_values = h->output_handle(h, "values");
    if (rc == LP_OK && (in->fh[F_OBS] < 0 || in->fh[F_ACT] < 0 || in->fh[F_SCRATCH] < 0 ||
                        in->fh[F_MASK] != -1 || in->out_logits < 0 || in->out_values < 0))
        rc = BREACH(in, "handles %d %d %d %d, outputs %d %d", (int)in->fh[F_OBS],
                    (int)in->fh[F_ACT], (int)in->fh[F_SCRATCH], (int)in->fh[F_MASK],
                    (int)in->out_logits, (int)in->out_values);
    if (rc == LP_OK)
        rc = check_batch(in, all, 0, 0);
    in->attached = rc == LP_OK;
    return rc;
}

static int32_t c_epoch_start(const lp_loss *self, const lp_ctx *ctx) {
    return check_hook(of(self), ctx, NULL, 0, 0);
}
static int32_t c_rollout_start(const lp_loss *self, const lp_ctx *ctx) {
    return check_hook(of(self), ctx, NULL, 0, 0);
}
static int32_t c_rollout_step(const lp_loss *self, const lp_ctx *ctx, const lp_batch *step) {
    return check_hook(of(self), ctx, step, 1, 0);
}
static int32_t c_train_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    return check_hook(of(self), ctx, all, 0, 0);
}
static int32_t c_update_epoch_start(const lp_loss *self, const lp_ctx *ctx, const lp_batch *all) {
    return check_hook(of(self), ctx, all, 0, 0);
}
static int32_t c_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                       lp_train_result *out) {
    (void)weight;
    inst *in = of(self);
    int32_t rc = check_hook(in, ctx, mb, 0, 1);
    if (rc == LP_OK && (out == NULL || out->struct_size < END(lp_train_result, loss)))
        rc = BREACH(in, "the train result is NULL or shorter than the 1.0 layout");
    if (rc == LP_OK)
        out->loss = lp_value_f(&in->params[P_COEF]);
    return rc;
}
static int32_t c_minibatch_end(const lp_loss *self, const lp_ctx *ctx) {
    return check_hook(of(self), ctx, NULL, 0, 0);
}
static int32_t c_train_end(const lp_loss *self, const lp_ctx *ctx) {
    inst *in = of(self);
    int32_t rc = check_hook(in, ctx, NULL, 0, 0);
    if (rc == LP_OK) {
        lp_logf(in->host, LP_LOG_INFO, "checked %lld", (long long)in->checked);
        in->checked = 0;
    }
    return rc;
}

static void c_destroy(const lp_loss *self) {
    free(of(self));
}

static int32_t c_create(const lp_create_args *args, const lp_loss **out) {
    const lp_host *h = args->host;
    if (args->struct_size < END(lp_create_args, config_dir) || h == NULL ||
        h->struct_size < END(lp_host, get_extension) || args->env == NULL ||
        args->env->struct_size < END(lp_env_info, horizon) || args->name == NULL ||
        args->config_dir == NULL || args->params == NULL || args->param_count != P_COUNT)
        return lp_errorf(h, LP_EPLUGIN, "contract: create's args break the 1.0 layout");
    if (h->log == NULL || h->error == NULL || h->stat_handle == NULL || h->stat_record == NULL ||
        h->state_register == NULL || h->field_handle == NULL || h->output_handle == NULL ||
        h->get_extension == NULL)
        return lp_errorf(h, LP_EPLUGIN, "contract: a 1.0 host service is NULL");
    inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return lp_errorf(h, LP_ENOMEM, "contract: out of memory");
    in->host = h;
    in->params = args->params;
    in->env = args->env;
    if (check_params(in) != LP_OK) {
        free(in);
        return LP_EPLUGIN;
    }
    in->loss.struct_size = sizeof in->loss;
    in->loss.data = in;
    in->loss.attach = c_attach;
    in->loss.epoch_start = c_epoch_start;
    in->loss.rollout_start = c_rollout_start;
    in->loss.rollout_step = c_rollout_step;
    in->loss.train_start = c_train_start;
    in->loss.update_epoch_start = c_update_epoch_start;
    in->loss.train = c_train;
    in->loss.minibatch_end = c_minibatch_end;
    in->loss.train_end = c_train_end;
    in->loss.destroy = c_destroy;
    *out = &in->loss;
    return LP_OK;
}

static const lp_loss_desc desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "contract",
    .version = "1.0.0",
    .summary = "asserts what the host guarantees at every hook",
    LP_DESC_PARAMS(params),
    LP_DESC_FIELDS(fields),
    .outputs = outputs,
    .create = c_create,
};

LP_PLUGIN_ENTRY(&desc)
