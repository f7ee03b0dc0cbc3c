"""Real cashed daemons on loopback for the integration tests.

Every node is a separate cashed process with its own data directory under
pytest's tmp_path, its own client port, Raft port and Unix socket. Tests
talk to them with redis-py, the way any user would.
"""

import os
import random
import signal
import socket
import subprocess
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASHED = os.environ.get("CASHED", os.path.join(ROOT, "build", "cashed"))


_ports = random.Random(os.getpid())


_given = set()


def free_port():
    """A TCP port nothing uses right now, below the kernel's ephemeral range
    (32768 and up): a port picked there could be taken as the source port of
    an outgoing connection before the daemon binds it."""
    for _ in range(1000):
        port = _ports.randrange(12000, 32000)
        # Never the same port twice in a run: a node's client and Raft
        # ports, picked one after the other, could otherwise coincide.
        if port in _given:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _given.add(port)
        return port
    raise RuntimeError("no free port")


def wait_for(predicate, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - retried until timeout
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}: last error {last!r}")


class Node:
    def __init__(self, tmp, name, extra=None, leader=None):
        self.name = name
        self.port = free_port()
        self.raft_port = free_port()
        self.data_dir = os.path.join(tmp, name)
        self.sock = os.path.join(tmp, name + ".sock")
        self.log_path = os.path.join(tmp, name + ".log")
        self.extra = list(extra or [])
        self.leader = leader
        self.proc = None

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def args(self):
        a = [CASHED, f"--id={self.name}", f"--listenaddr=:{self.port}",
             f"--raftaddr=:{self.raft_port}", f"--data-dir={self.data_dir}",
             f"--unix-socket={self.sock}", "--log-level=info"]
        if self.leader is not None:
            a.append(f"--leaderaddr=:{self.leader.port}")
        return a + self.extra

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            wait_for(self.ping, what=f"{self.name} to serve")
        return self

    def ping(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                               + self.read_log()[-3000:])
        return self.client(timeout=1).ping()

    def client(self, timeout=10, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port,
                           socket_timeout=timeout, **kw)

    def unix_client(self, timeout=10, **kw):
        return redis.Redis(unix_socket_path=self.sock, socket_timeout=timeout, **kw)

    def info(self, section="raft"):
        return self.client(timeout=2).info(section)

    def role(self):
        return self.info()["role"]

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self.log.close()

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        finally:
            self.log.close()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, tmp, n=3, extra=None):
        self.tmp = str(tmp)
        self.extra = extra or []
        self.nodes = []
        first = Node(self.tmp, "raft0", self.extra)
        self.nodes.append(first)
        for i in range(1, n):
            self.nodes.append(Node(self.tmp, f"raft{i}", self.extra, leader=first))

    def start(self):
        try:
            self.nodes[0].start()
            wait_for(lambda: self.nodes[0].role() == "leader",
                     what="bootstrap leader")
            for node in self.nodes[1:]:
                node.start()
            self.wait_members(len(self.nodes))
        except BaseException:
            # The fixture never gets to stop what did start.
            self.stop()
            raise
        return self

    def wait_members(self, n, timeout=30):
        def ready():
            for node in self.nodes:
                if not node.alive():
                    continue
                members = node.client(timeout=2).execute_command("CASHE", "MEMBERS")
                voters = [m for m in members if m[5] == b"voter" and m[4] == b"voter"]
                if len(voters) != n:
                    return False
            return True
        wait_for(ready, timeout=timeout, what=f"{n} voters on every node")

    def leader(self, timeout=15):
        def find():
            for node in self.nodes:
                if node.alive():
                    try:
                        if node.role() == "leader":
                            return node
                    except redis.RedisError:
                        pass
            return None
        return wait_for(find, timeout=timeout, what="a leader")

    def followers(self):
        lead = self.leader()
        return [n for n in self.nodes if n is not lead and n.alive()]

    def stop(self):
        for node in self.nodes:
            if node.alive():
                node.proc.kill()
                node.proc.wait(10)


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3).start()
    yield c
    c.stop()


@pytest.fixture
def node1(tmp_path):
    n = Node(str(tmp_path), "raft0").start()
    wait_for(lambda: n.role() == "leader", what="single node leader")
    yield n
    if n.alive():
        n.proc.kill()
        n.proc.wait(10)
