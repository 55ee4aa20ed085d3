/* Valid configs: every value read back, defaults, paths, passthrough. */
#include "cfg_test.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static void assert_pos(lp__pos p, uint32_t line, uint32_t col) {
    assert_non_null(p.file);
    assert_int_equal(p.line, line);
    assert_int_equal(p.col, col);
}

static void test_full_round_trip(void **state) {
    (void)state;
    static const char *const pass[] = {"env", "model"};
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = pass;
    opt.passthrough_count = 2;
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    const char *path = LP_TEST_FIXTURES "/full.yaml";
    int32_t rc = lp__config_parse_file(path, &opt, &cfg, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_string_equal(cfg->file, path);
    assert_string_equal(cfg->dir, LP_TEST_FIXTURES);

    assert_int_equal(cfg->plugin_path_count, 2);
    assert_string_equal(cfg->plugin_paths[0], LP_TEST_FIXTURES "/../build/plugins");
    assert_string_equal(cfg->plugin_paths[1], "/opt/lossplug/plugins");
    assert_pos(cfg->plugin_path_pos[0], 2, 15);
    assert_pos(cfg->plugin_path_pos[1], 2, 33);
    assert_string_equal(cfg->plugin_path_pos[0].file, path);

    const lp__buffer_cfg *b = &cfg->buffer;
    assert_int_equal(b->segments, 8);
    assert_int_equal(b->horizon, 128);
    assert_int_equal(b->minibatch_segments, 2);
    assert_int_equal(b->update_epochs, 4);
    assert_int_equal(b->seed, 1);
    assert_pos(b->pos, 3, 1);
    assert_pos(b->segments_pos.key, 3, 10);
    assert_pos(b->segments_pos.value, 3, 20);
    assert_pos(b->horizon_pos.value, 3, 32);
    assert_pos(b->minibatch_segments_pos.value, 3, 57);
    assert_pos(b->update_epochs_pos.value, 3, 75);
    assert_pos(b->seed_pos.key, 3, 78);
    assert_pos(b->seed_pos.value, 3, 84);

    assert_int_equal(cfg->stats_format, LP__STATS_CSV);
    assert_string_equal(cfg->stats_path, LP_TEST_FIXTURES "/run/stats.csv");
    assert_pos(cfg->stats_path_pos.key, 4, 9);
    assert_pos(cfg->stats_path_pos.value, 4, 15);

    /* Passthrough: kept as a tree with positions; absent ones are NULL. */
    assert_int_equal(cfg->section_count, 1);
    const lp__section *env = lp__config_section(cfg, "env");
    assert_non_null(env);
    assert_ptr_equal(env, &cfg->sections[0]);
    assert_string_equal(env->name, "env");
    assert_pos(env->pos.key, 5, 1);
    assert_int_equal(env->node->kind, LP__Y_MAP);
    assert_int_equal(env->node->count, 2);
    const lp__ynode *steps = lp__ymap_get(env->node, "max_steps");
    assert_string_equal(steps->text, "500");
    assert_int_equal(steps->line, 7);
    assert_int_equal(steps->col, 14);
    assert_string_equal(lp__ymap_get(env->node, "name")->text, "cartpole");
    assert_null(lp__config_section(cfg, "model"));
    assert_null(lp__config_section(cfg, "losses"));

    assert_int_equal(cfg->loss_count, 3);
    const lp__loss_cfg *a = &cfg->losses[0];
    assert_ptr_equal(lp__config_loss(cfg, "actor"), a);
    assert_string_equal(a->name, "actor");
    assert_int_equal(a->name_defaulted, 0);
    assert_string_equal(a->plugin, "ppo");
    assert_true(a->weight == 1.0);
    assert_pos(a->pos, 9, 5);
    assert_pos(a->name_pos.key, 9, 5);
    assert_pos(a->name_pos.value, 9, 11);
    assert_pos(a->plugin_pos.value, 10, 13);
    assert_pos(a->weight_pos.value, 11, 13);
    assert_pos(a->params_pos.key, 12, 5);
    assert_pos(a->params_pos.value, 12, 13);

    assert_int_equal(a->param_count, 5);
    static const char *const keys[] = {"clip_coef", "ent_coef", "norm_adv", "mode", "tag"};
    static const char *const texts[] = {"0.2", "0.01", "true", "clipped", "v1"};
    static const uint32_t kcol[] = {14, 30, 46, 62, 77};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(a->params[i].key, keys[i]);
        assert_string_equal(a->params[i].text, texts[i]);
        assert_int_equal(a->params[i].quoted, i == 4);
        assert_pos(a->params[i].pos.key, 12, kcol[i]);
        assert_pos(a->params[i].pos.value, 12, kcol[i] + (uint32_t)strlen(keys[i]) + 2);
    }

    const lp__schedule *s = &a->schedule;
    assert_pos(s->pos, 13, 5);
    assert_int_equal(s->rollout.present, 1);
    assert_int_equal(s->rollout.count, 1);
    assert_pos(s->rollout.pos, 14, 7);
    assert_int_equal(s->rollout.rules[0].from_epoch, 0);
    assert_true(s->rollout.rules[0].to_epoch == INT64_MAX);
    assert_true(s->rollout.rules[0].to_step == INT64_MAX);
    assert_int_equal(s->rollout.rules[0].every_epochs, 0);
    assert_int_equal(s->train.present, 1);
    assert_int_equal(s->train.count, 3);
    const lp__enable_rule *r = s->train.rules;
    assert_int_equal(r[0].from_epoch, 0);
    assert_int_equal(r[0].to_epoch, 200);
    assert_int_equal(r[0].from_step, 0);
    assert_true(r[0].to_step == INT64_MAX);
    assert_pos(r[0].pos, 16, 11);
    assert_int_equal(r[1].from_step, 0);
    assert_int_equal(r[1].to_step, 100000);
    assert_int_equal(r[1].from_epoch, 0);
    assert_true(r[1].to_epoch == INT64_MAX);
    assert_int_equal(r[2].every_epochs, 10);
    assert_int_equal(r[2].on_epochs, 2);
    assert_int_equal(r[2].from_epoch, 200);
    assert_int_equal(r[2].to_epoch, 1000);
    assert_pos(r[2].pos, 18, 11);

    assert_int_equal(s->anneal_count, 2);
    const lp__anneal_rule *an = s->anneal;
    assert_string_equal(an[0].param, "ent_coef");
    assert_true(an[0].to == 0.0);
    assert_int_equal(an[0].to_is_int, 0);
    assert_int_equal(an[0].clock, LP__ANNEAL_BY_EPOCH);
    assert_int_equal(an[0].start, 0);
    assert_int_equal(an[0].end, 500);
    assert_int_equal(an[0].shape, LP__ANNEAL_LINEAR);
    assert_pos(an[0].pos, 20, 9);
    assert_pos(an[0].to_pos.value, 20, 24);
    assert_pos(an[0].range_pos.key, 20, 29);
    assert_pos(an[0].range_pos.value, 20, 37);
    assert_pos(an[0].shape_pos.value, 20, 54);
    assert_string_equal(an[1].param, "clip_coef");
    assert_true(an[1].to == 0.1);
    assert_int_equal(an[1].clock, LP__ANNEAL_BY_STEP);
    assert_int_equal(an[1].start, 0);
    assert_int_equal(an[1].end, 1000000);
    assert_int_equal(an[1].shape, LP__ANNEAL_COSINE);

    const lp__loss_cfg *c = &cfg->losses[1];
    assert_string_equal(c->name, "critic");
    assert_string_equal(c->plugin, "value");
    assert_true(c->weight == 0.5);
    assert_int_equal(c->param_count, 0);
    assert_int_equal(c->schedule.rollout.present, 0);
    assert_int_equal(c->schedule.train.present, 0);
    assert_int_equal(c->schedule.anneal_count, 0);
    assert_int_equal(c->schedule.pos.line, 0);
    assert_int_equal(c->params_pos.key.line, 0);

    const lp__loss_cfg *k = &cfg->losses[2];
    assert_string_equal(k->name, "kickstart");
    assert_int_equal(k->name_defaulted, 1);
    assert_true(k->weight == 1.0);
    assert_int_equal(k->weight_pos.key.line, 0);
    assert_int_equal(k->schedule.train.present, 1);
    assert_int_equal(k->schedule.train.count, 0);
    assert_null(lp__config_loss(cfg, "nope"));
    lp__config_free(cfg);
}

