#!/bin/sh
# Programs that never train do not load OpenBLAS (whose load starts its
# thread pool): neither the `lossplug` CLI nor liblossplug depends on a BLAS
# library, directly or through another library, while liblossplug-train
# (which trains) does, which shows the check can see a dependency. Nor does
# the CLI load cairo and the twenty libraries behind it: `plot` runs the
# helper lossplug-plot.
# usage: noblas.sh LOSSPLUG_CLI LIBLOSSPLUG_SO LIBLOSSPLUG_TRAIN_SO
set -u
cli=$1
core=$2
lib=$3
status=0
blas='libopenblas|libblas|liblapack|libgfortran'
if ! deps=$(ldd "$core" 2>&1); then
    echo "FAIL: ldd $core: $deps" >&2
    exit 1
fi
if printf '%s\n' "$deps" | grep -Eq "$blas"; then
    echo "FAIL: $core loads a BLAS library:" >&2
    printf '%s\n' "$deps" | grep -E "$blas" | sed 's/^/  /' >&2
    status=1
fi
if readelf -d "$core" | grep NEEDED | grep -Eq "$blas"; then
    echo "FAIL: readelf -d $core names a BLAS library" >&2
    status=1
fi
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
# liblossplug-train exports its own API only: not the private copies of
# liblossplug's internals it carries (lp__*), nor anything liblossplug
# exports (lp_session_*, ...); liblossplug exports no lp__* either.
train_api='^(lp_mlp_|lp_gru_|lp_adam_|lp_train_|lp_env_init$|lp_lr_linear_fraction$)'
exports=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}')
if ! printf '%s\n' "$exports" | grep -q '^lp_train_run$'; then
    echo "FAIL: $lib does not export lp_train_run: the export check proves nothing" >&2
    status=1
fi
extra=$(printf '%s\n' "$exports" | grep -Ev "$train_api")
if [ -n "$extra" ]; then
    echo "FAIL: $lib exports more than its API:" >&2
    printf '%s\n' "$extra" | sed 's/^/  /' >&2
    status=1
fi
if nm -D --defined-only "$core" | awk 'NF == 3 {print $3}' | grep -q '^lp__'; then
    echo "FAIL: $core exports internal lp__ symbols" >&2
    status=1
fi
# And it runs: the version line, exit 0.
if ! out=$(${LP_TEST_WRAPPER:-} "$cli" --version) || ! printf '%s\n' "$out" | grep -q '^lossplug '; then
    echo "FAIL: $cli --version: '$out'" >&2
    status=1
fi
exit $status
