#!/bin/bash
# The booted-systemd system test: a minimal Debian 12 root, cashe installed
# into it, booted with systemd-nspawn, driven through nsenter.
#
#   tests/system/run.sh            build, install, boot, check
#   tests/system/run.sh --prepare  only create (or update) the cached root
#
# Exit 0: passed; 1: failed; 77: skipped, because systemd-nspawn cannot run
# here (the reason is printed). The debootstrapped root is cached under
# $CASHE_SYSTEM_CACHE (default /var/cache/cashe-system-test) and reused.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CASHE_SYSTEM_CACHE:-/var/cache/cashe-system-test}
BASE=$CACHE/bookworm        # debootstrap + runtime packages, reused
ROOT=$CACHE/root            # a fresh copy of BASE for each run
MACHINE=cashe-system-test
# What cashed and cashe-fuse need at run time, and what the test uses.
RUNTIME_PACKAGES="systemd systemd-sysv dbus libraft2 libuv1 libinih1
libhiredis0.14 libsystemd0 zlib1g libfuse3-3 fuse3 redis-tools procps"

say() { printf 'system-test: %s\n' "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; exit 1; }

# The Debian mirror this machine's apt uses (deb822 or one-line format).
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
             /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk '
            /^[ \t]*URIs:/ { for (i = 2; i <= NF; i++) print $i }
            /^[ \t]*deb[ \t]/ {
                for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; break }
            }' "$f" | grep -v -- '-security' | grep '/debian/\?$' | head -n1)
        if [ -n "$uri" ]; then
            echo "${uri%/}"
            return
        fi
    done
    echo "http://deb.debian.org/debian"
}

need_host_tools() {
    local missing=""
    command -v debootstrap >/dev/null || missing="$missing debootstrap"
    command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
    [ -z "$missing" ] && return 0
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq \
              --no-install-recommends $missing >/dev/null; } ||
        fail "cannot install$missing"
}

chroot_apt() {
    chroot "$BASE" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
}

prepare_base() {
    local mirror missing="" p
    mirror=$(debian_mirror)
    if [ ! -x "$BASE/usr/bin/apt-get" ] || [ ! -f "$BASE/.debootstrap-done" ]
    then
        say "debootstrap bookworm from $mirror into $BASE (once)"
        rm -rf "$BASE"
        mkdir -p "$BASE"
        debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
            bookworm "$BASE" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
            { tail -20 "$CACHE/debootstrap.log" >&2;
              fail "debootstrap failed"; }
        touch "$BASE/.debootstrap-done"
    fi
    for p in $RUNTIME_PACKAGES; do
        # shellcheck disable=SC2016 # a dpkg-query format, not the shell's
        chroot "$BASE" dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing into the root:$missing"
        printf 'deb %s bookworm main\n' "$mirror" \
            >"$BASE/etc/apt/sources.list"
        # shellcheck disable=SC2086
        { chroot_apt apt-get update -qq &&
          chroot_apt apt-get install -y -qq --no-install-recommends \
              $missing &&
          chroot_apt apt-get clean; } >"$CACHE/apt.log" 2>&1 ||
            { tail -20 "$CACHE/apt.log" >&2;
              fail "apt-get in the root failed"; }
    fi
}

# --- The build, installed as a Debian package would install it ---

# The Debian packages of this tree (scripts/package.sh), installed with apt
# as an operator would; DEBS stays empty, and meson's install is used, when
# they cannot be built or CASHE_SYSTEM_INSTALL=meson.
DEBS=""

build_debs() {
    [ "${CASHE_SYSTEM_INSTALL:-deb}" = deb ] || return 0
    DEBS=$("$SRC/scripts/package.sh" --no-lintian 2>"$CACHE/package.log" |
        grep -E '/cashe(-fuse)?_[^/]*\.deb$' || true)
    [ -n "$DEBS" ] || say "packages not built (see $CACHE/package.log):" \
        "meson install instead"
}

