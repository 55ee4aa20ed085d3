/* Binding params to a plugin schema; unknown plugins. */
#include "cfg_test.h"

static const char *const modes[] = {"clipped", "unclipped", "dual", NULL};

#define SPEC(...)                                                                                  \
    { .struct_size = sizeof(lp_param_spec), __VA_ARGS__ }
static const lp_param_spec specs[] = {
    SPEC(.flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX, .name = "clip_coef", .type = LP_PARAM_FLOAT,
         .default_float = 0.2, .min = 0, .max = 1),
    SPEC(.flags = LP_PARAM_HAS_MIN, .name = "ent_coef", .type = LP_PARAM_FLOAT,
         .default_float = 0.01, .min = 0),
    SPEC(.flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX, .name = "epochs", .type = LP_PARAM_INT,
         .default_int = 4, .min = 1, .max = 100),
    SPEC(.flags = LP_PARAM_HAS_MAX, .name = "depth", .type = LP_PARAM_INT, .default_int = 2,
         .max = 8),
    SPEC(.name = "norm_adv", .type = LP_PARAM_BOOL, .default_bool = 1),
    SPEC(.name = "mode", .type = LP_PARAM_ENUM, .default_string = "clipped", .choices = modes),
    SPEC(.name = "tag", .type = LP_PARAM_STRING, .default_string = "none"),
    SPEC(.flags = LP_PARAM_REQUIRED | LP_PARAM_HAS_MIN, .name = "lr", .type = LP_PARAM_FLOAT,
         .min = 0),
    SPEC(.name = "seed", .type = LP_PARAM_INT, .default_int = -3),
};
#define NSPECS 9
static const lp_loss_desc desc = {
    .struct_size = sizeof(lp_loss_desc), .param_count = NSPECS, .id = "ppo", .params = specs};

/* A config with one loss whose params block is "lr: 0.1" (line 6) and then
 * `extra` (from line 7, keys at column 7). */
static lp__config *make(const char *extra, const char *schedule) {
    char text[2048];
    snprintf(text, sizeof text,
             CFG_BUFFER "losses:\n  - name: a\n    plugin: ppo\n    params:\n      lr: 0.1\n%s%s",
             extra, schedule != NULL ? schedule : "");
    return cfg_ok(text);
}

static int32_t bind(lp__config *cfg, lp_value *v, uint32_t *idx, lp_error *err) {
    return lp__config_bind_params(cfg, &cfg->losses[0], &desc, v, idx, err);
}

static void bind_err(const char *extra, const char *msg) {
    lp__config *cfg = make(extra, NULL);
    lp_value v[NSPECS];
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, NULL, &err), LP_ECONFIG);
    assert_int_equal(err.code, LP_ECONFIG);
    assert_string_equal(err.message, msg);
    lp__config_free(cfg);
}

static void test_every_type(void **state) {
    (void)state;
    lp__config *cfg = make("      clip_coef: 0.5\n      ent_coef: 1\n      epochs: 7\n"
                           "      depth: -2\n      norm_adv: false\n      mode: \"dual\"\n"
                           "      tag: 12\n      seed: 9223372036854775807\n",
                           NULL);
    lp_value v[NSPECS];
    memset(v, 0xff, sizeof v);
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, NULL, &err), LP_OK);
    assert_int_equal(v[0].type, LP_PARAM_FLOAT);
    assert_true(v[0].f == 0.5);
    assert_int_equal(v[1].type, LP_PARAM_FLOAT);
    assert_true(v[1].f == 1.0); /* an integer literal is a float too */
    assert_int_equal(v[2].type, LP_PARAM_INT);
    assert_int_equal(v[2].i, 7);
    assert_int_equal(v[3].i, -2);
    assert_int_equal(v[4].type, LP_PARAM_BOOL);
    assert_int_equal(v[4].b, 0);
    assert_int_equal(v[5].type, LP_PARAM_ENUM);
    assert_string_equal(v[5].s, "dual");
    assert_int_equal(v[6].type, LP_PARAM_STRING);
    assert_string_equal(v[6].s, "12");
    assert_true(v[7].f == 0.1);
    assert_true(v[8].i == INT64_MAX);
    /* Strings point into the config. */
    const lp__loss_cfg *l = &cfg->losses[0];
    assert_ptr_equal(v[6].s, l->params[7].text);
    assert_ptr_equal(v[5].s, l->params[6].text);
    lp__config_free(cfg);
}

