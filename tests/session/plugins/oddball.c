/* Test plugin "oddball": breaks the ABI contract on purpose, one way per
 * param, so that the host's refusals can be tested. Built into a directory
 * of its own (not the one of recorder and probe, whose tests list the known
 * plugins), searched only by the tests that use it.
 *
 * Params:
 *   short_loss  0: a sound lp_loss; 1: create returns an lp_loss whose
 *               struct_size (16) is below the 1.0 size and does not even
 *               reach `destroy` (static: nothing to free); 2: one whose
 *               struct_size ends right after `destroy` (heap: the host must
 *               call destroy, which logs "destroy")
 *   dup_state   "create" or "attach": registers state "x" twice there and
 *               passes the host's status on without a message of its own
 * Needs no fields and no outputs. */
#include <lossplug/plugin.h>

#include <stddef.h>
#include <stdlib.h>

enum { P_SHORT, P_DUP, P_COUNT };

static const lp_param_spec odd_params[] = {
    LP_PARAM_INT_SPEC("short_loss", "0 sound, 1 too short for destroy, 2 ends at destroy", 0, 0, 2),
    LP_PARAM_STRING_SPEC("dup_state", "hook that registers state 'x' twice", ""),
};

typedef struct odd {
    lp_loss loss;
    const lp_host *host;
    const lp_value *params;
    double x[2];
} odd;

static int32_t register_twice(odd *o) {
    int64_t shape[1] = {2};
    lp_tensor t = lp_tensor_make(o->x, LP_DTYPE_F64, 1, shape);
    int32_t rc = o->host->state_register(o->host, "x", &t);
    if (rc != LP_OK)
        return rc;
    return o->host->state_register(o->host, "x", &t);
}

static int dup_in(const odd *o, const char *hook) {
    return strcmp(lp_value_s(&o->params[P_DUP]), hook) == 0;
}

static int32_t odd_attach(const lp_loss *self, const lp_batch *all) {
    (void)all;
    odd *o = self->data;
    return dup_in(o, "attach") ? register_twice(o) : LP_OK;
}

static void odd_destroy(const lp_loss *self) {
    odd *o = self->data;
    lp_logf(o->host, LP_LOG_INFO, "destroy");
    free(o);
}

/* Too short to reach `destroy`: the host must not read past it. */
static const lp_loss odd_tiny = {.struct_size = 16};

static int32_t odd_create(const lp_create_args *args, const lp_loss **out) {
    if (lp_value_i(&args->params[P_SHORT]) == 1) {
        *out = &odd_tiny;
        return LP_OK;
    }
    odd *o = calloc(1, sizeof *o);
    if (o == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "out of memory");
    o->host = args->host;
    o->params = args->params;
    o->loss.struct_size = sizeof o->loss;
    o->loss.data = o;
    o->loss.attach = odd_attach;
    o->loss.destroy = odd_destroy;
    if (lp_value_i(&args->params[P_SHORT]) == 2)
        o->loss.struct_size = (uint32_t)(offsetof(lp_loss, destroy) + sizeof o->loss.destroy);
    if (dup_in(o, "create")) {
        int32_t rc = register_twice(o);
        if (rc != LP_OK) {
            free(o);
            return rc;
        }
    }
    *out = &o->loss;
    return LP_OK;
}

static const lp_loss_desc odd_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "oddball",
    .version = "1.0.0",
    .summary = "test plugin: breaks the ABI contract on purpose",
    LP_DESC_PARAMS(odd_params),
    .create = odd_create,
};

LP_PLUGIN_ENTRY(&odd_desc)
