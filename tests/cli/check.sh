#!/bin/sh
# lossplug check CONFIG: the merged table of a valid config, the
# FILE:LINE:COLUMN error of a bad one (exit 1), --json, usage errors (exit 2).
# A plugin that crashes in create (fixtures/trap) does not take the CLI
# down: list and describe work from its scan's report, a check of a config
# that does not name it loads nothing of it, and one that names it is an
# error naming the instance, plugin and file; one that loops forever in
# create (LPT_TRAP_HANG) is stopped at --check-timeout.
# usage: check.sh LOSSPLUG_EXE PLUGIN_DIR FIXTURE_ROOT
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
# An annealing endpoint on an exclusive bound is refused too.
sed 's/params: {gamma: 0.9}}/params: {gamma: 0.9}, schedule: {anneal: {clip: {to: 0, epochs: [0, 10]}}}}/' \
    "$lp_tmp/rn.yaml" >"$lp_tmp/rn_anneal.yaml"
run_lp $only check "$lp_tmp/rn_anneal.yaml"
expect_rc 1 "check an anneal to an exclusive bound"
expect_err "losses.rn.schedule.anneal.clip.to = 0 is out of range; use a value > 0" "exclusive anneal endpoint"
sed 's/params: {gamma: 0.9}/params: {epsilon: 1e-300}/' "$lp_tmp/rn.yaml" >"$lp_tmp/rn_eps.yaml"
run_lp $only check "$lp_tmp/rn_eps.yaml"
expect_rc 0 "check epsilon just above its exclusive min"

# ---- fixtures/trap: scans well, crashes in create ----
trap_dir=$3/trap
with_trap="$only --plugin-path $trap_dir"
run_lp $with_trap list
expect_rc 0 "list next to a plugin that crashes in create"
expect_out "fixture_trap" "list: the trap is listed"
expect_out "ppo" "list: the built-ins are listed"
run_lp $with_trap describe fixture_trap
expect_rc 0 "describe a plugin that crashes in create"
grep -qE '^  coef +float +0.5 +\(0, inf\) +no +a coefficient$' "$out" ||
    { fail "describe fixture_trap: coef row"; show_last; }
expect_out "model outputs: values" "describe fixture_trap: outputs"
run_lp $with_trap check "$lp_tmp/good.yaml"
expect_rc 0 "check a config that does not name the trap"
expect_out "$lp_tmp/good.yaml: valid" "check next to the trap"
sed 's/^  - {name: critic, plugin: value, weight: 0.5}$/&\n  - {name: t, plugin: fixture_trap}/' \
    "$lp_tmp/good.yaml" >"$lp_tmp/trap.yaml"
run_lp $with_trap check "$lp_tmp/trap.yaml"
expect_rc 1 "check a config whose plugin crashes in create"
expect_err "lossplug: error: $lp_tmp/trap.yaml: the check's process was killed by signal SIGSEGV (Segmentation fault) while running plugin code (calling create of instance 't' (plugin fixture_trap, $lp_tmp/trap.yaml:11), from $trap_dir/trap.so)" "crash in create"
[ -s "$out" ] && { fail "crash in create: something on stdout"; show_last; }
run_lp $with_trap --json check "$lp_tmp/trap.yaml"
expect_rc 1 "check --json, crash in create"
[ -s "$out" ] && { fail "check --json, crash in create: something on stdout"; show_last; }
# A create that never returns: the check's process is stopped at the time
# limit, and the error names the instance, plugin and file being checked.
# (Under valgrind the child needs longer to get there.)
limit=1
[ -n "${LP_TEST_WRAPPER:-}" ] && limit=30
start=$(date +%s)
LPT_TRAP_HANG=1 run_lp $with_trap --check-timeout $limit check "$lp_tmp/trap.yaml"
took=$(($(date +%s) - start))
expect_rc 1 "check a config whose plugin loops in create"
expect_err "lossplug: error: $lp_tmp/trap.yaml: no answer from the check's process in $limit s while running plugin code (calling create of instance 't' (plugin fixture_trap, $lp_tmp/trap.yaml:11), from $trap_dir/trap.so): it was stopped and the config was not checked" "endless create"
expect_err "allow more time with --check-timeout SECONDS" "endless create"
expect_err_format "endless create"
[ -s "$out" ] && { fail "endless create: something on stdout"; show_last; }
[ "$took" -le $((limit + 5)) ] || fail "endless create: check took $took s with --check-timeout $limit"
for bad in 0 -1 abc 1e9 nan; do
    run_lp $only --check-timeout "$bad" check "$lp_tmp/good.yaml"
    expect_rc 2 "--check-timeout $bad"
    expect_err "--check-timeout wants a number of seconds > 0 and at most 86400, not '$bad'" "--check-timeout $bad"