static void test_defaults(void **state) {
    (void)state;
    lp__config *cfg = make("", NULL);
    lp_value v[NSPECS];
    memset(v, 0xff, sizeof v);
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, NULL, &err), LP_OK);
    assert_true(v[0].f == 0.2);
    assert_true(v[1].f == 0.01);
    assert_int_equal(v[2].i, 4);
    assert_int_equal(v[3].i, 2);
    assert_int_equal(v[4].b, 1);
    assert_ptr_equal(v[5].s, modes[0]);
    assert_string_equal(v[6].s, "none");
    assert_int_equal(v[6].type, LP_PARAM_STRING);
    assert_true(v[7].f == 0.1);
    assert_int_equal(v[8].i, -3);
    lp__config_free(cfg);
}

static void test_unknown(void **state) {
    (void)state;
    bind_err("      clip_cof: 0.1\n", "t.yaml:7:7: unknown param 'clip_cof' in losses.a.params for "
                                      "plugin 'ppo'; did you mean 'clip_coef'?");
    bind_err("      gamma: 0.9\n",
             "t.yaml:7:7: unknown param 'gamma' in losses.a.params for plugin 'ppo'; valid "
             "params: clip_coef, ent_coef, epochs, depth, norm_adv, mode, tag, lr, seed");
    /* A plugin without params. */
    static const lp_loss_desc none = {.struct_size = sizeof(lp_loss_desc), .id = "value"};
    lp__config *cfg = make("", NULL);
    lp_error err = {0, ""};
    assert_int_equal(lp__config_bind_params(cfg, &cfg->losses[0], &none, NULL, NULL, &err),
                     LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:6:7: unknown param 'lr' in losses.a.params: plugin "
                                     "'value' takes no params; remove it");
    lp__config_free(cfg);
}

static void test_wrong_type(void **state) {
    (void)state;
    bind_err("      clip_coef: big\n", "t.yaml:7:18: losses.a.params.clip_coef must be a number, "
                                       "found 'big'; write a number such as 0.5");
    bind_err("      clip_coef: '0.5'\n", "t.yaml:7:18: losses.a.params.clip_coef must be a "
                                         "number, found a quoted string; remove the quotes");
    bind_err("      epochs: 2.5\n", "t.yaml:7:15: losses.a.params.epochs must be an integer, "
                                    "found '2.5'; write a whole number such as 8");
    bind_err("      epochs: \"2\"\n", "t.yaml:7:15: losses.a.params.epochs must be an integer, "
                                      "found a quoted string; remove the quotes");
    bind_err("      norm_adv: yes\n", "t.yaml:7:17: losses.a.params.norm_adv must be true or "
                                      "false, found 'yes'; write true or false");
    bind_err("      norm_adv: 'true'\n", "t.yaml:7:17: losses.a.params.norm_adv must be true or "
                                         "false, found a quoted string; remove the quotes");
}

static void test_out_of_range(void **state) {
    (void)state;
    bind_err("      clip_coef: 1.5\n", "t.yaml:7:18: losses.a.params.clip_coef = 1.5 is out of "
                                       "range; use a value in [0, 1]");
    bind_err("      ent_coef: -0.1\n", "t.yaml:7:17: losses.a.params.ent_coef = -0.1 is out of "
                                       "range; use a value >= 0");
    bind_err("      epochs: 0\n", "t.yaml:7:15: losses.a.params.epochs = 0 is out of range; use "
                                  "a value in [1, 100]");
    bind_err("      epochs: 99999999999999999999\n",
             "t.yaml:7:15: losses.a.params.epochs = 99999999999999999999 is out of range; use a "
             "value in [1, 100]");
    bind_err("      depth: 9\n", "t.yaml:7:14: losses.a.params.depth = 9 is out of range; use a "
                                 "value <= 8");
    bind_err("      seed: 9223372036854775808\n",
             "t.yaml:7:13: losses.a.params.seed = 9223372036854775808 is out of range; use a "
             "smaller integer (64-bit)");
    bind_err("      ent_coef: 1e999\n", "t.yaml:7:17: losses.a.params.ent_coef = 1e999 is out of "
                                        "range; use a value >= 0");
}

