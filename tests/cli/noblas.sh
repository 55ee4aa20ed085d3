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
. "$(dirname "$0")/lib.sh"
expect_no_blas "$core"
expect_no_blas "$cli"
if ldd "$cli" 2>&1 | grep -Eq 'libcairo|libfontconfig|libX11'; then
    fail "$cli loads cairo or its libraries (only lossplug-plot should):"
    ldd "$cli" | grep -E 'libcairo|libfontconfig|libX11' | sed 's/^/  /' >&2
fi
plotter=$(dirname "$cli")/../lib/lossplug/lossplug-plot
if ! ldd "$plotter" 2>/dev/null | grep -q libcairo; then
    fail "$plotter does not show libcairo in ldd: the check above proves nothing"
fi
if ! ldd "$lib" 2>/dev/null | grep -q libopenblas; then
    fail "$lib does not show libopenblas in ldd: the check above proves nothing"
fi
# liblossplug-train exports its own API only: not the private copies of
# liblossplug's internals it carries (lp__*), nor anything liblossplug
# exports (lp_session_*, ...); liblossplug exports no lp__* either.
train_api='^(lp_mlp_|lp_gru_|lp_adam_|lp_train_|lp_env_init$|lp_lr_linear_fraction$)'
exports=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 != "A" {print $3}')
if ! printf '%s\n' "$exports" | grep -q '^lp_train_run$'; then
    fail "$lib does not export lp_train_run: the export check proves nothing"
fi
extra=$(printf '%s\n' "$exports" | grep -Ev "$train_api")
if [ -n "$extra" ]; then
    fail "$lib exports more than its API:"
    printf '%s\n' "$extra" | sed 's/^/  /' >&2
fi
if nm -D --defined-only "$core" | awk 'NF == 3 {print $3}' | grep -q '^lp__'; then
    fail "$core exports internal lp__ symbols"
fi
# And it runs: the version line, exit 0.
lp=$cli
run_lp --version
expect_rc 0 "--version"
expect_out "lossplug " "--version"
finish
