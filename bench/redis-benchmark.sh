#!/bin/bash
# redis-benchmark against a three-node cashe cluster and against one
# redis-server (without fsync, and with appendfsync always), measured in the
# same run. Servers are pinned to CPU 0, the load generator to CPU 1.
#
#   bench/redis-benchmark.sh [-n REQUESTS] [-c CLIENTS] [-P PIPELINE]
#
# Prints one table: requests per second and p50 per test, and the ratio of
# cashe to each redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."

n=100000
c=50
p=1
while getopts n:c:P: o; do
    case $o in
    n) n=$OPTARG ;;
    c) c=$OPTARG ;;
    P) p=$OPTARG ;;
    *) exit 2 ;;
    esac
done

scripts/build.sh
work=$(mktemp -d /tmp/cashe-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
for i in 0 1 2; do
    lead=()
    [ "$i" -gt 0 ] && lead=(--leaderaddr=":$base")
    taskset -c 0 build/cashed --id="raft$i" --listenaddr=":$((base + i))" \
        --raftaddr=":$((base + 10 + i))" --data-dir="$work/raft$i" \
        --unix-socket="" "${lead[@]}" >"$work/raft$i.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        redis-cli -p $((base + i)) ping >/dev/null 2>&1 && break
        sleep 0.1
    done
done
for _ in $(seq 100); do
    [ "$(redis-cli -p "$base" info raft | grep -c 'role=voter')" -ge 3 ] && break
    sleep 0.2
done

taskset -c 0 redis-server --port $((base + 20)) --save '' --appendonly no \
    --dir "$work" >/dev/null 2>&1 &
pids+=($!)
taskset -c 0 redis-server --port $((base + 21)) --save '' --appendonly yes \
    --appendfsync always --dir "$work" --appendfilename fsync.aof \
    >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

run() { # port -> "set_rps set_p50 get_rps get_p50"
    taskset -c 1 redis-benchmark -p "$1" -t set,get -n "$n" -c "$c" -P "$p" \
        -d 100 -r 100000 --csv 2>/dev/null |
        tr -d '"' | awk -F, '$1 == "SET" || $1 == "GET" { r[$1] = $2; l[$1] = $5 "/" $7 }
            END { print r["SET"], l["SET"], r["GET"], l["GET"] }'
}

read -r cs cl gs gl < <(run "$base")
read -r rs rl rg rgl < <(run $((base + 20)))
read -r fs fl fg fgl < <(run $((base + 21)))

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo "redis-benchmark -t set,get -n $n -c $c -P $p -d 100, servers on CPU 0, load on CPU 1"
printf "%-34s %12s %13s %12s %13s\n" "server" "SET rps" "p50/p99" "GET rps" "p50/p99"
printf "%-34s %12s %13s %12s %13s\n" "cashe, 3 nodes (leader)" "$cs" "$cl" "$gs" "$gl"
printf "%-34s %12s %13s %12s %13s\n" "redis-server, no fsync" "$rs" "$rl" "$rg" "$rgl"
printf "%-34s %12s %13s %12s %13s\n" "redis-server, appendfsync always" "$fs" "$fl" "$fg" "$fgl"
echo "cashe/redis (no fsync):     SET $(ratio "$cs" "$rs")  GET $(ratio "$gs" "$rg")"
echo "cashe/redis (fsync always): SET $(ratio "$cs" "$fs")  GET $(ratio "$gs" "$fg")"
