/* The public config-section reader (lossplug/config.h), through
 * liblossplug's exported API alone: a good section (every type, file
 * positions, defaults, a list of ints), an absent one, every kind of refusal
 * with its exact FILE:LINE:COLUMN message (inclusive and exclusive bounds),
 * one value read by path, the flattened entries, nodes by path, the buffer,
 * and callers' struct sizes. */
#include <lossplug/config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HEAD "buffer: {segments: 4, horizon: 8}\nlosses: [{plugin: ppo}]\n"

static const char *const acts[] = {"tanh", "relu", NULL};
static const int64_t two64[] = {64, 64};

#define KEY(...)                                                                                   \
    {                                                                                              \
        .struct_size = sizeof(lp_config_key), .spec = { __VA_ARGS__ }                              \
    }

/* The schema under test: `model` of the reference trainer, and a few more. */
enum { K_HIDDEN, K_ACT, K_KIND, K_SHARED, K_SEED, K_LR, K_DROP, K_GAIN, K_DEPTH, K_TAG, K_N };
static const lp_config_key keys[K_N] = {
    [K_HIDDEN] = {sizeof(lp_config_key),
                  1,
                  {.name = "hidden",
                   .type = LP_PARAM_INT,
                   .flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX,
                   .min = 1,
                   .max = 65536},
                  3,
                  two64,
                  2,
                  NULL},
    [K_ACT] =
        {sizeof(lp_config_key),
         0,
         {.name = "activation", .type = LP_PARAM_ENUM, .choices = acts, .default_string = "tanh"},
         0,
         NULL,
         0,
         "use tanh or relu"},
    [K_KIND] =
        KEY(.name = "kind", .type = LP_PARAM_ENUM, .choices = acts, .default_string = "relu"),
    [K_SHARED] = KEY(.name = "shared", .type = LP_PARAM_BOOL, .default_bool = 1),
    [K_SEED] = KEY(.name = "seed", .type = LP_PARAM_INT, .flags = LP_PARAM_HAS_MIN, .min = 0,
                   .default_int = 7),
    /* (0, 10] */
    [K_LR] = KEY(.name = "lr", .type = LP_PARAM_FLOAT,
                 .flags = LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE | LP_PARAM_HAS_MAX, .min = 0,
                 .max = 10, .default_float = 2.5e-4),
    /* [0, 1) */
    [K_DROP] = KEY(.name = "drop", .type = LP_PARAM_FLOAT,
                   .flags = LP_PARAM_HAS_MIN | LP_PARAM_HAS_MAX | LP_PARAM_MAX_EXCLUSIVE, .min = 0,
                   .max = 1, .default_float = 0.5),
    /* > 0 */
    [K_GAIN] =
        KEY(.name = "gain", .type = LP_PARAM_FLOAT,
            .flags = LP_PARAM_HAS_MIN | LP_PARAM_MIN_EXCLUSIVE, .min = 0, .default_float = 1),
    /* <= 8 */
    [K_DEPTH] = KEY(.name = "depth", .type = LP_PARAM_INT, .flags = LP_PARAM_HAS_MAX, .max = 8,
                    .default_int = 2),
    [K_TAG] = KEY(.name = "tag", .type = LP_PARAM_STRING, .default_string = "none"),
};

static const char *const sections[] = {"model", "env"};

static char path_buf[512];

