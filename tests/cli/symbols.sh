#!/bin/sh
# Every plugin exports `lossplug_entry` and nothing else of its own.
# usage: symbols.sh PLUGIN.so|DIR...   (a directory stands for its *.so)
set -u
status=0
checked=0
check() {
    so=$1
    checked=$((checked + 1))
    if ! syms=$(nm -D --defined-only "$so" 2>&1); then
        echo "FAIL: $so: nm: $syms" >&2
        status=1
        return
    fi
    # "ADDRESS TYPE NAME": version nodes (type A) are not code or data.
    entry=$(printf '%s\n' "$syms" | awk '$3 == "lossplug_entry" && $2 ~ /^[DdRrBb]$/' | wc -l)
    extra=$(printf '%s\n' "$syms" | awk 'NF == 3 && $2 != "A" && $3 != "lossplug_entry"')
    if [ "$entry" -ne 1 ]; then
        echo "FAIL: $so does not export the data symbol lossplug_entry" >&2
        status=1
    fi
    if [ -n "$extra" ]; then
        echo "FAIL: $so exports more than lossplug_entry:" >&2
        printf '%s\n' "$extra" | sed 's/^/  /' >&2
        status=1
    fi
}
for arg in "$@"; do
    if [ -d "$arg" ]; then
        for so in "$arg"/*.so; do
            [ -e "$so" ] && check "$so"
        done
    else
        check "$arg"
    fi
done
if [ "$checked" -eq 0 ]; then
    echo "FAIL: no plugin found in: $*" >&2
    exit 1
fi
[ "$status" -eq 0 ] && echo "$checked plugin(s): lossplug_entry only"
exit $status
