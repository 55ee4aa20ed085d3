#!/bin/sh
# Every shipped CartPole training config passes `lossplug check` (its
# program section declares the fields, outputs and sections cartpole-train
# provides), and names the sections the training loop reads.
# expert_ce.yaml reads a dataset next to it: without one it is refused with
# a message naming the file; with one written by cartpole-expert-data it
# checks and trains.
# usage: check_configs.sh LOSSPLUG PLUGIN_DIR EXAMPLES_DIR LIB_SH EXPERT_DATA TRAIN
set -u
lp=$1
plugins=$2
examples=$3
. "$4"
expert_data=$5
train=$6
for name in ppo ppo_target_kl a2c bc distill ppo_gru ppo_position; do
    run_lp --plugin-path "$plugins" check "$examples/$name.yaml"
    expect_rc 0 "check $name.yaml"
    expect_out "config: $examples/$name.yaml: valid" "check $name.yaml"
    grep -q '^  sections: \[env, model, optimizer, trainer\]$' "$examples/$name.yaml" ||
        fail "$name.yaml: program.sections does not list env, model, optimizer, trainer"
done

# expert_ce.yaml, in a copy of its own so that its dataset can sit beside it.
cp "$examples/expert_ce.yaml" "$lp_tmp/expert_ce.yaml"
run_lp --plugin-path "$plugins" check "$lp_tmp/expert_ce.yaml"
expect_rc 1 "check expert_ce.yaml without its dataset"
expect_err "cannot open the dataset '$lp_tmp/cartpole-expert.lpx'" "check expert_ce.yaml without its dataset"
run "$expert_data" --out "$lp_tmp/cartpole-expert.lpx" --envs 4 --steps 64 --seed 3
expect_rc 0 "cartpole-expert-data"
run_lp --plugin-path "$plugins" check "$lp_tmp/expert_ce.yaml"
expect_rc 0 "check expert_ce.yaml"
expect_out "config: $lp_tmp/expert_ce.yaml: valid" "check expert_ce.yaml"
run "$train" "$lp_tmp/expert_ce.yaml" --plugin-path "$plugins" --max-steps 2048 --quiet \
    --stats "$lp_tmp/expert.csv"
expect_rc 0 "cartpole-train expert_ce.yaml"
grep -q 'expert/cross_entropy' "$lp_tmp/expert.csv" ||
    fail "cartpole-train expert_ce.yaml: no expert/cross_entropy in the stats"

# ppo_gru.yaml: the recurrent model's stored start state is a buffer field
# that check shows; a short run trains.
run_lp --plugin-path "$plugins" check "$examples/ppo_gru.yaml"
expect_out "memory_start" "check ppo_gru.yaml lists memory_start"
run "$train" "$examples/ppo_gru.yaml" --plugin-path "$plugins" --max-steps 1024 --quiet
expect_rc 0 "cartpole-train ppo_gru.yaml"
# ... and refuses whole-transition minibatches, at the config's line.
sed 's/sample: rows/sample: transitions/' "$examples/ppo_gru.yaml" >"$lp_tmp/gru_trans.yaml"
run "$train" "$lp_tmp/gru_trans.yaml" --plugin-path "$plugins" --max-steps 1024 --quiet
expect_rc 1 "cartpole-train ppo_gru.yaml with sample: transitions"
line=$(grep -n 'sample: transitions' "$lp_tmp/gru_trans.yaml" | cut -d: -f1)
col=$(grep 'sample: transitions' "$lp_tmp/gru_trans.yaml" | awk '{ print index($0, "transitions") }')
expect_err "gru_trans.yaml:$line:$col: buffer.sample: transitions with model.type: gru" \
    "sample: transitions refused"

# bc_gru.yaml: expert_ce on the recurrent model, from a position-only dataset.
cp "$examples/bc_gru.yaml" "$lp_tmp/bc_gru.yaml"
run "$expert_data" --observe position --out "$lp_tmp/cartpole-expert-position.lpx" --envs 8 \
    --steps 64 --seed 3
expect_rc 0 "cartpole-expert-data --observe position"
run "$train" "$lp_tmp/bc_gru.yaml" --plugin-path "$plugins" --max-steps 1024 --quiet \
    --stats "$lp_tmp/bc_gru.csv"
expect_rc 0 "cartpole-train bc_gru.yaml"
grep -q 'expert/cross_entropy' "$lp_tmp/bc_gru.csv" ||
    fail "cartpole-train bc_gru.yaml: no expert/cross_entropy in the stats"

# No stats file of a shipped config has a column that nobody fills: every
# column has a value on some line (a missing value is an empty CSV cell or
# an absent JSON key, never "nan" or null), and a loss with no train step
# (gae) has no "<name>/loss" column.
no_empty_columns() { # FILE WHAT
    python3 - "$1" <<'PY' || fail "$2: $1"
import csv, json, math, sys
path = sys.argv[1]
if path.endswith(".csv"):
    rows = list(csv.DictReader(open(path)))
    cols = list(rows[0].keys()) if rows else []
    vals = {c: [r[c] for r in rows] for c in cols}
    bad = [c for c in cols if all(v == "" for v in vals[c])]
    bad += ["%s has nan" % c for c in cols if any(v.lower() in ("nan", "-nan") for v in vals[c])]
else:
    rows = [json.loads(l) for l in open(path)]
    bad = ["%s is null or not finite" % k for r in rows for k, v in r.items()
           if v is None or not math.isfinite(v)]
    cols = sorted({k for r in rows for k in r})
if not rows or "gae/loss" in cols:
    bad.append("no lines" if not rows else "gae/loss, a loss with no train step")
if bad:
    sys.exit("columns nobody fills: " + ", ".join(bad))
PY
}
for name in ppo ppo_target_kl a2c bc distill expert_ce; do
    cfg=$examples/$name.yaml
    [ "$name" = expert_ce ] && cfg=$lp_tmp/expert_ce.yaml
    for ext in csv jsonl; do
        run "$train" "$cfg" --plugin-path "$plugins" --max-steps 4096 --quiet \
            --stats "$lp_tmp/cols-$name.$ext"
        expect_rc 0 "cartpole-train $name.yaml --stats .$ext"
        no_empty_columns "$lp_tmp/cols-$name.$ext" "$name.yaml: a stats column is never filled"
    done
done
finish
