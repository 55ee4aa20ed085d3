#!/bin/sh
# cartpole-train's command line: exit codes 2 (usage), 1 (runtime), 0 (a
# short run), what it prints, and a checkpoint resumed by a second run.
# usage: cartpole_cli.sh CARTPOLE_TRAIN EXAMPLES_DIR LIB_SH
set -u
lp=$1
examples=$2
. "$3"

run_lp --help
expect_rc 0 "--help"
expect_out "usage: cartpole-train CONFIG" "--help"

run_lp
expect_rc 2 "no CONFIG"
expect_err "cartpole-train: no CONFIG given" "no CONFIG"

run_lp "$examples/ppo.yaml" --seed
expect_rc 2 "--seed without a value"
expect_err "option '--seed' needs a value" "--seed without a value"

run_lp "$examples/ppo.yaml" --seed -4
expect_rc 2 "--seed -4"
expect_err "--seed wants a whole number >= 0, not '-4'" "--seed -4"

run_lp "$examples/ppo.yaml" --max-steps 1k
expect_rc 2 "--max-steps 1k"

run_lp "$examples/ppo.yaml" --until-return lots
expect_rc 2 "--until-return lots"

run_lp "$examples/ppo.yaml" --frobnicate
expect_rc 2 "unknown option"
expect_err "unknown option '--frobnicate'" "unknown option"

run_lp "$examples/ppo.yaml" "$examples/a2c.yaml"
expect_rc 2 "two configs"

run_lp "$lp_tmp/missing.yaml"
expect_rc 1 "missing config"
expect_err "cartpole-train: error: $lp_tmp/missing.yaml: cannot open" "missing config"

printf 'buffer: {segments: 4, horizon: 8}\nenv: {num_envs: 2}\nlosses: [{plugin: ppo}]\n' \
    >"$lp_tmp/bad.yaml"
run_lp "$lp_tmp/bad.yaml" --max-steps 64
expect_rc 1 "env.num_envs against buffer.segments"
expect_err "bad.yaml:2:17: env.num_envs = 2 but buffer.segments = 4" "num_envs"

# A short run: progress lines on stderr (not a terminal), the result on
# stdout, a stats file and a checkpoint; then a resume for two more epochs.
run_lp "$examples/ppo.yaml" --seed 3 --max-steps 2048 --stats "$lp_tmp/s.csv" \
    --checkpoint "$lp_tmp/run.ckpt"
expect_rc 0 "short run"
expect_out "result: solved=no env_steps=2048 epochs=4 " "short run"
expect_err "step budget reached: mean return" "short run"
expect_err "checkpoint $lp_tmp/run.ckpt (epoch 4)" "short run"
[ "$(wc -l <"$lp_tmp/s.csv")" -eq 5 ] || fail "stats: expected a header and 4 lines"
head -n 1 "$lp_tmp/s.csv" | grep -q '^epoch,env_steps,.*actor/clipfrac' ||
    fail "stats: the header lacks actor/clipfrac"

run_lp "$examples/ppo.yaml" --seed 3 --max-steps 3072 --resume "$lp_tmp/run.ckpt" --quiet
expect_rc 0 "resume"
expect_out "result: solved=no env_steps=3072 epochs=6 " "resume"
[ ! -s "$err" ] || { fail "--quiet wrote to stderr"; show_last; }

# Until a (low) target: solved=yes.
run_lp "$examples/bc.yaml" --until-return 30 --quiet
expect_rc 0 "until-return"
expect_out "result: solved=yes" "until-return"

finish