static void test_enum(void **state) {
    (void)state;
    bind_err("      mode: clipd\n", "t.yaml:7:13: losses.a.params.mode 'clipd' is not a choice; "
                                    "did you mean 'clipped'? (choices: clipped, unclipped, dual)");
    bind_err("      mode: other_mode\n", "t.yaml:7:13: losses.a.params.mode 'other_mode' is not a "
                                         "choice; use one of: clipped, unclipped, dual");
}

static void test_missing_required(void **state) {
    (void)state;
    lp__config *cfg = cfg_ok(CFG_BUFFER "losses:\n  - name: a\n    plugin: ppo\n"
                                        "    params: {epochs: 3}\n");
    lp_value v[NSPECS];
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, NULL, &err), LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:5:5: missing required param 'lr' (a float) for "
                                     "plugin 'ppo' in losses.a; add lr: VALUE under params");
    lp__config_free(cfg);
    cfg = cfg_ok(CFG_BUFFER "losses:\n  - name: a\n    plugin: ppo\n");
    assert_int_equal(bind(cfg, v, NULL, &err), LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:3:5: missing required param 'lr' (a float) for "
                                     "plugin 'ppo' in losses.a; add lr: VALUE under params");
    lp__config_free(cfg);
}

static void anneal_err(const char *rule, const char *msg) {
    char sched[512];
    snprintf(sched, sizeof sched, "    schedule:\n      anneal:\n        %s\n", rule);
    lp__config *cfg = make("", sched);
    lp_value v[NSPECS];
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, NULL, &err), LP_ECONFIG);
    assert_string_equal(err.message, msg);
    lp__config_free(cfg);
}

static void test_anneal_checks(void **state) {
    (void)state;
    lp__config *cfg =
        make("", "    schedule:\n      anneal:\n        depth: {to: 8, epochs: [0, 9]}\n"
                 "        ent_coef: {to: 0, steps: [0, 9]}\n");
    lp_value v[NSPECS];
    uint32_t idx[2] = {99, 99};
    lp_error err = {0, ""};
    assert_int_equal(bind(cfg, v, idx, &err), LP_OK);
    assert_int_equal(idx[0], 3);
    assert_int_equal(idx[1], 1);
    lp__config_free(cfg);

    anneal_err("ent_coeff: {to: 0, epochs: [0, 9]}",
               "t.yaml:9:9: unknown param 'ent_coeff' in losses.a.schedule.anneal for plugin "
               "'ppo'; did you mean 'ent_coef'?");
    anneal_err("mode: {to: 0, epochs: [0, 9]}",
               "t.yaml:9:9: losses.a.schedule.anneal.mode: param 'mode' is an enum, and only float "
               "and int params can be annealed; remove this rule");
    anneal_err("norm_adv: {to: 0, epochs: [0, 9]}",
               "t.yaml:9:9: losses.a.schedule.anneal.norm_adv: param 'norm_adv' is a bool, and "
               "only float and int params can be annealed; remove this rule");
    anneal_err("epochs: {to: 2.5, epochs: [0, 9]}",
               "t.yaml:9:22: losses.a.schedule.anneal.epochs.to must be an integer (param 'epochs' "
               "is an int), found 2.5; write a whole number");
    anneal_err("epochs: {to: 200, epochs: [0, 9]}",
               "t.yaml:9:22: losses.a.schedule.anneal.epochs.to = 200 is out of range; use a value "
               "in [1, 100]");
    anneal_err("clip_coef: {to: -0.1, epochs: [0, 9]}",
               "t.yaml:9:25: losses.a.schedule.anneal.clip_coef.to = -0.1 is out of range; use a "
               "value in [0, 1]");
}

