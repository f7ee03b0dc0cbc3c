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

Everything random derives from one seed, printed at the start, so a schedule
can be replayed (thread interleaving of course cannot).

The node set. Clients pick nodes from cluster.nodes and read that attribute
again before every new connection; a client whose node left the list
reconnects elsewhere. A nemesis that changes membership replaces the list
with set_nodes() and never changes it in place, so whoever took the list
once (Cluster.leader(), a client) goes through a consistent snapshot.

The nemesis interface. A nemesis is a threading.Thread made by a factory
called as

    factory(cluster, rng, stop, **options)

(a class below, or functools.partial of one): @cluster the conftest Cluster
(or a subclass) under test, @rng a random.Random from the run's seed for
every choice it makes, @stop a threading.Event set when the run's time is
up. Its run() injects faults until @stop is set, undoes the fault in hand
(restart, SIGCONT, promote, re-add) and returns. It has

    .faults  one tuple per fault injected: (kind, detail, node name, start,
             end), kind what the summary counts ("kill -9", "pause", ...),
             detail free text that starts with "leader" when the victim was
             the leader, start and end time.monotonic() values
    .errors  strings: what went wrong in the nemesis itself (a node that
             would not restart, a membership change that never completed, a
             cluster that did not recover); the tests fail on them

Run(nemesis=...) takes a factory or one of these names (NEMESES):

    kill        SIGKILL a node, alternately the leader and a random one,
                restart it after 0.5-2 s; with 5 nodes every third fault
                takes two nodes down at once
    pause       SIGSTOP a node, alternately the leader and a random one, for
                1.5 to 4 election timeouts, then SIGCONT
    membership  in turn: remove a voter (the leader after a transfer, every
                other time), stop it and add a fresh node on an empty data
                dir joining with --leaderaddr (the same name and addresses,
                or a new name); leadership transfer; demote a follower to a
                spare, promote it back. A majority stays available.
    corrupt     SIGKILL a node, truncate the newest segment of its Raft log
                at a random offset or flip bytes in it, restart it: it must
                start and catch up, or refuse with a clear error (.refusals),
                after which the operator's procedure runs: remove the
                member, wipe its data dir, start it empty to rejoin
    mixed       each of the above in random order, one fault at a time,
                waiting for the cluster to be whole again after each
"""

import collections
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import traceback

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
    """One process of the history: sequential operations, one at a time.
    @nodes is a list or a function returning the current one."""

    def __init__(self, pid, nodes, keys, rec, seed, stop, timeout,
                 epoch_s=30.0, readonly=False):
        super().__init__(daemon=True, name=f"jepsen-client-{pid}")
        self.readonly = readonly
        self.epoch_s = epoch_s
        self.start_t = time.monotonic()
        self.pid = pid
        self.nodes = nodes if callable(nodes) else (lambda: nodes)
        self.keys = keys
        self.rec = rec
        self.rng = random.Random(seed)
        self.stop_event = stop
        self.timeout = timeout
        self.conn = None
        self.node = None
        self.seq = 0
        # What this connection carried last, for reports of odd replies.
        self.trace = collections.deque(maxlen=6)

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
        nodes = self.nodes()
        if self.conn is None or self.node not in nodes or \
                self.rng.random() < 0.02:
            self.close()
            self.node = self.rng.choice(nodes)
            self.trace.clear()
            self.conn = redis.Connection(
                host=getattr(self.node, "host", "127.0.0.1"),
                port=self.node.port,
                password=getattr(self.node, "password", None),
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
        entry["node"] = self.node.name
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
                    self.odd(cmd, e)
            self.trace.append((round(time.monotonic(), 3), cmd, str(e)))
            return self.finish(entry, pause=0.02)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            entry["error"] = repr(e)
            self.close()
            return self.finish(entry, pause=0.05)
        try:
            result = self.decode(kind, reply)
        except (TypeError, ValueError):
            # A reply of the wrong type: the connection's replies are out
            # of step with its commands. Nothing is known of this one.
            self.odd(cmd, f"reply {reply!r}")
            entry["error"] = f"reply {reply!r}"
            self.close()
            return self.finish(entry)
        self.trace.append((round(time.monotonic(), 3), cmd, reply))
        entry["outcome"] = "ok"
        entry["result"] = result
        return self.finish(entry)

    def odd(self, cmd, what):
        self.rec.odd(f"p{self.pid} {cmd} on {self.node.name} at "
                     f"{time.monotonic():.3f}: {what}; before it on this "
                     f"connection: {list(self.trace)}")

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


# --- cluster helpers the nemeses share ---------------------------------------

_nodes_lock = threading.Lock()


def set_nodes(cluster, nodes):
    """Replace the node set clients and Cluster.leader() see (a new list,
    never an in-place change)."""
    with _nodes_lock:
        cluster.nodes = list(nodes)


def wait_until(predicate, timeout, what):
    """Like conftest.wait_for, but exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting "
                               f"for {what}; last error: {last!r}")
        time.sleep(0.1)


