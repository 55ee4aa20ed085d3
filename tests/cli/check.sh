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

# Configs bounded before allocation. A buffer of about 100 GB (65536 x
# 32768 steps of 49 bytes) is refused at once, at the key that made it
# big, with the size it would need; the same with an explicit limit.
sed 's/segments: 8, horizon: 128, minibatch_segments: 2,/segments: 65536, horizon: 32768, minibatch_segments: 2,/' \
    "$lp_tmp/good.yaml" >"$lp_tmp/huge.yaml"
run_lp $only check "$lp_tmp/huge.yaml"
expect_rc 1 "check a 100 GB buffer"
expect_err "lossplug: error: $lp_tmp/huge.yaml:1:10: the buffer would need 105.23 GB" "100 GB buffer (position of buffer.segments)"
expect_err "65536 segments x 32768 steps x 49 bytes per step" "100 GB buffer (the sizes)"
expect_err "reduce buffer.segments" "100 GB buffer (the fix)"
sed 's/seed: 1}/seed: 1, max_bytes: 10000}/' "$lp_tmp/good.yaml" >"$lp_tmp/limited.yaml"
run_lp $only check "$lp_tmp/limited.yaml"
expect_rc 1 "check a buffer above buffer.max_bytes"
expect_err "$lp_tmp/limited.yaml:1:23: the buffer would need" "buffer.max_bytes"
expect_err "more than buffer.max_bytes, 10.00 kB (10000 bytes)" "buffer.max_bytes"

# A 3.4 GB buffer (65536 x 1024 steps) is checked without allocating it:
# valid, its size reported, peak memory far below it, and no stats file.
# (Not under valgrind, whose shadow memory covers the whole reservation.)
if [ -z "${LP_TEST_WRAPPER:-}" ]; then
sed 's/segments: 8, horizon: 128, minibatch_segments: 2, update_epochs: 4, seed: 1}/segments: 65536, horizon: 1024, minibatch_segments: 2, update_epochs: 4, seed: 1, max_bytes: 20000000000}\nstats: {path: stats.csv}/' \
    "$lp_tmp/good.yaml" >"$lp_tmp/big.yaml"
run_lp $only --json check "$lp_tmp/big.yaml"
expect_rc 0 "check a 3.4 GB buffer"
expect_json "d['valid'] and d['buffer']['bytes'] > 3000000000"
[ -e "$lp_tmp/stats.csv" ] && { fail "check created the stats file"; show_last; }
python3 - "$lp" $only check "$lp_tmp/big.yaml" <<'PY' || fail "check of a 3.4 GB buffer used too much memory"
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("check of a 3.4 GB buffer: peak RSS %d kB" % peak_kb)
sys.exit(0 if peak_kb < 400 * 1024 else 1)
PY
fi

# Field updates (ABI 1.1): reward_norm rewrites 'rewards' at rollout, before
# gae reads it. Listed before gae, check shows the chain; listed after, the
# config is refused naming both instances and their lines.
{
    sed -n '1,7p' "$lp_tmp/good.yaml"
    echo "  - {name: rn, plugin: reward_norm, params: {gamma: 0.9}}"
    sed -n '8,$p' "$lp_tmp/good.yaml"
} >"$lp_tmp/rn.yaml"
run_lp $only check "$lp_tmp/rn.yaml"
expect_rc 0 "check reward_norm before gae"
expect_out "field chains (writer -> updaters -> readers, in the order they act):" "chain"
expect_out "  rewards: program (rollout) -> rn (rollout, update) -> adv (train)" "chain"
expect_out "  dones: program (rollout) -> rn (rollout) -> adv (train)" "chain"
run_lp $only --json check "$lp_tmp/rn.yaml"
expect_rc 0 "check --json reward_norm"
expect_json "[(f['updaters'], f['chain']) for f in d['fields'] if f['name'] == 'rewards'] == [(['rn'], 'program (rollout) -> rn (rollout, update) -> adv (train)')] and all(f['updaters'] == [] for f in d['fields'] if f['name'] != 'rewards')"
{
    cat "$lp_tmp/good.yaml"
    echo "  - {name: rn, plugin: reward_norm}"
} >"$lp_tmp/rn_late.yaml"
run_lp $only check "$lp_tmp/rn_late.yaml"
expect_rc 1 "check reward_norm after gae"
expect_err "lossplug: error: $lp_tmp/rn_late.yaml:8:5: field 'rewards': instance 'adv' (plugin gae, $lp_tmp/rn_late.yaml:8:5) reads it (train phase) but is listed before instance 'rn' (plugin reward_norm, $lp_tmp/rn_late.yaml:11:5), which updates it (rollout phase);" "reward_norm after gae"
expect_err "move 'rn' above 'adv' in the losses list" "reward_norm after gae"
expect_err_format "reward_norm after gae"
# An update of a field nobody writes.
sed 's/ rewards: f32,//; s/{name: adv, plugin: gae}/{name: rn, plugin: reward_norm}/' "$lp_tmp/good.yaml" |
    grep -v "plugin: ppo\|plugin: value" >"$lp_tmp/rn_orphan.yaml"
run_lp $only check "$lp_tmp/rn_orphan.yaml"
expect_rc 1 "check an update of a field nobody writes"
expect_err "$lp_tmp/rn_orphan.yaml:8:5: field 'rewards' is updated by instance 'rn' (plugin reward_norm, $lp_tmp/rn_orphan.yaml:8:5), but nobody writes it" "orphan update"

# Exclusive bounds: describe shows intervals, check enforces them.
run_lp $only describe reward_norm
expect_rc 0 "describe reward_norm"
grep -qE '^  gamma +float +0.99 +\[0, 1\] ' "$out" || { fail "describe: gamma range"; show_last; }
grep -qE '^  epsilon +float +1e-08 +\(0, 1\] ' "$out" || { fail "describe: epsilon range"; show_last; }
grep -qE '^  clip +float +10 +\(0, inf\) ' "$out" || { fail "describe: clip range"; show_last; }
grep -qE '^  rewards +update +rollout ' "$out" || { fail "describe: update access"; show_last; }
run_lp $only --json describe reward_norm
expect_json "[(p['name'], p['min'], p['max'], p['min_exclusive'], p['max_exclusive'], p['range']) for p in d['parameters']] == [('gamma', 0, 1, False, False, '[0, 1]'), ('epsilon', 0, 1, True, False, '(0, 1]'), ('clip', 0, None, True, False, '(0, inf)')] and d['fields'][0]['access'] == ['update']"
sed 's/params: {gamma: 0.9}/params: {clip: 0}/' "$lp_tmp/rn.yaml" >"$lp_tmp/rn_clip.yaml"
run_lp $only check "$lp_tmp/rn_clip.yaml"
expect_rc 1 "check clip 0"
expect_err "lossplug: error: $lp_tmp/rn_clip.yaml:8:52: losses.rn.params.clip = 0 is out of range; use a value > 0" "exclusive min"
sed 's/params: {gamma: 0.9}/params: {epsilon: 1e-300}/' "$lp_tmp/rn.yaml" >"$lp_tmp/rn_eps.yaml"
run_lp $only check "$lp_tmp/rn_eps.yaml"
expect_rc 0 "check epsilon just above its exclusive min"

run_lp $only check
expect_rc 2 "check without CONFIG"
run_lp $only check a b
expect_rc 2 "check with two operands"

finish
