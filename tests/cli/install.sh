#!/bin/sh
# Install the build tree into a temporary prefix, build the third-party
# example out of tree against it (CMake package and pkg-config alone), and
# check that the installed CLI lists and describes it, and finds the
# installed built-in plugins with no --plugin-path.
# It also builds a small embedding program against liblossplug, shared
# through pkg-config and static through the CMake package.
# usage: install.sh BUILD_DIR SOURCE_DIR SANITIZE(ON|OFF)
set -u
. "$(dirname "$0")/lib.sh"
build=$1
src=$2
# A sanitized liblossplug needs a sanitized program.
sanitize=
case "${3:-OFF}" in ON | on | 1 | TRUE | true) sanitize="-fsanitize=address,undefined" ;; esac
prefix=$lp_tmp/prefix
example=$src/examples/third_party_plugin
jobs="-j2"

step() { echo "== $*"; }

step "cmake --install into $prefix"
if ! cmake --install "$build" --prefix "$prefix" >"$lp_tmp/install.log" 2>&1; then
    cat "$lp_tmp/install.log" >&2
    fail "cmake --install"
    finish
fi
for f in include/lossplug/abi.h include/lossplug/plugin.h include/lossplug/dist.h include/lossplug/host.h \
    bin/lossplug bin/cartpole-train bin/cartpole-expert-data \
    share/lossplug/examples/cartpole/ppo.yaml lib/cmake/lossplug/lossplugConfig.cmake \
    lib/cmake/lossplug/lossplugConfigVersion.cmake lib/cmake/lossplug/LossplugPlugin.cmake \
    share/lossplug/plugin.map; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
ls "$prefix"/lib*/liblossplug.so* >/dev/null 2>&1 || fail "not installed: liblossplug.so"
ls "$prefix"/lib*/liblossplug.a >/dev/null 2>&1 || fail "not installed: liblossplug.a"
ls "$prefix"/lib*/pkgconfig/lossplug.pc >/dev/null 2>&1 || fail "not installed: lossplug.pc"
ls "$prefix"/lib*/liblossplug-train.so* >/dev/null 2>&1 || fail "not installed: liblossplug-train.so"
ls "$prefix"/lib*/liblossplug-train.a >/dev/null 2>&1 || fail "not installed: liblossplug-train.a"
ls "$prefix"/lib*/pkgconfig/lossplug-train.pc >/dev/null 2>&1 || fail "not installed: lossplug-train.pc"
pcdir=$(dirname "$(ls "$prefix"/lib*/pkgconfig/lossplug-sdk.pc)")
pc_sdk() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@"; }

step "each installed header of the embedding API compiles alone (C11 and C++)"
mkdir -p "$lp_tmp/headers"
for h in registry session model checkpoint config mlp adam train host rnn comm; do
    [ -e "$prefix/include/lossplug/$h.h" ] || fail "not installed: include/lossplug/$h.h"
    printf '#include <lossplug/%s.h>\n#include <lossplug/%s.h>\nint lp_header_test;\n' "$h" "$h" \
        >"$lp_tmp/headers/$h.c"
    run cc -std=c11 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -c \
        -o "$lp_tmp/headers/$h.o" "$lp_tmp/headers/$h.c"
    expect_rc 0 "include <lossplug/$h.h> alone, twice, in C11"
    if command -v c++ >/dev/null 2>&1; then
        run c++ -x c++ -Wall -Wextra -Werror -I"$prefix/include" -c -o "$lp_tmp/headers/$h.o" \
            "$lp_tmp/headers/$h.c"
        expect_rc 0 "include <lossplug/$h.h> alone in C++"
    fi
done

step "example with find_package(lossplug)"
run cmake -S "$example" -B "$lp_tmp/ex-cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
expect_rc 0 "configure the example with CMake"
run cmake --build "$lp_tmp/ex-cmake" $jobs
expect_rc 0 "build the example with CMake"
[ -f "$lp_tmp/ex-cmake/l2_logits.so" ] || fail "CMake built no l2_logits.so"

step "example with pkg-config lossplug-sdk"
run env PKG_CONFIG_PATH="$pcdir" make -C "$example" BUILD_DIR="$lp_tmp/ex-pc"
expect_rc 0 "build the example with its pkg-config Makefile"
[ -f "$lp_tmp/ex-pc/l2_logits.so" ] || fail "the Makefile built no l2_logits.so"

