#!/bin/bash
# Sourced by bench/run.sh and bench/etcd.sh: free TCP ports on loopback.

port_busy() { # PORT -> 0 when something listens on it or holds it
    ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .
}

pick_base() { # N -> a base port in 12000-32000 with base .. base+N-1 free
    local base p ok
    for _ in $(seq 50); do
        base=$((12000 + RANDOM % (20000 - $1)))
        ok=1
        for p in $(seq "$base" $((base + $1 - 1))); do
            port_busy "$p" && { ok=0; break; }
        done
        [ "$ok" = 1 ] && { echo "$base"; return 0; }
    done
    echo "bench: no $1 free ports in 12000-32000" >&2
    return 1
}
