/* program.action (ABI 1.1 action spaces): the config's three spellings,
 * every refusal with its position, the lp_env_info the session fills (from
 * the config or from lp_session_options.env), LP_DIM_POLICY in shapes, and
 * the refusal of a 1.0 policy plugin on a non-discrete space. */
#include "session_test.h"

#define BUF "buffer: {segments: 4, horizon: 2}\n"
#define OBS "  observation: {dtype: f32, shape: [3]}\n"
#define REST                                                                                       \
    "  fields: {obs: \"f32[OBS]\", actions: \"%s\", teacher: \"f32[POLICY]\"}\n"                   \
    "  outputs: {logits: \"f32[POLICY]\", values: f32}\n"                                          \
    "losses: [{name: p, plugin: probe}]\n"

static char g_yaml[2048];

static const char *cfg(const char *action, const char *actions_type) {
    char rest[512];
    snprintf(rest, sizeof rest, REST, actions_type);
    snprintf(g_yaml, sizeof g_yaml, BUF "program:\n" OBS "  action: %s\n%s", action, rest);
    return g_yaml;
}

static void test_discrete(void **state) {
    (void)state;
    lp_session *s = open_ok(cfg("{dtype: i32, shape: [], num_actions: 5}", "i32"));
    const lp_env_info *e = lp_session_env(s);
    assert_int_equal(e->action_space, LP_ACTION_DISCRETE);
    assert_int_equal(e->action_dims, 1);
    assert_int_equal(e->num_actions, 5);
    assert_int_equal(e->policy_width, 5);
    assert_null(e->action_nvec);
    assert_null(e->action_low);
    assert_int_equal(lp_session_output_at(s, 0)->shape[0], 5);
    lp_session_close(s);
}

static void test_multi_discrete(void **state) {
    (void)state;
    lp_session *s = open_ok(cfg("{dtype: i32, shape: [3], nvec: [4, 3, 2]}", "i32[ACTION]"));
    const lp_env_info *e = lp_session_env(s);
    assert_int_equal(e->action_space, LP_ACTION_MULTI_DISCRETE);
    assert_int_equal(e->action_dims, 3);
    assert_non_null(e->action_nvec);
    assert_int_equal(e->action_nvec[0], 4);
    assert_int_equal(e->action_nvec[2], 2);
    assert_int_equal(e->num_actions, 9);
    assert_int_equal(e->policy_width, 9);
    assert_null(e->action_low);
    assert_int_equal(lp_session_output_at(s, 0)->shape[0], 9); /* POLICY */
    const lp_field_info *t = lp_session_field_at(s, (size_t)lp_session_field_handle(s, "teacher"));
    assert_int_equal(t->shape[0], 9);
    const lp_field_info *a = lp_session_field_at(s, (size_t)lp_session_field_handle(s, "actions"));
    assert_int_equal(a->rank, 1);
    assert_int_equal(a->shape[0], 3);
    lp_session_close(s);
}

static void test_box(void **state) {
    (void)state;
    lp_session *s =
        open_ok(cfg("{dtype: f32, shape: [2], low: [-2.0, -.inf], high: 2}", "f32[ACTION]"));
    const lp_env_info *e = lp_session_env(s);
    assert_int_equal(e->action_space, LP_ACTION_BOX);
    assert_int_equal(e->action_dims, 2);
    assert_int_equal(e->num_actions, 0);
    assert_int_equal(e->policy_width, 4);
    assert_null(e->action_nvec);
    assert_true(e->action_low[0] == -2.0f && e->action_low[1] == -INFINITY);
    assert_true(e->action_high[0] == 2.0f && e->action_high[1] == 2.0f);
    assert_int_equal(lp_session_output_at(s, 0)->shape[0], 4);
    lp_session_close(s);
    /* No bounds: unbounded; the 1.0 spelling (no num_actions) is a box. */
    s = open_ok(cfg("{dtype: f32, shape: []}", "f32"));
    e = lp_session_env(s);
    assert_int_equal(e->action_space, LP_ACTION_BOX);
    assert_int_equal(e->action_dims, 1);
    assert_true(e->action_low[0] == -INFINITY && e->action_high[0] == INFINITY);
    assert_int_equal(e->policy_width, 2);
    lp_session_close(s);
}