step "cairo is linked by the programs that draw (the plot helper, cartpole-train), not by liblossplug nor the CLI"
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
for lib in "$prefix"/lib*/liblossplug.so; do
    needed "$lib" | grep -q '^libcairo' && fail "$lib links cairo"
    needed "$lib" | grep -q '^libyaml' || fail "readelf shows no NEEDED of $lib: the check proves nothing"
done
for exe in bin/cartpole-train lib*/lossplug/lossplug-plot; do
    for f in "$prefix"/$exe; do
        needed "$f" | grep -q '^libcairo\.so' || fail "$f does not link cairo"
    done
done
needed "$prefix/bin/lossplug" | grep -q '^libcairo' && fail "bin/lossplug links cairo"

step "a plugin that calls expf links (libm) with lossplug_add_plugin and with pkg-config"
mkdir -p "$lp_tmp/expf/src"
cat >"$lp_tmp/expf/src/expf_user.c" <<'C'
#include <lossplug/plugin.h>
static int32_t ex_create(const lp_create_args *args, const lp_loss **out);
static const lp_loss_desc ex_desc = {
    .struct_size = sizeof(lp_loss_desc),
    .id = "expf_user",
    .version = "1.0.0",
    .summary = "calls expf from libm",
    .create = ex_create,
};
static int32_t ex_create(const lp_create_args *args, const lp_loss **out) {
    volatile float x = (float)args->param_count; /* a real call, not folded */
    (void)out;
    return lp_errorf(args->host, LP_EINVAL, "expf_user: expf(%g) = %g", (double)x,
                     (double)expf(x));
}
LP_PLUGIN_ENTRY(&ex_desc)
C
cat >"$lp_tmp/expf/src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(expf_user LANGUAGES C)
find_package(lossplug REQUIRED)
lossplug_add_plugin(expf_user expf_user.c)
CM
run cmake -S "$lp_tmp/expf/src" -B "$lp_tmp/expf/cmake" -DCMAKE_PREFIX_PATH="$prefix"
expect_rc 0 "configure the expf plugin"
run cmake --build "$lp_tmp/expf/cmake"
expect_rc 0 "link a plugin calling expf with lossplug_add_plugin (libm linked)"
mkdir -p "$lp_tmp/expf/pc"
# shellcheck disable=SC2046
run cc -std=c11 -O2 $(pc_sdk --cflags lossplug-sdk) $(pc_sdk --variable=plugin_cflags lossplug-sdk) \
    -shared -o "$lp_tmp/expf/pc/expf_user.so" "$lp_tmp/expf/src/expf_user.c" \
    $(pc_sdk --variable=plugin_ldflags lossplug-sdk)
expect_rc 0 "link a plugin calling expf with the pkg-config plugin_ldflags (libm linked)"
for dir in "$lp_tmp/expf/cmake" "$lp_tmp/expf/pc"; do
    nm -D --undefined-only "$dir/expf_user.so" 2>/dev/null | grep -q ' expf' ||
        fail "$dir/expf_user.so does not call expf: the test proves nothing"
    run "$prefix/bin/lossplug" --plugin-path "$dir" describe expf_user
    expect_rc 0 "load and describe the plugin calling expf ($dir)"
    expect_out "expf_user 1.0.0" "load and describe the plugin calling expf ($dir)"
done

step "exported symbols of the examples"
sh "$(dirname "$0")/symbols.sh" "$lp_tmp/ex-cmake/l2_logits.so" "$lp_tmp/ex-pc/l2_logits.so" ||
    fail "example plugins export more than lossplug_entry"

lp=$prefix/bin/lossplug
for dir in "$lp_tmp/ex-cmake" "$lp_tmp/ex-pc"; do
    step "installed lossplug with --plugin-path $dir"
    run "$lp" --plugin-path "$dir" list
    expect_rc 0 "list the example ($dir)"
    expect_out "l2_logits" "list the example ($dir)"
    expect_out "$dir/l2_logits.so" "list the example ($dir)"
    expect_out "action_supervised" "the installed built-ins are listed too ($dir)"

    run "$lp" --plugin-path "$dir" describe l2_logits
    expect_rc 0 "describe the example ($dir)"
    expect_out "l2_logits 1.0.0" "describe the example ($dir)"
    expect_out "coef" "describe the example's parameter ($dir)"
    expect_out "model outputs: logits" "describe the example's outputs ($dir)"
