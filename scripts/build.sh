#!/bin/sh
# Build cashe: build/ (optimized, warnings are errors) and, with --asan,
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).
set -eu
cd "$(dirname "$0")/.."

if [ ! -f build/build.ninja ]; then
    meson setup build -Dwerror=true >/dev/null
fi
ninja -C build >/dev/null

if [ "${1:-}" = "--asan" ]; then
    if [ ! -f build-asan/build.ninja ]; then
        meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dbuildtype=debug >/dev/null
    fi
    ninja -C build-asan >/dev/null
fi