static void test_config_errors(void **state) {
    (void)state;
    /* line 4 is the action; its map starts at column 11 */
    open_err(cfg("{dtype: i32, shape: [2], num_actions: 3, nvec: [2, 2]}", "i32"), LP_ECONFIG,
             "t.yaml:4:52: program.action gives both num_actions and nvec; keep num_actions for "
             "one discrete choice, or nvec for several (multi-discrete)");
    open_err(cfg("{dtype: i32, shape: [3], nvec: [2, 2]}", "i32"), LP_ECONFIG,
             "t.yaml:4:31: program.action.shape has 3 components but nvec has 2 counts; make "
             "shape [2] (one component per count)");
    open_err(cfg("{dtype: i32, shape: [0], nvec: []}", "i32"), LP_ECONFIG,
             "t.yaml:4:32: program.action.shape[0] = 0 is out of range; use an integer in [1, "
             "2147483648]");
    open_err(cfg("{dtype: i32, shape: [1], nvec: []}", "i32"), LP_ECONFIG,
             "t.yaml:4:42: program.action.nvec is empty; give one count (>= 1) per component, "
             "e.g. nvec: [4, 3]");
    open_err(cfg("{dtype: i32, shape: [2], nvec: [2, 0]}", "i32"), LP_ECONFIG,
             "t.yaml:4:46: program.action.nvec[1] = 0 is out of range; use an integer in [1, "
             "2147483648]");
    open_err(cfg("{dtype: f32, shape: [2], nvec: [2, 2]}", "i32"), LP_ECONFIG,
             "t.yaml:4:19: program.action.dtype is f32, but a multi-discrete action is i32; "
             "write dtype: i32");
    open_err(cfg("{dtype: i32, shape: [], num_actions: 2, low: -1}", "i32"), LP_ECONFIG,
             "t.yaml:4:51: program.action.low bounds a continuous (box) action, but this one is "
             "discrete (num_actions); remove low/high, or remove num_actions for a box");
    open_err(cfg("{dtype: i32, shape: [1]}", "i32"), LP_ECONFIG,
             "t.yaml:4:19: program.action.dtype is i32, but a continuous (box) action is f32; "
             "write dtype: f32, or give num_actions (discrete) or nvec (multi-discrete)");
    open_err(cfg("{dtype: f32, shape: [2], low: [-1, -1, -1]}", "f32[2]"), LP_ECONFIG,
             "t.yaml:4:41: program.action.low has 3 numbers but the action has 2 dimensions; "
             "give 2 numbers, or one number for all of them");
    open_err(cfg("{dtype: f32, shape: [2], low: [-1, x]}", "f32[2]"), LP_ECONFIG,
             "t.yaml:4:46: program.action.low[1] is not a bound; write a number (or .inf / "
             "-.inf)");
    open_err(cfg("{dtype: f32, shape: [2], low: [0, 1], high: [1, 1]}", "f32[2]"), LP_ECONFIG,
             "t.yaml:4:55: program.action: dimension 1 has low 1 >= high 1; make each low "
             "smaller than its high");
    open_err(cfg("{dtype: f32, shape: [1], high: big}", "f32[1]"), LP_ECONFIG,
             "t.yaml:4:42: program.action.high 'big' is not a bound; write a number (or .inf / "
             "-.inf) for every dimension, or a list of 1 numbers");
    open_err(cfg("{dtype: f32, shape: [1], hi: 1}", "f32[1]"), LP_ECONFIG,
             "t.yaml:4:36: unknown key 'hi' in program.action; valid keys: dtype, shape, "
             "num_actions, nvec, low, high");
}

/* The same three spaces declared by a C program through the options. */
static lp_session *open_opt(const lp_env_info *env, const char *actions_type, lp_error *err,
                            int32_t *rc) {
    lp_session_options opt;
    test_options(&opt);
    opt.env = *env;
    opt.env_set = 1;
    static char y[1024];
    snprintf(
        y, sizeof y,
        BUF
        "program:\n  fields: {obs: \"f32[OBS]\", actions: \"%s\"}\n"
        "  outputs: {logits: \"f32[POLICY]\", values: f32}\nlosses: [{name: p, plugin: probe}]\n",
        actions_type);
    lp_session *s = NULL;
    *rc = open_yaml_opt(y, &opt, &s, err);
    return s;
}

