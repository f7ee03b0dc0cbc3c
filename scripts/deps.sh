#!/bin/sh
# Install what cashe builds, tests and runs with, from Debian's archive.
# Quiet and quick when everything is already there.
set -eu

PACKAGES="meson ninja-build pkg-config gcc libc6-dev clang-format
libraft-dev libuv1-dev libinih-dev libhiredis-dev zlib1g-dev libjemalloc-dev
libsystemd-dev libcmocka-dev libfuse3-dev fuse3
redis-tools redis-server python3 python3-pytest python3-redis procps
iproute2 nftables gnuplot-nox
debootstrap systemd-container systemd scdoc mandoc rsync
debhelper lintian bash-completion clang libclang-rt-14-dev"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing:$missing; run as root (or with sudo) to install" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
