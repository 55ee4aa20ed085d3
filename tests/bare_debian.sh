#!/usr/bin/env bash
# The README's two commands on a bare Debian 12, verbatim.
#
#   sudo bash tests/bare_debian.sh [WORKDIR]
#
# Builds a `debootstrap --variant=minbase bookworm` root (no make, no
# compiler, no git) from the Debian mirror this machine's apt uses, copies a
# clean clone of this repository's HEAD into it, and runs the two commands
# of the README's first ```sh block in it with chroot (/proc, /sys and /dev
# mounted), as root, with an empty environment, one after the other. It
# reports the wall time and exit code of each and exits non-zero if one
# fails. Needs root, debootstrap and git on this machine, a few minutes and
# the package mirror; .ci/run does not run it.
#
# WORKDIR (default: a new directory under /var/tmp) keeps the root after the
# run for a look; it is removed on success when it was not given.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "==> $*"; }
die() {
    echo "bare_debian.sh: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run it as root (debootstrap and chroot need root)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v git >/dev/null || die "git is missing: apt-get install git"

# The mirror apt uses here: the first Debian (not security) archive of
# sources.list or sources.list.d/*.{list,sources}.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | sed -n -e 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\/\{0,1\}\) .*/\2/p' \
    -e 's/^URIs: *\([^ ]*\/debian\/\{0,1\}\)$/\1/p' | head -n 1 || true)
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"

# The two commands: the first ```sh block of the README, comments removed.
mapfile -t commands < <(awk '/^```sh$/ { inblock = 1; next } inblock && /^```/ { exit }
    inblock { sub(/[ \t]*#.*/, ""); if ($0 != "") print }' "$src/README.md")
[ "${#commands[@]}" -eq 2 ] || die "expected two commands in the README's first sh block, found ${#commands[@]}"

keep=0
if [ $# -gt 0 ]; then
    work=$1
    keep=1
    mkdir -p "$work"
else
    work=$(mktemp -d /var/tmp/lossplug-bare.XXXXXX)
fi
root=$work/root
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

say "debootstrap --variant=minbase bookworm $root $mirror"
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $work/debootstrap.log"
echo "    $(($(date +%s) - t0)) s"
for tool in make gcc cc cmake git; do
    if chroot "$root" /bin/sh -c "command -v $tool" >/dev/null 2>&1; then
        die "the bare root already has $tool"
    fi
done
echo "    the root has no make, gcc, cc, cmake or git"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

say "a clean clone of $(git -C "$src" rev-parse --short HEAD) into /root/lossplug"
git clone -q --no-hardlinks "$src" "$root/root/lossplug"
git -C "$root/root/lossplug" checkout -q "$(git -C "$src" rev-parse HEAD)"
rm -rf "$root/root/lossplug/.git" # a bare system has no git to use it

for m in proc sys dev dev/pts; do
    mkdir -p "$root/$m"
    case $m in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sysfs "$root/sys" ;;
    *) mount --bind "/$m" "$root/$m" ;;
    esac
    mounted+=("$root/$m")
done

status=0
report=()
for cmd in "${commands[@]}"; do
    say "chroot: cd /root/lossplug && $cmd"
    t0=$(date +%s.%N)
    set +e
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "cd /root/lossplug && $cmd" </dev/null 2>&1 | tee "$work/cmd$((${#report[@]} + 1)).log" |
        sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    set -e
    secs=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
    report+=("$(printf '%-22s exit %d  wall %6.0f s' "$cmd" "$rc" "$secs")")
    [ "$rc" -eq 0 ] || status=1
done

# A partial earlier install is repaired, not trusted: a file of an
# installed package deleted (dpkg still says "installed") and a package
# removed behind the list's back; `bash .ci/setup deps` must notice both.
if [ "$status" -eq 0 ]; then
    say "repair: delete /usr/include/yaml.h and remove libc6-dev, then bash .ci/setup deps"
    set +e
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c \
        'rm -f /usr/include/yaml.h && dpkg --remove --force-depends libc6-dev >/dev/null 2>&1 &&
         cd /root/lossplug && bash .ci/setup deps >/tmp/repair.log 2>&1 &&
         test -f /usr/include/yaml.h && dpkg-query -W -f="\${Status}" libc6-dev | grep -q "install ok installed" &&
         grep -q "installing missing Debian packages: libc6-dev" /tmp/repair.log &&
         grep -q "reinstalling every package" /tmp/repair.log' </dev/null
    rc=$?
    set -e
    report+=("$(printf '%-22s exit %d' "repair check" "$rc")")
    [ "$rc" -eq 0 ] || { status=1; cp "$root/tmp/repair.log" "$work/repair.log" 2>/dev/null || true; }
fi

echo
say "bare Debian 12 (debootstrap minbase bookworm, $mirror), clean clone of $(git -C "$src" rev-parse --short HEAD)"
printf '    %s\n' "${report[@]}"
cleanup
mounted=()
if [ "$status" -eq 0 ] && [ "$keep" -eq 0 ]; then
    rm -rf "$work"
else
    echo "    the root and the logs are kept in $work"
fi
[ "$status" -eq 0 ] && say "both README commands passed" || say "FAILED"
exit "$status"
