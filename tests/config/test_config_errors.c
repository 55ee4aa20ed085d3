/* Every kind of config error: exact message, line and column. */
#include "cfg_test.h"

#define L1 "losses: [{plugin: ppo}]\n"

static void test_syntax(void **state) {
    (void)state;
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n   name: x\n",
            "t.yaml:4:4: YAML syntax error: did not find expected '-' indicator (while parsing a "
            "block collection at line 3, column 3); check the indentation, quotes and brackets "
            "here");
    cfg_err("buffer: {segments: 8, horizon: 16\n" L1,
            "t.yaml:2:7: YAML syntax error: did not find expected ',' or '}' (while parsing a flow "
            "mapping at line 1, column 9); check the indentation, quotes and brackets here");
}

static void test_wrong_kind(void **state) {
    (void)state;
    cfg_err("- a\n- b\n", "t.yaml:1:1: the document must be a mapping of sections, found a list; "
                          "start with 'buffer:' and 'losses:' (see docs/config.md)");
    cfg_err("just text\n", "t.yaml:1:1: the document must be a mapping of sections, found a "
                           "scalar; start with 'buffer:' and 'losses:' (see docs/config.md)");
    cfg_err("buffer: [8, 16]\n" L1, "t.yaml:1:9: buffer must be a mapping, found a list; write it "
                                    "as 'key: value' lines or {key: value}");
    cfg_err(CFG_BUFFER "losses:\n  plugin: ppo\n",
            "t.yaml:3:3: losses must be a list, found a mapping; write it as '- item' lines or "
            "[a, b]");
    cfg_err("plugin_path: plugins\n" CFG_BUFFER L1,
            "t.yaml:1:14: plugin_path must be a list, found a scalar; write it as '- item' lines "
            "or [a, b]");
    cfg_err("plugin_path: [[a]]\n" CFG_BUFFER L1,
            "t.yaml:1:15: plugin_path[0] must be a single value, found a list; write one value");
    cfg_err(CFG_BUFFER "stats:\n" L1, "t.yaml:2:7: stats must be a mapping, found an empty value; "
                                      "write it as 'key: value' lines or {key: value}");
    cfg_err(CFG_BUFFER "losses: [ppo]\n", "t.yaml:2:10: losses[0] must be a mapping, found a "
                                          "scalar; write it as 'key: value' lines or {key: value}");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    params: [a]\n",
            "t.yaml:4:13: losses.ppo.params must be a mapping, found a list; write it as 'key: "
            "value' lines or {key: value}");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    params: {a: {b: 1}}\n",
            "t.yaml:4:17: losses.ppo.params.a must be a single value, found a mapping; write one "
            "value");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {train: {from_epoch: 1}}\n",
            "t.yaml:4:23: losses.ppo.schedule.train must be a list, found a mapping; write it as "
            "'- item' lines or [a, b]");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, epochs: "
                       "3}}}\n",
            "t.yaml:4:45: losses.ppo.schedule.anneal.lr.epochs must be a list, found a scalar; "
            "write it as '- item' lines or [a, b]");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, epochs: "
                       "[3]}}}\n",
            "t.yaml:4:45: losses.ppo.schedule.anneal.lr.epochs must be a list of 2 integers, found "
            "1 items; write [start, end]");
}

static void test_unknown_keys(void **state) {
    (void)state;
    cfg_err("bufer: {segments: 8, horizon: 16}\n" L1,
            "t.yaml:1:1: unknown key 'bufer' at the top level; did you mean 'buffer'?");
    cfg_err(CFG_BUFFER L1 "envv: {}\n",
            "t.yaml:3:1: unknown key 'envv' at the top level; did you mean 'env'?");
    cfg_err(CFG_BUFFER L1 "model: {}\n",
            "t.yaml:3:1: unknown key 'model' at the top level; valid keys: plugin_path, buffer, "
            "stats, losses, program, env");
    cfg_err("buffer: {segmnts: 8, horizon: 16}\n" L1,
            "t.yaml:1:10: unknown key 'segmnts' in buffer; did you mean 'segments'?");
    cfg_err(CFG_BUFFER "stats: {path: a.csv, every: 2}\n" L1,
            "t.yaml:2:22: unknown key 'every' in stats; valid keys: path");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    wieght: 2\n",
            "t.yaml:4:5: unknown key 'wieght' in losses[0]; did you mean 'weight'?");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {trian: []}\n",
            "t.yaml:4:16: unknown key 'trian' in losses.ppo.schedule; did you mean 'train'?");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {train: [{from_epoh: 1}]}\n",
            "t.yaml:4:25: unknown key 'from_epoh' in losses.ppo.schedule.train[0]; did you mean "
            "'from_epoch'?");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, epochs: "
                       "[0, 9], shap: cosine}}}\n",
            "t.yaml:4:53: unknown key 'shap' in losses.ppo.schedule.anneal.lr; did you mean "
            "'shape'?");
    /* User text is escaped: one line whatever the key holds. */
    cfg_err(CFG_BUFFER L1 "\"a\\nb\": 1\n",
            "t.yaml:3:1: unknown key 'a\\x0ab' at the top level; valid keys: plugin_path, buffer, "
            "stats, losses, program, env");
}

