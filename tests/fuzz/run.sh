#!/bin/bash
# Build the libFuzzer targets with clang in their own build directory and
# run each on its seed corpus for FUZZ_SECONDS (default 20) seconds.
#
#   tests/fuzz/run.sh [target...]     targets: resp codec snapshot names
#                                     segment
#
# Environment: FUZZ_SECONDS, FUZZ_BUILD (default build-fuzz), FUZZ_JOBS
# (parallel fuzzing processes per target, default 1), FUZZ_ARGS (more
# libFuzzer flags). New inputs go to $FUZZ_BUILD/corpus/<target>, crashes
# to $FUZZ_BUILD/crashes/<target>/; the seeds in tests/fuzz/corpus are only
# read. Prints one line per target; exits nonzero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
root=$PWD
secs=${FUZZ_SECONDS:-20}
build=$(realpath -m "${FUZZ_BUILD:-build-fuzz}")
jobs=${FUZZ_JOBS:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(resp codec snapshot names segment)

if ! command -v clang >/dev/null; then
    echo "run.sh: clang not installed (apt-get install clang" \
        "libclang-rt-14-dev)" >&2
    exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Db_lundef=false >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log" >&2; exit 2; }
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}" >"$build/fuzz-build.log" \
    2>&1 || { cat "$build/fuzz-build.log" >&2; exit 2; }

status=0
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    work=$build/corpus/$t
    crashes=$build/crashes/$t
    log=$build/fuzz-$t.log
    par=()
    [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
    mkdir -p "$work" "$crashes" "$build/jobs-$t"
    touch "$build/jobs-$t/start"
    # With -jobs, libFuzzer writes a fuzz-<n>.log per job into the
    # current directory: keep those in the build directory.
    # shellcheck disable=SC2086
    (cd "$build/jobs-$t" && exec "$bin" "$work" "$root/tests/fuzz/corpus/$t" \
        -max_total_time="$secs" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "${par[@]}" ${FUZZ_ARGS:-}) >"$log" 2>&1
    rc=$?
    cat "$build/jobs-$t"/fuzz-*.log >>"$log" 2>/dev/null
    found=$(find "$crashes" -type f -newer "$build/jobs-$t/start" | wc -l)
    rm -rf "$build/jobs-$t"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
        res=ok
    else
        res="FAIL (rc $rc, $found new artifact(s) in $crashes, log $log)"
        status=1
    fi
    printf '%-9s %s  %ss  runs %s  %s exec/s  cov %s  ft %s\n' "$t" \
        "$res" "$secs" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}"
done
exit $status
