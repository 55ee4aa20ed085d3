#!/bin/sh
# Throughput of examples/cartpole/ppo.yaml against what the hardware allows
# (docs/performance.md "Training throughput"): for seeds 1..3 (or those
# given), a fixed number of env steps (no early stop), one core, one
# OpenBLAS thread; per run the env steps, the wall time, the GFLOP/s the
# model's matrix products achieve, and the fraction of
#   - the shape limit: the same sgemm calls timed alone at the model's own
#     shapes (bench/sgemm_shapes, measured in this run; it also prints the
#     model's own kernels at those calls, which the model now uses), and
#   - the FMA peak of one core (AVX2 and AVX-512 registers, same run).
# With -B OTHER_BUILD the runs alternate between the two builds (A/B) and
# the median of the paired throughput ratios BUILD/OTHER is printed: the machine
# may be shared, so only ratios measured side by side mean something.
#
#   bench/cartpole_vs_limit.sh [-b BUILD] [-B OTHER_BUILD] [-c CONFIG] [-m STEPS] [-r ROUNDS] [SEED...]
#
# Defaults: build/, no A/B, examples/cartpole/ppo.yaml, 200000 steps, 1 round,
# seeds 1 2 3. The model's shapes are CartPole's (4 observations, 64-64,
# 2 actions, 4 envs x 128 steps, 4 minibatches of 128, 4 epochs): pass -s
# "OBS HIDDEN ACTIONS ENVS HORIZON MB_ROWS MINIBATCHES EPOCHS" for another
# config with two hidden layers of equal width and separate trunks.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build
other=
config=$here/examples/cartpole/ppo.yaml
steps=200000
rounds=1
shapes="4 64 2 4 128 128 4 4"
while getopts b:B:c:m:r:s: opt; do
    case $opt in
    b) build=$OPTARG ;;
    B) other=$OPTARG ;;
    c) config=$OPTARG ;;
    m) steps=$OPTARG ;;
    r) rounds=$OPTARG ;;
    s) shapes=$OPTARG ;;
    *) echo "usage: $0 [-b BUILD] [-B OTHER_BUILD] [-c CONFIG] [-m STEPS] [-r ROUNDS] [-s SHAPES] [SEED...]" >&2
       exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- 1 2 3
for b in "$build" $other; do
    [ -x "$b/bin/cartpole-train" ] || { echo "$0: $b/bin/cartpole-train not found; build first (make build)" >&2; exit 2; }
done
[ -x "$build/bin/sgemm_shapes" ] || { echo "$0: $build/bin/sgemm_shapes not found (LP_BUILD_BENCH)" >&2; exit 2; }
pin=
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; fi
export OPENBLAS_NUM_THREADS=1

# shellcheck disable=SC2086
limit=$($pin "$build/bin/sgemm_shapes" $shapes 2>/dev/null)
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
flops=$(kv flops_per_step "$limit")
limit_ns=$(kv limit_ns_per_step "$limit")
p2=$(kv fma_peak_avx2_gflops "$limit")
p5=$(kv fma_peak_avx512_gflops "$limit")
echo "config: $config, $steps env steps per run, seeds: $*"
echo "machine: $(nproc) cores, $(uname -m), load: $(cut -d' ' -f1-3 /proc/loadavg)${pin:+, pinned to core 0}, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "model: $flops sgemm flops per env step; shape limit $limit_ns ns per env step ($(kv limit_gflops "$limit") GFLOP/s); FMA peak $p2 GFLOP/s (AVX2), $p5 (AVX-512)"
echo "own kernels (the model's, host/model/mlp_gemm.c) at the same calls: $(kv own_ns_per_step "$limit") ns per env step ($(kv own_gflops "$limit") GFLOP/s)"
printf '%-10s %-5s %10s %9s %9s %8s %8s %8s\n' build seed "env steps" "wall s" GFLOP/s "limit %" "avx2 %" "a512 %"

run() { # build seed -> prints the row, sets $wall
    t0=$(date +%s.%N)
    # A target no run reaches (CartPole's best mean is 500): every run does
    # the same number of steps, solved or not.
    line=$($pin "$1/bin/cartpole-train" "$config" --seed "$2" --max-steps "$steps" --until-return 1e9 --quiet)
    t1=$(date +%s.%N)
    n=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^env_steps=//p')
    wall=$(awk "BEGIN { print $t1 - $t0 }")
    awk -v b="$3" -v s="$2" -v n="$n" -v w="$wall" -v f="$flops" -v l="$limit_ns" -v p2="$p2" -v p5="$p5" 'BEGIN {
        g = f * n / w / 1e9
        printf "%-10s %-5s %10d %9.3f %9.1f %8.1f %8.1f %8.1f\n", b, s, n, w, g, 100 * l * n / 1e9 / w,
               100 * g / p2, (p5 > 0 ? 100 * g / p5 : 0) }'
    rate=$(awk "BEGIN { print $n / $wall }")
}

ratios=
r=0
while [ "$r" -lt "$rounds" ]; do
    for seed in "$@"; do
        run "$build" "$seed" A
        ra=$rate
        if [ -n "$other" ]; then
            run "$other" "$seed" B
            ratios="$ratios $(awk "BEGIN { print $ra / $rate }")"
        fi
    done
    r=$((r + 1))
done
if [ -n "$other" ]; then
    echo "A = $build, B = $other"
    printf '%s\n' $ratios | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "A/B throughput (env steps per wall second): median %.3f over %d pairs (min %.3f, max %.3f)\n", m, NR, v[1], v[NR] }'
fi