build() {
    local key
    build_debs
    [ -z "$DEBS" ] || return 0
    key=$(printf '%s' "$SRC" | md5sum | cut -c1-12)
    BUILD=$CACHE/build-$key
    # Builds of other checkouts would only pile up.
    find "$CACHE" -maxdepth 1 -name 'build-*' ! -name "build-$key" \
        -exec rm -rf {} +
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" "$SRC" --prefix=/usr \
            --buildtype=debugoptimized >"$CACHE/meson.log" 2>&1 ||
            { tail -20 "$CACHE/meson.log" >&2; fail "meson setup failed"; }
    fi
    ninja -C "$BUILD" >"$CACHE/ninja.log" 2>&1 ||
        { tail -30 "$CACHE/ninja.log" >&2; fail "build failed"; }
}

write_configs() {
    local i dir=$ROOT/etc/cashe
    mkdir -p "$dir"
    for i in 0 1 2; do
        {
            echo "[cashed]"
            echo "listenaddr = 127.0.0.1:300$i"
            echo "raftaddr = 127.0.0.1:400$i"
            echo "log-level = info"
            [ "$i" = 0 ] || echo "leaderaddr = 127.0.0.1:3000"
        } >"$dir/raft$i.conf"
    done
    # raft2 gets a short watchdog, to see a hung loop restarted quickly.
    mkdir -p "$ROOT/etc/systemd/system/cashe@raft2.service.d"
    printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n' \
        >"$ROOT/etc/systemd/system/cashe@raft2.service.d/test.conf"
}

# apt-get install of the packages, in the root through systemd-nspawn (which
# mounts /proc and the like for the maintainer scripts); not in /tmp, which
# nspawn covers with a tmpfs.
install_debs() {
    local d=/var/tmp/cashe-debs f
    mkdir -p "$ROOT$d"
    for f in $DEBS; do cp "$f" "$ROOT$d/"; done
    # shellcheck disable=SC2046 # one word per package file
    systemd-nspawn --register=no --keep-unit -q -D "$ROOT" \
        env DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get install -y \
        --no-install-recommends -o Dpkg::Use-Pty=0 \
        $(for f in $DEBS; do echo "$d/${f##*/}"; done) \
        >"$CACHE/install.log" 2>&1 </dev/null ||
        { tail -20 "$CACHE/install.log" >&2; fail "apt-get install failed"; }
    rm -rf "$ROOT$d"
    say "installed $(echo "$DEBS" | sed 's,.*/,,' | tr '\n' ' ')"
}

install_root() {
    rm -rf "$ROOT"
    cp -a "$BASE" "$ROOT"
    if [ -n "$DEBS" ]; then
        install_debs
    else
        DESTDIR=$ROOT meson install -C "$BUILD" --no-rebuild --quiet \
            >"$CACHE/install.log" 2>&1 ||
            { tail -20 "$CACHE/install.log" >&2; fail "meson install failed"; }
    fi
    write_configs
}

# --- The container ---

NSPAWN=""
CT=""

boot() {
    systemd-nspawn --register=no --keep-unit -q -D "$ROOT" -b \
        --private-network --bind=/dev/fuse --machine="$MACHINE" \
        >"$CACHE/console.log" 2>&1 </dev/null &
    NSPAWN=$!
    echo "$NSPAWN" >"$CACHE/nspawn.pid"
    local i
    # The container's init: the child of systemd-nspawn that is PID 1 in
    # its own namespace (an intermediate child comes and goes before it).
    for i in $(seq 100); do
        for CT in $(pgrep -P "$NSPAWN" || true); do
            [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$CT/status" \
                2>/dev/null)" = 1 ] && break 2
        done
        CT=""
        kill -0 "$NSPAWN" 2>/dev/null ||
            { tail -5 "$CACHE/console.log" >&2;
              fail "systemd-nspawn exited while booting"; }
        sleep 0.1
    done
    [ -n "$CT" ] || fail "no container init under systemd-nspawn $NSPAWN"
    local state="" deadline=$((SECONDS + 90))
    # Until its manager listens, systemctl cannot even connect: it prints
    # nothing, or "offline".
    while { [ -z "$state" ] || [ "$state" = offline ]; } &&
        [ $SECONDS -lt $deadline ]; do
        state=$(ct timeout 60 systemctl is-system-running --wait \
            2>/dev/null || true)
        case "$state" in "" | offline) sleep 0.2 ;; esac
    done
    case "$state" in
    running|degraded) ;;
    *) ct systemctl --failed --no-pager >&2 || true
       fail "the container did not boot: '$state'" ;;
    esac
    [ "$state" = running ] ||
        say "booted $state: $(ct systemctl --failed --plain --no-legend \
            --no-pager | tr '\n' ' ')"
}

