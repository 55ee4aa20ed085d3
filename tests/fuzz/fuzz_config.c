/* libFuzzer target: the config parser (YAML tree, schema walk, schedules,
 * program section) and the binding of each loss's params to a plugin schema
 * that has a parameter of every type. Any input must give LP_OK or an error
 * whose message is one line starting with the file name, never a crash, a
 * leak or undefined behaviour. */
#include "config/config.h"

#include <lossplug/plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const modes[] = {"fast", "slow", "none", NULL};
static const lp_param_spec params[] = {
    LP_PARAM_FLOAT_SPEC("coef", "a float", 0.5, 0.0, 1.0),
    LP_PARAM_INT_SPEC("count", "an int", 8, 1, 64),
    LP_PARAM_BOOL_SPEC("flag", "a bool", 1),
    LP_PARAM_STRING_SPEC("label", "a string", "alpha"),
    LP_PARAM_ENUM_SPEC("mode", "an enum", "fast", modes),
    {.struct_size = sizeof(lp_param_spec),
     .flags = LP_PARAM_REQUIRED | LP_PARAM_HAS_MIN,
     .name = "need",
     .doc = "a required float",
     .type = LP_PARAM_FLOAT,
     .min = -1.0},
};
static const lp_loss_desc desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "ppo",
    .version = "1.0.0",
    .summary = "fuzz schema",
    LP_DESC_PARAMS(params),
};
static const lp_loss_desc bare = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "value",
    .version = "1.0.0",
    .summary = "no params",
};

static void check_message(const lp_error *err) {
    if (strchr(err->message, '\n') != NULL || strncmp(err->message, "f.yaml:", 7) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const passthrough[] = {"env", "model", "optimizer", "trainer"};
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = passthrough;
    opt.passthrough_count = 4;
    opt.base_dir = "/nonexistent";
    lp__config *cfg = NULL;
    lp_error err;
    int32_t rc = lp__config_parse_string((const char *)data, size, "f.yaml", &opt, &cfg, &err);
    if (rc != LP_OK) {
        if (cfg != NULL)
            abort();
        if (rc == LP_ECONFIG)
            check_message(&err);
        return 0;
    }
    static const char *const known[] = {"ppo", "value"};
    if (lp__config_check_plugins(cfg, known, 2, &err) != LP_OK)
        check_message(&err);
    for (size_t i = 0; i < cfg->loss_count; i++) {
        const lp__loss_cfg *loss = &cfg->losses[i];
        const lp_loss_desc *d = strcmp(loss->plugin, "ppo") == 0     ? &desc
                                : strcmp(loss->plugin, "value") == 0 ? &bare
                                                                     : NULL;
        if (d == NULL)
            continue;
        lp_value values[sizeof params / sizeof params[0]];
        uint32_t *anneal = NULL;
        if (loss->schedule.anneal_count > 0) {
            anneal = calloc(loss->schedule.anneal_count, sizeof *anneal);
            if (anneal == NULL)
                abort();
        }
        if (lp__config_bind_params(cfg, loss, d, values, anneal, &err) != LP_OK)
            check_message(&err);
        free(anneal);
    }
    lp__config_free(cfg);
    return 0;
}