done
run_lp $only --check-timeout 20.5 check "$lp_tmp/good.yaml"
expect_rc 0 "--check-timeout 20.5 on a quick check"

sed 's/plugin: fixture_trap/plugin: fixture_trp/' "$lp_tmp/trap.yaml" >"$lp_tmp/trp.yaml"
run_lp $with_trap check "$lp_tmp/trp.yaml"
expect_rc 1 "check a typo of the trap's id"
expect_err "unknown plugin 'fixture_trp'; did you mean 'fixture_trap'?" "typo: the described id counts"

# The action line, text and JSON, on each space.
run_lp $only check "$lp_tmp/good.yaml"
expect_out 'action: discrete, 2 actions; policy output "logits": 2 values per step' "action line (discrete)"
run_lp $only --json check "$lp_tmp/good.yaml"
expect_json "d['action'] == {'space': 'discrete', 'dims': 1, 'num_actions': 2, 'policy_width': 2}"
sed 's/action: {dtype: i32, shape: \[\], num_actions: 2}/action: {dtype: i32, shape: [2], nvec: [5, 2]}/; s/actions: i32,/actions: "i32[ACTION]",/; s/logits: "f32\[NUM_ACTIONS\]"/logits: "f32[POLICY]"/' \
    "$lp_tmp/good.yaml" >"$lp_tmp/md.yaml"
run_lp $only check "$lp_tmp/md.yaml"
expect_rc 0 "check a multi-discrete action"
expect_out 'action: multi-discrete, nvec [5, 2]; policy output "logits": 7 values per step' "action line (multi-discrete)"
run_lp $only --json check "$lp_tmp/md.yaml"
expect_json "d['action'] == {'space': 'multi_discrete', 'dims': 2, 'num_actions': 7, 'policy_width': 7, 'nvec': [5, 2]}"
sed 's/action: {dtype: i32, shape: \[\], num_actions: 2}/action: {dtype: f32, shape: [3], low: -2, high: 2}/; s/actions: i32,/actions: "f32[ACTION]",/; s/logits: "f32\[NUM_ACTIONS\]"/logits: "f32[POLICY]"/' \
    "$lp_tmp/good.yaml" >"$lp_tmp/box.yaml"
run_lp $only check "$lp_tmp/box.yaml"
expect_rc 0 "check a box action"
expect_out 'action: box (diagonal Gaussian), 3 dimensions, low [-2, -2, -2], high [2, 2, 2]; policy output "logits": 6 values per step (means, then log-stds)' "action line (box)"
run_lp $only --json check "$lp_tmp/box.yaml"
expect_json "d['action'] == {'space': 'box', 'dims': 3, 'num_actions': 0, 'policy_width': 6, 'low': [-2, -2, -2], 'high': [2, 2, 2]}"

# kickstarter's temperature is (0, 1e6]: 0 is refused at its config position.
run_lp $only describe kickstarter
expect_rc 0 "describe kickstarter"
grep -qE '^  temperature +float +2 +\(0, 1000000\] ' "$out" || { fail "describe: temperature range"; show_last; }
run_lp $only --json describe kickstarter
expect_json "[(p['min'], p['max'], p['min_exclusive'], p['max_exclusive']) for p in d['parameters'] if p['name'] == 'temperature'] == [(0, 1000000, True, False)]"
cat >"$lp_tmp/ks_t0.yaml" <<'YAML'
buffer: {segments: 8, horizon: 16, minibatch_segments: 2, update_epochs: 1, seed: 1}
program:
  observation: {dtype: f32, shape: [4]}
  action: {dtype: i32, shape: [], num_actions: 2}
  fields: {obs: "f32[OBS]", teacher_logits: "f32[NUM_ACTIONS]", teacher_values: f32}
  outputs: {logits: "f32[NUM_ACTIONS]", values: f32}
losses:
  - {name: distill, plugin: kickstarter, params: {temperature: 0}}
YAML
run_lp $only check "$lp_tmp/ks_t0.yaml"
expect_rc 1 "check kickstarter temperature 0"
expect_err "lossplug: error: $lp_tmp/ks_t0.yaml:8:64: losses.distill.params.temperature = 0 is out of range; use a value in (0, 1000000]" "kickstarter temperature 0"
sed 's/temperature: 0}/temperature: 1e-300}/' "$lp_tmp/ks_t0.yaml" >"$lp_tmp/ks_tiny.yaml"
run_lp $only check "$lp_tmp/ks_tiny.yaml"
expect_rc 0 "check kickstarter temperature just above 0"

run_lp $only check
expect_rc 2 "check without CONFIG"
run_lp $only check a b
expect_rc 2 "check with two operands"

finish
