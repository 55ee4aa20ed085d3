#!/bin/sh
# `lossplug list` against each fixture plugin of tests/fixtures (one case
# per directory, built by the loader tests): a refused plugin gives exit code 1 and its own message on stderr,
# as "lossplug: error: <file>: <reason>"; the others still load.
# usage: fixtures.sh LOSSPLUG_EXE FIXTURE_ROOT
set -u
. "$(dirname "$0")/lib.sh"
lp=$1
root=$2

[ -f "$root/good/good.so" ] || { fail "no fixtures in $root (build target lp_fixtures)"; finish; }

# list with nothing but DIRs searched
list_in() {
    args=
    for d in "$@"; do args="$args --plugin-path $d"; done
    # shellcheck disable=SC2086
    run_lp --no-default-paths $args list
}

run_lp --no-default-paths --plugin-path "$root/good" list
expect_rc 0 "good"
expect_out "fixture_alpha" "good"
expect_out "fixture_beta" "good"
[ -s "$err" ] && { fail "good: unexpected stderr"; show_last; }

# ABI 1.0 plugins built against the frozen 1.0 headers (tests/fixtures/abi-1.0).
run_lp --no-default-paths --plugin-path "$root/abi_1_0" list
expect_rc 0 "abi_1_0"
expect_out "fixture_v10_mse" "abi_1_0"
[ -s "$err" ] && { fail "abi_1_0: unexpected stderr"; show_last; }
run_lp --no-default-paths --plugin-path "$root/abi_1_0" describe fixture_v10_mse
expect_out "abi:  1.0" "abi_1_0 describe"
run_lp --no-default-paths --plugin-path "$root/abi_1_0_bits" list
expect_rc 1 "abi_1_0_bits"
expect_err "loss #1 'fixture_v10_update' refused: field 'rewards': LP_FIELD_UPDATE was added in ABI 1.1, but the plugin says it was built against ABI 1.0: rebuild it against lossplug/abi.h 1.1" "abi_1_0_bits"
expect_out "fixture_v10_bits" "abi_1_0_bits"
run_lp --no-default-paths --plugin-path "$root/abi_1_0_bits" describe fixture_v10_bits
grep -qE '^  coef +float +0 +\[0, 1\] ' "$out" || { fail "abi_1_0_bits: the 1.0 bit is ignored"; show_last; }

# case | what its message on stderr must contain
while IFS='|' read -r case reason; do
    [ -n "$case" ] || continue
    file=$root/$case/$case.so
    [ -e "$file" ] || { fail "$case: fixture $file was not built"; continue; }
    list_in "$root/$case" "$root/good"
    expect_rc 1 "$case"
    expect_err "lossplug: error: $file" "$case (the message names the file)"
    expect_err "$reason" "$case"
    expect_err_format "$case"
    expect_out "fixture_alpha" "$case (the good plugin still loads)"
done <<'CASES'
no_entry|no 'lossplug_entry' symbol
bad_major|built for plugin ABI 2.0, but this host speaks ABI 1.1
small_entry|lp_entry.struct_size is
small_struct|lp_loss_desc.struct_size is
missing_field|descriptor field 'id' is NULL
bad_id|id 'Bad-Id' is invalid
bad_param|refused: parameter
bad_field|refused: field
null_create|create is NULL
init_fails|init failed with
null_desc|returned NULL although loss_count()
undefined_symbol|undefined symbol
not_elf|invalid ELF header
huge_stride|lp_param_spec[0].struct_size is 2147483648, larger than any layout
CASES

# C1 control characters (U+009B CSI, U+0085) and ESC in a plugin's summary
# are printed as spaces by list and describe, text and JSON.
c1=$(printf '\302\233')
nel=$(printf '\302\205')
esc=$(printf '\033')
for cmd in list "describe fixture_c1"; do
    # shellcheck disable=SC2086
    run_lp --no-default-paths --plugin-path "$root/c1_summary" $cmd
    expect_rc 0 "c1_summary: $cmd"
    expect_out "before" "c1_summary: $cmd shows the summary"
    if grep -q -e "$c1" -e "$nel" -e "$esc" "$out"; then
        fail "c1_summary: $cmd printed a control character"; show_last
    fi
done
run_lp --json --no-default-paths --plugin-path "$root/c1_summary" list
expect_rc 0 "c1_summary: list --json"
if grep -q -e "$c1" -e "$nel" -e "$esc" "$out"; then
    fail "c1_summary: list --json printed a control character raw"; show_last
fi
expect_out '\u009b' "c1_summary: list --json escapes U+009B"

# A newer minor version loads, with a warning.
list_in "$root/newer_minor"
expect_rc 0 "newer_minor"
expect_err "lossplug: warning: $root/newer_minor/newer_minor.so" "newer_minor"
expect_err_format "newer_minor"

# Two files with one id: an error naming both files.
list_in "$root/good" "$root/dup_id"
expect_rc 1 "dup_id"
expect_err "$root/good/good.so" "dup_id names the first file"
expect_err "$root/dup_id/dup_id.so" "dup_id names the second file"
expect_err_format "dup_id"

# --json: still valid JSON, with the diagnostics, and still exit 1.
run_lp --json --no-default-paths --plugin-path "$root/bad_major" --plugin-path "$root/good" list
expect_rc 1 "list --json with a bad plugin"
expect_json "any(x['severity'] == 'error' and x['path'].endswith('bad_major.so') for x in d['diagnostics']) and {'fixture_alpha', 'fixture_beta'} <= {l['id'] for l in d['losses']}"

# The same file reached by two paths loads once.
ln -s "$root/good" "$lp_tmp/good-link"
list_in "$root/good" "$lp_tmp/good-link"
expect_rc 0 "one file by two paths"
[ "$(grep -c fixture_alpha "$out")" -eq 1 ] || { fail "one file by two paths: listed twice"; show_last; }

# Path security: a group-writable directory is refused unless the user opts out.
mkdir "$lp_tmp/open"
cp "$root/good/good.so" "$lp_tmp/open/"
chmod 0775 "$lp_tmp/open"
list_in "$lp_tmp/open"
expect_rc 1 "group-writable directory"
expect_err "lossplug: error: $lp_tmp/open" "group-writable directory"
run_lp --no-default-paths --allow-insecure-plugins --plugin-path "$lp_tmp/open" list
expect_rc 0 "group-writable directory with --allow-insecure-plugins"
expect_out "fixture_alpha" "group-writable directory with --allow-insecure-plugins"

finish
