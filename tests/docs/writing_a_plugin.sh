#!/bin/sh
# docs/writing-a-plugin.md, run as a reader would: every shell command of
# its ```sh blocks, in order, in one shell, from an empty folder, against an
# installed prefix; every file it says to create ("Create `NAME`:" and the
# block after it) written where the reader would be. Its step 1,
# `make install PREFIX=...`, is run as the `cmake --install` that make
# install ends with (this build is already made). The `describe` output the
# page shows must be what the command prints.
# usage: writing_a_plugin.sh BUILD_DIR SOURCE_DIR LIB_SH
set -u
build=$1
src=$2
. "$3"
doc=$src/docs/writing-a-plugin.md
mkdir "$lp_tmp/home"

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$(dirname "$0")" python3 - "$doc" "$build" >"$lp_tmp/steps.sh" 2>"$lp_tmp/expect" <<'PY' || { fail "cannot read $doc"; finish; }
import re, shlex, sys
import md_blocks
doc, build = sys.argv[1], sys.argv[2]
lines = open(doc).read().split("\n")
out = ["set -e"]
expected = None
create = None
last = 0
for lang, i, j in md_blocks.blocks(lines):
    for l in lines[last:i]:
        c = re.match(r"^Create `([^`]+)`:", l)
        if c:
            create = c.group(1)
    last = j + 1
    body = lines[i + 1:j]
    prev = "\n".join(lines[max(0, i - 3):i])
    if create is not None and lang != "sh":
        out.append("cat >%s <<'LP_DOC_EOF'" % shlex.quote(create))
        out.extend(body)
        out.append("LP_DOC_EOF")
        create = None
    elif lang == "sh":
        for l in body:
            l = re.sub(r"^make install PREFIX=(\S+)$",
                       lambda mm: "cmake --install %s --prefix %s >/dev/null" % (shlex.quote(build), mm.group(1)), l)
            out.append(l)
    elif lang == "" and "`describe` prints:" in prev:
        expected = body
print("\n".join(out))
if expected is None:
    sys.exit("no describe output shown after '`describe` prints:'")
sys.stderr.write("\n".join(expected) + "\n")
PY
echo "== the page's commands:"
sed 's/^/   /' "$lp_tmp/steps.sh"
mkdir "$lp_tmp/empty"
cd "$lp_tmp/empty" || exit 1
run env -i HOME="$lp_tmp/home" PATH="$PATH" TMPDIR="${TMPDIR:-/tmp}" sh -x "$lp_tmp/steps.sh"
expect_rc 0 "every command of docs/writing-a-plugin.md"
# The describe output the page shows, line by line, in the output.
while IFS= read -r line; do
    [ -n "$line" ] || continue
    grep -qxF -- "$line" "$out" || fail "the page shows '$line' but describe does not print it"
done <"$lp_tmp/expect"
expect_out "D lossplug_entry" "nm shows the one exported symbol"
[ "$(grep -c ' D \| T ' "$out")" -ge 1 ] || fail "nm printed nothing"
finish