def ask(node, *cmd, timeout=5):
    """One command on a connection of its own, closed after."""
    r = node.client(timeout=timeout)
    try:
        return r.execute_command(*cmd)
    finally:
        r.close()


def members(node):
    """The node's member table: {name: (member role, Raft role)}."""
    rows = ask(node, "CASHE", "MEMBERS")
    return {m[0].decode(): (m[4].decode(), m[5].decode()) for m in rows}


def raft_info(node):
    return ask(node, "INFO", "raft")


def election_timeout_s(cluster):
    for arg in getattr(cluster, "extra", []):
        if arg.startswith("--election-timeout="):
            return int(arg.split("=", 1)[1]) / 1000
    return 0.8  # cashed's default


def health(cluster):
    """None when every node in the set runs, the leader's member table is
    exactly the set, all voters, and every node applied what the leader had
    committed; else what is missing."""
    nodes = cluster.nodes
    for n in nodes:
        if not n.alive():
            return f"{n.name} is not running"
    lead = cluster.leader(timeout=10)
    table = members(lead)
    want = {n.name: ("voter", "voter") for n in nodes}
    if table != want:
        return f"member table on {lead.name} is {table}, want {want}"
    commit = raft_info(lead)["commit_index"]
    for n in nodes:
        applied = raft_info(n)["last_applied"]
        if applied < commit:
            return f"{n.name} applied {applied} < commit {commit}"
    return None


def wait_healthy(cluster, timeout=90):
    state = {"why": "not checked"}

    def ok():
        state["why"] = health(cluster)
        return state["why"] is None
    try:
        wait_until(ok, timeout, "the cluster to be whole")
    except TimeoutError as e:
        raise TimeoutError(f"{e}; last state: {state['why']}") from None


def admin(cluster, rng, *args, timeout=60):
    """CASHE @args through a random node (followers relay to the leader),
    retried while the answer is TRYAGAIN, UNKNOWN, NOLEADER or SHUTDOWN or
    the node does not answer: every membership command is idempotent."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = [n for n in cluster.nodes if n.alive()]
        node = rng.choice(nodes)
        try:
            return ask(node, "CASHE", *args, timeout=20)
        except redis.ResponseError as e:
            code = str(e).split(" ", 1)[0]
            if code not in FAIL_CODES + UNKNOWN_CODES or \
                    time.monotonic() > deadline:
                raise RuntimeError(f"CASHE {' '.join(args)} via "
                                   f"{node.name}: {e}") from None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"CASHE {' '.join(args)} via "
                                   f"{node.name}: {e!r}") from None
        time.sleep(0.2)


def wait_role(cluster, name, roles, timeout=60):
    """Until the leader's member table shows @name with @roles (a (member
    role, Raft role) pair), or without @name when @roles is None."""
    def there():
        table = members(cluster.leader(timeout=10))
        return table.get(name) == roles if roles else name not in table
    wait_until(there, timeout, f"{name} to be {roles or 'gone'}")


SEGMENT = re.compile(r"^(open-(\d+)|(\d+)-(\d+))$")


def used_bytes(path):
    """A segment's length without the zeros canonical/raft preallocates."""
    with open(path, "rb") as f:
        return len(f.read().rstrip(b"\0"))


