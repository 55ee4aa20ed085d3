#!/bin/sh
# Data-parallel training under Open MPI's mpirun (docs/distributed.md).
# usage: mpi.sh CASE CARTPOLE_TRAIN MPI_TRAIN EXAMPLES_DIR PLUGINS LIB_SH
#   replicas   2 ranks: parameters identical on every rank after every epoch
#   one_rank   mpirun -np 1 gives the same stats and checkpoint bytes as the
#              plain (single-process) run
#   resume     2 ranks: 3 epochs + checkpoint + 3 resumed epochs give the same
#              checkpoint bytes and stats as 6 straight; another number of
#              ranks and a FIFO are refused
#   solve      mpirun -np 2 cartpole-train ppo.yaml solves CartPole
#   kill       one rank killed with SIGKILL: the job ends within 10 s and says
#              which rank
#   fail       one rank's environment fails: the job ends with its message
#   nan        one rank's rewards turn NaN: the job ends naming that rank
#   sigint     SIGINT to one rank: every rank stops after the epoch, rank 0
#              writes the checkpoint, exit 130
set -u
case_=$1
lp=$2
mpi_train=$3
examples=$4
plugins=$5
. "$6"

# Root in CI containers; two ranks on however many cores there are.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun="mpirun --oversubscribe"
ppo=$examples/ppo.yaml

# The stats of two runs without the wall-time column (env_steps_per_second).
same_stats() {
    col=$(head -n 1 "$1" | tr ',' '\n' | grep -n '^env_steps_per_second$' | cut -d: -f1)
    cut -d, -f"$col" --complement "$1" >"$lp_tmp/a.cut"
    cut -d, -f"$col" --complement "$2" >"$lp_tmp/b.cut"
    cmp -s "$lp_tmp/a.cut" "$lp_tmp/b.cut"
}

# The pid of rank $1 of the job started by mpirun $2 (its direct children,
# in rank order of their start: read OMPI_COMM_WORLD_RANK from each).
rank_pid() {
    for p in $(pgrep -P "$2"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Start a long 2-rank run in the background; wait for its first stats line.
start_long() {
    last_cmd="$mpirun -np 2 $lp $ppo ... $*"
    $mpirun -np 2 "$lp" "$ppo" --max-steps 100000000 --until-return 1e9 \
        --stats "$lp_tmp/long.csv" "$@" >"$out" 2>"$err" &
    job=$!
    i=0
    while [ ! -s "$lp_tmp/long.csv" ] || [ "$(wc -l <"$lp_tmp/long.csv")" -lt 3 ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || { fail "the 2-rank run wrote no stats in 60 s"; show_last; finish; }
        sleep 0.1
    done
}

# Seconds (whole) until $job ends, at most $1; its exit code in $rc.
wait_job() {
    t0=$(date +%s)
    while kill -0 "$job" 2>/dev/null; do
        if [ $(($(date +%s) - t0)) -gt "$1" ]; then
            fail "the job still runs $1 s later"
            kill -KILL "$job" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    rc=0
    wait "$job" || rc=$?
    waited=$(($(date +%s) - t0))
}

case $case_ in
replicas)
    run $mpirun -np 2 "$mpi_train" replicas "$ppo" "$plugins" 6
    expect_rc 0 "replicas"
    expect_out "replicas: 2 ranks, 6 epochs, parameters identical on every rank after each, changed by each: yes" "replicas"
    ;;
one_rank)
    run "$lp" "$ppo" --seed 3 --max-steps 4096 --stats "$lp_tmp/plain.csv" \
        --checkpoint "$lp_tmp/plain.ckpt" --quiet
    expect_rc 0 "plain run"
    run $mpirun -np 1 "$lp" "$ppo" --seed 3 --max-steps 4096 --stats "$lp_tmp/mpi.csv" \
        --checkpoint "$lp_tmp/mpi.ckpt" --quiet
    expect_rc 0 "mpirun -np 1"
    expect_out "result: solved=no env_steps=4096 epochs=8 " "mpirun -np 1"
    cmp -s "$lp_tmp/plain.ckpt" "$lp_tmp/mpi.ckpt" ||
        fail "mpirun -np 1: the checkpoint differs from the plain run's"
    same_stats "$lp_tmp/plain.csv" "$lp_tmp/mpi.csv" ||
        fail "mpirun -np 1: the stats differ from the plain run's"
    ;;
resume)
    # --max-steps is one rank's budget: 3072 per rank is 6144 for the job.
    run $mpirun -np 2 "$lp" "$ppo" --seed 5 --max-steps 3072 --stats "$lp_tmp/a.csv" \
        --checkpoint "$lp_tmp/a.ckpt" --quiet
    expect_rc 0 "6 epochs straight"
    expect_out "result: solved=no env_steps=6144 epochs=6 " "6 epochs straight"
    run $mpirun -np 2 "$lp" "$ppo" --seed 5 --max-steps 1536 --stats "$lp_tmp/b.csv" \
        --checkpoint "$lp_tmp/b.ckpt" --quiet
    expect_rc 0 "3 epochs"
    run $mpirun -np 2 "$lp" "$ppo" --seed 5 --max-steps 3072 --stats "$lp_tmp/b.csv" \
        --checkpoint "$lp_tmp/b.ckpt" --resume "$lp_tmp/b.ckpt" --quiet
    expect_rc 0 "3 resumed epochs"
    expect_out "result: solved=no env_steps=6144 epochs=6 " "3 resumed epochs"
    cmp -s "$lp_tmp/a.ckpt" "$lp_tmp/b.ckpt" ||
        fail "resume under 2 ranks: the checkpoint differs from the straight run's"
    same_stats "$lp_tmp/a.csv" "$lp_tmp/b.csv" ||
        fail "resume under 2 ranks: the stats differ from the straight run's"
    # Another number of ranks is refused, naming what is missing or extra.
    run $mpirun -np 1 "$lp" "$ppo" --seed 5 --max-steps 8192 --resume "$lp_tmp/b.ckpt" --quiet
    expect_rc 1 "resume 2 ranks' checkpoint with 1"
    expect_err "rank1/trainer/rng', of a run with more ranks than this one's 1" "1 of 2 ranks"
    run $mpirun -np 3 "$lp" "$ppo" --seed 5 --max-steps 8192 --resume "$lp_tmp/b.ckpt" --quiet
    [ "$rc" -ne 0 ] || fail "resume 2 ranks' checkpoint with 3: accepted"
    expect_err "has no entry 'rank2/" "3 of 2 ranks"
    # A FIFO given to --resume: rank 0 refuses it at once (no writer would
    # ever come) and every rank ends; nothing waits on the broadcast.
    mkfifo "$lp_tmp/pipe.ckpt"
    run timeout 30 $mpirun -np 2 "$lp" "$ppo" --seed 5 --resume "$lp_tmp/pipe.ckpt" --quiet
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "resume from a FIFO under 2 ranks: exit $rc"
    expect_err "pipe.ckpt': not a regular file: it is a FIFO" "resume from a FIFO"
    ;;