shutdown_container() {
    local i
    [ -n "$NSPAWN" ] || return 0
    if [ -n "$CT" ]; then
        nsenter -t "$CT" -a systemctl poweroff >/dev/null 2>&1 || true
    fi
    for i in $(seq 100); do
        kill -0 "$NSPAWN" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$NSPAWN" 2>/dev/null && kill -KILL "$NSPAWN" 2>/dev/null
    wait "$NSPAWN" 2>/dev/null || true
    rm -f "$CACHE/nspawn.pid"
    NSPAWN=""
}

# A container left running by an interrupted run would hold the root.
stop_leftover() {
    local pid
    pid=$(cat "$CACHE/nspawn.pid" 2>/dev/null || true)
    [ -n "$pid" ] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
        grep -q "systemd-nspawn.*--machine=$MACHINE"; then
        say "stopping the container of an earlier run (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        sleep 3
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$CACHE/nspawn.pid"
}

# Run a command in the container, with a clean environment.
ct() {
    nsenter -t "$CT" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 SYSTEMD_PAGER= "$@"
}

# On failure: what the units and the journal say.
diagnose() {
    [ -n "$CT" ] || return 0
    say "--- diagnosis"
    ct systemctl status --no-pager -l 'cashe*' >&2 || true
    ct journalctl --no-pager -n 80 -u 'cashe*' >&2 || true
}

STEP=""
step() { STEP=$*; STEP_START=$(date +%s.%N); }
ok() {
    awk -v s="$STEP" -v a="$STEP_START" -v b="$(date +%s.%N)" \
        'BEGIN { printf "ok - %s (%.1fs)\n", s, b - a }'
}
check() { "$@" || fail "$STEP: $*"; }

# Poll a shell condition run in the container for up to $1 seconds.
ct_wait() {
    local secs=$1 i
    shift
    for i in $(seq $((secs * 10))); do
        ct sh -c "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    say "timed out after ${secs}s: $1"
    return 1
}

prop() { ct systemctl show -p "$2" --value "$1"; }

# --- The checks ---

check_start() {
    step "systemctl start cashe@raft0 (Type=notify: returns once it serves)"
    check ct timeout 30 systemctl start cashe@raft0
    check test "$(prop cashe@raft0 ActiveState)" = active
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock ping | grep -q PONG"
    ok

    step "systemctl status shows the STATUS line"
    check ct_wait 10 "systemctl show -p StatusText --value cashe@raft0 |
        grep -Eq '^leader, term [0-9]+, leader raft0, applied index [0-9]+$'"
    check ct sh -c "systemctl status --no-pager cashe@raft0 |
        grep -q 'Status: \"leader, term'"
    echo "# $(ct systemctl status --no-pager cashe@raft0 | grep 'Status:' |
        sed 's/^ *//')"
    ok

    step "runs as cashe, socket 0660 cashe:cashe, state in /var/lib/cashe"
    check test "$(ct ps -o user= -p "$(prop cashe@raft0 MainPID)")" = cashe
    check test "$(ct stat -c '%a %U %G' /run/cashe/raft0.sock)" = \
        "660 cashe cashe"
    check test "$(ct stat -c '%a %U' /var/lib/cashe/raft0)" = "700 cashe"
    ok

    step "journal entries carry structured fields"
    local q=(SYSLOG_IDENTIFIER=cashed _SYSTEMD_UNIT=cashe@raft0.service)
    check ct_wait 10 "journalctl ${q[*]} -o verbose --no-pager |
        grep -q 'CASHE_NODE=raft0'"
    local j n
    j=$(ct journalctl "${q[@]}" -o verbose --no-pager)
    n=$(grep -c '^ *MESSAGE=' <<<"$j")
    # Every entry of the daemon has every field.
    for f in CASHE_NODE=raft0 CASHE_TERM= CODE_FILE= CODE_LINE= PRIORITY=; do
        [ "$(grep -c "^ *$f" <<<"$j")" = "$n" ] ||
            fail "$STEP: $f in fewer than the $n entries"
    done
    check test "$n" -ge 3
    echo "# $n entries like: $(grep -E \
        '^ *(PRIORITY|CASHE_NODE|CASHE_TERM|CODE_FILE|CODE_LINE)=' <<<"$j" |
        tail -n5 | sed 's/^ *//' | tr '\n' ' ')"
    ok

    step "systemd-analyze security cashe@raft0.service"
    local score
    score=$(ct systemd-analyze security cashe@raft0.service 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "$STEP: no score"
    echo "# exposure: $score"
    check awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'
    ok
}