/* Write `yaml` to t.yaml in the build directory and open it. */
static lp_config *open_yaml(const char *yaml, lp_error *err, int32_t *rc) {
    snprintf(path_buf, sizeof path_buf, "%s/t.yaml", LP_TEST_TMP);
    FILE *f = fopen(path_buf, "w");
    assert_non_null(f);
    assert_int_equal(fputs(yaml, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    lp_config_options o;
    lp_config_options_init(&o);
    o.sections = sections;
    o.section_count = 2;
    lp_config *cfg = NULL;
    *rc = lp_config_open(path_buf, &o, &cfg, err);
    return cfg;
}

static lp_config *open_ok(const char *yaml) {
    lp_error err = {0, ""};
    int32_t rc;
    lp_config *cfg = open_yaml(yaml, &err, &rc);
    if (rc != LP_OK)
        fail_msg("open: %s", err.message);
    assert_non_null(cfg);
    return cfg;
}

/* `yaml`'s model section is refused with exactly "<path>:" + `msg`. */
static void read_err(const char *yaml, const char *msg) {
    lp_config *cfg = open_ok(yaml);
    lp_config_value v[K_N];
    lp_error err = {0, ""};
    assert_int_equal(lp_config_read(cfg, "model", keys, K_N, v, NULL, &err), LP_ECONFIG);
    assert_int_equal(err.code, LP_ECONFIG);
    char want[LP_ERROR_MAX + 600];
    snprintf(want, sizeof want, "%s:%s", path_buf, msg);
    assert_string_equal(err.message, want);
    lp_config_close(cfg);
}

static void test_good_section(void **state) {
    (void)state;
    lp_config *cfg = open_ok(HEAD "model:\n"
                                  "  tag: abc\n"
                                  "  hidden: [32, 16, 8]\n"
                                  "  activation: relu\n"
                                  "  shared: false\n"
                                  "  seed: 9223372036854775807\n"
                                  "  lr: 10\n"
                                  "  drop: 0\n"
                                  "  gain: 1e-300\n"
                                  "  depth: -5\n");
    lp_config_value v[K_N];
    memset(v, 0xff, sizeof v);
    lp_config_pos sp;
    lp_error err = {0, ""};
    assert_int_equal(lp_config_read(cfg, "model", keys, K_N, v, &sp, &err), LP_OK);
    assert_int_equal(sp.line, 3);
    assert_int_equal(sp.column, 1);
    assert_int_equal(v[K_HIDDEN].set, 1);
    assert_int_equal(v[K_HIDDEN].count, 3);
    assert_int_equal(v[K_HIDDEN].ints[0], 32);
    assert_int_equal(v[K_HIDDEN].ints[1], 16);
    assert_int_equal(v[K_HIDDEN].ints[2], 8);
    /* "  hidden: [32, 16, 8]" on line 5: the list at column 11, items at
     * 12, 16, 20; the key at column 3. */
    assert_int_equal(v[K_HIDDEN].key_pos.line, 5);
    assert_int_equal(v[K_HIDDEN].key_pos.column, 3);
    assert_int_equal(v[K_HIDDEN].pos.column, 11);
    assert_int_equal(v[K_HIDDEN].item_pos[1].line, 5);
    assert_int_equal(v[K_HIDDEN].item_pos[1].column, 16);
    assert_int_equal(v[K_HIDDEN].item_pos[2].column, 20);
    assert_string_equal(v[K_ACT].value.s, "relu");
    assert_int_equal(v[K_ACT].value.type, LP_PARAM_ENUM);
    assert_int_equal(v[K_ACT].pos.line, 6);
    assert_int_equal(v[K_ACT].pos.column, 15);
    assert_int_equal(v[K_SHARED].value.b, 0);
    assert_int_equal(v[K_SHARED].set, 1);
    assert_true(v[K_SEED].value.i == INT64_MAX);
    assert_true(v[K_LR].value.f == 10.0);
    assert_true(v[K_DROP].value.f == 0.0);
    assert_true(v[K_GAIN].value.f == 1e-300);
    assert_int_equal(v[K_DEPTH].value.i, -5);
    assert_string_equal(v[K_TAG].value.s, "abc");
    /* absent: the default, not set, no position */
    assert_int_equal(v[K_KIND].set, 0);
    assert_string_equal(v[K_KIND].value.s, "relu");
    assert_int_equal(v[K_KIND].pos.line, 0);
    assert_int_equal(v[K_KIND].key_pos.line, 0);
    lp_config_close(cfg);
}

static void test_defaults(void **state) {
    (void)state;
    /* model is absent: every default, the list's copied; env is a map. */
    lp_config *cfg = open_ok(HEAD "env: {num_envs: 2}\n");
    lp_config_value v[K_N];
    memset(v, 0xff, sizeof v);
    lp_config_pos sp = {5, 5};
    lp_error err = {0, ""};
    assert_int_equal(lp_config_read(cfg, "model", keys, K_N, v, &sp, &err), LP_OK);
    assert_int_equal(sp.line, 0);
    for (size_t i = 0; i < K_N; i++)
        assert_int_equal(v[i].set, 0);
    assert_int_equal(v[K_HIDDEN].count, 2);
    assert_ptr_not_equal(v[K_HIDDEN].ints, two64); /* a copy, config-owned */
    assert_int_equal(v[K_HIDDEN].ints[0], 64);
    assert_int_equal(v[K_HIDDEN].ints[1], 64);
    assert_null(v[K_HIDDEN].item_pos);
    assert_string_equal(v[K_ACT].value.s, "tanh");
    assert_int_equal(v[K_SHARED].value.b, 1);
    assert_int_equal(v[K_SEED].value.i, 7);
    assert_true(v[K_LR].value.f == 2.5e-4);
    assert_true(v[K_DROP].value.f == 0.5);
    assert_int_equal(v[K_DEPTH].value.i, 2);
    assert_string_equal(v[K_TAG].value.s, "none");
    /* an empty list is a list of none */
    lp_config_close(cfg);
    cfg = open_ok(HEAD "model: {hidden: []}\n");
    assert_int_equal(lp_config_read(cfg, "model", keys, K_N, v, NULL, &err), LP_OK);
    assert_int_equal(v[K_HIDDEN].set, 1);
    assert_int_equal(v[K_HIDDEN].count, 0);
    lp_config_close(cfg);
    /* a section the config's program.sections adds is the program's too */
    cfg = open_ok(HEAD "program: {sections: [extra]}\nextra: {seed: 2}\n");
    assert_int_equal(lp_config_read(cfg, "extra", keys, K_N, v, NULL, &err), LP_OK);
    assert_int_equal(v[K_SEED].value.i, 2);
    lp_config_close(cfg);
}

static void test_refusals(void **state) {
    (void)state;
    /* unknown keys: the nearest, or the list */
    read_err(HEAD "model: {hiden: [64]}\n",
             "3:9: unknown key 'hiden' in model; did you mean 'hidden'?");
    read_err(HEAD "model: {zzzzzzzz: 1}\n",
             "3:9: unknown key 'zzzzzzzz' in model; valid keys: hidden, activation, kind, shared, "
             "seed, lr, drop, gain, depth, tag");
    /* kinds */
    read_err(HEAD "model: [64, 64]\n",
             "3:8: model must be a mapping, found a list; write it as 'key: value' lines or "
             "{key: value}");
    read_err(HEAD "model: {hidden: 64}\n",
             "3:17: model.hidden must be a list, found a scalar; write it as '- item' lines or "
             "[a, b]");
    read_err(HEAD "model: {lr: [1]}\n",
             "3:13: model.lr must be a single value, found a list; write one value");
    /* types */
    read_err(HEAD "model: {lr: \"0.1\"}\n",
             "3:13: model.lr must be a number, found a quoted string; remove the quotes");
    read_err(HEAD "model: {lr: fast}\n",
             "3:13: model.lr must be a number, found 'fast'; write a number such as 0.5");
    read_err(HEAD "model: {seed: 1.5}\n",
             "3:15: model.seed must be an integer, found '1.5'; write a whole number such as 8");
    read_err(HEAD "model: {seed: }\n",
             "3:15: model.seed must be an integer, found an empty value; write a whole number "
             "such as 8");
    read_err(HEAD "model: {shared: yes}\n",
             "3:17: model.shared must be true or false, found 'yes'; write true or false");
    read_err(HEAD "model: {hidden: [64, x]}\n",
             "3:22: model.hidden[1] must be an integer, found 'x'; write a whole number such as "
             "8");
    /* choices: the key's own hint, or the nearest */
    read_err(HEAD "model: {activation: sigmoid}\n",
             "3:21: model.activation 'sigmoid' is not a choice; use tanh or relu");
    read_err(HEAD "model: {kind: rleu}\n",
             "3:15: model.kind 'rleu' is not a choice; did you mean 'relu'? (choices: tanh, "
             "relu)");
    /* ranges: inclusive, exclusive, one-sided; list items and length */
    read_err(HEAD "model: {hidden: [64, 0]}\n",
             "3:22: model.hidden[1] = 0 is out of range; use an integer in [1, 65536]");
    read_err(HEAD "model: {hidden: [1, 2, 3, 4]}\n",
             "3:17: model.hidden has 4 entries; use at most 3");
    read_err(HEAD "model: {lr: 0}\n", "3:13: model.lr = 0 is out of range; use a value in (0, 10]");
    read_err(HEAD "model: {lr: 10.000001}\n",
             "3:13: model.lr = 10.000001 is out of range; use a value in (0, 10]");
    read_err(HEAD "model: {drop: 1}\n",
             "3:15: model.drop = 1 is out of range; use a value in [0, 1)");
    read_err(HEAD "model: {drop: -0.1}\n",
             "3:15: model.drop = -0.1 is out of range; use a value in [0, 1)");
    read_err(HEAD "model: {gain: 0}\n", "3:15: model.gain = 0 is out of range; use a value > 0");
    read_err(HEAD "model: {seed: -1}\n",
             "3:15: model.seed = -1 is out of range; use an integer >= 0");
    read_err(HEAD "model: {depth: 9}\n",
             "3:16: model.depth = 9 is out of range; use an integer <= 8");
    read_err(HEAD "model: {seed: 99999999999999999999}\n",
             "3:15: model.seed = 99999999999999999999 is out of range; use an integer >= 0");
    /* the first error in file order */
    read_err(HEAD "model:\n  lr: 0\n  seed: -1\n",
             "4:7: model.lr = 0 is out of range; use a value in (0, 10]");
}

static void test_required(void **state) {
    (void)state;
    lp_config_key k = KEY(.name = "size", .type = LP_PARAM_INT, .flags = LP_PARAM_REQUIRED);
    lp_config *cfg = open_ok(HEAD "model: {}\n");
    lp_config_value v;
    lp_error err = {0, ""};
    assert_int_equal(lp_config_read(cfg, "model", &k, 1, &v, NULL, &err), LP_ECONFIG);
    char want[LP_ERROR_MAX + 600];
    snprintf(want, sizeof want,
             "%s:3:8: missing required key 'size' (an int) in model; add size: VALUE", path_buf);
    assert_string_equal(err.message, want);
    /* one value at a path: the same message, section and key from the path */
    assert_int_equal(lp_config_read_value(cfg, "model.size", &k, &v, &err), LP_ECONFIG);
    snprintf(want, sizeof want,
             "%s:1:1: missing required key 'size' (an int) in model; add size: VALUE", path_buf);
    assert_string_equal(err.message, want);
    /* a string or enum key with neither a default nor REQUIRED: refused,
     * rather than read as NULL when absent */
    lp_config_key s = KEY(.name = "kind", .type = LP_PARAM_STRING);
    assert_int_equal(lp_config_read(cfg, "model", &s, 1, &v, NULL, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_config_read: key 0 ('kind') is a string with no default_string and "
                        "not LP_PARAM_REQUIRED; give it a default or flag it required");
    s.spec.name = NULL; /* read_value: the path names it */
    s.spec.default_string = "plain";
    assert_int_equal(lp_config_read_value(cfg, "model.kind", &s, &v, &err), LP_OK);
    assert_string_equal(v.value.s, "plain");
    lp_config_close(cfg);
}

static void test_read_value_and_entries(void **state) {
    (void)state;
    lp_config *cfg = open_ok(HEAD "env:\n  num_envs: 2\n  physics: {gravity: \"9.8\"}\n"
                                  "  starts: [1, 2]\n  normalize_obs: true\n");
    lp_config_key b = KEY(.name = "normalize_obs", .type = LP_PARAM_BOOL);
    lp_config_value v;
    lp_error err = {0, ""};
    assert_int_equal(lp_config_read_value(cfg, "env.normalize_obs", &b, &v, &err), LP_OK);
    assert_int_equal(v.set, 1);
    assert_int_equal(v.value.b, 1);
    assert_int_equal(v.pos.line, 7);
    assert_int_equal(v.pos.column, 18);
    /* absent: the default */
    b.spec.default_bool = 1;
    assert_int_equal(lp_config_read_value(cfg, "env.nothing", &b, &v, &err), LP_OK);
    assert_int_equal(v.set, 0);
    assert_int_equal(v.value.b, 1);
    /* refused, named by its path */
    assert_int_equal(lp_config_read_value(cfg, "env.num_envs", &b, &v, &err), LP_ECONFIG);
    char want[LP_ERROR_MAX + 600];
    snprintf(want, sizeof want,
             "%s:4:13: env.num_envs must be true or false, found '2'; write true or false",
             path_buf);
    assert_string_equal(err.message, want);

    size_t n = 0;
    lp_config_pos sp;
    const lp_config_entry *e = lp_config_entries(cfg, "env", &n, &sp);
    assert_int_equal(sp.line, 3);
    assert_int_equal(n, 5);
    assert_string_equal(e[0].key, "num_envs");
    assert_string_equal(e[0].value, "2");
    assert_int_equal(e[0].line, 4);
    assert_int_equal(e[0].column, 13);
    assert_string_equal(e[1].key, "physics.gravity");
    assert_string_equal(e[1].value, "9.8");
    assert_int_equal(e[1].quoted, 1);
    assert_string_equal(e[2].key, "starts[0]");
    assert_string_equal(e[3].key, "starts[1]");
    assert_string_equal(e[4].key, "normalize_obs");
    assert_int_equal(e[4].quoted, 0);
    assert_null(lp_config_entries(cfg, "model", &n, &sp)); /* absent */
    assert_int_equal(n, 0);
    lp_config_close(cfg);
}

static void test_nodes_and_buffer(void **state) {
    (void)state;
    lp_config *cfg = open_ok("buffer: {segments: 6, horizon: 8, sample: transitions}\n"
                             "losses: [{plugin: ppo}]\n"
                             "program:\n  fields: {obs: \"f32[OBS]\", dones: u8}\n");
    lp_config_node n;
    assert_int_equal(lp_config_node_at(cfg, "buffer.segments", &n), LP_CONFIG_SCALAR);
    assert_string_equal(n.text, "6");
    assert_string_equal(n.key, "segments");
    assert_int_equal(n.key_pos.column, 10);
    assert_int_equal(n.pos.column, 20);
    assert_int_equal(lp_config_node_at(cfg, "program.fields", &n), LP_CONFIG_MAP);
    assert_int_equal(n.count, 2);
    assert_int_equal(lp_config_child(cfg, "program.fields", 1, &n), LP_CONFIG_SCALAR);
    assert_string_equal(n.key, "dones");
    assert_string_equal(n.text, "u8");
    assert_int_equal(n.key_pos.line, 4);
    assert_int_equal(n.key_pos.column, 29);
    assert_int_equal(lp_config_child(cfg, "program.fields", 2, &n), LP_CONFIG_ABSENT);
    assert_int_equal(lp_config_node_at(cfg, "losses.0.plugin", &n), LP_CONFIG_SCALAR);
    assert_string_equal(n.text, "ppo");
    assert_int_equal(lp_config_node_at(cfg, "losses.1", &n), LP_CONFIG_ABSENT);
    assert_int_equal(lp_config_node_at(cfg, "buffer.nothing", &n), LP_CONFIG_ABSENT);
    assert_null(n.text);

    lp_config_buffer b;
    memset(&b, 0xff, sizeof b);
    b.struct_size = sizeof b;
    lp_error err = {0, ""};
    assert_int_equal(lp_config_buffer_get(cfg, &b, &err), LP_OK);
    assert_int_equal(b.segments, 6);
    assert_int_equal(b.horizon, 8);
    assert_int_equal(b.minibatch_segments, 6); /* the default: segments */
    assert_int_equal(b.update_epochs, 1);
    assert_int_equal(b.sample, LP_SAMPLE_TRANSITIONS);
    b.struct_size = 8;
    assert_int_equal(lp_config_buffer_get(cfg, &b, &err), LP_EINVAL);
    /* lossplug's own sections are not read with a program's schema */
    lp_config_value v[K_N];
    assert_int_equal(lp_config_read(cfg, "buffer", keys, K_N, v, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "'buffer' is a lossplug section"));
    /* nor a section the program did not name (a typo in the program) */
    assert_int_equal(lp_config_read(cfg, "modle", keys, K_N, v, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "'modle' is not a section of the program"));
    lp_config_close(cfg);
}

static void test_struct_sizes_and_open(void **state) {
    (void)state;
    lp_config *cfg = open_ok(HEAD "model: {seed: 3}\n");
    lp_error err = {0, ""};
    /* a key array with a newer caller's larger stride is read by its stride */
    struct bigger {
        lp_config_key k;
        double future;
    } big[2];
    memset(big, 0, sizeof big);
    big[0].k = (lp_config_key)KEY(.name = "seed", .type = LP_PARAM_INT);
    big[1].k = (lp_config_key)KEY(.name = "lr", .type = LP_PARAM_FLOAT, .default_float = 0.5);
    big[0].k.struct_size = big[1].k.struct_size = sizeof big[0];
    lp_config_value v[2];
    assert_int_equal(lp_config_read(cfg, "model", &big[0].k, 2, v, NULL, &err), LP_OK);
    assert_int_equal(v[0].value.i, 3);
    assert_true(v[1].value.f == 0.5);
    /* a stride below this layout is refused */
    lp_config_key small = KEY(.name = "seed", .type = LP_PARAM_INT);
    small.struct_size = 8;
    assert_int_equal(lp_config_read(cfg, "model", &small, 1, v, NULL, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_config_key.struct_size is 8"));
    lp_config_close(cfg);

    /* open: the whole file is checked, an unowned section refused */
    int32_t rc;
    cfg = open_yaml(HEAD "modle: {}\n", &err, &rc);
    assert_int_equal(rc, LP_ECONFIG);
    assert_null(cfg);
    char want[LP_ERROR_MAX + 600];
    snprintf(want, sizeof want,
             "%s:3:1: unknown key 'modle' at the top level; did you mean 'model'?", path_buf);
    assert_string_equal(err.message, want);
    cfg = open_yaml("buffer: {segments: 0, horizon: 8}\nlosses: [{plugin: ppo}]\n", &err, &rc);
    assert_int_equal(rc, LP_ECONFIG);
    assert_non_null(strstr(err.message, "t.yaml:1:20: buffer.segments = 0 is out of range"));
    assert_int_equal(lp_config_open("/nonexistent/t.yaml", NULL, &cfg, &err), LP_EIO);
    assert_null(cfg);
    lp_config_options o;
    lp_config_options_init(&o);
    o.struct_size = 4;
    assert_int_equal(lp_config_open(path_buf, &o, &cfg, &err), LP_EINVAL);
    lp_config_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_section),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_read_value_and_entries),
        cmocka_unit_test(test_nodes_and_buffer),
        cmocka_unit_test(test_struct_sizes_and_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
