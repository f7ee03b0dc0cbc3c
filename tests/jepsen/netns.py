"""Nodes in their own network namespaces, and a nemesis that partitions them.

One Net is a private little network:

    root namespace  cj<tok>  10.77.K.254 --veth--+
                                                 |  hub namespace: bridge br0
    node namespace n0  eth0  10.77.K.1   --veth--+
    node namespace n1  eth0  10.77.K.2   --veth--+
    ...

The test's clients stay in the root namespace and always reach every node's
client port through the root's veth; only node-to-node traffic (Raft, and the
client port a follower relays writes to the leader on) is ever cut. A cut is
an nftables set of blocked peer addresses inside each node's namespace,
dropped on input and output, so a partition looks like a silent network, not
a refused connection.

Namespaces are named "cashej-<pid>-<tok>-..." and the root veth "cj<tok>":
clean_stale() removes what a test process that died left behind (processes
still inside, namespaces, veths) and never touches a live process's net.
Every node needs a password: cashed refuses a client port beyond loopback
without one.
"""

import itertools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import redis

import conftest
import harness

PREFIX = "cashej"
PASSWORD = "jepsen-partition"
_NFT_TABLE = """\
table inet cashej {
    set cut { type ipv4_addr; }
    chain input {
        type filter hook input priority filter; policy accept;
        ip saddr @cut drop
    }
    chain output {
        type filter hook output priority filter; policy accept;
        ip daddr @cut drop
    }
}
"""


