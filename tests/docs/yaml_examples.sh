#!/bin/sh
# Every YAML example of docs/ and README.md presented as a complete config
# (a ```yaml block with a top-level `losses:` key and no `...` placeholder)
# passes `lossplug check`, or, when the text right after it shows an error
# (a fenced block whose first line contains "error: "), fails with that
# error. Schematic blocks are listed as skipped. At least one must be checked.
# usage: yaml_examples.sh LOSSPLUG_EXE SOURCE_DIR LIB_SH
set -u
lp=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$2
. "$3"

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$src" "$lp_tmp" <<'PY' >"$lp_tmp/cases" || { fail "cannot extract the examples"; finish; }
import glob, os, re, sys
import md_blocks
src, tmp = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(src, "docs", "**", "*.md"), recursive=True))
files.append(os.path.join(src, "README.md"))
n = 0
for f in files:
    lines = open(f).read().split("\n")
    for lang, i, j in md_blocks.blocks(lines):
        body = lines[i + 1:j]
        where = "%s:%d" % (os.path.relpath(f, src), i + 1)
        if lang in ("yaml", "yml") and any(re.match(r"^losses:", l) for l in body):
            if any("..." in l for l in body):
                print("skip\t%s\tschematic (has '...')" % where)
            else:
                # An error shown right after: the next fenced block, if only
                # prose (at most 6 lines) separates them.
                expect = ""
                k = j + 1
                while k < len(lines) and k <= j + 7 and not lines[k].startswith("```"):
                    k += 1
                if k < len(lines) and lines[k].startswith("```") and k + 1 < len(lines):
                    first = lines[k + 1]
                    if "error: " in first:
                        expect = first.split("error: ", 1)[1]
                n += 1
                path = os.path.join(tmp, "case%d" % n, "config.yaml")
                os.makedirs(os.path.dirname(path))
                open(path, "w").write("\n".join(body) + "\n")
                print("check\t%s\t%s\t%s" % (where, path, expect))
PY
checked=0
while IFS="$(printf '\t')" read -r kind where path expect; do
    if [ "$kind" = skip ]; then
        echo "skipped $where: $path"
        continue
    fi
    checked=$((checked + 1))
    # From the config's folder, as a user would run it: its relative paths
    # (plugin_path, stats) land there.
    cd "$(dirname "$path")" || exit 1
    run_lp check config.yaml
    cd "$lp_tmp" || exit 1
    if [ -z "$expect" ]; then
        expect_rc 0 "$where: lossplug check on the complete example"
        echo "checked $where: valid"
    else
        expect_rc 1 "$where: lossplug check fails as the text shows"
        expect_err "$expect" "$where: the error the text shows"
        echo "checked $where: fails with '$expect'"
    fi
done <"$lp_tmp/cases"
[ "$checked" -gt 0 ] || fail "no complete YAML example found in the docs"
finish
