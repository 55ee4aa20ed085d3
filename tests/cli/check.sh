#!/bin/sh
# lossplug check CONFIG: the merged table of a valid config, the
# FILE:LINE:COLUMN error of a bad one (exit 1), --json, usage errors (exit 2).
# usage: check.sh LOSSPLUG_EXE PLUGIN_DIR
set -u
. "$(dirname "$0")/lib.sh"
lp=$1
only="--no-default-paths --plugin-path $2"

cat >"$lp_tmp/good.yaml" <<'YAML'
buffer: {segments: 8, horizon: 128, minibatch_segments: 2, update_epochs: 4, seed: 1}
program:
  observation: {dtype: f32, shape: [4]}
  action: {dtype: i32, shape: [], num_actions: 2}
  fields: {obs: "f32[OBS]", actions: i32, logprobs: f32, values: f32, rewards: f32, dones: u8, next_values: f32}
  outputs: {logits: "f32[NUM_ACTIONS]", values: f32}
losses:
  - {name: adv, plugin: gae}
  - {name: actor, plugin: ppo}
  - {name: critic, plugin: value, weight: 0.5}
YAML

run_lp $only check "$lp_tmp/good.yaml"
expect_rc 0 "check a valid config"
expect_out "$lp_tmp/good.yaml: valid" "check"
grep -qE '^  FIELD +DTYPE +SHAPE +WRITER +READERS +BYTES$' "$out" ||
    { fail "check: no field table header"; show_last; }
grep -qE '^  obs +f32 +\[4\] +program \(rollout\) +- +16384$' "$out" ||
    { fail "check: obs row"; show_last; }
grep -qE '^  advantages +f32 +\[\] +adv \(train\) +actor +4096$' "$out" ||
    { fail "check: advantages row"; show_last; }
grep -qE '^  critic +value +0.5$' "$out" || { fail "check: instance row"; show_last; }
expect_out "train: 4 update epochs x 4 minibatches of 2 segments (sample: rows), shuffled, seed 1" "check"

run_lp $only --json check "$lp_tmp/good.yaml"
expect_rc 0 "check --json"
expect_json "d['valid'] and [f['name'] for f in d['fields']][:2] == ['obs', 'actions'] and d['fields'][8]['writer'] == 'adv' and d['instances'][2] == {'name': 'critic', 'plugin': 'value', 'weight': 0.5} and d['buffer']['bytes'] % 64 == 0"
expect_json "d['buffer']['sample'] == 'rows' and d['buffer']['minibatch_samples'] == 256"

# Single-step minibatches: the mode shows in the text and the JSON.
sed 's/seed: 1}/seed: 1, sample: transitions}/' "$lp_tmp/good.yaml" >"$lp_tmp/trans.yaml"
run_lp $only check "$lp_tmp/trans.yaml"
expect_rc 0 "check (transitions)"
expect_out "train: 4 update epochs x 4 minibatches of 256 transitions (sample: transitions, each update epoch permutes all 1024 steps), seed 1" "check (transitions)"
run_lp $only --json check "$lp_tmp/trans.yaml"
expect_rc 0 "check --json (transitions)"
expect_json "d['buffer']['sample'] == 'transitions' and d['buffer']['minibatch_samples'] == 256 and d['buffer']['minibatches'] == 4"

# A read that nobody writes: gae needs rewards.
sed 's/ rewards: f32,//' "$lp_tmp/good.yaml" >"$lp_tmp/bad.yaml"
run_lp $only check "$lp_tmp/bad.yaml"
expect_rc 1 "check a bad config"
expect_err "lossplug: error: $lp_tmp/bad.yaml:8:5: field 'rewards' is read by instance 'adv' (plugin gae, $lp_tmp/bad.yaml:8:5) in the train phase, but nobody writes it" "bad config"
expect_err_format "bad config"

# A config error.
sed 's/segments: 8,/segments: eight,/' "$lp_tmp/good.yaml" >"$lp_tmp/bad2.yaml"
run_lp $only check "$lp_tmp/bad2.yaml"
expect_rc 1 "check a config error"
expect_err "$lp_tmp/bad2.yaml:1:20: buffer.segments must be an integer, found 'eight'" "config error"

run_lp $only check "$lp_tmp/missing.yaml"
expect_rc 1 "check a missing file"
expect_err "cannot open" "missing file"

run_lp $only check
expect_rc 2 "check without CONFIG"
run_lp $only check a b
expect_rc 2 "check with two operands"

finish