static void test_wrong_type(void **state) {
    (void)state;
    cfg_err("buffer: {segments: eight, horizon: 16}\n" L1,
            "t.yaml:1:20: buffer.segments must be an integer, found 'eight'; write a whole number "
            "such as 8");
    cfg_err("buffer: {segments: 8.0, horizon: 16}\n" L1,
            "t.yaml:1:20: buffer.segments must be an integer, found '8.0'; write a whole number "
            "such as 8");
    cfg_err("buffer: {segments: \"8\", horizon: 16}\n" L1,
            "t.yaml:1:20: buffer.segments must be an integer, found a quoted string; remove the "
            "quotes");
    cfg_err("buffer: {segments: , horizon: 16}\n" L1,
            "t.yaml:1:20: buffer.segments must be an integer, found an empty value; write a whole "
            "number such as 8");
    cfg_err(
        CFG_BUFFER "losses:\n  - plugin: ppo\n    weight: heavy\n",
        "t.yaml:4:13: losses.ppo.weight must be a number, found 'heavy'; write a number such as "
        "0.5");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    weight: .nan\n",
            "t.yaml:4:13: losses.ppo.weight must be a number, found '.nan'; write a number such as "
            "0.5");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    weight: 1e400\n",
            "t.yaml:4:13: losses.ppo.weight = 1e400 is out of range; use a finite number of at "
            "most 127 characters");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: PPO\n",
            "t.yaml:3:13: losses[0].plugin 'PPO' is not a valid name; use lowercase letters, "
            "digits and '_', starting with a letter (at most 63 characters)");
    cfg_err(CFG_BUFFER "losses:\n  - {plugin: ppo, name: 1st}\n",
            "t.yaml:3:25: losses[0].name '1st' is not a valid name; use lowercase letters, digits "
            "and '_', starting with a letter (at most 63 characters)");
    cfg_err(CFG_BUFFER "losses:\n  - {plugin: ppo, name: \"a\\0b\"}\n",
            "t.yaml:3:25: losses[0].name contains a NUL character; remove the \\0 escape");
    cfg_err(CFG_BUFFER "losses:\n  - {plugin: ''}\n",
            "t.yaml:3:14: losses[0].plugin is empty; write a name such as ppo");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    params: {Clip: 1}\n",
            "t.yaml:4:14: 'Clip' in losses.ppo.params is not a valid param name; use the name of a "
            "param of this plugin");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    params: {clip: }\n",
            "t.yaml:4:20: losses.ppo.params.clip has no value; write a value or remove the key");
    cfg_err(CFG_BUFFER "stats: {path: run/stats.txt}\n" L1,
            "t.yaml:2:15: stats.path 'run/stats.txt' has no known format; end it in .csv or "
            ".jsonl");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: !!str ppo\n",
            "t.yaml:3:13: tag 'tag:yaml.org,2002:str' is not supported here; remove it");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, epochs: "
                       "[0, 9], shape: cosin}}}\n",
            "t.yaml:4:60: losses.ppo.schedule.anneal.lr.shape 'cosin' is not a shape; did you mean "
            "'cosine'?");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, epochs: "
                       "[0, 9], shape: step}}}\n",
            "t.yaml:4:60: losses.ppo.schedule.anneal.lr.shape 'step' is not a shape; use linear or "
            "cosine");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: x, epochs: "
                       "[0, 9]}}}\n",
            "t.yaml:4:34: losses.ppo.schedule.anneal.lr.to must be a number, found 'x'; write a "
            "number such as 0.5");
}

static void test_out_of_range(void **state) {
    (void)state;
    cfg_err("buffer: {segments: 0, horizon: 16}\n" L1,
            "t.yaml:1:20: buffer.segments = 0 is out of range; use an integer in [1, 1048576]");
    cfg_err("buffer: {segments: 8, horizon: 99999999999999999999}\n" L1,
            "t.yaml:1:32: buffer.horizon = 99999999999999999999 is out of range; use an integer in "
            "[1, 1048576]");
    cfg_err("buffer: {segments: 8, horizon: 16, update_epochs: 0}\n" L1,
            "t.yaml:1:51: buffer.update_epochs = 0 is out of range; use an integer in [1, 10000]");
    cfg_err("buffer: {segments: 8, horizon: 16, seed: -1}\n" L1,
            "t.yaml:1:42: buffer.seed = -1 is out of range; use an integer in [0, "
            "9223372036854775807]");
    cfg_err("buffer: {segments: 8, horizon: 16, minibatch_segments: 16}\n" L1,
            "t.yaml:1:56: buffer.minibatch_segments = 16 is out of range; use an integer in [1, "
            "8]");
    cfg_err("buffer: {segments: 8, horizon: 16, minibatch_segments: 3}\n" L1,
            "t.yaml:1:56: buffer.minibatch_segments = 3 does not divide buffer.segments = 8; use a "
            "divisor of 8");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule:\n      train: [{from_epoch: 10, "
                       "to_epoch: 10}]\n",
            "t.yaml:5:42: losses.ppo.schedule.train[0].to_epoch = 10 is not after from_epoch = 10; "
            "use to_epoch > from_epoch");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule:\n      rollout: [{to_step: 0}]\n",
            "t.yaml:5:27: losses.ppo.schedule.rollout[0].to_step = 0 is not after from_step = 0; "
            "use to_step > from_step");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule:\n      train: [{from_epoch: -1}]\n",
            "t.yaml:5:28: losses.ppo.schedule.train[0].from_epoch = -1 is out of range; use an "
            "integer in [0, 4611686018427387904]");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule:\n      train: [{every_epochs: 10, "
                       "on_epochs: 11}]\n",
            "t.yaml:5:45: losses.ppo.schedule.train[0].on_epochs = 11 is out of range; use an "
            "integer in [1, 10]");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 1, steps: "
                       "[9, 3]}}}\n",
            "t.yaml:4:48: losses.ppo.schedule.anneal.lr.steps ends at 3, not after its start 9; "
            "use [start, end] with start < end");
}

