"""Jepsen-style harness: concurrent clients, a nemesis, a recorded history.

Clients are threads, each with its own connection to one node at a time,
doing random reads, SET, SET NX, INCR, GETSET and DEL on a few keys. Every
operation is recorded with time.monotonic() invoke and complete times and an
outcome:

    ok       the reply says what happened
    fail     the command certainly did not take effect: NOLEADER, TRYAGAIN,
             SHUTDOWN replies, or the connection could not be opened (nothing
             was sent)
    unknown  it may or may not have taken effect: UNKNOWN replies, timeouts,
             connections lost after the command was sent

The nemesis kills a node with SIGKILL (alternately a random node and the
leader), waits, restarts it, every few seconds. One fault at a time, so a
majority stays up. Everything random derives from one seed, printed at the
start, so a schedule can be replayed (thread interleaving of course cannot).
"""

import random
import threading
import time

import redis

import checker

FAIL_CODES = ("NOLEADER", "TRYAGAIN", "SHUTDOWN")
UNKNOWN_CODES = ("UNKNOWN",)
KINDS = (("read", 30), ("write", 25), ("setnx", 10), ("incr", 15),
         ("getset", 10), ("del", 5), ("setxx", 5))


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.history = []
        self.unexpected = []
        self.keys = set()

    def add(self, entry):
        with self.lock:
            self.history.append(entry)

    def odd(self, text):
        with self.lock:
            self.unexpected.append(text)


class Client(threading.Thread):
    """One process of the history: sequential operations, one at a time."""

    def __init__(self, pid, nodes, keys, rec, seed, stop, timeout,
                 epoch_s=30.0, readonly=False):
        super().__init__(daemon=True, name=f"jepsen-client-{pid}")
        self.readonly = readonly
        self.epoch_s = epoch_s
        self.start_t = time.monotonic()
        self.pid = pid
        self.nodes = nodes
        self.keys = keys
        self.rec = rec
        self.rng = random.Random(seed)
        self.stop_event = stop
        self.timeout = timeout
        self.conn = None
        self.node = None
        self.seq = 0

    def pick(self):
        total = sum(w for _, w in KINDS)
        x = self.rng.uniform(0, total)
        for kind, weight in KINDS:
            x -= weight
            if x <= 0:
                return kind
        return KINDS[0][0]

    def command(self, kind, key):
        """(redis command, args recorded in the history). Values are unique
        integers so INCR always applies and every write is traceable."""
        self.seq += 1
        v = str(self.pid * 10_000_000 + self.seq * 1000)
        return {
            "read": (("GET", key), []),
            "write": (("SET", key, v), [v]),
            "setnx": (("SET", key, v, "NX"), [v]),
            "setxx": (("SET", key, v, "XX"), [v]),
            "incr": (("INCR", key), [1]),
            "getset": (("GETSET", key, v), [v]),
            "del": (("DEL", key), []),
        }[kind]

    def connection(self):
        if self.conn is None or self.rng.random() < 0.02:
            self.close()
            self.node = self.rng.choice(self.nodes)
            self.conn = redis.Connection(
                host="127.0.0.1", port=self.node.port,
                socket_timeout=self.timeout, socket_connect_timeout=1)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.disconnect()
            self.conn = None

    def run(self):
        while not self.stop_event.is_set():
            self.one()
        self.close()

    def one(self):
        kind = self.pick()
        # Keys change every epoch so that no key's history outgrows what
        # the checker handles quickly, however long the run.
        epoch = int((time.monotonic() - self.start_t) / self.epoch_s)
        key = f"{self.rng.choice(self.keys)}:e{epoch}"
        self.rec.keys.add(key)
        cmd, args = self.command(kind, key)
        entry = {"process": self.pid, "key": key, "op": kind, "args": args,
                 "invoke_time": time.monotonic(), "complete_time": None,
                 "outcome": "unknown", "result": None}
        conn = self.connection()
        try:
            if conn._sock is None and self.readonly:
                # Negative control: local, possibly stale reads.
                conn.connect()
                conn.send_command("READONLY")
                conn.read_response()
            conn.connect()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            # Nothing was sent: cannot have taken effect.
            entry.update(outcome="fail", error=repr(e))
            self.close()
            return self.finish(entry, pause=0.05)
        try:
            conn.send_command(*cmd)
            reply = conn.read_response()
        except redis.ResponseError as e:
            code = str(e).split(" ", 1)[0]
            entry["error"] = str(e)
            if code in FAIL_CODES:
                entry["outcome"] = "fail"
            elif kind == "incr" and code == "ERR":
                entry.update(outcome="ok", result="ERR")
            else:
                if code not in UNKNOWN_CODES:
                    self.rec.odd(f"p{self.pid} {cmd}: {e}")
            return self.finish(entry, pause=0.02)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            entry["error"] = repr(e)
            self.close()
            return self.finish(entry, pause=0.05)
        entry["outcome"] = "ok"
        entry["result"] = self.decode(kind, reply)
        return self.finish(entry)

    @staticmethod
    def decode(kind, reply):
        if kind in ("setnx", "setxx"):
            return reply is not None
        if kind in ("incr", "del"):
            return int(reply)
        if isinstance(reply, bytes):
            return reply.decode()
        return reply

    def finish(self, entry, pause=0.0):
        entry["complete_time"] = time.monotonic()
        if entry["outcome"] == "unknown":
            entry["complete_time"] = None
        self.rec.add(entry)
        if pause:
            self.stop_event.wait(pause)


