/* The merged experience spec: what it holds, and every refusal, each with
 * its exact message naming both declarers and their config positions. */
#include "session_test.h"

#define HEAD "buffer: {segments: 4, horizon: 2}\n" PROG "losses:\n"

static void test_merged(void **state) {
    (void)state;
    lp_session *s = open_ok(HEAD "  - {name: gae, plugin: probe, params: {reads: \"rewards:f32,"
                                 "values:f32\", writes: \"advantages:f32,returns:f32\"}}\n"
                                 "  - {name: ppo, plugin: probe, params: {reads: \"obs:f32[OBS],"
                                 "actions:i32,advantages:f32\", opt_reads: \"teacher:f32[2]\"}}\n"
                                 "  - {name: critic, plugin: probe, params: {reads: "
                                 "\"returns:f32\"}}\n");
    static const char *const names[] = {"obs",    "actions",    "rewards",
                                        "values", "advantages", "returns"};
    static const char *const writers[] = {"program", "program", "program", "program", "gae", "gae"};
    static const char *const readers[] = {"ppo", "ppo", "gae", "gae", "ppo", "critic"};
    assert_int_equal(lp_session_field_count(s), 6);
    for (size_t i = 0; i < 6; i++) {
        const lp_field_info *f = lp_session_field_at(s, i);
        assert_string_equal(f->name, names[i]);
        assert_string_equal(f->writer, writers[i]);
        assert_string_equal(f->readers, readers[i]);
        assert_int_equal(lp_session_field_handle(s, names[i]), (int32_t)i);
    }
    const lp_field_info *obs = lp_session_field_at(s, 0);
    assert_int_equal(obs->dtype, LP_DTYPE_F32);
    assert_int_equal(obs->rank, 1);
    assert_int_equal(obs->shape[0], 3); /* OBS resolved */
    assert_int_equal(obs->write_phase, LP_PHASE_ROLLOUT);
    assert_int_equal(lp_session_field_at(s, 4)->write_phase, LP_PHASE_TRAIN);
    /* An optional read nobody writes: not in the buffer, handle -1. */
    assert_int_equal(lp_session_field_handle(s, "teacher"), -1);
    assert_int_equal(lp_session_output_count(s), 2);
    const lp_decl *logits = lp_session_output_at(s, 0);
    assert_string_equal(logits->name, "logits");
    assert_int_equal(logits->rank, 1);
    assert_int_equal(logits->shape[0], 2); /* NUM_ACTIONS */
    assert_int_equal(lp_session_instance_count(s), 3);
    assert_string_equal(lp_session_instance_name(s, 2), "critic");
    assert_string_equal(lp_session_instance_plugin(s, 2), "probe");
    lp_session_close(s);
}

static void test_clash_with_program(void **state) {
    (void)state;
    open_err(HEAD "  - {name: p, plugin: probe, params: {reads: \"obs:f32[4]\"}}\n", LP_ESPEC,
             "t.yaml:8:5: field 'obs' clashes: instance 'p' (plugin probe, t.yaml:8:5) declares "
             "it f32[4], the program (t.yaml:5:12) declares it f32[3]; make both declare the "
             "same dtype and shape");
    open_err(HEAD "  - {name: p, plugin: probe, params: {reads: \"rewards:f64\"}}\n", LP_ESPEC,
             "t.yaml:8:5: field 'rewards' clashes: instance 'p' (plugin probe, t.yaml:8:5) "
             "declares it f64, the program (t.yaml:5:43) declares it f32; make both declare the "
             "same dtype and shape");
}

static void test_clash_between_instances(void **state) {
    (void)state;
    open_err(HEAD "  - {name: p, plugin: probe, params: {opt_reads: \"adv:f32[2]\"}}\n"
                  "  - name: q\n"
                  "    plugin: probe\n"
                  "    params: {writes: \"adv:f32\"}\n",
             LP_ESPEC,
             "t.yaml:9:5: field 'adv' clashes: instance 'q' (plugin probe, t.yaml:9:5) declares "
             "it f32, instance 'p' (plugin probe, t.yaml:8:5) declares it f32[2]; make both "
             "declare the same dtype and shape");
}

static void test_read_by_nobody(void **state) {
    (void)state;
    open_err(HEAD "  - {name: p, plugin: probe, params: {reads: \"advantages:f32\"}}\n", LP_ESPEC,
             "t.yaml:8:5: field 'advantages' is read by instance 'p' (plugin probe, t.yaml:8:5) "
             "in the rollout and train phase, but nobody writes it; declare it in program.fields "
             "(the program writes it at rollout) or add a loss that writes it");
}

static void test_written_by_two(void **state) {
    (void)state;
    open_err(HEAD "  - {name: p, plugin: probe, params: {writes: \"adv:f32\"}}\n"
                  "  - {name: q, plugin: probe, params: {writes: \"adv:f32\"}}\n",
             LP_ESPEC,
             "t.yaml:9:5: field 'adv' is written by two: instance 'q' (plugin probe, t.yaml:9:5) "
             "in the train phase and instance 'p' (plugin probe, t.yaml:8:5) in the train phase; "
             "each field has one writer: remove the write from one of them (or rename the "
             "field)");
    open_err(HEAD "  - {name: p, plugin: probe, params: {rollout_writes: \"rewards:f32\"}}\n",
             LP_ESPEC,
             "t.yaml:8:5: field 'rewards' is written by two: instance 'p' (plugin probe, "
             "t.yaml:8:5) in the rollout phase and the program (t.yaml:5:43) in the rollout "
             "phase; each field has one writer: remove the write from one of them (or rename "
             "the field)");
}

