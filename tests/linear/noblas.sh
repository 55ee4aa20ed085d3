#!/bin/sh
# test_linear (a program with its own model) links liblossplug and no BLAS:
# readelf -d names liblossplug.so and neither liblossplug-train nor a BLAS;
# ldd (what actually loads, through every library) shows no BLAS either.
# usage: noblas.sh TEST_LINEAR LIB_SH
set -u
exe=$1
. "$2"
needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if ! printf '%s\n' "$needed" | grep -q '^liblossplug\.so'; then
    fail "readelf -d $exe names no liblossplug.so: the checks below prove nothing"
fi
if printf '%s\n' "$needed" | grep -q "liblossplug-train"; then
    fail "$exe links liblossplug-train:"
    printf '%s\n' "$needed" | sed 's/^/  /' >&2
fi
expect_no_blas "$exe"
finish