class KillNemesis(threading.Thread):
    """SIGKILL a node (alternately a random one and the leader), restart it
    after a pause, wait until it serves again; repeat every @interval s."""

    def __init__(self, cluster, rng, stop, interval=4.0, down=(0.5, 2.0)):
        super().__init__(daemon=True, name="jepsen-nemesis")
        self.cluster = cluster
        self.rng = rng
        self.stop_event = stop
        self.interval = interval
        self.down = down
        self.faults = []
        self.errors = []

    def victim(self, n):
        if n % 2:
            try:
                return "leader", self.cluster.leader(timeout=10)
            except TimeoutError:
                pass
        return "random", self.rng.choice(self.cluster.nodes)

    def run(self):
        n = 0
        while not self.stop_event.wait(self.interval):
            how, node = self.victim(n)
            n += 1
            t = time.monotonic()
            node.kill()
            self.stop_event.wait(self.rng.uniform(*self.down))
            try:
                node.start()
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append(f"{node.name} restart: {e!r}")
                return
            self.faults.append(("kill -9", how, node.name, t,
                                time.monotonic()))


def final_reads(cluster, keys, timeout=60):
    """Each key's value once clients stopped, read (linearizably) through
    whatever node answers; retried until the cluster serves."""
    out = {}
    deadline = time.monotonic() + timeout
    for key in keys:
        while True:
            node = cluster.leader(timeout=max(1, deadline - time.monotonic()))
            try:
                v = node.client(timeout=5).get(key)
                out[key] = None if v is None else v.decode()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    return out


class Run:
    """One schedule: @clients threads on @keys keys for @seconds with the
    kill nemesis; then final reads and the check."""

    def __init__(self, cluster, seconds=30.0, clients=5, keys=3, seed=None,
                 interval=4.0, timeout=8.0, nemesis=True, readonly=False):
        self.readonly = readonly
        self.cluster = cluster
        self.seconds = seconds
        self.nclients = clients
        self.keys = [f"jepsen:{i}" for i in range(keys)]
        self.seed = seed if seed is not None else random.randrange(1 << 31)
        self.interval = interval
        self.timeout = timeout
        self.use_nemesis = nemesis
        self.rec = Recorder()
        self.nemesis = None
        self.final = None
        self.result = None

    def execute(self):
        print(f"jepsen seed={self.seed} seconds={self.seconds} "
              f"clients={self.nclients} keys={len(self.keys)}", flush=True)
        rng = random.Random(self.seed)
        stop = threading.Event()
        clients = [Client(i, self.cluster.nodes, self.keys, self.rec,
                          rng.randrange(1 << 31), stop, self.timeout,
                          readonly=self.readonly)
                   for i in range(self.nclients)]
        if self.use_nemesis:
            self.nemesis = KillNemesis(self.cluster,
                                       random.Random(rng.randrange(1 << 31)),
                                       stop, self.interval)
        for t in clients + ([self.nemesis] if self.nemesis else []):
            t.start()
        stop.wait(self.seconds)
        stop.set()
        for t in clients + ([self.nemesis] if self.nemesis else []):
            t.join(self.timeout + 40)
            if t.is_alive():
                raise RuntimeError(f"{t.name} did not stop")
        for node in self.cluster.nodes:
            if not node.alive():
                node.start()
        self.final = final_reads(self.cluster, sorted(self.rec.keys))
        self.result = checker.check(self.rec.history, self.final)
        return self

    def summary(self):
        h = self.rec.history
        count = {o: sum(1 for e in h if e["outcome"] == o)
                 for o in ("ok", "fail", "unknown")}
        faults = self.nemesis.faults if self.nemesis else []
        leader = sum(1 for f in faults if f[1] == "leader")
        return (f"jepsen seed={self.seed}: {len(h)} operations "
                f"(ok {count['ok']}, fail {count['fail']}, "
                f"unknown {count['unknown']}), {len(faults)} faults injected "
                f"(kill -9: {leader} of the leader, "
                f"{len(faults) - leader} of a random node); "
                + self.result.report())
