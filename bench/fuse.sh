#!/bin/bash
# cashe-fuse against the daemon it mounts: open+read+close of a 100-byte
# file through the mount against GET over the Unix socket, and small-file
# writes (open with O_TRUNC, write 100 bytes, close) against SET, one client
# each (build/fuse/cashe-fuse-bench, one C loop for both sides). One node;
# cashed on CPU 0, the client and cashe-fuse on CPU 1. Needs root (or
# user_allow_other-free FUSE) and /dev/fuse.
#
#   bench/fuse.sh [-t SECONDS] [-r ROUNDS] [-m]   BUILD=dir: use it as is
#
# -m puts the node's data in /dev/shm: without the disk's fsync time, what
# is left is what the mount itself costs.
#
# The two sides of each pair run in turn, ROUNDS times (the disk's fsync
# time drifts), and the table shows the median operations per second of
# each and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=2
rounds=3
data=/tmp
while getopts t:r:m o; do
    case $o in
    m) data=/dev/shm ;;
    t) secs=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *) exit 2 ;;
    esac
done

if [ -z "${BUILD:-}" ]; then
    scripts/build.sh
    BUILD=build
fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    echo "bench/fuse.sh: needs /dev/fuse and fusermount3" >&2
    exit 77
fi

work=$(mktemp -d "$data/cashe-fusebench.XXXXXX")
pids=()
cleanup() {
    mountpoint -q "$work/mnt" && fusermount3 -u "$work/mnt" || true
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

sock=$work/raft0.sock
port=$((20000 + RANDOM % 20000))
taskset -c 0 "$BUILD/cashed" --id=raft0 --listenaddr=":$port" \
    --raftaddr=":$((port + 1))" --data-dir="$work/raft0" \
    --unix-socket="$sock" >"$work/cashed.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done

mkdir "$work/mnt"
taskset -c 1 "$BUILD/fuse/cashe-fuse" -f "$sock" "$work/mnt" \
    >"$work/fuse.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q "following keyspace events" "$work/fuse.log" && break
    sleep 0.1
done
mountpoint -q "$work/mnt" || { echo "mount failed" >&2; exit 1; }

value=$(head -c 100 /dev/zero | tr '\0' r)
redis-cli -s "$sock" set bench/r "$value" >/dev/null
mkdir -p "$work/mnt/bench/w"

run() { taskset -c 1 "$BUILD/fuse/cashe-fuse-bench" "$@"; }
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fr=() sg=() fw=() ss=()
for _ in $(seq "$rounds"); do
    fr+=("$(run read "$work/mnt/bench/r" "$secs")")
    sg+=("$(run get "$sock" bench/r "$secs")")
    fw+=("$(run write "$work/mnt/bench/w" "$secs")")
    ss+=("$(run set "$sock" bench/s "$secs")")
done
fr=$(echo "${fr[@]}" | median) sg=$(echo "${sg[@]}" | median)
fw=$(echo "${fw[@]}" | median) ss=$(echo "${ss[@]}" | median)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "one client, 100-byte values, median of $rounds runs of $secs s, data in $data;"
echo "cashed on CPU 0, the client and cashe-fuse on CPU 1"
printf "%-36s %10s   %-22s %10s %7s\n" "through the mount" "ops/s" "over the Unix socket" "ops/s" "ratio"
printf "%-36s %10s   %-22s %10s %7s\n" "open+read+close" "$fr" "GET" "$sg" "$(ratio "$fr" "$sg")"
printf "%-36s %10s   %-22s %10s %7s\n" "open(O_TRUNC)+write+close" "$fw" "SET" "$ss" "$(ratio "$fw" "$ss")"