static void test_defaults(void **state) {
    (void)state;
    lp__config *cfg = cfg_ok("buffer: {segments: 6, horizon: 32}\nlosses: [{plugin: ppo}]\n");
    assert_int_equal(cfg->buffer.minibatch_segments, 6);
    assert_int_equal(cfg->buffer.update_epochs, 1);
    assert_int_equal(cfg->buffer.seed, 0);
    assert_int_equal(cfg->buffer.seed_pos.key.line, 0);
    assert_int_equal(cfg->plugin_path_count, 0);
    assert_null(cfg->stats_path);
    assert_int_equal(cfg->stats_format, LP__STATS_NONE);
    assert_int_equal(cfg->section_count, 0);
    assert_string_equal(cfg->file, "t.yaml");
    assert_string_equal(cfg->dir, ".");
    assert_string_equal(cfg->losses[0].name, "ppo");
    lp__config_free(cfg);
}

static void test_same_plugin_twice_in_order(void **state) {
    (void)state;
    lp__config *cfg = cfg_ok(CFG_BUFFER "losses:\n  - {name: b, plugin: ppo, weight: -0.5}\n"
                                        "  - {name: a, plugin: ppo, weight: 2}\n");
    assert_int_equal(cfg->loss_count, 2);
    assert_string_equal(cfg->losses[0].name, "b");
    assert_string_equal(cfg->losses[1].name, "a");
    assert_true(cfg->losses[0].weight == -0.5);
    assert_true(cfg->losses[1].weight == 2.0);
    lp__config_free(cfg);
}