static void test_options_env(void **state) {
    (void)state;
    lp_env_info e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.obs_dtype = LP_DTYPE_F32;
    e.obs_rank = 1;
    e.obs_shape[0] = 3;
    e.action_dtype = LP_DTYPE_I32;
    e.action_rank = 1;
    e.action_shape[0] = 2;
    int64_t nvec[2] = {3, 5};
    e.action_space = LP_ACTION_MULTI_DISCRETE;
    e.action_dims = 2;
    e.action_nvec = nvec;
    lp_error err;
    int32_t rc;
    lp_session *s = open_opt(&e, "i32[ACTION]", &err, &rc);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    nvec[0] = 99; /* copied: the session does not keep the program's array */
    const lp_env_info *se = lp_session_env(s);
    assert_int_equal(se->action_nvec[0], 3);
    assert_int_equal(se->num_actions, 8);
    assert_int_equal(se->policy_width, 8);
    assert_int_equal(lp_session_output_at(s, 0)->shape[0], 8);
    lp_session_close(s);
    nvec[0] = 0;
    s = open_opt(&e, "i32[ACTION]", &err, &rc);
    assert_int_equal(rc, LP_EINVAL);
    assert_string_equal(err.message, "lp_session_options.env: action_nvec[0] is 0; give counts "
                                     ">= 1 whose sum is at most 2^31");
    nvec[0] = 3;
    e.action_dims = 3;
    s = open_opt(&e, "i32[ACTION]", &err, &rc);
    assert_int_equal(rc, LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_options.env: a multi-discrete action needs action_nvec with "
                        "action_dims counts, one per value of the action shape (2); action_dims "
                        "is 3");

    float lo[2] = {-1.0f, -2.0f}, hi[2] = {1.0f, 2.0f};
    memset(&e.action_space, 0, sizeof e - offsetof(lp_env_info, action_space));
    e.action_dtype = LP_DTYPE_F32;
    e.action_space = LP_ACTION_BOX;
    e.action_dims = 2;
    e.action_low = lo;
    e.action_high = hi;
    s = open_opt(&e, "f32[ACTION]", &err, &rc);
    assert_int_equal(rc, LP_OK);
    lo[0] = 5.0f;
    se = lp_session_env(s);
    assert_true(se->action_low[0] == -1.0f && se->action_high[1] == 2.0f);
    assert_int_equal(se->policy_width, 4);
    assert_int_equal(se->num_actions, 0);
    lp_session_close(s);
    s = open_opt(&e, "f32[ACTION]", &err, &rc); /* low 5 > high 1 */
    assert_int_equal(rc, LP_EINVAL);
    assert_string_equal(err.message, "lp_session_options.env: action dimension 0 has low 5 >= "
                                     "high 1 (or a NaN); make each low smaller than its high");
    e.action_space = 7;
    s = open_opt(&e, "f32[ACTION]", &err, &rc);
    assert_int_equal(rc, LP_EINVAL);
    assert_string_equal(err.message,
                        "lp_session_options.env: action_space 7 is not an lp_action_space; use "
                        "LP_ACTION_DISCRETE, LP_ACTION_MULTI_DISCRETE or LP_ACTION_BOX");
    /* A program that fills only the 1.0 part: discrete with num_actions. */
    memset(&e.action_space, 0, sizeof e - offsetof(lp_env_info, action_space));
    e.struct_size = (uint32_t)offsetof(lp_env_info, action_space);
    e.action_dtype = LP_DTYPE_I32;
    e.action_rank = 0;
    e.num_actions = 6;
    s = open_opt(&e, "i32", &err, &rc);
    assert_int_equal(rc, LP_OK);
    se = lp_session_env(s);
    assert_int_equal(se->action_space, LP_ACTION_DISCRETE);
    assert_int_equal(se->action_dims, 1);
    assert_int_equal(se->policy_width, 6);
    assert_true(se->struct_size == sizeof(lp_env_info));
    lp_session_close(s);
}

