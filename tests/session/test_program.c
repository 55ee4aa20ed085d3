/* The config's `program` section and buffer.shuffle (host/config), on the
 * parser alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"

#include <string.h>

#define BUF "buffer: {segments: 4, horizon: 2}\nlosses: [{plugin: ppo}]\n"

static lp__config *parse_ok(const char *text) {
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    int32_t rc = lp__config_parse_string(text, strlen(text), "t.yaml", NULL, &cfg, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    return cfg;
}

static void parse_err(const char *text, const char *msg) {
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    assert_int_equal(lp__config_parse_string(text, strlen(text), "t.yaml", NULL, &cfg, &err),
                     LP_ECONFIG);
    assert_string_equal(err.message, msg);
    assert_null(cfg);
}

static void test_program(void **state) {
    (void)state;
    lp__config *cfg = parse_ok(
        BUF "program:\n"
            "  observation: {dtype: f32, shape: [4, 2]}\n"
            "  action: {dtype: i32, shape: [], num_actions: 2}\n"
            "  fields: {obs: \"f32[OBS]\", actions: i32, x: \" u8 [ 3 , NUM_ACTIONS ] \"}\n"
            "  outputs: {logits: \"f32[NUM_ACTIONS]\"}\n");
    const lp__program_cfg *p = &cfg->program;
    assert_int_equal(p->pos.line, 3);
    assert_true(p->has_env);
    assert_int_equal(p->env.obs_rank, 2);
    assert_int_equal(p->env.obs_shape[1], 2);
    assert_int_equal(p->env.num_actions, 2);
    assert_int_equal(p->field_count, 3);
    assert_string_equal(p->fields[0].decl.name, "obs");
    assert_int_equal(p->fields[0].decl.rank, 1);
    assert_int_equal(p->fields[0].decl.shape[0], LP_DIM_OBS);
    assert_int_equal(p->fields[1].decl.rank, 0);
    assert_int_equal(p->fields[2].decl.dtype, LP_DTYPE_U8);
    assert_int_equal(p->fields[2].decl.shape[1], LP_DIM_NUM_ACTIONS);
    assert_int_equal(p->fields[0].pos.key.line, 6);
    assert_int_equal(p->fields[0].pos.key.col, 12);
    assert_int_equal(p->output_count, 1);
    assert_int_equal(cfg->buffer.shuffle, 1);
    lp__config_free(cfg);
    cfg = parse_ok("buffer: {segments: 4, horizon: 2, shuffle: false}\nlosses: [{plugin: ppo}]\n");
    assert_int_equal(cfg->buffer.shuffle, 0);
    assert_int_equal(cfg->program.pos.line, 0);
    lp__config_free(cfg);
}

static void test_errors(void **state) {
    (void)state;
    parse_err(BUF "program: {fields: {obs: \"f33[OBS]\"}}\n",
              "t.yaml:3:25: program.fields.obs 'f33[OBS]' is not a type; write DTYPE or "
              "DTYPE[D0, D1, ...] with DTYPE one of f32, f64, i32, i64, u8 and each D an integer "
              "> 0 or OBS, ACTION, NUM_ACTIONS, POLICY");
    parse_err(BUF "program: {fields: {obs: \"f32[0]\"}}\n",
              "t.yaml:3:25: program.fields.obs 'f32[0]' is not a type; write DTYPE or DTYPE[D0, "
              "D1, ...] with DTYPE one of f32, f64, i32, i64, u8 and each D an integer > 0 or "
              "OBS, ACTION, NUM_ACTIONS, POLICY");
    parse_err(BUF "program: {observation: {dtype: float, shape: [4]}, action: {dtype: i32, "
                  "shape: []}}\n",
              "t.yaml:3:32: program.observation.dtype 'float' is not a dtype; use one of f32, "
              "f64, i32, i64, u8");
    parse_err(BUF "program: {observation: {dtype: f32, shape: [4]}}\n",
              "t.yaml:3:10: missing required key 'action' in program; add action: {dtype: i32, "
              "shape: [], num_actions: N}");
    parse_err(BUF "program: {feilds: {}}\n",
              "t.yaml:3:11: unknown key 'feilds' in program; did you mean 'fields'?");
    parse_err(BUF "program: {outputs: {Logits: f32}}\n",
              "t.yaml:3:21: program.outputs 'Logits' is not a valid name; use lowercase letters, "
              "digits and '_', starting with a letter (at most 63 characters)");
    parse_err("buffer: {segments: 4, horizon: 2, shuffle: yes}\nlosses: [{plugin: ppo}]\n",
              "t.yaml:1:44: buffer.shuffle must be true or false, found 'yes'; write true or "
              "false");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
