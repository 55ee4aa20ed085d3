#!/bin/sh
# No program or library of the build tree has a RUNPATH/RPATH entry that
# ld.so reads as the current directory (an empty entry: a leading, trailing
# or doubled ':'; or '.'), which would let a library planted in whatever
# directory the program runs from be loaded into it. CMake pads the build
# tree's path with ':' to the install path's length unless the target is
# built with its install RUNPATH (lp_install_runpath, host/CMakeLists.txt).
# Each library of ours that links another of ours finds it through $ORIGIN.
# usage: runpath.sh BUILD_DIR
set -u
build=$1
status=0
checked=0
entries() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p'; }
for f in "$build"/bin/* "$build"/lib/*.so* "$build"/lib/lossplug/* "$build"/plugins/*.so \
         "$build"/fixtures/*.so; do
    [ -f "$f" ] || continue
    head -c 4 "$f" | grep -q 'ELF' || continue
    checked=$((checked + 1))
    rp=$(entries "$f")
    [ -n "$rp" ] || continue
    case ":$rp:" in
    *::* | *:.:* | *:./*)
        echo "FAIL: $f has RUNPATH [$rp]: an empty or relative entry is the current directory" >&2
        status=1
        ;;
    esac
done
# The check can see a RUNPATH at all: the training library has one.
case "$(entries "$build"/lib/liblossplug-train.so)" in
'$ORIGIN') ;;
*)
    echo "FAIL: liblossplug-train.so's RUNPATH is [$(entries "$build"/lib/liblossplug-train.so)], expected [\$ORIGIN]" >&2
    status=1
    ;;
esac
if [ -f "$build"/lib/liblossplug-mpi.so ] && [ "$(entries "$build"/lib/liblossplug-mpi.so)" != '$ORIGIN' ]; then
    echo "FAIL: liblossplug-mpi.so's RUNPATH is [$(entries "$build"/lib/liblossplug-mpi.so)], expected [\$ORIGIN]" >&2
    status=1
fi
if [ "$checked" -lt 10 ]; then
    echo "FAIL: only $checked ELF files under $build: the check proves nothing" >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "runpath: $checked ELF files, no current-directory entry"
exit $status
