#!/bin/sh
# The CLI's options, exit codes and output formats.
# usage: usage.sh LOSSPLUG_EXE BUILD_DIR
set -u
. "$(dirname "$0")/lib.sh"
lp=$1
plugins=$2/plugins
only="--no-default-paths --plugin-path $plugins"

run_lp --help
expect_rc 0 "--help"
expect_out "Usage: lossplug" "--help"
expect_out "describe ID" "--help"

run_lp -h list
expect_rc 0 "-h with a command"

run_lp --version
expect_rc 0 "--version"
grep -qE '^lossplug [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI [0-9]+\.[0-9]+\)$' "$out" ||
    { fail "--version: unexpected output"; show_last; }

run_lp --bogus list
expect_rc 2 "unknown option"
expect_err "lossplug: error: unknown option '--bogus'" "unknown option"
expect_err "Try 'lossplug --help'" "unknown option"

run_lp
expect_rc 2 "no command"
expect_err "lossplug: error: no command given" "no command"

run_lp frobnicate
expect_rc 2 "unknown command"
expect_err "unknown command 'frobnicate'" "unknown command"

run_lp $only describe
expect_rc 2 "describe without an ID"
expect_err "Try 'lossplug --help'" "describe without an ID"

run_lp $only list extra
expect_rc 2 "list with an operand"

run_lp list --plugin-path
expect_rc 2 "--plugin-path without a directory"
expect_err "needs a directory" "--plugin-path without a directory"

run_lp $only list
expect_rc 0 "list"
expect_out "action_supervised" "list"
expect_out "$plugins/action_supervised.so" "list shows the file"
grep -qE '^ID +VERSION +FILE +SUMMARY$' "$out" || { fail "list: no header line"; show_last; }

run_lp $only list --json
expect_rc 0 "list --json"
expect_json "any(l['id'] == 'action_supervised' and l['file'].endswith('/action_supervised.so') and l['version'] and l['summary'] and l['abi']['major'] == 1 for l in d['losses']) and d['diagnostics'] == []"

run_lp $only describe action_supervised
expect_rc 0 "describe"
expect_out "parameters:" "describe"
expect_out "fields (per step" "describe"
expect_out "model outputs: " "describe"
expect_out "file: $plugins/action_supervised.so" "describe"

run_lp --json $only describe action_supervised
expect_rc 0 "describe --json"
expect_json "d['id'] == 'action_supervised' and set(d) >= {'version', 'summary', 'file', 'abi', 'parameters', 'fields', 'outputs'} and all(set(p) == {'name', 'type', 'default', 'min', 'max', 'min_exclusive', 'max_exclusive', 'range', 'choices', 'required', 'doc'} for p in d['parameters']) and all(set(f) == {'name', 'access', 'optional', 'phases', 'dtype', 'shape', 'doc'} for f in d['fields'])"

# A near miss: exit 1, and the registry's message suggests the right id.
run_lp $only describe action_supervize
expect_rc 1 "describe an unknown id"
expect_err "lossplug: error: " "describe an unknown id"
expect_err "action_supervised" "describe an unknown id suggests the nearest"
expect_err_format "describe an unknown id"

# Options may follow the command; "--" ends them.
run_lp list --no-default-paths --plugin-path="$plugins" -- 
expect_rc 0 "options after the command"
expect_out "action_supervised" "options after the command"

# An empty search path lists nothing and still succeeds.
mkdir "$lp_tmp/empty"
run_lp --no-default-paths --plugin-path "$lp_tmp/empty" list
expect_rc 0 "list of an empty directory"
expect_out "no losses found" "list of an empty directory"

finish
