#!/bin/bash
# Install what is needed, build cashe, and run a local three-node cluster on
# loopback: clients on 127.0.0.1:3000-3002, Raft on :4000-4002, data and
# logs under ./run/. Ctrl-C (or SIGTERM) stops the nodes cleanly; running it
# again restarts them with their data.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh

run=$PWD/run
mkdir -p "$run"
pids=()

stop() {
    trap - INT TERM EXIT
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

cat <<TXT

cashe is running: three nodes on 127.0.0.1:3000, :3001, :3002.

  redis-cli -p 3001 set greeting hello     # any node takes writes
  redis-cli -p 3002 get greeting
  redis-cli -p 3000 info raft              # role, term, leader, members
  redis-cli -s $run/raft0.sock cashe members

Logs: $run/raft*.log. Press Ctrl-C to stop the cluster.
TXT
redis-cli -p 3000 info raft | grep -E '^(role|term|leader|member)' || true
wait
