#!/bin/sh
# test_linear (a program with its own model) links liblossplug and no BLAS:
# readelf -d names liblossplug.so and neither liblossplug-train nor a BLAS;
# ldd (what actually loads, through every library) shows no BLAS either.
# usage: noblas.sh TEST_LINEAR
set -u
exe=$1
blas='libopenblas|libblas|liblapack|libgfortran'
status=0
needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if ! printf '%s\n' "$needed" | grep -q '^liblossplug\.so'; then
    echo "FAIL: readelf -d $exe names no liblossplug.so: the checks below prove nothing" >&2
    status=1
fi
if printf '%s\n' "$needed" | grep -Eq "liblossplug-train|$blas"; then
    echo "FAIL: $exe links liblossplug-train or a BLAS:" >&2
    printf '%s\n' "$needed" | sed 's/^/  /' >&2
    status=1
fi
if ! deps=$(ldd "$exe" 2>&1); then
    echo "FAIL: ldd $exe: $deps" >&2
    exit 1
fi
if printf '%s\n' "$deps" | grep -Eq "$blas"; then
    echo "FAIL: $exe loads a BLAS library:" >&2
    printf '%s\n' "$deps" | grep -E "$blas" | sed 's/^/  /' >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "noblas: $exe links liblossplug and loads no BLAS"
exit $status