static void test_stats_jsonl_and_aliases(void **state) {
    (void)state;
    lp__config *cfg =
        cfg_ok("buffer: &b {segments: 4, horizon: 8}\nstats: {path: /tmp/s.jsonl}\n"
               "env: {buf: *b}\nlosses:\n  - plugin: ppo\n    params: &p {clip_coef: 0.3}\n"
               "  - name: two\n    plugin: ppo\n    params: *p\n");
    assert_int_equal(cfg->stats_format, LP__STATS_JSONL);
    assert_string_equal(cfg->stats_path, "/tmp/s.jsonl");
    assert_string_equal(cfg->losses[1].params[0].text, "0.3");
    /* Through an alias, positions are those of the anchored text. */
    assert_int_equal(cfg->losses[1].params[0].pos.value.line, 6);
    assert_ptr_equal(lp__ymap_get(lp__config_section(cfg, "env")->node, "buf"),
                     cfg->root->items[1]);
    lp__config_free(cfg);
}

static void test_string_display_name_and_base_dir(void **state) {
    (void)state;
    const char *text =
        "plugin_path: [p, /abs, ./q/]\n" CFG_BUFFER "stats: {path: s.csv}\nlosses: [{plugin: x}]\n";
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    assert_int_equal(
        lp__config_parse_string(text, strlen(text), "conf/run/a.yaml", NULL, &cfg, &err), LP_OK);
    assert_string_equal(cfg->dir, "conf/run");
    assert_string_equal(cfg->plugin_paths[0], "conf/run/p");
    assert_string_equal(cfg->plugin_paths[1], "/abs");
    assert_string_equal(cfg->plugin_paths[2], "conf/run/./q/");
    assert_string_equal(cfg->stats_path, "conf/run/s.csv");
    lp__config_free(cfg);

    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.base_dir = "/base/";
    assert_int_equal(lp__config_parse_string(text, strlen(text), NULL, &opt, &cfg, &err), LP_OK);
    assert_string_equal(cfg->file, "<string>");
    assert_string_equal(cfg->plugin_paths[0], "/base/p");
    assert_string_equal(cfg->stats_path, "/base/s.csv");
    lp__config_free(cfg);

    assert_int_equal(lp__config_parse_string(text, strlen(text), "/a.yaml", NULL, &cfg, &err),
                     LP_OK);
    assert_string_equal(cfg->dir, "/");
    assert_string_equal(cfg->plugin_paths[0], "/p");
    lp__config_free(cfg);
}

