#!/bin/bash
# The side-by-side benchmark of issue 7, in one command: cashe (3 nodes)
# next to etcd (3 members, bench/etcd.sh) and redis-server (without fsync,
# and with appendfsync always) on this machine, servers pinned to CPU 0 and
# load generators to CPU 1, every data directory on one filesystem. Writes
# bench/results/<date>-<host>/{raw.jsonl,meta.json,report.md,*.png}.
#
#   bench/run.sh [--smoke] [-t SECONDS] [-r REPEATS] [-k KEYS] [-w LIST]
#                [-o DIR] [--no-etcd] [--no-fuse]
#
#   -t SECONDS  measured time of each run (10); a warm-up of 1 s comes first
#   -r REPEATS  runs of each workload; the report takes medians (3)
#   -k KEYS     keys of the memory and snapshot workloads (1000000)
#   -w LIST     only these workloads, comma separated, of: set get readonly
#               pipeline latency etcd fuse failover memory snapshot
#   -o DIR      where the results go (bench/results/<date>-<host>)
#   --no-etcd   no etcd and no Node.js generator (no npm needed)
#   --no-fuse   no FUSE workload
#   --smoke     a short run proving the harness works: 2 s runs, 1 repeat,
#               20000 keys, no etcd; results under /tmp unless -o. Put it
#               first: later options override it.
#
# Environment: BUILD=dir uses that build as it is (default: scripts/build.sh
# and build/); CASHED=path another cashed; BENCH_DIR=dir where the data
# directories go (default /var/tmp: a disk, never tmpfs); KEEP=1 keeps them
# and the servers' logs (they are kept anyway when the run fails). Runs as
# root: it installs packages with apt-get and mounts FUSE. See
# bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=10
reps=3
keys=1000000
warm=1
keyspace=100000
only=""
out=""
use_etcd=1
use_fuse=1
smoke=0
failover_after=8

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    -t) secs=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -k) keys=$2; shift 2 ;;
    -w) only=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    --no-etcd) use_etcd=0; shift ;;
    --no-fuse) use_fuse=0; shift ;;
    --smoke)
        smoke=1 secs=2 reps=1 keys=20000 warm=0.5 use_etcd=0
        failover_after=5
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

say() { echo "bench: $(date +%T) $*" >&2; }
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# ---- packages, build ------------------------------------------------------

# Debian's redis-server and etcd-server start system services where
# services may start (6379, 2379): stop them, they would share the CPUs.
stop_system_services() {
    local s
    for s in redis-server etcd; do
        if [ -d /run/systemd/system ]; then
            systemctl stop "$s" >/dev/null 2>&1 || true
        else
            service "$s" stop >/dev/null 2>&1 || true
        fi
    done
}

install_packages() {
    local p missing=""
    local pkgs="redis-server redis-tools gnuplot-nox python3 python3-redis
        procps util-linux iproute2"
    [ "$use_etcd" = 1 ] && pkgs="$pkgs etcd-server etcd-client"
    [ "$use_etcd" = 1 ] && ! command -v node >/dev/null && pkgs="$pkgs nodejs"
    [ "$use_etcd" = 1 ] && ! command -v npm >/dev/null && pkgs="$pkgs npm"
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        [ "$(id -u)" = 0 ] || { say "missing:$missing; run as root"; exit 1; }
        say "installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    stop_system_services
    if [ "$use_etcd" = 1 ] && [ ! -d bench/node/node_modules ]; then
        say "npm ci in bench/node"
        (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
}

scripts/deps.sh
install_packages
if [ -z "${BUILD:-}" ]; then
    scripts/build.sh
    BUILD=build
fi
CASHED=${CASHED:-$BUILD/cashed}
LOADGEN=$BUILD/bench/cashe-loadgen
for f in "$CASHED" "$LOADGEN"; do
    [ -x "$f" ] || { say "$f: not built"; exit 1; }
done
if [ "$use_fuse" = 1 ]; then
    if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ] ||
        ! command -v fusermount3 >/dev/null ||
        [ ! -x "$BUILD/fuse/cashe-fuse" ]; then
        say "no FUSE workload: needs root, /dev/fuse, fusermount3, cashe-fuse"
        use_fuse=0
    fi