def sh(*args, input=None, check=True):
    """Run a command; on failure raise with its stderr."""
    p = subprocess.run(args, input=input, capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: "
                           f"{p.stderr.strip()}")
    return p.stdout


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces():
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_inside(ns):
    """SIGKILL every process left in namespace @ns (our own daemons)."""
    for pid in sh("ip", "netns", "pids", ns, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def clean_stale():
    """Remove the namespaces and veths of test processes that are gone."""
    live_tokens = set()
    for ns in _namespaces():
        m = re.match(rf"{PREFIX}-(\d+)-([0-9a-f]+)-", ns)
        if not m:
            continue
        if _pid_alive(int(m.group(1))):
            live_tokens.add(m.group(2))
            continue
        _kill_inside(ns)
        sh("ip", "netns", "del", ns, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).splitlines():
        m = re.match(r"\d+: cj([0-9a-f]{6})[@:]", line)
        if m and m.group(1) not in live_tokens:
            sh("ip", "link", "del", f"cj{m.group(1)}", check=False)


def unsupported():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return None  # a missing package, not a missing feature: create() says
    probe = f"{PREFIX}-{os.getpid()}-000000-probe"
    try:
        sh("ip", "netns", "add", probe)
        sh("ip", "-n", probe, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", probe, "link", "add", "v0", "type", "veth", "peer",
           "name", "v1")
    except (RuntimeError, OSError) as e:
        return f"network namespaces unsupported here: {e}"
    finally:
        sh("ip", "netns", "del", probe, check=False)
    return None


class Net:
    """@n node namespaces on one bridge, reachable from the root namespace.

    partition(groups): nodes talk iff some group holds both; heal(): all
    talk again. Use as a context manager or call destroy()."""

    def __init__(self, n):
        self.n = n
        self.tok = f"{random.randrange(1 << 24):06x}"
        base = f"{PREFIX}-{os.getpid()}-{self.tok}"
        self.hub = f"{base}-hub"
        self.names = [f"{base}-n{i}" for i in range(n)]
        self.root_if = f"cj{self.tok}"
        self.subnet = None
        self.created = []
        self.lock = threading.Lock()
        self.cut = [set() for _ in range(n)]

    def ip(self, i):
        return f"10.77.{self.subnet}.{i + 1}"

    @property
    def root_ip(self):
        return f"10.77.{self.subnet}.254"

    def _free_subnet(self):
        used = set(int(m) for m in re.findall(
            r"10\.77\.(\d+)\.", sh("ip", "-4", "-o", "addr", "show")
            + sh("ip", "-4", "route", "show", "table", "all", check=False)))
        free = [k for k in range(1, 250) if k not in used]
        if not free:
            raise RuntimeError("no free 10.77.K.0/24 subnet")
        return random.choice(free)

    def create(self):
        for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: install {package} "
                                   "(scripts/deps.sh does)")
        clean_stale()
        self.subnet = self._free_subnet()
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise
        return self

    def _create(self):
        hub = self.hub
        sh("ip", "netns", "add", hub)
        self.created.append(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        # Root side: one veth into the hub, with the clients' address.
        sh("ip", "link", "add", self.root_if, "type", "veth", "peer", "name",
           "root", "netns", hub)
        sh("ip", "-n", hub, "link", "set", "root", "master", "br0", "up")
        sh("ip", "addr", "add", f"{self.root_ip}/24", "dev", self.root_if)
        sh("ip", "link", "set", self.root_if, "up")
        for i, ns in enumerate(self.names):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", hub, "link", "add", f"n{i}", "type", "veth",
               "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", hub, "link", "set", f"n{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev",
               "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=_NFT_TABLE)
        # Links take a moment to come up.
        conftest.wait_for(self._reachable, timeout=15,
                          what="node namespaces reachable from the root")

    def _reachable(self):
        for i in range(self.n):
            s = None
            try:
                # Nothing listens yet: a refused connect proves the path.
                s = socket.create_connection((self.ip(i), 9), timeout=0.5)
            except ConnectionRefusedError:
                pass
            except OSError:
                return False
            finally:
                if s is not None:
                    s.close()
        return True

    def destroy(self):
        for ns in reversed(self.created):
            _kill_inside(ns)
        for ns in reversed(self.created):
            sh("ip", "netns", "del", ns, check=False)
        self.created = []
        sh("ip", "link", "del", self.root_if, check=False)

    def __enter__(self):
        return self.create()

    def __exit__(self, *exc):
        self.destroy()

    def _set_cut(self, i, blocked):
        script = "flush set inet cashej cut\n"
        if blocked:
            script += ("add element inet cashej cut { "
                       + ", ".join(self.ip(j) for j in sorted(blocked))
                       + " }\n")
        sh("ip", "netns", "exec", self.names[i], "nft", "-f", "-",
           input=script)
        self.cut[i] = set(blocked)

    def partition(self, groups):
        """Node i reaches node j iff some group holds both; a node in no
        group is cut from every other."""
        with self.lock:
            for i in range(self.n):
                peers = set()
                for g in groups:
                    if i in g:
                        peers.update(g)
                self._set_cut(i, set(range(self.n)) - peers - {i})

    def heal(self):
        with self.lock:
            for i in range(self.n):
                if self.cut[i]:
                    self._set_cut(i, set())

    def rules(self, i):
        """Node @i's nftables ruleset, for a report."""
        return sh("ip", "netns", "exec", self.names[i], "nft", "list",
                  "ruleset", check=False)


class Node(conftest.Node):
    """conftest's node, run inside its namespace on the namespace's IP. The
    ports conftest picks are free there too (a new namespace has none in
    use)."""

    def __init__(self, net, index, tmp, name, extra=None, leader=None):
        super().__init__(tmp, name, extra, leader)
        self.net = net
        self.index = index
        self.ns = net.names[index]
        self.host = net.ip(index)
        self.password = PASSWORD

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def args(self):
        a = ["ip", "netns", "exec", self.ns, os.path.abspath(conftest.CASHED),
             f"--id={self.name}", f"--listenaddr={self.host}:{self.port}",
             f"--raftaddr={self.host}:{self.raft_port}",
             f"--data-dir={self.data_dir}", f"--unix-socket={self.sock}",
             f"--password={self.password}", "--log-level=info"]
        if self.leader is not None:
            a.append(f"--leaderaddr={self.leader.addr}")
        return a + self.extra

    def client(self, timeout=10, **kw):
        return redis.Redis(host=self.host, port=self.port,
                           password=self.password, socket_timeout=timeout,
                           socket_connect_timeout=timeout, **kw)


class Cluster(conftest.Cluster):
    """conftest's cluster of namespace nodes on @net (one node per
    namespace). stop() kills the daemons; net.destroy() removes the net."""

    def __init__(self, net, tmp, extra=None):
        self.net = net
        self.tmp = str(tmp)
        self.extra = extra or []
        first = Node(net, 0, self.tmp, "raft0", self.extra)
        self.nodes = [first]
        for i in range(1, net.n):
            self.nodes.append(Node(net, i, self.tmp, f"raft{i}", self.extra,
                                   leader=first))

    def relay_everywhere(self, timeout=60):
        """Every node takes a write (followers relay it to the leader):
        after a heal, no node is left unable to serve."""
        stamp = f"{time.time_ns()}"
        for node in self.nodes:
            conftest.wait_for(
                lambda: node.client(timeout=5).set(f"relay:{node.name}",
                                                   stamp),
                timeout=timeout, interval=0.2,
                what=f"{node.name} to take a write after the heal")


def outcome_of(exc):
    """An error from one command -> (outcome, text), mapped as the harness
    does: fail certainly did not run; unknown may have (UNKNOWN, timeouts,
    lost connections: the root namespace always reaches the node, so the
    command may well have been sent)."""
    if isinstance(exc, redis.ResponseError):
        code = str(exc).split(" ", 1)[0]
        if code in harness.FAIL_CODES:
            return "fail", str(exc)
        if code in harness.UNKNOWN_CODES:
            return "unknown", str(exc)
        return "unexpected", str(exc)
    return "unknown", repr(exc)


class PartitionNemesis(harness.Nemesis):
    """Cuts the network between the nodes of a netns Cluster, in turn:

    majority/minority  a random split, (n-1)/2 nodes on the minority, then
                       fewer in turn, down to 1
    isolated leader    the current leader alone
    bridge             two halves that only one node, in both, connects

    A cut lasts @hold election timeouts (longer if its probes take
    longer); then it heals and waits until the cluster is whole (every node
    a voter that applied what the leader committed), recording how long
    that took in .recoveries, and @interval s more. During a cut with a
    minority side it probes: one SET on every minority node (no quorum
    there: must not be acknowledged) and SETs on majority nodes until one
    is, within @serve_within election timeouts (the majority must serve),
    each recorded in .probes with its outcome (ok, fail, unknown,
    unexpected). @probe_timeout: the client timeouts of a minority and a
    majority probe. Probe keys are apart from the checked ones.

    .faults: ("partition <kind>", detail, "raft0 | raft1 raft2", start,
    end), detail "leader raft1 alone" for an isolated leader; .cuts: per
    cut its number "n" (a probe's "cut"), kind, minority and majority node
    names, "start" once every rule is in place and "heal" just before the
    first is lifted."""

    label = "partition"
    KINDS = ("majority/minority", "isolated leader", "bridge")

    def __init__(self, cluster, rng, stop, interval=0.5, hold=(3.0, 5.0),
                 kinds=KINDS, probe_timeout=(6.0, 3.0), serve_within=15.0,
                 heal_within=90.0):
        super().__init__(cluster, rng, stop, interval)
        self.net = cluster.net
        self.et = harness.election_timeout_s(cluster)
        self.hold = hold
        self.kinds = kinds
        self.probe_timeout = probe_timeout
        self.serve_within = serve_within
        self.heal_within = heal_within
        self.probes = []
        self.cuts = []
        self.recoveries = []
        self.nprobe = itertools.count(1)
        self.minorities = 0

    def plan(self, kind):
        """(groups, minority, majority, detail): node indexes."""
        n = self.net.n
        idx = list(range(n))
        self.rng.shuffle(idx)
        names = self.cluster.nodes
        if kind == "isolated leader":
            try:
                lead = self.cluster.leader(timeout=5).index
                rest = [i for i in idx if i != lead]
                return ([[lead], rest], [lead], rest,
                        f"leader {names[lead].name} alone")
            except TimeoutError:
                pass  # no leader to isolate: cut a random minority
        if kind == "bridge":
            b, rest = idx[0], idx[1:]
            half = len(rest) // 2
            return ([rest[:half] + [b], rest[half:] + [b]], [], [],
                    f"bridge {names[b].name}")
        # The largest minority first, then smaller ones in turn.
        most = (n - 1) // 2
        k = most - self.minorities % most
        self.minorities += 1
        return ([idx[:k], idx[k:]], idx[:k], idx[k:],
                "minority " + " ".join(names[i].name for i in sorted(idx[:k])))

    def describe(self, groups):
        return " | ".join(" ".join(self.cluster.nodes[i].name
                                   for i in sorted(g)) for g in groups)

    def inject(self):
        kind = self.kinds[self.n % len(self.kinds)]
        groups, minority, majority, detail = self.plan(kind)
        hold = self.rng.uniform(*self.hold) * self.et
        t0 = time.monotonic()
        names = [n.name for n in self.cluster.nodes]
        cut = {"n": self.n, "kind": kind,
               "minority": [names[i] for i in minority],
               "majority": [names[i] for i in majority]}
        try:
            self.net.partition(groups)
            cut["start"] = time.monotonic()  # every rule in place
            if minority and majority:
                self.probe(kind, minority, majority, t0)
            self.stop_event.wait(max(0.0, t0 + hold - time.monotonic()))
        finally:
            cut["heal"] = time.monotonic()
            self.net.heal()
        self.cuts.append(cut)
        self.record(f"partition {kind}", detail, self.describe(groups), t0)
        t1 = time.monotonic()
        harness.wait_healthy(self.cluster, self.heal_within)
        self.recoveries.append(time.monotonic() - t1)

    def probe_one(self, kind, side, i, t0):
        node = self.cluster.nodes[i]
        key = f"probe:{next(self.nprobe)}"
        rec = {"cut": self.n, "kind": kind, "side": side, "node": node.name,
               "key": key, "invoke": time.monotonic() - t0}
        try:
            timeout = self.probe_timeout[side == "majority"]
            ok = node.client(timeout=timeout).set(key, "x")
            rec.update(outcome="ok" if ok else "unexpected", error=None)
        except redis.RedisError as e:
            rec["outcome"], rec["error"] = outcome_of(e)
        rec["complete"] = time.monotonic() - t0
        self.probes.append(rec)
        return rec

    def probe(self, kind, minority, majority, t0):
        threads = [threading.Thread(target=self.probe_one,
                                    args=(kind, "minority", i, t0))
                   for i in minority]
        for t in threads:
            t.start()
        # The majority may first have to elect a leader: retry until one
        # write is acknowledged or time is up.
        while time.monotonic() < t0 + self.serve_within * self.et:
            rec = self.probe_one(kind, "majority", self.rng.choice(majority),
                                 t0)
            if rec["outcome"] == "ok":
                break
            time.sleep(0.2)
        for t in threads:
            t.join(self.probe_timeout[0] + 5)

    def summary(self):
        refused = sum(1 for p in self.probes
                      if p["side"] == "minority" and p["outcome"] != "ok")
        minority = sum(1 for p in self.probes if p["side"] == "minority")
        served = [p["complete"] for p in self.probes
                  if p["side"] == "majority" and p["outcome"] == "ok"]
        rec = self.recoveries
        return (f"{len(self.faults)} partitions "
                f"({harness.fault_counts(self.faults)}); minority probes "
                f"refused {refused}/{minority}; majority acknowledged a "
                f"probe {len(served)} times, at most "
                f"{max(served, default=0):.1f} s into the cut; whole again "
                f"{max(rec, default=0):.1f} s at most after a heal")