static void test_output_missing(void **state) {
    (void)state;
    open_err("buffer: {segments: 4, horizon: 2}\n"
             "program:\n"
             "  observation: {dtype: f32, shape: [3]}\n"
             "  action: {dtype: i32, shape: [], num_actions: 2}\n"
             "  fields: {obs: \"f32[OBS]\"}\n"
             "  outputs: {logits: \"f32[NUM_ACTIONS]\"}\n"
             "losses:\n"
             "  - {name: p, plugin: probe}\n",
             LP_ESPEC,
             "t.yaml:8:5: instance 'p' (plugin probe, t.yaml:8:5) needs model output 'values', "
             "which the model lacks (it has: logits); declare 'values' in program.outputs (or "
             "remove this loss)");
}

static void test_program_declarations(void **state) {
    (void)state;
    open_err("buffer: {segments: 4, horizon: 2}\nlosses: [{plugin: probe}]\n", LP_ECONFIG,
             "t.yaml:1:1: no environment is declared; add program: {observation: {dtype: f32, "
             "shape: [4]}, action: {dtype: i32, shape: [], num_actions: 2}} to the config (see "
             "docs/config.md), or set lp_session_options.env and env_set");
    open_err("buffer: {segments: 4, horizon: 2}\n"
             "program:\n"
             "  observation: {dtype: f32, shape: [3]}\n"
             "  action: {dtype: i32, shape: [], num_actions: 2}\n"
             "losses: [{plugin: probe}]\n",
             LP_ECONFIG,
             "t.yaml:1:1: the fields the program writes are not declared; add program: {fields: "
             "{obs: \"f32[OBS]\", actions: i32, ...}} to the config (see docs/config.md), or "
             "pass lp_session_options.fields");
    open_err("buffer: {segments: 4, horizon: 2}\n"
             "program:\n"
             "  observation: {dtype: f32, shape: [3]}\n"
             "  action: {dtype: f32, shape: [2]}\n"
             "  fields: {logits: \"f32[NUM_ACTIONS]\"}\n"
             "  outputs: {}\n"
             "losses: [{plugin: probe}]\n",
             LP_ECONFIG,
             "t.yaml:5:12: program.fields.logits f32[NUM_ACTIONS]: NUM_ACTIONS is 0 (the actions "
             "are continuous); use a fixed size");

    /* The options and the config both declare: they must agree. */
    lp_session_options opt;
    test_options(&opt);
    lp_decl fields[] = {{"obs", LP_DTYPE_F32, 1, {8}}, {"actions", LP_DTYPE_I32, 0, {0}}};
    opt.fields = fields;
    opt.field_count = 2;
    lp_session *s = NULL;
    lp_error err;
    const char *yaml = HEAD "  - {name: p, plugin: probe}\n";
    assert_int_equal(open_yaml_opt(yaml, &opt, &s, &err), LP_ECONFIG);
    assert_string_equal(err.message,
                        "t.yaml:5:12: program.fields.obs is f32[3] here but f32[8] in "
                        "lp_session_options.fields; make the two agree (or declare them in one "
                        "place only)");
    fields[0].shape[0] = LP_DIM_OBS;
    assert_int_equal(open_yaml_opt(yaml, &opt, &s, &err), LP_ECONFIG);
    assert_string_equal(err.message,
                        "t.yaml:5:43: program.fields declares 'rewards', which "
                        "lp_session_options.fields lacks; make the two agree (or declare them in "
                        "one place only)");
    /* Options alone are enough. */
    lp_decl outs[] = {{"values", LP_DTYPE_F32, 0, {0}}};
    opt.outputs = outs;
    opt.output_count = 1;
    opt.env_set = 1;
    opt.env.obs_dtype = LP_DTYPE_F32;
    opt.env.obs_rank = 1;
    opt.env.obs_shape[0] = 5;
    opt.env.action_dtype = LP_DTYPE_I32;
    opt.env.num_actions = 3;
    assert_int_equal(open_yaml_opt("buffer: {segments: 2, horizon: 2}\nlosses: [{plugin: "
                                   "probe, params: {reads: \"obs:f32[5]\"}}]\n",
                                   &opt, &s, &err),
                     LP_OK);
    assert_int_equal(lp_session_field_at(s, 0)->shape[0], 5);
    assert_int_equal(lp_session_env(s)->segments, 2);
    lp_session_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_merged, teardown_log),
        cmocka_unit_test_teardown(test_clash_with_program, teardown_log),
        cmocka_unit_test_teardown(test_clash_between_instances, teardown_log),
        cmocka_unit_test_teardown(test_read_by_nobody, teardown_log),
        cmocka_unit_test_teardown(test_written_by_two, teardown_log),
        cmocka_unit_test_teardown(test_output_missing, teardown_log),
        cmocka_unit_test_teardown(test_program_declarations, teardown_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
