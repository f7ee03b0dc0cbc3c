#!/usr/bin/python3
"""Time from kill -9 of a cashe leader to the first write acknowledged after it.

    failover.py --kill PID --nodes HOST:PORT[,HOST:PORT...] [--before S]
                [--after S] [--workload NAME]

One probe per node in --nodes (the survivors: give the followers) sends SETs
one after another. After --before seconds the leader, process PID, is killed
with SIGKILL; the probes go on for --after seconds. Only a write sent after
the kill counts: it can have been committed by the new leader alone. Prints
one JSON line:

    {"tool":"failover","workload":"failover","first_write_s":1.23,
     "first_write_node":"127.0.0.1:3001","ops":N,"errors":N,...}

first_write_s is null when no write sent after the kill was acknowledged.
Run the write load itself beside it (bench/run.sh runs cashe-loadgen).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import redis

VALUE = b"v" * 100


class Probe(threading.Thread):
    def __init__(self, node, stop):
        super().__init__(daemon=True)
        host, _, port = node.rpartition(":")
        self.node = node
        self.client = redis.Redis(host=host or "127.0.0.1", port=int(port),
                                  socket_timeout=10, socket_connect_timeout=2)
        self.stop = stop
        self.acks = []  # (sent, acked), monotonic seconds
        self.errors = []  # (sent, message)

    def run(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            sent = time.monotonic()
            try:
                self.client.set(f"failover:{self.node}:{n}", VALUE)
                self.acks.append((sent, time.monotonic()))
            except redis.RedisError as e:
                self.errors.append((sent, str(e)))
                time.sleep(0.01)  # a refused connection must not spin


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kill", type=int, required=True, metavar="PID")
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--before", type=float, default=1.0)
    ap.add_argument("--after", type=float, default=8.0)
    ap.add_argument("--workload", default="failover")
    o = ap.parse_args()

    stop = threading.Event()
    probes = [Probe(n, stop) for n in o.nodes.split(",") if n]
    for p in probes:
        p.start()
    time.sleep(o.before)
    acked_before = sum(len(p.acks) for p in probes)
    t_kill = time.monotonic()
    os.kill(o.kill, signal.SIGKILL)
    time.sleep(o.after)
    stop.set()
    for p in probes:
        p.join(15)

    first, first_node, ops, errors, last_error = None, None, 0, 0, None
    for p in probes:
        for sent, acked in p.acks:
            if sent < t_kill:
                continue
            ops += 1
            if first is None or acked < first:
                first, first_node = acked, p.node
        for sent, message in p.errors:
            if sent >= t_kill:
                errors += 1
                last_error = message
    line = {
        "tool": "failover",
        "workload": o.workload,
        "first_write_s": None if first is None else round(first - t_kill, 4),
        "first_write_node": first_node,
        "acked_before_kill": acked_before,
        "ops": ops,
        "errors": errors,
        "seconds": o.after,
        "rps": round(ops / o.after, 1) if o.after > 0 else 0,
    }
    print(json.dumps(line), flush=True)
    if last_error:
        print(f"failover.py: {errors} errors after the kill, the last: "
              f"{last_error}", file=sys.stderr)
    return 0 if first is not None else 1


if __name__ == "__main__":
    sys.exit(main())
