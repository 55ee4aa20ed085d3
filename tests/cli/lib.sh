# Helpers shared by the CLI's shell tests. Source it; it defines:
#   run CMD...            run CMD, keep its exit code in $rc, its output in
#                         $out and $err (files)
#   run_lp ARGS...        run "$lp" ARGS under $LP_TEST_WRAPPER, if set (e.g.
#                         "valgrind -q --error-exitcode=99": make valgrind)
#   expect_rc N WHAT      fail unless the last run exited with N
#   expect_out TEXT WHAT  fail unless stdout contains TEXT (fixed string)
#   expect_err TEXT WHAT  fail unless stderr contains TEXT (fixed string)
#   expect_no_blas FILE   fail if FILE loads a BLAS library (ldd: through
#                         every library it needs), or names one (readelf -d)
#   fail MSG / finish     record a failure / exit 1 if any was recorded
# Tests must not depend on the caller's environment.
unset LOSSPLUG_PATH
umask 022

lp_tmp=$(mktemp -d "${TMPDIR:-/tmp}/lossplug-test.XXXXXX")
trap 'rm -rf "$lp_tmp"' EXIT
# The plugin scanner's cache goes to a fresh directory, not the user's.
unset LOSSPLUG_SCANNER
XDG_CACHE_HOME=$lp_tmp/cache
export XDG_CACHE_HOME
out=$lp_tmp/stdout
err=$lp_tmp/stderr
failures=0
rc=0

fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}

show_last() {
    echo "  command: $last_cmd" >&2
    echo "  exit code: $rc" >&2
    sed 's/^/  stdout: /' "$out" >&2
    sed 's/^/  stderr: /' "$err" >&2
}

run() {
    last_cmd="$*"
    rc=0
    "$@" >"$out" 2>"$err" || rc=$?
}

run_lp() {
    # The wrapper is a command line: split it into words on purpose.
    # shellcheck disable=SC2086
    run ${LP_TEST_WRAPPER:-} "$lp" "$@"
}

expect_rc() {
    if [ "$rc" -ne "$1" ]; then
        fail "$2: expected exit code $1, got $rc"
        show_last
    fi
}

expect_out() {
    if ! grep -qF -- "$1" "$out"; then
        fail "$2: stdout lacks '$1'"
        show_last
    fi
}

expect_err() {
    if ! grep -qF -- "$1" "$err"; then
        fail "$2: stderr lacks '$1'"
        show_last
    fi
}

# Every line of stderr is a lossplug diagnostic or the --help hint.
expect_err_format() {
    if grep -vE "^(lossplug: (error|warning): |Try 'lossplug --help')" "$err" >/dev/null; then
        fail "$1: stderr has lines that are not 'lossplug: error|warning: ...'"
        show_last
    fi
}

# stdout parses as JSON; with a Python expression, it must also hold for `d`.
expect_json() {
    if ! python3 -c 'import json,os,sys
d = json.load(sys.stdin)
if len(sys.argv) > 1 and not eval(sys.argv[1]):
    sys.exit("condition failed: " + sys.argv[1])' "$@" <"$out"; then
        fail "stdout is not the JSON expected${1:+ ($1)}"
        show_last
    fi
}

lp_blas_re='libopenblas|libblas|liblapack|libgfortran'

expect_no_blas() {
    if ! nb_deps=$(ldd "$1" 2>&1); then
        fail "ldd $1: $nb_deps"
        return
    fi
    if printf '%s\n' "$nb_deps" | grep -Eq "$lp_blas_re"; then
        fail "$1 loads a BLAS library:"
        printf '%s\n' "$nb_deps" | grep -E "$lp_blas_re" | sed 's/^/  /' >&2
    fi
    if readelf -d "$1" | grep NEEDED | grep -Eq "$lp_blas_re"; then
        fail "readelf -d $1 names a BLAS library"
    fi
}

finish() {
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed"
    exit 0
}
