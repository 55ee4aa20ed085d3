#!/bin/sh
# Plugins scanned out of process: next to a good plugin, plugins whose init
# or constructor segfaults, aborts, calls exit(0) or loops forever. `lossplug
# list` exits 1 within a few seconds, names each bad file with what
# happened, and lists the good plugin; the second run answers from the cache
# at once; a changed file is scanned again; --no-scan is not tested with
# them (it would crash, by design).
# The same directory (crash_init.so fixed) on a cold cache of its own:
# cartpole-train, whose config names only the built-in losses, scans it
# (the sessions' default), logs each bad file and trains.
# usage: scan.sh LOSSPLUG_EXE FIXTURE_ROOT [CARTPOLE_TRAIN EXAMPLES_DIR]
set -u
. "$(dirname "$0")/lib.sh"
lp=$1
root=$2
train=${3:-}
examples=${4:-}

dir=$lp_tmp/plugins
mkdir "$dir"
for c in good crash_init crash_ctor abort_init exit_init hang_init; do
    cp "$root/$c/$c.so" "$dir/$c.so" || fail "fixture $c was not built"
done

check_bad_files() {
    what=$1
    expect_rc 1 "$what"
    expect_out "fixture_alpha" "$what: the good plugin is listed"
    expect_out "fixture_beta" "$what: the good plugin is listed"
    expect_err "lossplug: error: $dir/crash_init.so: the out-of-process scan was killed by signal SIGSEGV (Segmentation fault)" "$what: crash in init"
    expect_err "lossplug: error: $dir/crash_ctor.so: the out-of-process scan was killed by signal SIGSEGV" "$what: crash in a constructor"
    expect_err "lossplug: error: $dir/abort_init.so: the out-of-process scan was killed by signal SIGABRT (Aborted)" "$what: abort"
    expect_err "lossplug: error: $dir/exit_init.so: the out-of-process scan exited with status 0 before it finished" "$what: exit(0)"
    expect_err "lossplug: error: $dir/hang_init.so: no answer from the out-of-process scan in 3.0 s" "$what: endless loop"
    expect_err_format "$what"
}

start=$(date +%s)
run_lp --no-default-paths --plugin-path "$dir" list
took=$(($(date +%s) - start))
check_bad_files "list (cold)"
[ -n "${LP_TEST_WRAPPER:-}" ] || [ "$took" -le 10 ] || fail "list (cold) took $took s"
[ -s "$XDG_CACHE_HOME/lossplug/scan-v2.cache" ] || fail "no scan cache in $XDG_CACHE_HOME/lossplug"

# Cached: the same answers, and the hang is not waited for again.
start=$(date +%s)
run_lp --no-default-paths --plugin-path "$dir" list
took=$(($(date +%s) - start))
check_bad_files "list (cached)"
expect_err "remembered from an earlier scan of this same file" "list (cached)"
# (Not timed under valgrind, which makes every run slow.)
[ -n "${LP_TEST_WRAPPER:-}" ] || [ "$took" -le 2 ] || fail "list (cached) took $took s: the cache was not used"

# JSON too, and describe of the good plugin.
run_lp --json --no-default-paths --plugin-path "$dir" list
expect_rc 1 "list --json"
expect_json "{'fixture_alpha', 'fixture_beta'} == {l['id'] for l in d['losses']} and sum(1 for x in d['diagnostics'] if x['severity'] == 'error') == 5"
run_lp --no-default-paths --plugin-path "$dir" describe fixture_alpha
expect_rc 1 "describe next to bad plugins"
expect_out "fixture_alpha" "describe next to bad plugins"

# A changed file is scanned again: replace the crashing one by a good copy
# (another id would clash, so use the plugin that provides fixture_c1).
rm "$dir/crash_init.so"
cp "$root/c1_summary/c1_summary.so" "$dir/crash_init.so"
run_lp --no-default-paths --plugin-path "$dir" list
expect_out "fixture_c1" "a fixed file is scanned again and loads"
if grep -q "crash_init.so" "$err"; then fail "the fixed file is still refused"; show_last; fi

if [ -n "$train" ]; then
    start=$(date +%s)
    # shellcheck disable=SC2086
    XDG_CACHE_HOME=$lp_tmp/cache-train OPENBLAS_NUM_THREADS=1 \
        run ${LP_TEST_WRAPPER:-} "$train" "$examples/ppo.yaml" --plugin-path "$dir" \
        --max-steps 2048 --seed 3
    took=$(($(date +%s) - start))
    expect_rc 0 "cartpole-train next to bad plugins (cold cache)"
    expect_out "result: solved=" "cartpole-train next to bad plugins: trained"
    # (crash_init.so was replaced by a good plugin above.)
    if grep -q "crash_init.so" "$err"; then fail "cartpole-train: the fixed file is refused"; show_last; fi
    expect_err "cartpole-train: error: $dir/crash_ctor.so: the out-of-process scan was killed by signal SIGSEGV" "cartpole-train: crash in a constructor logged"
    expect_err "cartpole-train: error: $dir/abort_init.so: the out-of-process scan was killed by signal SIGABRT" "cartpole-train: abort logged"
    expect_err "cartpole-train: error: $dir/exit_init.so: the out-of-process scan exited with status 0" "cartpole-train: exit(0) logged"
    expect_err "cartpole-train: error: $dir/hang_init.so: no answer from the out-of-process scan in 3.0 s" "cartpole-train: endless loop logged"
    [ -s "$lp_tmp/cache-train/lossplug/scan-v2.cache" ] || fail "cartpole-train wrote no scan cache"
    [ -n "${LP_TEST_WRAPPER:-}" ] || [ "$took" -le 30 ] || fail "cartpole-train took $took s"
fi

# The helper's own guard: run with our pid as its parent's, it answers;
# with another pid (a parent that died before the helper could ask to die
# with it), it exits 1 at once and loads nothing.
scanner=$(dirname "$lp")/../lib/lossplug/lossplug-scan
run "$scanner" --v2 "$dir/good.so" $$
expect_rc 0 "lossplug-scan with its parent's pid"
expect_out "lossplug-scan 2" "lossplug-scan with its parent's pid"
run "$scanner" --v2 "$dir/good.so" 1
expect_rc 1 "lossplug-scan with another parent's pid"
if [ -s "$out" ]; then fail "lossplug-scan with another parent's pid wrote a report"; show_last; fi

finish
