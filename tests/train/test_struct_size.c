/* One rule for caller structs (util/options.h), at every entry point that
 * takes one: lp_registry_open, lp_session_open, lp_train_run (options and
 * environment), lp_mlp_create, lp_mlp_model_create, lp_gru_model_create,
 * lp_adam_create. A caller built against the 1.0 layout (struct_size through
 * the 1.0 struct's last member) and a caller built against a newer, larger
 * layout (bytes past what this library knows, all nonzero) both work, and
 * read the same as a caller of this version; a struct_size below the 1.0
 * layout is refused. */
#include "train_test.h"

#include <lossplug/rnn.h>

#include <stdalign.h>

#define EXTRA 64 /* bytes a "newer" caller appends */
#define JUNK  0xA5

/* The caller's struct in a buffer of `size` bytes: the first min(size,
 * sizeof) bytes from `src`, junk past sizeof, struct_size = size. */
typedef struct caller_buf {
    alignas(max_align_t) unsigned char b[1024];
} caller_buf;

static void *as_caller(caller_buf *cb, const void *src, size_t known, size_t size) {
    assert_true(size <= sizeof cb->b);
    memset(cb->b, JUNK, sizeof cb->b);
    memcpy(cb->b, src, size < known ? size : known);
    uint32_t s = (uint32_t)size;
    memcpy(cb->b, &s, sizeof s);
    return cb->b;
}

#define SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((const type *)0)->member))

/* ---- registry ---------------------------------------------------------------- */

static size_t registry_count_with(size_t size, int32_t *rc_out) {
    const char *paths[] = {LP_TRAIN_PLUGINS};
    lp_registry_options o;
    lp_registry_options_init(&o);
    o.plugin_paths = paths;
    o.plugin_path_count = 1;
    o.use_env_path = 0;
    o.use_install_dir = 0;
    caller_buf cb;
    lp_registry *reg = NULL;
    lp_error err;
    *rc_out = lp_registry_open(as_caller(&cb, &o, sizeof o, size), &reg, &err);
    if (*rc_out != LP_OK)
        return 0;
    size_t n = lp_registry_loss_count(reg);
    lp_registry_close(reg);
    return n;
}

static void test_registry_sizes(void **state) {
    (void)state;
    int32_t rc;
    size_t now = registry_count_with(sizeof(lp_registry_options), &rc);
    assert_int_equal(rc, LP_OK);
    assert_true(now > 0);
    size_t v1 = registry_count_with(SIZE_THROUGH(lp_registry_options, log_user), &rc);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(v1, now);
    size_t newer = registry_count_with(sizeof(lp_registry_options) + EXTRA, &rc);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(newer, now);
    registry_count_with(SIZE_THROUGH(lp_registry_options, log_user) - 1, &rc);
    assert_int_equal(rc, LP_EINVAL);
}

/* ---- session ------------------------------------------------------------------ */

/* Everything from the config (the 1.0 options have no fields, outputs or
 * sections). */
static const char SESSION_YAML[] =
    "buffer: {segments: 4, horizon: 8}\n"
    "program:\n"
    "  observation: {dtype: f32, shape: [3]}\n"
    "  action: {dtype: i32, shape: [], num_actions: 2}\n"
    "  fields: {obs: \"f32[OBS]\", actions: i32, rewards: f32, dones: u8, values: f32, "
    "next_values: f32}\n"
    "  outputs: {logits: \"f32[NUM_ACTIONS]\", values: f32}\n"
    "losses:\n  - {name: g, plugin: gae}\n  - {name: v, plugin: value}\n";

static int32_t session_with(size_t size, lp_error *err) {
    const char *paths[] = {LP_TRAIN_PLUGINS};
    lp_session_options o;
    lp_session_options_init(&o);
    o.plugin_paths = paths;
    o.plugin_path_count = 1;
    o.use_env_path = 0;
    o.use_install_dir = 0;
    caller_buf cb;
    lp_session *s = NULL;
    memset(err, 0, sizeof *err);
    int32_t rc = lp_session_open_string(SESSION_YAML, strlen(SESSION_YAML), "t.yaml",
                                        as_caller(&cb, &o, sizeof o, size), &s, err);
    if (rc != LP_OK && size >= SIZE_THROUGH(lp_session_options, log_user))
        print_error("lp_session_open_string (struct_size %zu): %s\n", size, err->message);
    if (rc == LP_OK) {
        assert_non_null(s);
        assert_int_equal(lp_session_instance_count(s), 2);
        lp_session_close(s);
    }
    return rc;
}

