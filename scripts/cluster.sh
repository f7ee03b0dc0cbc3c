#!/bin/bash
# Install what is needed, build cashe, and run a local three-node cluster on
# loopback: clients on 127.0.0.1:3000-3002, Raft on :4000-4002, data and
# logs under ./run/, and raft0's keyspace mounted as files at /mnt/cashe
# (CASHE_MOUNT=DIR to change it). Ctrl-C (or SIGTERM) unmounts and stops the
# nodes cleanly; running it again restarts them with their data.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh

run=$PWD/run
mnt=${CASHE_MOUNT:-/mnt/cashe}
mkdir -p "$run"
pids=()
fuse_pid=

stop() {
    trap - INT TERM EXIT
    if [ -n "$fuse_pid" ]; then
        fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
        wait "$fuse_pid" 2>/dev/null || true
    fi
    echo "stopping the cluster..."
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    echo "stopped; data kept in $run"
}
trap stop INT TERM EXIT

start() {
    local i=$1
    shift
    build/cashed --id="raft$i" --listenaddr=":300$i" --raftaddr=":400$i" \
        --data-dir="$run/raft$i" --unix-socket="$run/raft$i.sock" "$@" \
        >>"$run/raft$i.log" 2>&1 &
    pids+=($!)
}

wait_ping() {
    for _ in $(seq 100); do
        redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "node on port $1 did not start; see $run/*.log" >&2
    return 1
}

start 0
wait_ping 3000
start 1 --leaderaddr=:3000
start 2 --leaderaddr=:3000
wait_ping 3001
wait_ping 3002

for _ in $(seq 100); do
    n=$(redis-cli -p 3000 info raft | grep -c '^member.*role=voter' || true)
    [ "$n" -ge 3 ] && break
    sleep 0.2
done

mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
    echo "$mnt is already a mount point; not mounting the FUSE view" >&2
else
    build/fuse/cashe-fuse -f "$run/raft0.sock" "$mnt" >>"$run/fuse.log" 2>&1 &
    fuse_pid=$!
    for _ in $(seq 50); do
        mountpoint -q "$mnt" && break
        sleep 0.1
    done
fi

cat <<TXT

cashe is running: three nodes on 127.0.0.1:3000, :3001, :3002, and raft0's
keyspace mounted at $mnt.

  redis-cli -p 3001 set greeting hello     # any node takes writes
  redis-cli -p 3002 get greeting
  echo v > $mnt/key; cat $mnt/key          # every key is a file
  redis-cli -p 3000 info raft              # role, term, leader, members
  build/src/ctl/cashectl --socket $run/raft0.sock status
  build/src/ctl/cashectl --socket $run/raft1.sock member list

Logs: $run/*.log. Press Ctrl-C to unmount and stop the cluster.
TXT
redis-cli -p 3000 info raft | grep -E '^(role|term|leader|member)' || true
wait
