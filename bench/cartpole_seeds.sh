#!/bin/sh
# Learning proof for examples/cartpole/ppo.yaml (docs/performance.md
# "Training"): train CartPole-v1 with seeds 1..5 (or those given), each until
# the mean return of the last 100 episodes reaches 475 or 300k env steps, on
# one core with one OpenBLAS thread, and print per seed the steps to solve
# and the wall time.
#
#   bench/cartpole_seeds.sh [-b BUILD_DIR] [-c CONFIG] [-m MAX_STEPS] [SEED...]
#
# Defaults: build/, examples/cartpole/ppo.yaml, 300000, seeds 1 2 3 4 5.
# Exit status 0 when at least 4 of 5 (80% of the seeds) solve.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build
config=$here/examples/cartpole/ppo.yaml
max_steps=300000
while getopts b:c:m: opt; do
    case $opt in
    b) build=$OPTARG ;;
    c) config=$OPTARG ;;
    m) max_steps=$OPTARG ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-c CONFIG] [-m MAX_STEPS] [SEED...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- 1 2 3 4 5
prog=$build/bin/cartpole-train
[ -x "$prog" ] || { echo "$0: $prog not found; build first (make build)" >&2; exit 2; }
pin=
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi
export OPENBLAS_NUM_THREADS=1

echo "config: $config (budget $max_steps env steps, target 475 over 100 episodes)"
echo "machine: $(nproc) cores, $(uname -m), load: $(cut -d' ' -f1-3 /proc/loadavg)${pin:+, pinned to core 0}"
printf '%-6s %-7s %14s %8s %13s %14s\n' seed solved "env steps" epochs "train s" "process s"
solved=0
total=0
for seed in "$@"; do
    t0=$(date +%s.%N)
    line=$($pin "$prog" "$config" --seed "$seed" --max-steps "$max_steps" --until-return 475 --quiet)
    t1=$(date +%s.%N)
    val() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    ok=$(val solved)
    printf '%-6s %-7s %14s %8s %13s %14.3f\n' "$seed" "$ok" "$(val env_steps)" "$(val epochs)" \
        "$(val seconds)" "$(awk "BEGIN { print $t1 - $t0 }")"
    total=$((total + 1))
    [ "$ok" = yes ] && solved=$((solved + 1))
done
echo "solved within $max_steps steps: $solved of $total"
[ $((solved * 5)) -ge $((total * 4)) ]