static void test_session_sizes(void **state) {
    (void)state;
    lp_error err;
    size_t v1 = SIZE_THROUGH(lp_session_options, log_user);
    assert_true(v1 < sizeof(lp_session_options)); /* fields were added after 1.0 */
    assert_int_equal(session_with(sizeof(lp_session_options), &err), LP_OK);
    /* The 1.0 layout: replicas, fields, outputs and sections take their
     * defaults. */
    assert_int_equal(session_with(v1, &err), LP_OK);
    assert_int_equal(session_with(sizeof(lp_session_options) + EXTRA, &err), LP_OK);
    assert_int_equal(session_with(v1 - 1, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_session_open: options.struct_size is"));
    assert_non_null(strstr(err.message, "lp_session_options_init"));
}

/* ---- MLP, its adapter and Adam -------------------------------------------------- */

static void test_model_sizes(void **state) {
    (void)state;
    lp_mlp_options mo;
    lp_mlp_options_init(&mo);
    mo.obs_dim = 4;
    mo.num_actions = 2;
    size_t sizes[] = {SIZE_THROUGH(lp_mlp_options, critic_gain), sizeof mo + EXTRA};
    lp_error err;
    lp_mlp *ref = NULL;
    assert_int_equal(lp_mlp_create(&mo, &ref, &err), LP_OK);
    for (size_t k = 0; k < 2; k++) {
        caller_buf cb;
        lp_mlp *m = NULL;
        assert_int_equal(lp_mlp_create(as_caller(&cb, &mo, sizeof mo, sizes[k]), &m, &err), LP_OK);
        /* Same options, same seed: the same initial parameters. */
        assert_int_equal(lp_mlp_param_count(m), lp_mlp_param_count(ref));
        assert_memory_equal(lp_mlp_params(m), lp_mlp_params(ref),
                            lp_mlp_param_count(m) * sizeof(float));

        lp_adam_options ao;
        lp_adam_options_init(&ao);
        ao.lr = 0.125;
        caller_buf ab;
        lp_adam *a = NULL;
        size_t asize = k == 0 ? SIZE_THROUGH(lp_adam_options, max_grad_norm) : sizeof ao + EXTRA;
        assert_int_equal(
            lp_adam_create(as_caller(&ab, &ao, sizeof ao, asize), lp_mlp_param_count(m), &a, &err),
            LP_OK);
        assert_true(lp_adam_lr(a) == 0.125);

        lp_mlp_model_options po;
        lp_mlp_model_options_init(&po);
        po.obs_handle = 0;
        po.step = lp_adam_step_fn;
        po.step_user = a;
        caller_buf pb;
        lp_mlp_model *pm = NULL;
        size_t psize = k == 0 ? SIZE_THROUGH(lp_mlp_model_options, step_user) : sizeof po + EXTRA;
        int32_t rc = lp_mlp_model_create(m, as_caller(&pb, &po, sizeof po, psize), &pm, &err);
        if (rc != LP_OK)
            print_error("lp_mlp_model_create: %s\n", err.message);
        assert_int_equal(rc, LP_OK);
        lp_mlp_model_destroy(pm);
        lp_adam_destroy(a);
        lp_mlp_destroy(m);
    }
    /* Below the 1.0 layout: refused, with what to do. */
    caller_buf cb;
    lp_mlp *m = NULL;
    assert_int_equal(lp_mlp_create(as_caller(&cb, &mo, sizeof mo, 8), &m, &err), LP_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.message, "lp_mlp_options_init"));
    /* NULL options: refused by the same helper, with the init to call. */
    assert_int_equal(lp_mlp_create(NULL, &m, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_mlp_create: options are NULL: fill them with lp_mlp_options_init");
    lp_adam *a = NULL;
    assert_int_equal(lp_adam_create(NULL, 4, &a, &err), LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_adam_create: options are NULL: fill them with lp_adam_options_init");
    lp_mlp_model *pm = NULL;
    assert_int_equal(lp_mlp_model_create(ref, NULL, &pm, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_mlp_model_create: options are NULL: fill them with "
                                     "lp_mlp_model_options_init");
    assert_null(pm);
    lp_mlp_destroy(ref);
}

/* The recurrent model's adapter: its options grew bind_later after 1.0. */
static void test_gru_adapter_sizes(void **state) {
    (void)state;
    lp_gru_options go;
    lp_gru_options_init(&go);
    go.obs_dim = 4;
    go.num_actions = 2;
    go.encoder = 4;
    go.memory = 4;
    lp_gru *g = NULL;
    lp_error err;
    assert_int_equal(lp_gru_create(&go, &g, &err), LP_OK);
    lp_gru_model_options ao;
    lp_gru_model_options_init(&ao);
    ao.obs_handle = 0;
    ao.step = lp_adam_step_fn;
    size_t v1 = SIZE_THROUGH(lp_gru_model_options, step_user);
    assert_true(v1 < sizeof ao);
    size_t sizes[] = {v1, sizeof ao + EXTRA};
    for (size_t k = 0; k < 2; k++) {
        caller_buf cb;
        lp_gru_model *a = NULL;
        int32_t rc = lp_gru_model_create(g, as_caller(&cb, &ao, sizeof ao, sizes[k]), &a, &err);
        if (rc != LP_OK)
            print_error("lp_gru_model_create: %s\n", err.message);
        assert_int_equal(rc, LP_OK);
        lp_gru_model_destroy(a);
    }
    /* The 1.0 layout has no bind_later: obs_handle is required, as before. */
    ao.obs_handle = -1;
    ao.bind_later = 1;
    caller_buf cb;
    lp_gru_model *a = NULL;
    assert_int_equal(lp_gru_model_create(g, as_caller(&cb, &ao, sizeof ao, v1), &a, &err),
                     LP_EINVAL);
    assert_int_equal(lp_gru_model_create(g, as_caller(&cb, &ao, sizeof ao, sizeof ao), &a, &err),
                     LP_OK);
    lp_gru_model_destroy(a);
    a = NULL;
    assert_int_equal(lp_gru_model_create(g, as_caller(&cb, &ao, sizeof ao, 8), &a, &err),
                     LP_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.message, "lp_gru_model_options_init"));
    assert_int_equal(lp_gru_model_create(g, NULL, &a, &err), LP_EINVAL);
    assert_string_equal(err.message, "lp_gru_model_create: options are NULL: fill them with "
                                     "lp_gru_model_options_init");
    lp_gru_destroy(g);
}

/* ---- the training loop ----------------------------------------------------------- */

static int32_t train_with(size_t opt_size, size_t env_size, lp_train_outcome *out, lp_error *err) {
    cartpole_lp cp;
    lp_env env;
    cartpole_lp_init(&cp, &env);
    const char *paths[] = {LP_TRAIN_PLUGINS};
    lp_train_options opt;
    lp_train_options_init(&opt);
    opt.plugin_paths = paths;
    opt.plugin_path_count = 1;
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    opt.seed_set = 1;
    opt.seed = 5;
    opt.max_steps = 1024;
    caller_buf ob, eb;
    memset(err, 0, sizeof *err);
    int32_t rc =
        lp_train_run(LP_TRAIN_EXAMPLES "/ppo.yaml", as_caller(&ob, &opt, sizeof opt, opt_size),
                     as_caller(&eb, &env, sizeof env, env_size), out, err);
    cartpole_lp_free(&cp);
    return rc;
}

static void test_train_sizes(void **state) {
    (void)state;
    lp_error err;
    lp_train_outcome now, v1, newer;
    assert_int_equal(train_with(sizeof(lp_train_options), sizeof(lp_env), &now, &err), LP_OK);
    assert_int_equal(
        train_with(SIZE_THROUGH(lp_train_options, comm), SIZE_THROUGH(lp_env, restore), &v1, &err),
        LP_OK);
    assert_int_equal(
        train_with(sizeof(lp_train_options) + EXTRA, sizeof(lp_env) + EXTRA, &newer, &err), LP_OK);
    /* Seeded: the three runs are the same run. */
    assert_int_equal(now.env_steps, 1024);
    assert_int_equal(v1.env_steps, now.env_steps);
    assert_int_equal(newer.env_steps, now.env_steps);
    assert_int_equal(v1.epochs, now.epochs);
    assert_int_equal(newer.epochs, now.epochs);
    assert_int_equal(train_with(8, sizeof(lp_env), &now, &err), LP_EINVAL);
    assert_non_null(strstr(err.message, "lp_train_run: options.struct_size is 8"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_sizes), cmocka_unit_test(test_session_sizes),
        cmocka_unit_test(test_model_sizes),    cmocka_unit_test(test_gru_adapter_sizes),
        cmocka_unit_test(test_train_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
