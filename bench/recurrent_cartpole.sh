#!/bin/sh
# The recurrent CartPole run next to the MLP run (docs/performance.md
# "Memory"): examples/cartpole/ppo_gru.yaml and ppo_position.yaml (the same
# task, CartPole without velocities, and PPO recipe) for a fixed budget of
# env steps, alternated A/B ROUNDS times on one core with one OpenBLAS
# thread; prints env steps per second of each run and the median ratio.
# With -p also records a perf profile of one GRU run (perf must be
# installed) and prints the top symbols.
#
#   bench/recurrent_cartpole.sh [-b BUILD_DIR] [-s STEPS] [-r ROUNDS] [-p]
#
# Defaults: build/, 100000 steps, 3 rounds.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build
steps=100000
rounds=3
profile=0
while getopts b:s:r:p opt; do
    case $opt in
    b) build=$OPTARG ;;
    s) steps=$OPTARG ;;
    r) rounds=$OPTARG ;;
    p) profile=1 ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-s STEPS] [-r ROUNDS] [-p]" >&2; exit 2 ;;
    esac
done
prog=$build/bin/cartpole-train
[ -x "$prog" ] || { echo "$0: $prog not found; build first (make build)" >&2; exit 2; }
pin=
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi
export OPENBLAS_NUM_THREADS=1
ex=$here/examples/cartpole
echo "budget $steps env steps, $rounds rounds A/B"
echo "machine: $(nproc) cores, $(uname -m), load: $(cut -d' ' -f1-3 /proc/loadavg)${pin:+, pinned to core 0}"
sps() { # CONFIG -> env steps per second of one run
    $pin "$prog" "$1" --max-steps "$steps" --quiet | tr ' ' '\n' | sed -n 's/^steps_per_second=//p'
}
ratios=
for r in $(seq "$rounds"); do
    g=$(sps "$ex/ppo_gru.yaml")
    m=$(sps "$ex/ppo_position.yaml")
    ratio=$(awk "BEGIN { printf \"%.2f\", $m / $g }")
    echo "round $r: gru $g steps/s, mlp $m steps/s, mlp/gru $ratio"
    ratios="$ratios $ratio"
done
echo "median mlp/gru: $(printf '%s\n' $ratios | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
if [ "$profile" = 1 ]; then
    data=$(mktemp)
    $pin perf record -q -o "$data" -g "$prog" "$ex/ppo_gru.yaml" --max-steps "$steps" --quiet >/dev/null 2>&1
    perf report -i "$data" --no-children --percent-limit 2 --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -20
    rm -f "$data"
fi
