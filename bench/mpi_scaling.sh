#!/bin/sh
# Env steps per second of cartpole-train with 1 process and with 2 ranks
# under mpirun, A/B alternated (docs/performance.md "Data-parallel").
#   bench/mpi_scaling.sh [BUILD_DIR] [ROUNDS] [STEPS]
# Each run trains examples/cartpole/ppo.yaml for STEPS env steps (default
# 204800) with the target off, one OpenBLAS thread per process. Prints each
# run's steps/s and the medians. On a shared machine read the medians.
set -eu
build=${1:-build}
rounds=${2:-3}
steps=${3:-204800}
cfg=$(dirname "$0")/../examples/cartpole/ppo.yaml
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sps() { sed -n 's/.*steps_per_second=\([0-9]*\).*/\1/p'; }
one=""
two=""
i=0
while [ $i -lt "$rounds" ]; do
    for mode in 1 2; do
        # alternate which goes first
        if [ $(((i + mode) % 2)) -eq 0 ]; then m=1; else m=2; fi
        if [ $m -eq 1 ]; then
            v=$("$build/bin/cartpole-train" "$cfg" --max-steps "$steps" --until-return 1e9 --quiet | sps)
            one="$one $v"
        else
            v=$(mpirun --oversubscribe -np 2 "$build/bin/cartpole-train" "$cfg" --max-steps "$steps" \
                --until-return 1e9 --quiet | sps)
            two="$two $v"
        fi
        echo "round $i: $m rank(s): $v env steps/s"
    done
    i=$((i + 1))
done
med() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m1=$(med "$one")
m2=$(med "$two")
echo "median: 1 rank $m1 env steps/s, 2 ranks $m2 env steps/s, ratio $(awk "BEGIN {printf \"%.2f\", $m2/$m1}")"
