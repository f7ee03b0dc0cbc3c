"""The systemd protocols without systemd: sd_notify(3) and socket activation.

A datagram socket stands in for the service manager's NOTIFY_SOCKET and
records what cashed tells it (READY=1, STATUS=, WATCHDOG=1, RELOADING=1,
STOPPING=1). Listening sockets are handed over the way systemd does it:
at fds 3 and up, with LISTEN_FDS, LISTEN_PID (the daemon's own pid, so the
child of a fork sets it before exec) and LISTEN_FDNAMES.
"""

import fcntl
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import Node, free_port, wait_for

STATUS_RE = re.compile(
    r"^(stopping: )?(leader|follower|candidate|unavailable), term (\d+), "
    r"leader (\S+), applied index (\d+)$")


class NotifySocket:
    """A NOTIFY_SOCKET: records (monotonic time, {key: value}) per datagram."""

    def __init__(self):
        # A short directory: sun_path holds 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="cashe-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.lock:
                self.messages.append((time.monotonic(), fields))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def with_key(self, key, value=None):
        return [(t, m) for t, m in self.snapshot()
                if key in m and (value is None or m[key] == value)]

    def wait(self, key, value=None, after=0, timeout=10):
        """The first message past index @after with @key (= @value)."""
        def find():
            for i, (t, m) in enumerate(self.snapshot()):
                if i >= after and key in m and (value is None or m[key] == value):
                    return i, t, m
            return None
        return wait_for(find, timeout=timeout, what=f"{key}={value} from cashed")

    def statuses(self):
        out = []
        for t, m in self.with_key("STATUS"):
            match = STATUS_RE.match(m["STATUS"])
            if match:
                out.append((t, match))
        return out

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


# Every daemon a test starts, killed after it even when an assertion failed.
STARTED = []


@pytest.fixture(autouse=True)
def reap():
    yield
    while STARTED:
        node = STARTED.pop()
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(10)


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


class EnvNode(Node):
    """A Node started with its own environment and exact arguments."""

    def __init__(self, tmp, name, env, args=None, **kw):
        super().__init__(tmp, name, **kw)
        self.env = env
        self.fixed_args = args

    def args(self):
        return self.fixed_args if self.fixed_args is not None else super().args()

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        STARTED.append(self)
        if wait:
            wait_for(self.ping, what=f"{self.name} to serve")
        return self


def notify_env(notify, **extra):
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    for k in ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
              "LISTEN_FDNAMES"):
        env.pop(k, None)
    env.update(extra)
    return env


def stop_clean(node):
    rc = node.stop()
    assert rc == 0, node.read_log()[-2000:]


def test_ready_status_and_stopping(tmp_path, notify):
    node = EnvNode(str(tmp_path), "raft0", notify_env(notify)).start(wait=False)
    i, _, ready = notify.wait("READY", "1")
    # Ready means serving: the first command after READY=1 gets an answer.
    assert node.client(timeout=2).ping()
    assert STATUS_RE.match(ready["STATUS"]), ready

    def led():
        for _, m in notify.statuses():
            if m.group(2) == "leader" and m.group(4) == "raft0":
                return m
        return None
    first = wait_for(led, what="STATUS naming raft0 as leader")
    assert int(first.group(3)) >= 1

    c = node.client()
    for k in range(20):
        c.set(f"k{k}", "v")
    applied = int(c.info("raft")["last_applied"])
    assert applied >= int(first.group(5)) + 20

    def caught_up():
        return [m for _, m in notify.statuses() if int(m.group(5)) >= applied]
    wait_for(caught_up, timeout=5, what="STATUS with the new applied index")
    assert not notify.with_key("WATCHDOG"), "watchdog without WATCHDOG_USEC"

    n = len(notify.snapshot())
    node.signal(signal.SIGTERM)
    notify.wait("STOPPING", "1", after=n)
    assert node.proc.wait(20) == 0
    node.log.close()
    assert any(m.group(1) for _, m in notify.statuses()), "no stopping STATUS"
    # READY=1 came once, before STOPPING=1.
    assert len(notify.with_key("READY")) == 1
    assert notify.with_key("READY")[0][0] <= notify.with_key("STOPPING")[0][0]


