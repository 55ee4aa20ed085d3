#!/bin/sh
# Every shipped CartPole training config passes `lossplug check` (its
# program section declares the fields, outputs and sections cartpole-train
# provides), and names the sections the training loop reads.
# usage: check_configs.sh LOSSPLUG PLUGIN_DIR EXAMPLES_DIR LIB_SH
set -u
lp=$1
plugins=$2
examples=$3
. "$4"
for name in ppo ppo_target_kl a2c bc distill; do
    run_lp --plugin-path "$plugins" check "$examples/$name.yaml"
    expect_rc 0 "check $name.yaml"
    expect_out "config: $examples/$name.yaml: valid" "check $name.yaml"
    grep -q '^  sections: \[env, model, optimizer, trainer\]$' "$examples/$name.yaml" ||
        fail "$name.yaml: program.sections does not list env, model, optimizer, trainer"
done
finish