solve)
    # The issue's own command, with ppo.yaml's budget: trainer.total_steps
    # is one rank's, so the job may collect twice it; two ranks make every
    # update's batch twice as large and solve at about 530k job steps.
    run $mpirun -np 2 "$lp" "$ppo"
    expect_rc 0 "mpirun -np 2 solve"
    expect_out "result: solved=yes" "mpirun -np 2 solve"
    grep -q "result:" "$out" && [ "$(grep -c 'result:' "$out")" -eq 1 ] ||
        fail "mpirun -np 2: expected one result line (rank 0's)"
    cat "$out"
    ;;
kill)
    start_long
    pid=$(rank_pid 1 "$job") || { fail "no rank 1 process under mpirun $job"; finish; }
    kill -KILL "$pid"
    wait_job 10
    [ "$rc" -ne 0 ] || fail "killed rank: mpirun exited 0"
    grep -q "rank 1" "$err" "$out" || { fail "killed rank: no message names rank 1"; show_last; }
    echo "killed rank 1: the job ended after ${waited} s with exit code $rc"
    ;;
fail)
    run $mpirun -np 2 "$mpi_train" fail-step 1 300 "$ppo" "$plugins"
    [ "$rc" -ne 0 ] || fail "failing rank: mpirun exited 0"
    expect_err "rank 1 of 2: error: environment step (epoch 2): test environment: injected failure at step 300 on rank 1" "failing rank"
    ;;
nan)
    run $mpirun -np 2 "$mpi_train" nan-reward 1 300 "$ppo" "$plugins"
    [ "$rc" -ne 0 ] || fail "NaN on one rank: mpirun exited 0"
    expect_err "rank 1 of 2" "NaN on one rank"
    ;;
sigint)
    start_long --checkpoint "$lp_tmp/int.ckpt"
    pid=$(rank_pid 1 "$job") || { fail "no rank 1 process under mpirun $job"; finish; }
    kill -INT "$pid"
    wait_job 30
    expect_rc 130 "SIGINT to rank 1"
    expect_err "interrupted" "SIGINT to rank 1"
    [ -s "$lp_tmp/int.ckpt" ] || fail "SIGINT to rank 1: no checkpoint"
    ;;
*)
    fail "unknown case '$case_'"
    ;;
esac
finish
