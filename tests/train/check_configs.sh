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
for name in ppo ppo_target_kl a2c bc distill; do
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
finish
