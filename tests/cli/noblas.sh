#!/bin/sh
# Programs that never train do not load OpenBLAS (whose load starts its
# thread pool): the `lossplug` CLI depends on no BLAS library, directly or
# through another library, while liblossplug (which trains) does, which
# shows the check can see a dependency. Nor does the CLI load cairo and the
# twenty libraries behind it: `plot` runs the helper lossplug-plot.
# usage: noblas.sh LOSSPLUG_CLI LIBLOSSPLUG_SO
set -u
cli=$1
lib=$2
status=0
blas='libopenblas|libblas|liblapack|libgfortran'
if ! deps=$(ldd "$cli" 2>&1); then
    echo "FAIL: ldd $cli: $deps" >&2
    exit 1
fi
if printf '%s\n' "$deps" | grep -Eq "$blas"; then
    echo "FAIL: $cli loads a BLAS library:" >&2
    printf '%s\n' "$deps" | grep -E "$blas" | sed 's/^/  /' >&2
    status=1
fi
if printf '%s\n' "$deps" | grep -Eq 'libcairo|libfontconfig|libX11'; then
    echo "FAIL: $cli loads cairo or its libraries (only lossplug-plot should):" >&2
    printf '%s\n' "$deps" | grep -E 'libcairo|libfontconfig|libX11' | sed 's/^/  /' >&2
    status=1
fi
plotter=$(dirname "$cli")/../lib/lossplug/lossplug-plot
if ! ldd "$plotter" 2>/dev/null | grep -q libcairo; then
    echo "FAIL: $plotter does not show libcairo in ldd: the check above proves nothing" >&2
    status=1
fi
if ! ldd "$lib" 2>/dev/null | grep -q libopenblas; then
    echo "FAIL: $lib does not show libopenblas in ldd: the check above proves nothing" >&2
    status=1
fi
# And it runs: the version line, exit 0.
if ! out=$(${LP_TEST_WRAPPER:-} "$cli" --version) || ! printf '%s\n' "$out" | grep -q '^lossplug '; then
    echo "FAIL: $cli --version: '$out'" >&2
    status=1
fi
exit $status
