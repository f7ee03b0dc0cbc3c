#!/bin/sh
# Build the Debian packages (cashe, cashe-fuse) from this tree with
# dpkg-buildpackage -us -uc -b, check them with lintian, and print the paths
# of the .deb files, one a line, on stdout.
#
#   scripts/package.sh               build into build-deb/, run lintian
#   scripts/package.sh --no-lintian  build only
#
# The debian directory lives in packaging/debian; the build runs in a
# temporary copy of the tree with it copied to debian/, so this tree is left
# as it was. Exit 0: built (and lintian found no error or warning); 1: not.
set -eu
cd "$(dirname "$0")/.."
TOP=$PWD
OUT=$TOP/build-deb
LINTIAN=yes
[ "${1:-}" = "--no-lintian" ] && LINTIAN=no

say() { printf 'package: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# The packaging tools; the build dependencies come from debian/control below.
TOOLS="dpkg-dev debhelper lintian"
missing=""
for p in $TOOLS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || fail "missing:$missing; run as root to install"
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq \
              --no-install-recommends $missing >/dev/null; } ||
        fail "cannot install$missing"
fi

version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
upstream=${version%-*}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cashe-deb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
SRC=$TMP/cashe-$upstream

# A snapshot of the tree, without builds, caches or version control.
mkdir -p "$SRC"
tar -C "$TOP" -cf - --exclude=./.git --exclude='./build*' \
    --exclude=./cashe-data --exclude=./run --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude='*.pyc' . | tar -C "$SRC" -xf -
cp -a packaging/debian "$SRC/debian"

cd "$SRC"
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] ||
        fail "$(dpkg-checkbuilddeps 2>&1 | head -n1); run as root to install"
    say "installing the build dependencies"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get build-dep -y -qq --no-install-recommends ./ ||
      { apt-get update -qq &&
        apt-get build-dep -y -qq --no-install-recommends ./; }; } \
        >"$TMP/build-dep.log" 2>&1 ||
        { tail -20 "$TMP/build-dep.log" >&2;
          fail "cannot install the build dependencies"; }
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
say "dpkg-buildpackage -us -uc -b (log: build-deb/build.log)"
DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b >"$OUT/build.log" 2>&1 ||
    { tail -30 "$OUT/build.log" >&2; fail "dpkg-buildpackage failed"; }
cd "$TOP"
mv "$TMP"/*.deb "$TMP"/*.changes "$TMP"/*.buildinfo "$OUT"/

if [ "$LINTIAN" = yes ]; then
    say "lintian"
    lintian --fail-on error,warning "$OUT"/cashe_"${version}"_*.changes >&2 ||
        fail "lintian found errors or warnings"
fi
ls "$OUT"/*.deb