def newest_segment(data_dir):
    """The Raft log's newest segment holding entries: the highest open-N
    past its 8-byte header, else the closed segment with the highest end
    index; None when there is none."""
    opened, closed = [], []
    for name in os.listdir(data_dir):
        m = SEGMENT.match(name)
        if not m:
            continue
        path = os.path.join(data_dir, name)
        if m.group(2) is not None:
            if used_bytes(path) > 8:
                opened.append((int(m.group(2)), name))
        else:
            closed.append((int(m.group(4)), name))
    pick = max(opened) if opened else max(closed) if closed else None
    return None if pick is None else pick[1]


BAD_IN_LOG = ("Sanitizer", "runtime error:", "double free", "Aborted",
              "Segmentation fault", "core dumped", "SUMMARY:", "Assertion",
              "==ERROR")


def refusal_problem(log_text, returncode):
    """None if a node that refused to start said so clearly: exit status 1,
    a "cannot start" line, no crash or sanitizer report; else the problem."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        return f"killed by signal {-returncode}"
    if returncode != 1:
        return f"exit status {returncode}, not 1"
    bad = [b for b in BAD_IN_LOG if b in log_text]
    if bad:
        return f"log holds {bad}"
    if "cannot start" not in log_text:
        return "no 'cannot start' message in the log"
    return None


def heal(cluster):
    """Every node in the set running and not stopped, whatever a nemesis
    left behind."""
    for node in cluster.nodes:
        if node.alive():
            node.signal(signal.SIGCONT)
        else:
            node.start()


# --- nemeses -----------------------------------------------------------------


class Nemesis(threading.Thread):
    """A fault every @interval s (the first after @interval): inject() does
    one fault and undoes it before it returns."""

    label = "nemesis"

    def __init__(self, cluster, rng, stop, interval=4.0):
        super().__init__(daemon=True, name=f"jepsen-{self.label}-nemesis")
        self.cluster = cluster
        self.rng = rng
        self.stop_event = stop
        self.interval = interval
        self.faults = []
        self.errors = []
        self.n = 0

    def run(self):
        try:
            while not self.stop_event.wait(self.interval):
                self.inject()
                self.n += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(f"{self.label} nemesis: {e}\n"
                               + traceback.format_exc())

    def inject(self):
        raise NotImplementedError

    def record(self, kind, detail, node, start):
        self.faults.append((kind, detail, node, start, time.monotonic()))

    def victim(self):
        """The leader every other fault, else a random node."""
        if self.n % 2:
            try:
                return "leader", self.cluster.leader(timeout=10)
            except TimeoutError:
                pass
        return "random", self.rng.choice(self.cluster.nodes)

    def pause(self, lo, hi):
        self.stop_event.wait(self.rng.uniform(lo, hi))


class KillNemesis(Nemesis):
    """SIGKILL a node (alternately a random one and the leader), restart it
    after @down s, wait until it serves again. With @max_down (default: the
    most a majority survives) of 2 or more, every third fault kills a second
    node too, 0-1 s after the first, and restarts both in random order."""

    label = "kill"

    def __init__(self, cluster, rng, stop, interval=4.0, down=(0.5, 2.0),
                 max_down=None):
        super().__init__(cluster, rng, stop, interval)
        self.down = down
        self.max_down = max_down

    def inject(self):
        nodes = self.cluster.nodes
        max_down = (len(nodes) - 1) // 2 if self.max_down is None \
            else self.max_down
        how, first = self.victim()
        victims = [(how, first)]
        if max_down >= 2 and self.n % 3 == 1:
            second = self.rng.choice([x for x in nodes if x is not first])
            victims.append(("random", second))
        starts = []
        for i, (how, node) in enumerate(victims):
            if i:
                self.pause(0, 1.0)
            starts.append(time.monotonic())
            node.kill()
        self.pause(*self.down)
        order = list(range(len(victims)))
        self.rng.shuffle(order)
        for i in order:
            how, node = victims[i]
            node.start()
            detail = how if len(victims) == 1 else f"{how}, two down"
            self.record("kill -9", detail, node.name, starts[i])


class PauseNemesis(Nemesis):
    """SIGSTOP a node (alternately a random one and the leader) for
    @pause election timeouts, then SIGCONT."""

    label = "pause"

    def __init__(self, cluster, rng, stop, interval=4.0, pause=(1.5, 4.0)):
        super().__init__(cluster, rng, stop, interval)
        et = election_timeout_s(cluster)
        self.hold = (pause[0] * et, pause[1] * et)

    def inject(self):
        how, node = self.victim()
        t = time.monotonic()
        node.signal(signal.SIGSTOP)
        try:
            self.pause(*self.hold)
        finally:
            node.signal(signal.SIGCONT)
        self.record("pause", f"{how}, {time.monotonic() - t:.1f} s",
                    node.name, t)


class MembershipNemesis(Nemesis):
    """In turn: replace a voter (remove it, stop it, add a fresh node),
    transfer leadership, demote a follower and promote it back. Every other
    replacement takes the leader, after handing its leadership over. The
    fresh node takes a new name, or, every other time, reuses the removed
    one's name and addresses on a wiped data dir. Membership commands go
    through random nodes, which relay them to the leader."""

    label = "membership"
    ACTIONS = ("replace", "transfer", "demote")

    def __init__(self, cluster, rng, stop, interval=3.0, gap=(0.5, 2.0)):
        super().__init__(cluster, rng, stop, interval)
        self.gap = gap
        self.counts = collections.Counter()
        self.next_index = len(cluster.nodes)

    def cashe(self, *args):
        return admin(self.cluster, self.rng, *args)

    def inject(self):
        action = self.ACTIONS[sum(self.counts.values()) % len(self.ACTIONS)]
        self.counts[action] += 1
        getattr(self, action)()

    def transfer(self, away_from=None):
        lead = self.cluster.leader(timeout=30)
        voters = [n for n in self.cluster.nodes
                  if n is not lead and n is not away_from]
        target = self.rng.choice(voters + [None]) if away_from is None \
            else self.rng.choice(voters)
        t = time.monotonic()
        args = ("TRANSFER",) if target is None else ("TRANSFER", target.name)
        deadline = time.monotonic() + 60
        while True:
            try:
                got = self.cashe(*args).decode()
                break
            except RuntimeError as e:
                # Under load a transfer can time out; it is safe to ask
                # again.
                if "did not complete" not in str(e) or \
                        time.monotonic() > deadline:
                    raise
        wait_until(lambda: self.cluster.leader(timeout=10) is not lead, 30,
                   f"leadership to leave {lead.name}")
        self.record("transfer", f"from {lead.name} to "
                    f"{target.name if target else 'any voter'}: {got}",
                    lead.name, t)

    def remove(self, node, leader):
        t = time.monotonic()
        while True:
            try:
                self.cashe("REMOVE", node.name)
                break
            except RuntimeError as e:
                # Leadership came back to it meanwhile: hand it over again.
                if "transfer leadership first" not in str(e):
                    raise
                self.transfer(away_from=node)
        wait_role(self.cluster, node.name, None)
        self.record("remove", "leader" if leader else "follower", node.name,
                    t)
        set_nodes(self.cluster, [n for n in self.cluster.nodes
                                 if n is not node])
        # The operator stops the removed node: SIGTERM, as systemd would.
        try:
            rc = node.stop(timeout=30)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)
            rc = "nothing (still running 30 s later)"
        if rc != 0:
            self.errors.append(f"removed {node.name} exited {rc} on SIGTERM")

    def add(self, old, same_name):
        """A fresh node joining through a random member's client address;
        same name and addresses as @old on a wiped data dir, or new ones."""
        t = time.monotonic()
        via = self.rng.choice(self.cluster.nodes)
        if same_name:
            shutil.rmtree(old.data_dir, ignore_errors=True)
            new = type(old)(self.cluster.tmp, old.name, self.cluster.extra,
                            leader=via)
            new.port, new.raft_port = old.port, old.raft_port
        else:
            name = f"raft{self.next_index}"
            self.next_index += 1
            new = type(old)(self.cluster.tmp, name, self.cluster.extra,
                            leader=via)
        new.start()
        wait_role(self.cluster, new.name, ("voter", "voter"))
        set_nodes(self.cluster, self.cluster.nodes + [new])
        self.record("add", ("same name, empty data dir" if same_name
                            else "new name") + f", joined via {via.name}",
                    new.name, t)

    def replace(self):
        lead = self.cluster.leader(timeout=30)
        take_leader = self.counts["replace"] % 2 == 0
        victim = lead if take_leader else self.rng.choice(
            [n for n in self.cluster.nodes if n is not lead])
        if take_leader:
            self.transfer(away_from=victim)
        self.remove(victim, take_leader)
        self.pause(*self.gap)
        self.add(victim, same_name=self.counts["replace"] % 2 == 0)

    def demote(self):
        lead = self.cluster.leader(timeout=30)
        node = self.rng.choice([n for n in self.cluster.nodes
                                if n is not lead])
        t = time.monotonic()
        self.cashe("DEMOTE", node.name)
        wait_role(self.cluster, node.name, ("spare", "spare"))
        self.record("demote", "follower", node.name, t)
        self.pause(1.0, 3.0)
        t = time.monotonic()
        self.cashe("PROMOTE", node.name)
        wait_role(self.cluster, node.name, ("voter", "voter"))
        self.record("promote", "spare", node.name, t)


class CorruptNemesis(Nemesis):
    """SIGKILL a node (alternately a random one and the leader), damage the
    newest segment of its Raft log, restart it. Truncation at a random
    offset and flips of 1-4 random bytes alternate. If the node refuses to
    start, the refusal (exit status, log) goes to .refusals with
    refusal_problem()'s verdict, and the operator's procedure
    (docs/operations.md) follows: remove the member, wipe the data dir,
    start the node empty to rejoin. Then the cluster must be whole again
    before the next fault."""

    label = "corrupt"

    def __init__(self, cluster, rng, stop, interval=4.0, start_timeout=60):
        super().__init__(cluster, rng, stop, interval)
        self.start_timeout = start_timeout
        self.refusals = []
        self.files_before = set()

    def damage(self, node):
        seg = newest_segment(node.data_dir)
        if seg is None:
            return None, "no segment to damage"
        path = os.path.join(node.data_dir, seg)
        used = used_bytes(path)
        if (self.n // 2) % 2 == 0:  # victims alternate with n % 2
            off = self.rng.randrange(0, used)
            os.truncate(path, off)
            return "truncate", f"{seg} cut at {off} of {used} bytes"
        offs = sorted(self.rng.sample(range(used),
                                      min(used, self.rng.randint(1, 4))))
        with open(path, "r+b") as f:
            for off in offs:
                f.seek(off)
                b = f.read(1)[0]
                f.seek(off)
                f.write(bytes([b ^ self.rng.randrange(1, 256)]))
        return "corrupt", (f"{seg}: bytes {', '.join(map(str, offs))} of "
                           f"{used} flipped")

    def restart(self, node):
        """'serving' or 'refused' once the restarted node decided."""
        pos = os.path.getsize(node.log_path)
        self.files_before = set(os.listdir(node.data_dir))
        node.start(wait=False)

        def decided():
            if node.proc.poll() is not None:
                return "refused"
            try:
                return "serving" if node.client(timeout=1).ping() else None
            except redis.RedisError:
                return None
        outcome = wait_until(decided, self.start_timeout,
                             f"{node.name} to start or refuse")
        if outcome == "refused":
            node.log.close()
            with open(node.log_path, "r", errors="replace") as f:
                f.seek(pos)
                text = f.read()
            self.refusals.append({
                "node": node.name, "returncode": node.proc.returncode,
                "log": text[-6000:],
                "problem": refusal_problem(text, node.proc.returncode)})
        return outcome

    def rejoin(self, node):
        """The operator's procedure for a node whose log is beyond repair."""
        admin(self.cluster, self.rng, "REMOVE", node.name)
        wait_role(self.cluster, node.name, None)
        shutil.rmtree(node.data_dir)
        node.leader = self.rng.choice([n for n in self.cluster.nodes
                                       if n is not node and n.alive()])
        node.start()
        wait_role(self.cluster, node.name, ("voter", "voter"))

    def inject(self):
        how, node = self.victim()
        t = time.monotonic()
        node.kill()
        kind, detail = self.damage(node)
        outcome = self.restart(node)
        if outcome == "refused":
            self.refusals[-1]["fault"] = detail
            detail += "; refused to start, removed, wiped and re-added"
            self.rejoin(node)
        else:
            # canonical/raft moves an open segment it cannot read aside
            # (corrupt-*) and drops the entries from a bad batch on, without
            # a word: the node starts with a shorter log (docs/jepsen.md).
            aside = sorted(f for f in set(os.listdir(node.data_dir))
                           - self.files_before if f.startswith("corrupt-"))
            detail += "; started" + (f", raft moved {', '.join(aside)} "
                                     f"aside" if aside else "")
        if kind is not None:
            self.record(kind, f"{how}, {detail}", node.name, t)
        # A node that lost acknowledged entries must hold them again before
        # another node may lose its own: one fault at a time.
        wait_healthy(self.cluster)