def test_ready_without_quorum(tmp_path, notify):
    """A node that cannot reach its cluster still reports ready at once: a
    first node must not hang the boot."""
    nobody = free_port()
    node = EnvNode(str(tmp_path), "raft1", notify_env(notify),
                   extra=[f"--leaderaddr=127.0.0.1:{nobody}"])
    start = time.monotonic()
    node.start(wait=False)
    _, t, ready = notify.wait("READY", "1", timeout=10)
    assert t - start < 5
    m = STATUS_RE.match(ready["STATUS"])
    assert m and m.group(2) != "leader" and m.group(4) == "unknown", ready
    assert node.client(timeout=2).ping()
    stop_clean(node)


def test_watchdog_interval(tmp_path, notify):
    usec = 1_000_000
    node = EnvNode(str(tmp_path), "raft0",
                   notify_env(notify, WATCHDOG_USEC=str(usec))).start()
    notify.wait("READY", "1")
    time.sleep(3.2)
    pings = [t for t, _ in notify.with_key("WATCHDOG", "1")]
    stop_clean(node)
    assert len(pings) >= 5, pings
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    # Half the interval, so that one late timer is not taken for a hang.
    assert 0.35 <= statistics.median(gaps) <= 0.65, gaps
    assert max(gaps) < usec / 1e6, gaps


def test_watchdog_for_another_pid(tmp_path, notify):
    """WATCHDOG_PID names the process meant: any other ignores it."""
    node = EnvNode(str(tmp_path), "raft0",
                   notify_env(notify, WATCHDOG_USEC="200000",
                              WATCHDOG_PID="1")).start()
    notify.wait("READY", "1")
    time.sleep(1)
    assert not notify.with_key("WATCHDOG")
    stop_clean(node)


def write_conf(path, **opts):
    with open(path, "w") as f:
        f.write("[cashed]\n")
        for k, v in opts.items():
            f.write(f"{k.replace('_', '-')} = {v}\n")


def test_sighup_reload(tmp_path, notify):
    conf = str(tmp_path / "raft0.conf")
    write_conf(conf, max_value_size="1k", log_level="notice",
               max_clients="100")
    node = EnvNode(str(tmp_path), "raft0", notify_env(notify))
    # The flag must keep winning over the file across reloads.
    node.fixed_args = [a for a in Node.args(node)
                       if not a.startswith("--log-level")]
    node.fixed_args += [f"--config={conf}", "--max-clients=50"]
    node.start()
    c = node.client()
    wait_for(lambda: node.role() == "leader", what="leader")
    with pytest.raises(redis.ResponseError, match="max-value-size"):
        c.set("big", "x" * 2000)

    def bad_request():
        with socket.create_connection(("127.0.0.1", node.port), 2) as s:
            s.sendall(b"*x\r\n")
            s.recv(100)
    bad_request()

    write_conf(conf, max_value_size="4k", log_level="debug",
               max_clients="200", election_timeout="2000")
    n = len(notify.snapshot())
    node.signal(signal.SIGHUP)
    i, _, _ = notify.wait("RELOADING", "1", after=n)
    notify.wait("READY", "1", after=i + 1)
    assert c.set("big", "x" * 2000)
    log = node.read_log()
    assert "reload: max-value-size 1024 -> 4096" in log
    assert "reload: log-level notice -> debug" in log
    assert "election-timeout changed; it takes effect on restart" in log
    assert "max-clients" not in log  # the flag still says 50
    assert "Protocol error" not in log  # logged at debug only
    bad_request()
    wait_for(lambda: "Protocol error" in node.read_log(), timeout=5,
             what="a debug line once log-level is debug")

    # A broken file changes nothing, and the node says it is ready again.
    with open(conf, "a") as f:
        f.write("max-key-size = lots\n")
    n = len(notify.snapshot())
    node.signal(signal.SIGHUP)
    i, _, _ = notify.wait("RELOADING", "1", after=n)
    notify.wait("READY", "1", after=i + 1)
    wait_for(lambda: "keeping the running configuration" in node.read_log(),
             timeout=5, what="the refused reload in the log")
    assert f"{conf}:6: bad value for 'max-key-size'" in node.read_log()
    assert c.set("big", "x" * 3000)
    with pytest.raises(redis.ResponseError, match="max-value-size"):
        c.set("big", "x" * 5000)
    assert node.alive()
    stop_clean(node)


# --- Socket activation ---


