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

run_lp $only check
expect_rc 2 "check without CONFIG"
run_lp $only check a b
expect_rc 2 "check with two operands"

finish