check_bad_config() {
    step "a bad config file fails the start, naming file, line and key"
    printf '[cashed]\nlistenaddr = :3009\nmax-clients = many\n' \
        >"$ROOT/etc/cashe/bad.conf"
    ct timeout 30 systemctl start cashe@bad 2>/dev/null &&
        fail "$STEP: cashe@bad started"
    check ct_wait 10 "systemctl is-failed -q cashe@bad"
    check test "$(prop cashe@bad ExecMainStatus)" = 2
    check test "$(prop cashe@bad NRestarts)" = 0
    check ct sh -c "journalctl -u cashe@bad --no-pager |
        grep -q \"/etc/cashe/bad.conf:3: bad value for 'max-clients'\""
    check ct systemctl reset-failed cashe@bad
    ok
}

check_reload() {
    step "systemctl reload: RELOADING=1/READY=1, the new log level applies"
    sed -i 's/^log-level = info/log-level = debug/' "$ROOT/etc/cashe/raft0.conf"
    check ct timeout 30 systemctl reload cashe@raft0
    check ct_wait 10 "journalctl -u cashe@raft0 --no-pager |
        grep -q 'reload: log-level info -> debug'"
    check test "$(prop cashe@raft0 ActiveState)" = active
    ok
}

check_cluster() {
    step "raft0..raft2 form a cluster through their config files"
    check ct timeout 30 systemctl start cashe@raft1 cashe@raft2
    check ct_wait 30 "test \"\$(redis-cli -p 3000 info raft |
        grep -c '^member[0-9]*:.*role=voter')\" = 3"
    check ct_wait 10 "redis-cli -s /run/cashe/raft2.sock --no-raw get color |
        grep -q blue"
    ok
}

check_fuse() {
    if [ ! -x "$ROOT/usr/bin/cashe-fuse" ]; then
        echo "ok - cashe-fuse@raft0 # SKIP cashe-fuse is not built yet"
        return 0
    fi
    step "cashe-fuse@raft0 mounts /mnt/cashe: echo and cat"
    check ct timeout 30 systemctl start cashe-fuse@raft0
    check ct mountpoint -q /mnt/cashe
    check ct sh -c 'echo v > /mnt/cashe/key'
    check test "$(ct cat /mnt/cashe/key)" = v
    # The same keyspace through the node, both ways.
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock --no-raw get key |
        grep -q '^\"v'"
    check ct sh -c "redis-cli -p 3001 set fromredis hello | grep -q OK"
    check ct_wait 5 "test \"\$(cat /mnt/cashe/fromredis)\" = hello"
    check ct timeout 30 systemctl stop cashe-fuse@raft0
    check ct sh -c '! mountpoint -q /mnt/cashe'
    ok
}

# Wait for a unit's main process to be replaced by a running one.
wait_restarted() {
    local unit=$1 old=$2 secs=$3 i pid
    for i in $(seq $((secs * 10))); do
        pid=$(prop "$unit" MainPID)
        if [ "$pid" != 0 ] && [ "$pid" != "$old" ] &&
           [ "$(prop "$unit" ActiveState)" = active ]; then
            return 0
        fi
        sleep 0.1
    done
    say "$unit: not restarted in ${secs}s"
    return 1
}

check_crash() {
    local pid
    step "SIGSEGV: systemd restarts the node, with its data (from its disk)"
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock set color blue |
        grep -q OK"
    # A snapshot too, under the unit's system call filter and sandbox.
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock cashe snapshot |
        grep -q OK"
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock set shape round |
        grep -q OK"
    pid=$(prop cashe@raft0 MainPID)
    check ct kill -SEGV "$pid"
    check wait_restarted cashe@raft0 "$pid" 20
    check test "$(prop cashe@raft0 NRestarts)" -ge 1
    check ct sh -c "journalctl -u cashe@raft0 --no-pager |
        grep -q 'status=11/SEGV'"
    # Alone in its cluster: the values can only come from its own disk,
    # the snapshot and the log after it.
    check ct_wait 15 "redis-cli -s /run/cashe/raft0.sock --no-raw get color |
        grep -q blue"
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock --no-raw get shape |
        grep -q round"
    ok
}