static void test_missing_required(void **state) {
    (void)state;
    cfg_err(L1, "t.yaml:1:1: missing required key 'buffer' at the top level; add buffer: "
                "{segments: N, horizon: T} (see docs/config.md)");
    cfg_err(CFG_BUFFER, "t.yaml:1:1: missing required key 'losses' at the top level; add losses: "
                        "[{plugin: ID}]");
    cfg_err("buffer: {horizon: 16}\n" L1, "t.yaml:1:9: missing required key 'segments' in buffer; "
                                          "add segments: N (rows of the buffer)");
    cfg_err("buffer:\n  segments: 4\n" L1, "t.yaml:2:3: missing required key 'horizon' in buffer; "
                                           "add horizon: T (steps per row)");
    cfg_err(CFG_BUFFER "losses:\n  - name: a\n    weight: 2\n",
            "t.yaml:3:5: missing required key 'plugin' in losses[0]; add plugin: ID (the loss to "
            "use)");
    cfg_err(CFG_BUFFER "stats: {}\n" L1, "t.yaml:2:8: missing required key 'path' in stats; add "
                                         "path: run/stats.csv (or .jsonl)");
    cfg_err(CFG_BUFFER "losses: []\n",
            "t.yaml:2:9: losses is empty; add at least one loss, e.g. - {plugin: ID}");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {train: [{}]}\n",
            "t.yaml:4:24: losses.ppo.schedule.train[0] is empty; give from_epoch/to_epoch, "
            "from_step/to_step or every_epochs/on_epochs");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {train: [{every_epochs: 4}]}\n",
            "t.yaml:4:24: missing required key 'on_epochs' in losses.ppo.schedule.train[0] "
            "(every_epochs needs it); add on_epochs: N");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {train: [{on_epochs: 4}]}\n",
            "t.yaml:4:24: missing required key 'every_epochs' in losses.ppo.schedule.train[0] "
            "(on_epochs needs it); add every_epochs: N");
    cfg_err(
        CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {epochs: [0, 1]}}}\n",
        "t.yaml:4:29: missing required key 'to' in losses.ppo.schedule.anneal.lr; add to: VALUE "
        "(the value at the end of the range)");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 0}}}\n",
            "t.yaml:4:29: missing required key 'epochs' (or 'steps') in "
            "losses.ppo.schedule.anneal.lr; add epochs: [start, end]");
    cfg_err(
        CFG_BUFFER "losses:\n  - plugin: ppo\n    schedule: {anneal: {lr: {to: 0, steps: [0, 1], "
                   "epochs: [0, 1]}}}\n",
        "t.yaml:4:52: losses.ppo.schedule.anneal.lr has both epochs and steps; keep only one of "
        "them");
}

static void test_duplicates(void **state) {
    (void)state;
    cfg_err("buffer: {segments: 8, horizon: 16, segments: 4}\n" L1,
            "t.yaml:1:36: duplicate key 'segments' (first at line 1, column 10); remove one of "
            "them");
    cfg_err(CFG_BUFFER "losses:\n  - name: actor\n    plugin: ppo\n  - name: critic\n"
                       "    plugin: value\n  - name: actor\n    plugin: ppo\n",
            "t.yaml:7:11: duplicate loss name 'actor', first used at line 3; give each loss a "
            "unique name");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n  - plugin: value\n  - plugin: ppo\n",
            "t.yaml:5:13: duplicate loss name 'ppo' (the plugin id, used when name is absent), "
            "first used at line 3; add a unique name: to this loss");
    cfg_err(CFG_BUFFER "losses:\n  - {name: value, plugin: ppo}\n  - {plugin: value}\n",
            "t.yaml:4:14: duplicate loss name 'value' (the plugin id, used when name is absent), "
            "first used at line 3; add a unique name: to this loss");
    cfg_err(CFG_BUFFER "losses:\n  - plugin: ppo\n    params: {a: 1, a: 2}\n",
            "t.yaml:4:20: duplicate key 'a' (first at line 4, column 14); remove one of them");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),       cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range), cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
