#!/bin/bash
# A three-member etcd 3.4 cluster on loopback for the benchmarks: Debian's
# etcd-server, static initial cluster, fsync on (etcd's default), every member
# pinned to one CPU.
#
#   bench/etcd.sh start DIR [CPU]   start it (data and logs under DIR, CPU
#                                   defaults to 0), wait until every member is
#                                   healthy, print the client endpoints
#                                   (comma separated) on stdout
#   bench/etcd.sh stop DIR          stop the members started in DIR and wait
#                                   until they are gone
#
# Installs etcd-server and etcd-client with apt-get when they are missing (as
# root). Ports: a free run of six from a random base in 12000-32000, never
# etcd's own 2379/2380.
set -euo pipefail

die() {
    echo "etcd.sh: $*" >&2
    exit 1
}

install_etcd() {
    [ -x /usr/bin/etcd ] && [ -x /usr/bin/etcdctl ] && return 0
    [ "$(id -u)" = 0 ] ||
        die "etcd-server/etcd-client missing; run as root to install"
    echo "etcd.sh: installing etcd-server etcd-client" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends etcd-server etcd-client >&2
    # The package may start a system etcd on 2379/2380; it would share the
    # CPUs with the benchmark, so stop it and keep it from starting again.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now etcd >/dev/null 2>&1 || true
    else
        service etcd stop >/dev/null 2>&1 || true
    fi
}

# shellcheck source=bench/ports.sh
. "$(dirname "$0")/ports.sh"

stop_cluster() { # dir
    local dir=$1 pid pids=() i
    for i in 0 1 2; do
        [ -f "$dir/etcd$i.pid" ] || continue
        pid=$(cat "$dir/etcd$i.pid")
        # Only a process that is still this member's etcd.
        if [ -r "/proc/$pid/cmdline" ] &&
            tr '\0' ' ' <"/proc/$pid/cmdline" |
            grep -q -- "--data-dir $dir/etcd$i.data"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$dir/etcd$i.pid"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    done
    rm -f "$dir/endpoints"
}

start_cluster() { # dir cpu
    local dir=$1 cpu=$2 base i cluster="" endpoints="" ok=0
    install_etcd
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    stop_cluster "$dir"
    base=$(pick_base 6) || die "no free ports found in 12000-32000"
    for i in 0 1 2; do
        cluster+="${cluster:+,}etcd$i=http://127.0.0.1:$((base + 2 * i + 1))"
        endpoints+="${endpoints:+,}http://127.0.0.1:$((base + 2 * i))"
    done
    for i in 0 1 2; do
        rm -rf "$dir/etcd$i.data"
        setsid taskset -c "$cpu" /usr/bin/etcd \
            --name "etcd$i" \
            --data-dir "$dir/etcd$i.data" \
            --listen-client-urls "http://127.0.0.1:$((base + 2 * i))" \
            --advertise-client-urls "http://127.0.0.1:$((base + 2 * i))" \
            --listen-peer-urls "http://127.0.0.1:$((base + 2 * i + 1))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((base + 2 * i + 1))" \
            --initial-cluster "$cluster" \
            --initial-cluster-token "bench-$base" \
            --initial-cluster-state new \
            --logger zap --log-outputs stderr \
            </dev/null >"$dir/etcd$i.log" 2>&1 &
        echo $! >"$dir/etcd$i.pid"
    done
    for _ in $(seq 300); do
        if ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --dial-timeout=1s \
            --command-timeout=2s endpoint health >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if [ "$ok" != 1 ]; then
        for i in 0 1 2; do
            echo "--- $dir/etcd$i.log" >&2
            tail -n 20 "$dir/etcd$i.log" >&2 || true
        done
        stop_cluster "$dir"
        die "cluster not healthy after 30 s"
    fi
    echo "$endpoints" >"$dir/endpoints"
    echo "$endpoints"
}

case "${1:-}" in
start)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then
        die "usage: etcd.sh start DIR [CPU]"
    fi
    start_cluster "$2" "${3:-0}"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: etcd.sh stop DIR"
    [ -d "$2" ] || exit 0
    stop_cluster "$(cd "$2" && pwd)"
    ;;
*)
    die "usage: etcd.sh start DIR [CPU] | etcd.sh stop DIR"
    ;;
esac