fi

# ---- where things go ------------------------------------------------------

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cashe-bench.XXXXXX")
if [ -z "$out" ]; then
    if [ "$smoke" = 1 ]; then
        out=/tmp/cashe-bench-smoke
    else
        out=bench/results/$(date +%Y-%m-%d)-$(hostname -s)
    fi
fi
mkdir -p "$out"
raw=$out/raw.jsonl
errlog=$out/tools.err
: >"$raw"
: >"$errlog"
/usr/bin/python3 bench/report.py meta --workdir "$work" --param "seconds=$secs" \
    --param "repeats=$reps" --param "keys=$keys" --param "keyspace=$keyspace" \
    --param "warmup=$warm" >"$out/meta.json"

declare -a cpid=()         # cashed of node i
declare -A rpid=()         # redis-server by name
cgen=""                    # data directory of the running cashe cluster
etcd_dir=""
mnt=""

cleanup() {
    local rv=$? pid
    set +e
    [ -n "$mnt" ] && mountpoint -q "$mnt" && fusermount3 -u "$mnt"
    [ -n "$etcd_dir" ] && bench/etcd.sh stop "$etcd_dir" >/dev/null 2>&1
    for pid in "${cpid[@]}" "${rpid[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$rv" = 0 ] && [ -z "${KEEP:-}" ]; then
        rm -rf "$work"
    else
        say "servers' data and logs kept in $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/ports.sh
. bench/ports.sh
base=$(pick_base 30) || exit 1
cbase=$base                 # cashe: client cbase+i, Raft cbase+10+i
rport=$((base + 20))        # redis-server, no fsync
fport=$((base + 21))        # redis-server, appendfsync always