/* Config and options both declare: the spaces must agree. */
static void test_options_disagree(void **state) {
    (void)state;
    lp_session_options opt;
    test_options(&opt);
    opt.env_set = 1;
    opt.env.obs_dtype = LP_DTYPE_F32;
    opt.env.obs_rank = 1;
    opt.env.obs_shape[0] = 3;
    opt.env.action_dtype = LP_DTYPE_F32;
    opt.env.action_rank = 1;
    opt.env.action_shape[0] = 2;
    float lo[2] = {-1.0f, -1.0f}, hi[2] = {1.0f, 3.0f};
    opt.env.action_space = LP_ACTION_BOX;
    opt.env.action_dims = 2;
    opt.env.action_low = lo;
    opt.env.action_high = hi;
    lp_session *s = NULL;
    lp_error err;
    assert_int_equal(open_yaml_opt(cfg("{dtype: f32, shape: [2], low: -1, high: 1}", "f32[ACTION]"),
                                   &opt, &s, &err),
                     LP_ECONFIG);
    assert_string_equal(err.message,
                        "t.yaml:4:3: program.action is box, 2 dimensions, low [-1, -1], high [1, "
                        "1] (policy output: 4 = means then log-stds of a diagonal Gaussian) here "
                        "but box, 2 dimensions, low [-1, -1], high [1, 3] (policy output: 4 = "
                        "means then log-stds of a diagonal Gaussian) in lp_session_options.env; "
                        "make the two agree (or declare the environment in one place only)");
    hi[1] = 1.0f;
    assert_int_equal(open_yaml_opt(cfg("{dtype: f32, shape: [2], low: -1, high: 1}", "f32[ACTION]"),
                                   &opt, &s, &err),
                     LP_OK);
    lp_session_close(s);
}

/* A 1.0 plugin that needs "logits": runs on a discrete action, refused on
 * the others with a message that says why and how to fix. */
static void test_old_plugin(void **state) {
    (void)state;
    static const char *const losses = "losses: [{name: old, plugin: old_policy}]\n";
    char y[1024];
    snprintf(y, sizeof y,
             BUF "program:\n" OBS "  action: {dtype: i32, shape: [], num_actions: 2}\n"
                 "  fields: {obs: \"f32[OBS]\", actions: i32}\n"
                 "  outputs: {logits: \"f32[NUM_ACTIONS]\"}\n%s",
             losses);
    lp_session_options opt0;
    test_options(&opt0);
    static const char *const paths0[] = {LP_SESSION_PLUGINS, LP_SESSION_TMP "/plugins_old"};
    opt0.plugin_paths = paths0;
    opt0.plugin_path_count = 2;
    lp_session *s = NULL;
    lp_error err0;
    assert_int_equal(open_yaml_opt(y, &opt0, &s, &err0), LP_OK);
    assert_int_equal(lp_session_instance_count(s), 1);
    lp_session_close(s);
    snprintf(y, sizeof y,
             BUF "program:\n" OBS "  action: {dtype: f32, shape: [1], low: -2, high: 2}\n"
                 "  fields: {obs: \"f32[OBS]\", actions: \"f32[ACTION]\"}\n"
                 "  outputs: {logits: \"f32[POLICY]\"}\n%s",
             losses);
    lp_error err;
    lp_session_options opt;
    test_options(&opt);
    static const char *const paths[] = {LP_SESSION_PLUGINS, LP_SESSION_TMP "/plugins_old"};
    opt.plugin_paths = paths;
    opt.plugin_path_count = 2;
    assert_int_equal(open_yaml_opt(y, &opt, &s, &err), LP_ECONFIG);
    assert_non_null(strstr(err.message, "t.yaml:7:10: instance 'old': plugin old_policy ("));
    assert_non_null(strstr(err.message,
                           ") was built for ABI 1.0, which predates action spaces: it would read "
                           "the 'box' action's policy output as softmax logits; rebuild it "
                           "against lossplug/abi.h 1.1 (and handle lp_env_info.action_space), or "
                           "use a discrete action"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discrete),    cmocka_unit_test(test_multi_discrete),
        cmocka_unit_test(test_box),         cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_options_env), cmocka_unit_test(test_options_disagree),
        cmocka_unit_test(test_old_plugin),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tlog_reset();
    return rc;
}