class MixedNemesis(Nemesis):
    """Kill, pause, membership and corruption faults in random order (each
    kind once per round of four, shuffled), waiting after each until every
    node runs, is a voter and has caught up: one fault at a time."""

    label = "mixed"

    def __init__(self, cluster, rng, stop, interval=3.0):
        super().__init__(cluster, rng, stop, interval)
        self.parts = [KillNemesis(cluster, rng, stop),
                      PauseNemesis(cluster, rng, stop),
                      MembershipNemesis(cluster, rng, stop),
                      CorruptNemesis(cluster, rng, stop)]
        for p in self.parts:
            p.faults, p.errors = self.faults, self.errors
        self.refusals = self.parts[3].refusals
        self.bag = []

    def inject(self):
        if not self.bag:
            self.bag = list(self.parts)
            self.rng.shuffle(self.bag)
        part = self.bag.pop()
        part.inject()
        part.n += 1
        wait_healthy(self.cluster)


NEMESES = {
    "kill": KillNemesis,
    "pause": PauseNemesis,
    "membership": MembershipNemesis,
    "corrupt": CorruptNemesis,
    "mixed": MixedNemesis,
}


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


def replica_problems(cluster, final, timeout=90):
    """Once the cluster is whole and caught up, each node's own copy
    (READONLY reads) of every key must be the final value."""
    try:
        wait_healthy(cluster, timeout)
    except TimeoutError as e:
        return [str(e)]
    out = []
    for node in cluster.nodes:
        r = node.client(timeout=10)
        pipe = r.pipeline(transaction=False)
        pipe.execute_command("READONLY")
        keys = sorted(final)
        for k in keys:
            pipe.get(k)
        got = pipe.execute()[1:]
        for k, v in zip(keys, got):
            v = None if v is None else v.decode()
            if v != final[k]:
                out.append(f"{node.name} holds {k}={v!r}, "
                           f"the cluster {final[k]!r}")
        r.close()
    return out