done

step "embedding liblossplug: pkg-config lossplug (shared)"
mkdir "$lp_tmp/embed"
cat >"$lp_tmp/embed/embed.c" <<'C'
#include <lossplug/host.h>
#include <stdio.h>
int main(void) {
    lp_registry_options opt;
    lp_registry_options_init(&opt);
    opt.use_env_path = 0;
    opt.use_install_dir = 0;
    lp_registry *reg = NULL;
    lp_error err;
    if (lp_registry_open(&opt, &reg, &err) != LP_OK)
        return 1;
    printf("liblossplug %s, %zu losses\n", lp_version_string(), lp_registry_loss_count(reg));
    lp_registry_close(reg);
    return 0;
}
C
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@"; }
# shellcheck disable=SC2046
run cc -std=c11 -Wall -Wextra -Werror $sanitize $(pc --cflags lossplug) -o "$lp_tmp/embed/embed-shared" \
    "$lp_tmp/embed/embed.c" $(pc --libs lossplug) -Wl,-rpath,"$(pc --variable=libdir lossplug)"
expect_rc 0 "compile and link an embedding program with pkg-config lossplug"
run "$lp_tmp/embed/embed-shared"
expect_rc 0 "run the program linked with -llossplug"
expect_out "0 losses" "run the program linked with -llossplug"

blas='libopenblas|libblas|liblapack|libgfortran'
step "liblossplug and pkg-config lossplug name no BLAS; liblossplug-train does"
for lib in "$prefix"/lib*/liblossplug.so; do
    needed "$lib" | grep -Eq "$blas" && fail "readelf -d $lib names a BLAS library"
done
for lib in "$prefix"/lib*/liblossplug-train.so; do
    needed "$lib" | grep -q '^libopenblas' || fail "readelf -d $lib names no OpenBLAS: the check above proves nothing"
    needed "$lib" | grep -q '^liblossplug\.so' || fail "$lib does not link liblossplug"
    # It reads its config sections through liblossplug's public
    # lossplug/config.h: no copy of the config module, so no libyaml.
    needed "$lib" | grep -q '^libyaml' && fail "readelf -d $lib names libyaml (a copy of the config module)"
    nm -D --defined-only "$lib" | grep -q ' lp_config_' &&
        fail "$lib exports lp_config_* (liblossplug's, not its own)"
done
pc --libs lossplug | grep -Eq 'blas|lapack' && fail "pkg-config --libs lossplug names a BLAS: $(pc --libs lossplug)"
pc --libs --static lossplug | grep -Eq 'blas|lapack' && fail "pkg-config --libs --static lossplug names a BLAS"
pc --libs --static lossplug-train | grep -q openblas || fail "pkg-config --libs --static lossplug-train names no OpenBLAS"
ldd "$lp_tmp/embed/embed-shared" | grep -Eq "$blas" && fail "a program linked with pkg-config lossplug loads a BLAS"

step "training with liblossplug-train: pkg-config lossplug-train (shared)"
cat >"$lp_tmp/embed/mlp.c" <<'C'
#include <lossplug/adam.h>
#include <lossplug/mlp.h>
#include <stdio.h>
int main(void) {
    lp_mlp_options o;
    lp_mlp_options_init(&o);
    o.obs_dim = 4;
    o.num_actions = 2;
    lp_mlp *m = NULL;
    lp_error err;
    if (lp_mlp_create(&o, &m, &err) != LP_OK)
        return 1;
    lp_adam_options ao;
    lp_adam_options_init(&ao);
    lp_adam *a = NULL;
    if (lp_adam_create(&ao, lp_mlp_param_count(m), &a, &err) != LP_OK)
        return 1;
    const float obs[4] = {0.1f, -0.2f, 0.3f, 0.0f};
    float logits[2], value;
    int32_t rc = lp_mlp_forward(m, obs, 4, 1, logits, &value, &err);
    printf("liblossplug %s: %zu parameters, rc %d\n", lp_version_string(), lp_mlp_param_count(m),
           (int)rc);
    lp_adam_destroy(a);
    lp_mlp_destroy(m);
    return rc == LP_OK ? 0 : 1;
}
C
# shellcheck disable=SC2046
run cc -std=c11 -Wall -Wextra -Werror $sanitize $(pc --cflags lossplug-train) -o "$lp_tmp/embed/mlp-shared" \
    "$lp_tmp/embed/mlp.c" $(pc --libs lossplug-train) -Wl,-rpath,"$(pc --variable=libdir lossplug)"
