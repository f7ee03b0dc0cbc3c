#!/bin/bash
# The booted-systemd system test: a minimal Debian 12 root, cashe installed
# into it, booted with systemd-nspawn, driven through nsenter.
#
#   tests/system/run.sh            build, install, boot, check
#   tests/system/run.sh --prepare  only create (or update) the cached root
#
# Exit 0: passed; 1: failed; 77: skipped, because systemd-nspawn cannot run
# here (the reason is printed). The debootstrapped root is cached under
# $CASHE_SYSTEM_CACHE (default /var/cache/cashe-system-test) and reused.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CASHE_SYSTEM_CACHE:-/var/cache/cashe-system-test}
BASE=$CACHE/bookworm        # debootstrap + runtime packages, reused
ROOT=$CACHE/root            # a fresh copy of BASE for each run
MACHINE=cashe-system-test
# What cashed and cashe-fuse need at run time, and what the test uses.
RUNTIME_PACKAGES="systemd systemd-sysv dbus libraft2 libuv1 libinih1
libhiredis0.14 libsystemd0 zlib1g libfuse3-3 fuse3 redis-tools procps"

say() { printf 'system-test: %s\n' "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; exit 1; }

# The Debian mirror this machine's apt uses (deb822 or one-line format).
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
             /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk '
            /^[ \t]*URIs:/ { for (i = 2; i <= NF; i++) print $i }
            /^[ \t]*deb[ \t]/ {
                for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; break }
            }' "$f" | grep -v -- '-security' | grep '/debian/\?$' | head -n1)
        if [ -n "$uri" ]; then
            echo "${uri%/}"
            return
        fi
    done
    echo "http://deb.debian.org/debian"
}

need_host_tools() {
    local missing=""
    command -v debootstrap >/dev/null || missing="$missing debootstrap"
    command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
    [ -z "$missing" ] && return 0
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq \
              --no-install-recommends $missing >/dev/null; } ||
        fail "cannot install$missing"
}

chroot_apt() {
    chroot "$BASE" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
}

prepare_base() {
    local mirror missing="" p
    mirror=$(debian_mirror)
    if [ ! -x "$BASE/usr/bin/apt-get" ] || [ ! -f "$BASE/.debootstrap-done" ]
    then
        say "debootstrap bookworm from $mirror into $BASE (once)"
        rm -rf "$BASE"
        mkdir -p "$BASE"
        debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
            bookworm "$BASE" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
            { tail -20 "$CACHE/debootstrap.log" >&2;
              fail "debootstrap failed"; }
        touch "$BASE/.debootstrap-done"
    fi
    for p in $RUNTIME_PACKAGES; do
        chroot "$BASE" dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing into the root:$missing"
        printf 'deb %s bookworm main\n' "$mirror" \
            >"$BASE/etc/apt/sources.list"
        chroot_apt apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        chroot_apt apt-get install -y -qq --no-install-recommends \
            $missing >/dev/null
        chroot_apt apt-get clean
    fi
}

case "${1:-}" in
--prepare)
    [ "$(id -u)" = 0 ] || skip "needs root"
    mkdir -p "$CACHE"
    need_host_tools
    exec 9>"$CACHE/lock"
    flock 9
    prepare_base
    exit 0
    ;;
esac