wait_ping() { # redis-cli arguments
    for _ in $(seq 300); do
        [ "$(redis-cli "$@" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    say "no answer from $*"
    return 1
}

# ---- servers --------------------------------------------------------------

info_field() { # port field -> value from INFO raft
    { redis-cli -p "$1" info raft 2>/dev/null || true; } | tr -d '\r' |
        sed -n "s/^$2://p"
}

cashe_node_start() { # i
    local i=$1 join=()
    [ "$i" -gt 0 ] && join=(--leaderaddr=":$cbase")
    taskset -c 0 "$CASHED" --id="raft$i" --listenaddr=":$((cbase + i))" \
        --raftaddr=":$((cbase + 10 + i))" --data-dir="$work/$cgen/raft$i" \
        --unix-socket="$work/$cgen/raft$i.sock" "${join[@]}" \
        >>"$work/$cgen/raft$i.log" 2>&1 &
    cpid[i]=$!
    wait_ping -p $((cbase + i))
}

leader_index() {
    local i
    for _ in $(seq 150); do
        for i in 0 1 2; do
            [ "$(info_field $((cbase + i)) role)" = leader ] && {
                echo "$i"
                return 0
            }
        done
        sleep 0.2
    done
    say "no cashe leader"
    return 1
}

# Every node up, one leader that all of them know, and every node applied
# what the leader committed.
cashe_wait_healthy() {
    local i l commit ok
    for _ in $(seq 300); do
        ok=1
        l=$(leader_index) || return 1
        commit=$(info_field $((cbase + l)) commit_index)
        for i in 0 1 2; do
            [ "$(info_field $((cbase + i)) leader)" = "raft$l" ] || ok=0
            [ "$(info_field $((cbase + i)) last_applied)" -ge "${commit:-0}" ] \
                2>/dev/null || ok=0
        done
        [ "$(redis-cli -p $((cbase + l)) info raft | grep -c 'role=voter')" \
            -ge 3 ] || ok=0
        [ "$ok" = 1 ] && return 0
        sleep 0.2
    done
    say "cashe cluster not healthy"
    return 1
}

cashe_start() { # generation name
    cgen=$1
    mkdir -p "$work/$cgen"
    for i in 0 1 2; do cashe_node_start "$i"; done
    cashe_wait_healthy
}

cashe_stop() {
    local pid
    for pid in "${cpid[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${cpid[@]}"; do wait "$pid" 2>/dev/null || true; done
    cpid=()
}

redis_start() { # name port [redis-server options]
    local name=$1 port=$2
    shift 2
    mkdir -p "$work/$name"
    taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --dir "$work/$name" --logfile "$work/$name/redis.log" "$@" &
    rpid[$name]=$!
    wait_ping -p "$port"
}

redis_stop() { # name
    kill -TERM "${rpid[$1]}" 2>/dev/null || true
    wait "${rpid[$1]}" 2>/dev/null || true
    unset "rpid[$1]"
}

# ---- load generators ------------------------------------------------------

tag() { # workload server rep: a tool's output on stdin -> raw.jsonl
    /usr/bin/python3 bench/report.py tag --workload "$1" --server "$2" \
        --rep "$3" >>"$raw"
}

lg() { # workload server rep [cashe-loadgen arguments]
    local w=$1 s=$2 r=$3
    shift 3
    taskset -c 1 "$LOADGEN" --workload "$w" "$@" 2>>"$errlog" |
        tag "$w" "$s" "$r" || say "$w on $s failed: see $errlog"
}

# cashe-loadgen with the defaults of the issue: 50 clients, 100-byte
# values, 100000 keys, a warm-up.
lg_run() { # workload server rep [arguments]
    local w=$1 s=$2 r=$3
    shift 3
    lg "$w" "$s" "$r" -c 50 -d 100 -r "$keyspace" -t "$secs" --warmup "$warm" "$@"
}

node_run() { # workload server rep [load.js arguments]
    local w=$1 s=$2 r=$3 more=()
    shift 3
    [ "$r" -gt 1 ] && more=(--no-prefill)
    taskset -c 1 node bench/node/load.js "$@" --seconds "$secs" \
        --warmup "$warm" --value-size 100 --keys "$keyspace" "${more[@]}" \
        2>>"$errlog" |
        tag "$w" "$s" "$r" || say "$w on $s failed: see $errlog"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

rss_run() { # server rep pid port
    local kb n
    kb=$(rss_kb "$3")
    n=$(redis-cli -p "$4" dbsize 2>/dev/null | tr -d '\r')
    printf '{"tool":"rss","rss_kb":%s,"dbsize":%s,"pid":%s}\n' "$kb" \
        "${n:-null}" "$3" | tag rss "$1" "$2"
}

# ---- FUSE -----------------------------------------------------------------

fuse_mount() { # socket
    mnt=$work/mnt
    mkdir -p "$mnt"
    taskset -c 1 "$BUILD/fuse/cashe-fuse" -f "$1" "$mnt" >"$work/fuse.log" 2>&1 &
    for _ in $(seq 100); do
        grep -q "following keyspace events" "$work/fuse.log" && break
        sleep 0.1
    done
    mountpoint -q "$mnt" || { say "FUSE mount failed"; return 1; }
}

fuse_umount() {
    [ -n "$mnt" ] && mountpoint -q "$mnt" && fusermount3 -u "$mnt"
    mnt=""
}

fusebench() { # workload server rep [cashe-fuse-bench arguments]
    local w=$1 s=$2 r=$3 ops
    shift 3
    ops=$(taskset -c 1 "$BUILD/fuse/cashe-fuse-bench" "$@" 2>>"$errlog") ||
        { say "$w on $s failed"; return 0; }
    printf '{"tool":"fusebench","rps":%s,"seconds":%s}\n' "$ops" "$secs" |
        tag "$w" "$s" "$r"
}

# ---- phase A: throughput and latency on one cluster -----------------------

phase_a() {
    local r l lp f fp sock endpoints="" i pids f2
    cashe_start a
    redis_start redis "$rport" --appendonly no
    redis_start redis-fsync "$fport" --appendonly yes --appendfsync always
    if [ "$use_etcd" = 1 ] && { want etcd || want latency; }; then
        etcd_dir=$work/etcd
        endpoints=$(bench/etcd.sh start "$etcd_dir" 0)
        say "etcd at $endpoints"
    fi
    l=$(leader_index)
    lp=$((cbase + l))
    f=$(((l + 1) % 3))
    fp=$((cbase + f))
    sock=$work/$cgen/raft$l.sock
    say "cashe leader raft$l on $lp, follower raft$f on $fp; redis on $rport," \
        "redis appendfsync always on $fport"

    say "prefill: $keyspace keys"
    for p in "$lp" "$rport" "$fport"; do
        taskset -c 1 "$LOADGEN" -p "$p" -c 50 -P 16 -t 120 --fill "$keyspace" \
            >/dev/null 2>>"$errlog" || say "prefill of $p failed"
    done

    if want fuse && [ "$use_fuse" = 1 ]; then
        fuse_mount "$sock" || use_fuse=0
        redis-cli -s "$sock" set bench/r "$(head -c 100 /dev/zero | tr '\0' r)" \
            >/dev/null
    fi

    for r in $(seq "$reps"); do
        say "repeat $r of $reps"
        if want set; then
            lg_run set cashe "$r" -p "$lp" set
            lg_run set redis-fsync "$r" -p "$fport" set
            lg_run set redis "$r" -p "$rport" set
        fi
        if want get; then
            lg_run get cashe "$r" -p "$lp" get
            lg_run get redis "$r" -p "$rport" get
        fi
        if want readonly; then
            lg_run get-readonly cashe-follower "$r" -p "$fp" --init READONLY get
            lg_run get-readonly redis "$r" -p "$rport" get
        fi
        if want pipeline; then
            lg_run set-pipeline cashe-P16 "$r" -p "$lp" -P 16 set
            lg_run set-pipeline cashe-P1 "$r" -p "$lp" set
        fi
        if want latency; then
            lg_run set-1client cashe "$r" -p "$lp" -c 1 set
            lg_run set-1client redis-fsync "$r" -p "$fport" -c 1 set
        fi
        if [ -n "$endpoints" ]; then
            if want etcd; then
                node_run node-set cashe "$r" --target redis \
                    --endpoints ":$lp" --op set --clients 50
                node_run node-set etcd "$r" --target etcd \
                    --endpoints "$endpoints" --op put --clients 50
                node_run node-get cashe "$r" --target redis \
                    --endpoints ":$lp" --op get --clients 50
                node_run node-get etcd "$r" --target etcd \
                    --endpoints "$endpoints" --op get --clients 50
            fi
            if want latency; then
                node_run node-set-1client cashe "$r" --target redis \
                    --endpoints ":$lp" --op set --clients 1
                node_run node-set-1client etcd "$r" --target etcd \
                    --endpoints "$endpoints" --op put --clients 1
            fi
        fi
        if want fuse && [ "$use_fuse" = 1 ]; then
            fusebench fuse cashe-fuse "$r" read "$mnt/bench/r" "$secs"
            fusebench fuse cashe-unix-get "$r" get "$sock" bench/r "$secs"
        fi
    done
    fuse_umount
    if [ -n "$etcd_dir" ]; then
        bench/etcd.sh stop "$etcd_dir" >/dev/null
        etcd_dir=""
    fi

    if want failover; then
        for r in $(seq "$reps"); do
            l=$(leader_index)
            f=$(((l + 1) % 3))
            f2=$(((l + 2) % 3))
            say "failover $r of $reps: kill -9 raft$l"
            disown "${cpid[l]}" # no "Killed" notice from bash
            lg failover-load cashe "$r" -p $((cbase + f)) -c 50 -d 100 \
                -r "$keyspace" -t $((failover_after + 1)) set &
            pids=$!
            taskset -c 1 /usr/bin/python3 bench/failover.py --kill "${cpid[l]}" \
                --nodes "127.0.0.1:$((cbase + f)),127.0.0.1:$((cbase + f2))" \
                --before 1 --after "$failover_after" 2>>"$errlog" |
                tag failover cashe "$r" || say "failover: no write acknowledged"
            wait "$pids" || true
            while kill -0 "${cpid[l]}" 2>/dev/null; do sleep 0.1; done
            cashe_node_start "$l"
            cashe_wait_healthy
        done
    fi
    cashe_stop
    redis_stop redis
    redis_stop redis-fsync
    for i in a redis redis-fsync; do rm -rf "${work:?}/$i/"*/ 2>/dev/null || true; done
}

# ---- phase B: memory and snapshot, on fresh servers with $keys keys -------

phase_b() {
    local r l lp i t0 t1 before after
    cashe_start b
    redis_start redis-mem "$rport" --appendonly no
    l=$(leader_index)
    lp=$((cbase + l))
    say "fill: $keys keys"
    lg fill cashe 1 -p "$lp" -c 50 -P 16 -t 1800 --fill "$keys"
    lg fill redis 1 -p "$rport" -c 50 -P 16 -t 1800 --fill "$keys"
    cashe_wait_healthy
    sleep 2
    # Memory at rest: a snapshot still being written holds its buffer (and
    # the log it will trim) for a while after a fast fill; a second after
    # the last write each node snapshots a log longer than the default
    # snapshot-threshold (8192). Wait for that on the leader, then for the
    # allocator to hand the freed pages back (jemalloc's dirty_decay_ms,
    # src/malloc_conf.c).
    for i in $(seq 120); do
        redis-cli -p "$lp" info raft | tr -d '\r' | awk -F: '
            $1 == "snapshot_in_progress" { p = $2 }
            $1 == "snapshot_index" { s = $2 }
            $1 == "last_applied" { a = $2 }
            END { exit !(p == 0 && a - s <= 8192) }' && break
        sleep 0.5
    done
    sleep 1.5
    if want memory; then
        for i in 0 1 2; do
            if [ "$i" = "$l" ]; then
                rss_run cashe-leader 1 "${cpid[i]}" $((cbase + i))
            else
                rss_run "cashe-follower-raft$i" 1 "${cpid[i]}" $((cbase + i))
            fi
        done
        rss_run redis 1 "${rpid[redis-mem]}" "$rport"
    fi
    redis_stop redis-mem
    if want snapshot; then
        for r in $(seq "$reps"); do
            lg_run snapshot cashe-no-snapshot "$r" -p "$lp" -r "$keys" get
            (
                sleep "$(awk -v w="$warm" 'BEGIN { print w + 0.5 }')"
                before=$(info_field "$lp" snapshot_index)
                t0=$(date +%s.%N)
                reply=$(taskset -c 1 redis-cli -p "$lp" cashe snapshot 2>&1)
                t1=$(date +%s.%N)
                sleep 1
                after=$(info_field "$lp" snapshot_index)
                awk -v a="$t0" -v b="$t1" -v s0="${before:-0}" \
                    -v s1="${after:-0}" -v rep="$reply" 'BEGIN {
                    gsub(/"/, "", rep)
                    printf "{\"tool\":\"redis-cli\",\"seconds\":%.4f,", b - a
                    printf "\"reply\":\"%s\",\"snapshot_index_before\":%d,", rep, s0
                    printf "\"snapshot_index_after\":%d}\n", s1 }' |
                    tag snapshot-cmd cashe "$r"
            ) &
            lg_run snapshot cashe-snapshot "$r" -p "$lp" -r "$keys" get
            wait $! || true
        done
    fi
    cashe_stop
}

say "results in $out, data in $work, servers on CPU 0, load on CPU 1"
want set || want get || want readonly || want pipeline || want latency ||
    want etcd || want fuse || want failover && phase_a
want memory || want snapshot && phase_b
/usr/bin/python3 bench/report.py report "$out"