check_watchdog() {
    local pid
    step "a hung loop (SIGSTOP): the watchdog kills and restarts the node"
    pid=$(prop cashe@raft2 MainPID)
    check ct kill -STOP "$pid"
    check wait_restarted cashe@raft2 "$pid" 20
    check ct sh -c "journalctl -u cashe@raft2 --no-pager |
        grep -q 'Watchdog timeout'"
    check ct_wait 15 "redis-cli -s /run/cashe/raft2.sock --no-raw get color |
        grep -q blue"
    ok
}

check_stop() {
    step "systemctl stop of the leader: hands leadership over, exits 0"
    if ! ct sh -c "redis-cli -p 3000 info raft | grep -q '^role:leader'"; then
        check ct sh -c "redis-cli -p 3000 cashe transfer raft0 | grep -q OK"
        check ct_wait 10 "redis-cli -p 3000 info raft | grep -q '^role:leader'"
    fi
    check ct timeout 40 systemctl stop cashe@raft0
    check ct sh -c "journalctl -u cashe@raft0 --no-pager -n 30 |
        grep -q 'handing leadership over'"
    check test "$(prop cashe@raft0 Result)" = success
    check test "$(prop cashe@raft0 ExecMainStatus)" = 0
    check ct sh -c "journalctl -u cashe@raft0 --no-pager -n 20 |
        grep -q 'cashed\[[0-9]*\]: stopped'"
    check ct_wait 15 "redis-cli -p 3001 info raft | grep -q '^leader:raft[12]'"
    check ct sh -c "redis-cli -p 3001 set after stop | grep -q OK"
    ok

    step "cashe@raft0.socket: activation on the first connection"
    check ct test -S /run/cashe/raft1.sock
    check ct timeout 30 systemctl start cashe@raft0.socket
    check test "$(prop cashe@raft0 ActiveState)" = inactive
    check ct sh -c "redis-cli -s /run/cashe/raft0.sock ping | grep -q PONG"
    check test "$(prop cashe@raft0 ActiveState)" = active
    check ct sh -c "journalctl -u cashe@raft0 --no-pager |
        grep -q \"using the 'unix' socket\""
    check ct timeout 40 systemctl stop cashe@raft0.service
    check ct test -S /run/cashe/raft0.sock  # the socket unit keeps it
    check test "$(prop cashe@raft0.socket ActiveState)" = active
    check ct timeout 40 systemctl stop cashe@raft0.socket cashe@raft1 \
        cashe@raft2
    for u in cashe@raft0 cashe@raft1 cashe@raft2; do
        check test "$(prop $u Result)" = success
    done
    ok
}

main() {
    [ "$(id -u)" = 0 ] || skip "needs root (debootstrap, systemd-nspawn)"
    mkdir -p "$CACHE"
    need_host_tools
    exec 9>"$CACHE/lock"
    flock 9
    local t0=$SECONDS
    prepare_base
    systemd-nspawn --register=no --keep-unit -q -D "$BASE" /bin/true \
        >/dev/null 2>&1 || skip "systemd-nspawn cannot run a container here"
    build
    stop_leftover
    install_root
    # shellcheck disable=SC2154 # rc is set inside the trap
    trap 'rc=$?; [ $rc = 0 ] || [ $rc = 77 ] || diagnose; shutdown_container;
          exit $rc' EXIT
    trap 'exit 143' TERM INT
    boot
    say "booted in $((SECONDS - t0))s (root, build and install included)"
    check_start
    check_reload
    check_bad_config
    check_crash
    check_cluster
    check_fuse
    check_watchdog
    check_stop
    say "passed in $((SECONDS - t0))s"
}

case "${1:-}" in
--prepare)
    [ "$(id -u)" = 0 ] || skip "needs root"
    mkdir -p "$CACHE"
    need_host_tools
    exec 9>"$CACHE/lock"
    flock 9
    prepare_base
    ;;
*)
    main
    ;;
esac