expect_rc 0 "compile and link a training program with pkg-config lossplug-train"
run "$lp_tmp/embed/mlp-shared"
expect_rc 0 "run the program linked with -llossplug-train"
expect_out "parameters, rc 0" "run the program linked with -llossplug-train"

step "embedding liblossplug: find_package + lossplug::lossplug_static"
cat >"$lp_tmp/embed/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(embed LANGUAGES C)
find_package(lossplug REQUIRED)
add_executable(embed-static embed.c)
target_link_libraries(embed-static PRIVATE lossplug::lossplug_static)
add_executable(mlp-static mlp.c)
target_link_libraries(mlp-static PRIVATE lossplug::lossplug_train_static)
CM
run cmake -S "$lp_tmp/embed" -B "$lp_tmp/embed/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_EXE_LINKER_FLAGS="$sanitize"
expect_rc 0 "configure an embedding program with find_package(lossplug)"
run cmake --build "$lp_tmp/embed/build" $jobs
expect_rc 0 "build an embedding program with lossplug::lossplug_static"
run "$lp_tmp/embed/build/embed-static"
expect_rc 0 "run the program linked with liblossplug.a"
if ldd "$lp_tmp/embed/build/embed-static" 2>/dev/null | grep -q liblossplug; then
    fail "embed-static is linked to liblossplug.so, not liblossplug.a"
fi
ldd "$lp_tmp/embed/build/embed-static" | grep -Eq "$blas" && fail "embed-static (liblossplug.a) loads a BLAS"
run "$lp_tmp/embed/build/mlp-static"
expect_rc 0 "run the program linked with liblossplug-train.a"
if ldd "$lp_tmp/embed/build/mlp-static" 2>/dev/null | grep -q liblossplug; then
    fail "mlp-static is linked to a shared liblossplug, not the static libraries"
fi

step "installed lossplug with no --plugin-path"
run "$lp" list --json
expect_rc 0 "list the installed built-ins"
expect_json "any(l['id'] == 'action_supervised' and '/lib' in l['file'] and '/lossplug/plugins/' in l['file'] for l in d['losses'])"
run "$lp" describe action_supervised
expect_rc 0 "describe an installed built-in"

# The installed programs find the installed plugins, and nothing of the
# build tree: no flag, no environment variable, run from an empty folder.
mkdir "$lp_tmp/empty"
cd "$lp_tmp/empty" || exit 1
cfg=$prefix/share/lossplug/examples/cartpole/ppo.yaml
step "installed lossplug check on an installed example config"
run "$lp" check "$cfg"
expect_rc 0 "installed lossplug check ppo.yaml"
expect_out "valid" "installed lossplug check ppo.yaml"
run "$lp" list --json
expect_rc 0 "installed lossplug list from an empty folder"
expect_json "d['losses'] and all(os.path.realpath(l['file']).startswith(os.path.realpath('$prefix') + '/') for l in d['losses'])"
step "installed cartpole-train, 4 epochs"
run "$prefix/bin/cartpole-train" "$cfg" --max-steps 2048 --quiet --stats run.csv --checkpoint run.ckpt
expect_rc 0 "installed cartpole-train runs 4 epochs"
expect_out "result: solved=no env_steps=2048 epochs=4" "installed cartpole-train runs 4 epochs"
[ -s run.csv ] && [ -s run.ckpt ] || fail "installed cartpole-train wrote no stats or checkpoint"
run "$prefix/bin/cartpole-expert-data" --out expert.lpx --steps 16
expect_rc 0 "installed cartpole-expert-data"

step "installed lossplug plot (runs the installed helper lossplug-plot)"
run "$prefix/bin/lossplug" plot run.csv -o run.png
expect_rc 0 "installed lossplug plot"
expect_out "plot: run.png" "installed lossplug plot"
[ "$(head -c 8 run.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
    fail "installed lossplug plot wrote no PNG"

finish