/* Specs are read with the plugin's own stride, larger or smaller. */
typedef struct bigger_spec {
    lp_param_spec s;
    uint64_t future[3];
} bigger_spec;

static void test_stride(void **state) {
    (void)state;
    bigger_spec big[2];
    memset(big, 0x5a, sizeof big);
    for (int i = 0; i < 2; i++) {
        big[i].s = specs[i];
        big[i].s.struct_size = sizeof(bigger_spec);
    }
    lp_loss_desc d = {.struct_size = sizeof d, .param_count = 2, .id = "big", .params = &big[0].s};
    lp__config *cfg = cfg_ok(CFG_BUFFER "losses:\n  - plugin: big\n    params: {ent_coef: 0.5}\n");
    lp_value v[2];
    lp_error err = {0, ""};
    assert_int_equal(lp__config_bind_params(cfg, &cfg->losses[0], &d, v, NULL, &err), LP_OK);
    assert_true(v[0].f == 0.2);
    assert_true(v[1].f == 0.5);

    /* An older layout without choices: the missing fields read as zero. */
    lp_param_spec small[2];
    memset(small, 0, sizeof small);
    size_t old = offsetof(lp_param_spec, choices);
    unsigned char packed[2 * sizeof(lp_param_spec)];
    for (int i = 0; i < 2; i++) {
        small[i] = specs[i];
        small[i].struct_size = (uint32_t)old;
        memcpy(packed + (size_t)i * old, &small[i], old);
    }
    d.params = (const lp_param_spec *)(const void *)packed;
    assert_int_equal(lp__config_bind_params(cfg, &cfg->losses[0], &d, v, NULL, &err), LP_OK);
    assert_true(v[1].f == 0.5);

    /* Too small to hold a type: the plugin is at fault. */
    small[0].struct_size = 8;
    d.params = small;
    assert_int_equal(lp__config_bind_params(cfg, &cfg->losses[0], &d, v, NULL, &err), LP_EPLUGIN);
    char want[128];
    snprintf(want, sizeof want, "plugin 'big': param specs have struct_size 8, less than %zu",
             offsetof(lp_param_spec, type) + sizeof(int32_t));
    assert_string_equal(err.message, want);
    assert_int_equal(lp__config_bind_params(cfg, &cfg->losses[0], NULL, v, NULL, &err), LP_EINVAL);
    lp__config_free(cfg);
}

static void test_unknown_plugin(void **state) {
    (void)state;
    lp__config *cfg = cfg_ok(CFG_BUFFER "losses:\n  - plugin: ppo\n  - plugin: valeu\n");
    static const char *const known[] = {"ppo", "value", "kickstart"};
    lp_error err = {0, ""};
    assert_int_equal(lp__config_check_plugins(cfg, known, 3, &err), LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:4:13: unknown plugin 'valeu'; did you mean 'value'? "
                                     "(known plugins: ppo, value, kickstart)");
    assert_int_equal(lp__config_check_plugins(cfg, known, 1, &err), LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:4:13: unknown plugin 'valeu'; known plugins: ppo");
    assert_int_equal(lp__config_check_plugins(cfg, NULL, 0, &err), LP_ECONFIG);
    assert_string_equal(err.message, "t.yaml:3:13: unknown plugin 'ppo': no plugins were found; "
                                     "check plugin_path and LOSSPLUG_PATH");
    static const char *const all[] = {"kickstart", "valeu", "ppo"};
    assert_int_equal(lp__config_check_plugins(cfg, all, 3, &err), LP_OK);
    lp__config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_unknown),          cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),     cmocka_unit_test(test_enum),
        cmocka_unit_test(test_missing_required), cmocka_unit_test(test_anneal_checks),
        cmocka_unit_test(test_stride),           cmocka_unit_test(test_unknown_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