class ForkedProc:
    """The subprocess.Popen calls Node uses, for a child started by fork."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def _reap(self, flags):
        pid, status = os.waitpid(self.pid, flags)
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self):
        return self.returncode if self.returncode is not None \
            else self._reap(os.WNOHANG)

    def wait(self, timeout=None):
        deadline = time.monotonic() + (timeout or 60)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)


class ActivatedNode(Node):
    """A Node given listening sockets at fds 3, 4, ... the systemd way."""

    def __init__(self, tmp, name, socks, names=None, listen_pid=None, **kw):
        super().__init__(tmp, name, **kw)
        self.socks = socks
        self.names = names
        self.listen_pid = listen_pid

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        args = self.args()
        env = dict(os.environ, LISTEN_FDS=str(len(self.socks)))
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "LISTEN_FDNAMES"):
            env.pop(k, None)
        if self.names is not None:
            env["LISTEN_FDNAMES"] = ":".join(self.names)
        pid = os.fork()
        if pid == 0:  # the child: only async-signal-safe steps until exec
            try:
                env["LISTEN_PID"] = str(self.listen_pid or os.getpid())
                high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 100)
                        for s in self.socks]
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i)  # inheritable
                os.dup2(self.log.fileno(), 1)
                os.dup2(self.log.fileno(), 2)
                os.execve(args[0], args, env)
            finally:
                os._exit(127)
        self.proc = ForkedProc(pid)
        STARTED.append(self)
        for s in self.socks:
            s.close()  # the daemon holds them now
        if wait:
            wait_for(self.ping, what=f"{self.name} to serve")
        return self


def tcp_listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def unix_listener(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


@pytest.fixture
def sockdir():
    """A short directory for Unix sockets (sun_path holds 107 bytes)."""
    d = tempfile.mkdtemp(prefix="cashe-act-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_listen_fds_named(tmp_path, sockdir):
    d = sockdir
    passed_path = os.path.join(d, "passed.sock")
    node = ActivatedNode(str(tmp_path), "raft0", [], names=["client", "unix"])
    node.sock = os.path.join(d, "own.sock")
    # The passed TCP socket holds the very port the config names: binding
    # it again would fail, so serving proves the fd was adopted.
    node.socks = [tcp_listener(node.port), unix_listener(passed_path)]
    node.start()
    c = redis.Redis(unix_socket_path=passed_path, socket_timeout=5)
    assert c.set("via", "unix")
    assert node.client().get("via") == b"unix"
    assert not os.path.exists(node.sock), "bound its own Unix socket too"
    log = node.read_log()
    assert "using the 'client' socket" in log
    assert "using the 'unix' socket" in log
    stop_clean(node)
    # The socket unit owns the path: it must survive the daemon.
    assert os.path.exists(passed_path)


def test_listen_fds_unnamed_by_family(tmp_path, sockdir):
    """Without LISTEN_FDNAMES the family decides, whatever the order."""
    d = sockdir
    passed_path = os.path.join(d, "passed.sock")
    node = ActivatedNode(str(tmp_path), "raft0", [])
    node.sock = os.path.join(d, "own.sock")
    node.socks = [unix_listener(passed_path), tcp_listener(node.port)]
    node.start()
    c = redis.Redis(unix_socket_path=passed_path, socket_timeout=5)
    assert c.ping()
    assert not os.path.exists(node.sock)
    stop_clean(node)


def test_listen_fds_for_another_pid(tmp_path, sockdir):
    """LISTEN_PID naming another process: the fds are not ours; bind."""
    d = sockdir
    passed_path = os.path.join(d, "passed.sock")
    other_port = free_port()
    node = ActivatedNode(str(tmp_path), "raft0",
                         [tcp_listener(other_port),
                          unix_listener(passed_path)],
                         names=["client", "unix"], listen_pid=1)
    node.sock = os.path.join(d, "own.sock")
    node.start()
    assert redis.Redis(unix_socket_path=node.sock, socket_timeout=5).ping()
    assert "socket activation" not in node.read_log()
    stop_clean(node)
    assert not os.path.exists(node.sock)  # its own: removed on stop


def test_listen_fds_unknown_name_closed(tmp_path, sockdir):
    """A passed socket the daemon has no use for is closed, not leaked."""
    d = sockdir
    dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inode = os.fstat(dgram.fileno()).st_ino
    node = ActivatedNode(str(tmp_path), "raft0", [dgram], names=["client"])
    node.sock = os.path.join(d, "own.sock")
    node.start()  # on the port it bound itself
    log = node.read_log()
    assert "is not a listening stream socket" in log
    assert "not used; closing it" in log
    fd_dir = f"/proc/{node.proc.pid}/fd"
    held = set()
    for fd in os.listdir(fd_dir):
        try:
            held.add(os.readlink(os.path.join(fd_dir, fd)))
        except OSError:
            pass
    assert f"socket:[{inode}]" not in held
    stop_clean(node)
