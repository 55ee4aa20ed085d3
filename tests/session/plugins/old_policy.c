/* old_policy: a policy loss as a plugin built for ABI 1.0 declares itself
 * (entry abi_minor 0) that needs the "logits" output. On a discrete action
 * it loads and runs; on a multi-discrete or box action the host refuses it
 * at session open (it would read the output as softmax logits). */
#include <lossplug/plugin.h>

#include <stdlib.h>

static int32_t old_train(const lp_loss *self, const lp_ctx *ctx, const lp_batch *mb, float weight,
                         lp_train_result *out) {
    (void)self, (void)ctx, (void)mb, (void)weight;
    out->loss = 0.0;
    return LP_OK;
}

static void old_destroy(const lp_loss *self) {
    free(self->data);
}

static int32_t old_create(const lp_create_args *args, const lp_loss **out) {
    lp_loss *l = calloc(1, sizeof *l);
    if (l == NULL)
        return lp_errorf(args->host, LP_ENOMEM, "out of memory");
    l->struct_size = sizeof *l;
    l->data = l;
    l->train = old_train;
    l->destroy = old_destroy;
    *out = l;
    return LP_OK;
}

static const char *const old_outputs[] = {"logits", NULL};

static const lp_loss_desc old_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "old_policy",
    .version = "1.0.0",
    .summary = "test plugin: a 1.0 policy loss that needs the logits output",
    .outputs = old_outputs,
    .create = old_create,
};

static const lp_loss_desc *old_get(uint32_t i) {
    return i == 0 ? &old_desc : NULL;
}

static uint32_t old_count(void) {
    return 1;
}

LP_EXPORT const lp_entry lossplug_entry = {
    .struct_size = sizeof(lp_entry),
    .abi_major = LP_ABI_MAJOR,
    .abi_minor = 0, /* built before action spaces */
    .loss_count = old_count,
    .loss_get = old_get,
};