def fault_counts(faults):
    """'kill -9: 4 (2 of the leader), pause: 3' from .faults."""
    kinds = collections.Counter(f[0] for f in faults)
    leader = collections.Counter(f[0] for f in faults
                                 if str(f[1]).startswith("leader"))
    return ", ".join(f"{k}: {v}" + (f" ({leader[k]} of the leader)"
                                    if leader[k] else "")
                     for k, v in kinds.items())


class Run:
    """One schedule: @clients threads on @keys keys for @seconds while
    @nemesis (a name in NEMESES, a factory, or None) injects faults; then
    final reads, the replicas' own copies, and the check. @interval and
    @nemesis_opts go to the nemesis factory."""

    def __init__(self, cluster, seconds=30.0, clients=5, keys=3, seed=None,
                 interval=None, timeout=8.0, nemesis="kill", readonly=False,
                 nemesis_opts=None):
        self.readonly = readonly
        self.cluster = cluster
        self.seconds = seconds
        self.nclients = clients
        self.keys = [f"jepsen:{i}" for i in range(keys)]
        self.seed = seed if seed is not None else random.randrange(1 << 31)
        self.timeout = timeout
        if nemesis is True:
            nemesis = "kill"
        self.factory = NEMESES[nemesis] if isinstance(nemesis, str) \
            else nemesis or None
        self.nemesis_opts = dict(nemesis_opts or {})
        if interval is not None:
            self.nemesis_opts["interval"] = interval
        self.rec = Recorder()
        self.nemesis = None
        self.final = None
        self.replicas = None
        self.result = None

    def execute(self):
        name = getattr(self.factory, "__name__", repr(self.factory))
        print(f"jepsen seed={self.seed} seconds={self.seconds} "
              f"clients={self.nclients} keys={len(self.keys)} "
              f"nodes={len(self.cluster.nodes)} nemesis={name}", flush=True)
        rng = random.Random(self.seed)
        stop = threading.Event()
        clients = [Client(i, lambda: self.cluster.nodes, self.keys, self.rec,
                          rng.randrange(1 << 31), stop, self.timeout,
                          readonly=self.readonly)
                   for i in range(self.nclients)]
        nemesis_rng = random.Random(rng.randrange(1 << 31))
        if self.factory:
            self.nemesis = self.factory(self.cluster, nemesis_rng, stop,
                                        **self.nemesis_opts)
        for t in clients + ([self.nemesis] if self.nemesis else []):
            t.start()
        stop.wait(self.seconds)
        stop.set()
        for t in clients:
            t.join(self.timeout + 40)
            if t.is_alive():
                raise RuntimeError(f"{t.name} did not stop")
        if self.nemesis:
            # It finishes the fault in hand: a re-added node may need to
            # catch up first.
            self.nemesis.join(300)
            if self.nemesis.is_alive():
                raise RuntimeError(f"{self.nemesis.name} did not stop")
        heal(self.cluster)
        self.final = final_reads(self.cluster, sorted(self.rec.keys))
        self.replicas = replica_problems(self.cluster, self.final)
        self.result = checker.check(self.rec.history, self.final)
        return self

    def summary(self):
        h = self.rec.history
        count = {o: sum(1 for e in h if e["outcome"] == o)
                 for o in ("ok", "fail", "unknown")}
        faults = self.nemesis.faults if self.nemesis else []
        text = (f"jepsen seed={self.seed}: {len(h)} operations "
                f"(ok {count['ok']}, fail {count['fail']}, "
                f"unknown {count['unknown']}), {len(faults)} faults")
        if faults:
            text += f" ({fault_counts(faults)})"
        refusals = getattr(self.nemesis, "refusals", None)
        if refusals is not None:
            unclear = sum(1 for r in refusals if r["problem"])
            text += (f", {len(refusals)} refused starts ({unclear} without "
                     f"a clear error)")
        if self.replicas:
            text += f", {len(self.replicas)} replica problems"
        return text + "; " + self.result.report()
