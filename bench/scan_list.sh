#!/bin/sh
# `lossplug list` over 20 plugins (the 7 built-in ones and 13 loadable
# fixtures), three ways, alternated by hyperfine in one run: cold (the scan
# cache removed before each run: 20 scans in child processes), cached (the
# second and later lists), and --no-scan (everything in-process, as before
# the scanner existed). Results go to docs/performance.md.
# usage: bench/scan_list.sh [BUILD_DIR]   (needs hyperfine)
set -eu
build=${1:-build}
lp=$(cd "$build" && pwd)/bin/lossplug
dir=$(mktemp -d "${TMPDIR:-/tmp}/lossplug-scan-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
mkdir "$dir/plugins"
cp "$build"/plugins/*.so "$dir/plugins/"
for c in good c1_summary hygiene huge_stride small_struct bad_field bad_param null_desc \
    missing_field bad_id newer_minor null_create init_fails; do
    cp "$build/fixtures/$c/$c.so" "$dir/plugins/"
done
chmod 755 "$dir/plugins"
chmod 644 "$dir"/plugins/*.so
echo "$(ls "$dir/plugins" | wc -l) plugins"
XDG_CACHE_HOME=$dir/cache
export XDG_CACHE_HOME
list="$lp --no-default-paths --plugin-path $dir/plugins list"
"$lp" --no-default-paths --plugin-path "$dir/plugins" list >/dev/null 2>&1 || true
hyperfine -N -i --warmup 3 --runs "${RUNS:-40}" \
    --command-name cold --prepare "rm -rf $dir/cache" "$list" \
    --command-name cached --prepare "true" "$list" \
    --command-name no-scan --prepare "true" "$lp --no-scan --no-default-paths --plugin-path $dir/plugins list"