/* A file found through a relative path: paths are relative to its folder. */
static void test_relative_file(void **state) {
    (void)state;
    char tmpl[] = "/tmp/lpcfgXXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char sub[64], file[96], cwd[4096];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(file, sizeof file, "%s/c.yaml", sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("plugin_path: [../plugins, here]\n" CFG_BUFFER "losses: [{plugin: ppo}]\n", f);
    fclose(f);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    int32_t rc = lp__config_parse_file("sub/c.yaml", NULL, &cfg, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, LP_OK);
    assert_string_equal(cfg->dir, "sub");
    assert_string_equal(cfg->plugin_paths[0], "sub/../plugins");
    assert_string_equal(cfg->plugin_paths[1], "sub/here");
    lp__config_free(cfg);
    assert_int_equal(chdir(dir), 0);
    rc = lp__config_parse_file("./sub/c.yaml", NULL, &cfg, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, LP_OK);
    assert_string_equal(cfg->plugin_paths[0], "./sub/../plugins");
    lp__config_free(cfg);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

/* The complete example in docs/config.md is a fixture, verbatim, and parses
 * (docs.yaml_examples also runs `lossplug check` on it, with the plugins).
 * full.yaml, above, is the parser's round trip of every key. */
static void test_docs_example_is_the_fixture(void **state) {
    (void)state;
    char *doc = cfg_slurp(LP_TEST_DOCS "/config.md", NULL);
    char *fix = cfg_slurp(LP_TEST_FIXTURES "/docs_complete.yaml", NULL);
    assert_non_null(doc);
    assert_non_null(fix);
    assert_non_null(strstr(doc, fix));
    free(doc);
    free(fix);
    static const char *const pass[] = {"env"};
    lp__config_options opt;
    lp__config_options_init(&opt);
    opt.passthrough = pass;
    opt.passthrough_count = 1;
    lp__config *cfg = NULL;
    lp_error err = {0, ""};
    int32_t rc = lp__config_parse_file(LP_TEST_FIXTURES "/docs_complete.yaml", &opt, &cfg, &err);
    if (rc != LP_OK)
        print_error("%s\n", err.message);
    assert_int_equal(rc, LP_OK);
    assert_int_equal(cfg->loss_count, 4);
    assert_string_equal(cfg->losses[3].plugin, "kickstarter");
    lp__config_free(cfg);
}

static void test_bad_options(void **state) {
    (void)state;
    const char *text = CFG_BUFFER "losses: [{plugin: x}]\n";
    static const char *const clash[] = {"losses"};
    static const char *const bad[] = {"Env"};
    static const char *const twice[] = {"env", "env"};
    lp__config *cfg = (lp__config *)(uintptr_t)1;
    lp_error err = {0, ""};
    assert_int_equal(cfg_parse(text, clash, 1, &cfg, &err), LP_EINVAL);
    assert_null(cfg);
    assert_string_equal(err.message, "config options: passthrough section 'losses' is a lossplug "
                                     "section; choose another name");
    assert_int_equal(cfg_parse(text, bad, 1, &cfg, &err), LP_EINVAL);
    assert_string_equal(err.message, "config options: passthrough section name 0 is not a valid "
                                     "name; use [a-z][a-z0-9_]*");
    assert_int_equal(cfg_parse(text, twice, 2, &cfg, &err), LP_EINVAL);
    assert_string_equal(err.message, "config options: passthrough section 'env' is listed twice");
    assert_int_equal(lp__config_parse_string(text, strlen(text), "x", NULL, NULL, &err), LP_EINVAL);
    assert_int_equal(lp__config_parse_file("/nonexistent/dir/c.yaml", NULL, &cfg, &err), LP_EIO);
    assert_null(cfg);
    assert_string_equal(err.message, "/nonexistent/dir/c.yaml: cannot open: No such file or "
                                     "directory; check the path and its permissions");
    assert_int_equal(lp__config_parse_file("/tmp", NULL, &cfg, &err), LP_EIO);
    assert_string_equal(err.message,
                        "/tmp: cannot read: Is a directory; check the path and its permissions");
    lp__config_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_round_trip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_same_plugin_twice_in_order),
        cmocka_unit_test(test_stats_jsonl_and_aliases),
        cmocka_unit_test(test_string_display_name_and_base_dir),
        cmocka_unit_test(test_relative_file),
        cmocka_unit_test(test_docs_example_is_the_fixture),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
