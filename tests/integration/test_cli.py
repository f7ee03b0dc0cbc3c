"""cashed's command line: --help, --version, bad flags, the --config file,
a bare start with every default, and refusing to start on corrupt state."""

import glob
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest
import redis

from conftest import CASHED, Node, free_port, wait_for

# Every option the operator documentation promises.
OPTIONS = ["id", "listenaddr", "raftaddr", "leaderaddr", "data-dir",
           "unix-socket", "config", "password", "log-level",
           "election-timeout", "heartbeat-timeout", "snapshot-threshold",
           "snapshot-trailing", "request-timeout", "max-key-size",
           "max-value-size", "max-args", "max-client-buffer", "max-clients"]


def run(*args, timeout=20, **kw):
    return subprocess.run([CASHED, *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def assert_refused(args, message):
    """cashed started with the full command line @args exits 1 and says
    @message."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert message in out, out


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def serves(port):
    try:
        return redis.Redis(host="127.0.0.1", port=port,
                           socket_timeout=1).ping()
    except redis.ConnectionError:
        return False


def test_help_lists_every_option():
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for opt in OPTIONS:
        assert re.search(rf"--{opt}\b", proc.stdout), f"--{opt} missing"
    assert run("-h").stdout == proc.stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout == "cashed 0.1.0\n"


@pytest.mark.parametrize("args,names", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--no-such-flag=3"], "--no-such-flag"),
    (["--max-clients=abc"], "--max-clients"),
    (["--id"], "--id"),
    (["stray-argument"], "stray-argument"),
])
def test_bad_flag_is_refused(tmp_path, args, names):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode != 0
    assert names in proc.stderr, proc.stderr
    assert not os.path.exists(tmp_path / "cashe-data"), "nothing created"


def write_config(path, **options):
    lines = ["# written by test_cli", "[cashed]"]
    lines += [f"{k} = {v}" for k, v in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_config_file_sets_options_and_flags_win(tmp_path):
    port_a, port_b, raft = free_port(), free_port(), free_port()
    # A value may be quoted.
    conf = write_config(tmp_path / "node.conf", id='"fromfile"',
                        listenaddr=f"127.0.0.1:{port_a}",
                        raftaddr=f"127.0.0.1:{raft}",
                        data_dir=tmp_path / "data",
                        **{"unix-socket": tmp_path / "n.sock",
                           "max-clients": 77})
    log = open(tmp_path / "out.log", "wb")
    proc = subprocess.Popen([CASHED, "--config", str(conf),
                             f"--listenaddr=127.0.0.1:{port_b}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is None and serves(port_b),
                 what="cashed on the flag's port")
        assert not serves(port_a)
        r = redis.Redis(host="127.0.0.1", port=port_b)
        # The member table fills once the bootstrap entry has applied.
        wait_for(lambda: "member0" in r.info("raft"), what="member table")
        info = r.info()
        assert info["node"] == "fromfile"                # from the file
        assert info["maxclients"] == 77                  # from the file
        assert info["config_file"] == str(conf)
        assert info["member0"]["raft"] == f"127.0.0.1:{raft}"
        assert os.path.isdir(tmp_path / "data")
        assert redis.Redis(unix_socket_path=str(tmp_path / "n.sock")).ping()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("body,line,what", [
    ("[cashed]\nid = raft7\nbogus_key = 1\n", 3, "bogus_key"),
    ("[cashed]\n\nmax-clients = lots\n", 3, "max-clients"),
    ("[cashed]\nid = ok\nthis line has no equals sign\n", 3, None),
    ("[cashed]\nid = ok\nlistenaddr = \":3160\n", 3, "unterminated quote"),
])
def test_bad_config_file_names_file_and_line(tmp_path, body, line, what):
    conf = tmp_path / "bad.conf"
    conf.write_text(body)
    proc = run("--config", str(conf), cwd=tmp_path)
    assert proc.returncode != 0
    assert f"{conf}:{line}" in proc.stderr or f"bad.conf:{line}" in \
        proc.stderr, proc.stderr
    if what:
        assert what in proc.stderr
    assert not os.path.exists(tmp_path / "cashe-data")


def test_missing_config_file(tmp_path):
    proc = run("--config", str(tmp_path / "nope.conf"))
    assert proc.returncode != 0
    assert "nope.conf" in proc.stderr


def test_bare_cashed_starts_with_defaults(tmp_path):
    if not (port_free(3000) and port_free(4000)):
        pytest.skip("the default ports 3000 and 4000 are in use here")
    if os.path.exists("/tmp/cashe-raft0.sock"):
        pytest.skip("/tmp/cashe-raft0.sock exists: another default node?")
    log = open(tmp_path / "out.log", "wb")
    proc = subprocess.Popen([CASHED], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ, HOME=str(tmp_path)))
    try:
        wait_for(lambda: proc.poll() is None and serves(3000),
                 what="a bare cashed on :3000")
        r = redis.Redis(host="127.0.0.1", port=3000)
        wait_for(lambda: r.info("raft")["role"] == "leader" and
                 "member0" in r.info("raft"), what="the single node to lead")
        assert r.set("bare", "yes") is True and r.get("bare") == b"yes"
        assert r.info("raft")["member0"]["raft"] == "127.0.0.1:4000"
        assert os.path.isdir(tmp_path / "cashe-data" / "raft0")
        assert os.listdir(tmp_path / "cashe-data" / "raft0")
        assert redis.Redis(unix_socket_path="/tmp/cashe-raft0.sock").get(
            "bare") == b"yes"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert not os.path.exists("/tmp/cashe-raft0.sock")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


# --- corrupt state ---------------------------------------------------------

KEYS = 2000


def snapshot_files(data_dir):
    return [f for f in glob.glob(os.path.join(data_dir, "snapshot-*-*-*"))
            if not f.endswith(".meta")]


def closed_segments(data_dir):
    return sorted(f for f in os.listdir(data_dir)
                  if re.fullmatch(r"\d{16}-\d{16}", f))


def open_segments_with_data(data_dir):
    """Open segments holding entries: more than their 16-byte header."""
    found = []
    for name in os.listdir(data_dir):
        m = re.fullmatch(r"open-(\d+)", name)
        if m:
            with open(os.path.join(data_dir, name), "rb") as f:
                if f.read(1 << 20)[16:].strip(b"\0"):
                    found.append((int(m.group(1)), name))
    return [name for _, name in sorted(found)]


def fill(node, n, prefix):
    r = node.client()
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}{i}", f"value-{i}" * 10)
    assert all(pipe.execute())


def start_from(node, data_dir):
    """Start @node's command line on @data_dir. Returns ("exited", rc, output)
    or ("serving", proc, None)."""
    node.data_dir = str(data_dir)
    node.start(wait=False)

    def settled():
        return node.proc.poll() is not None or serves(node.port)
    wait_for(settled, timeout=30, what="the node to serve or exit")
    node.log.close() if node.proc.poll() is not None else None
    if node.proc.poll() is not None:
        return "exited", node.proc.returncode, node.read_log()
    return "serving", node.proc, None


@pytest.fixture
def stopped_node(tmp_path):
    """A node that wrote keys, took a snapshot, wrote more and stopped
    cleanly (SIGTERM): its open segment is closed on the way out."""
    node = Node(str(tmp_path), "raft0")
    node.start()
    wait_for(lambda: node.role() == "leader", what="leader")
    fill(node, KEYS, "key")
    assert node.client().execute_command("CASHE", "SNAPSHOT") == b"OK"
    wait_for(lambda: snapshot_files(node.data_dir), timeout=10,
             what="a snapshot file")
    fill(node, 100, "post")
    assert node.stop() == 0
    return node


def copy_state(node, name):
    dest = os.path.join(os.path.dirname(node.data_dir), name)
    shutil.copytree(node.data_dir, dest)
    return dest


def test_clean_restart_keeps_everything(stopped_node):
    state, proc, _ = start_from(stopped_node, copy_state(stopped_node, "ok"))
    assert state == "serving"
    r = stopped_node.client()
    assert r.dbsize() == KEYS + 100
    assert r.get("key1999") == b"value-1999" * 10
    assert r.get("post99") == b"value-99" * 10
    assert stopped_node.stop() == 0


def test_corrupt_snapshot_stops_startup(stopped_node):
    data = copy_state(stopped_node, "badsnap")
    (snap,) = snapshot_files(data)
    with open(snap, "r+b") as f:
        size = os.path.getsize(snap)
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    state, rc, out = start_from(stopped_node, data)
    assert state == "exited", "started on a corrupt snapshot"
    assert rc > 0, out          # an orderly exit, not a crash
    assert re.search(r"checksum|corrupt|crc", out, re.I), out
    assert "cannot start" in out, out


def test_truncated_closed_segment_stops_startup(stopped_node):
    data = copy_state(stopped_node, "badseg")
    newest = closed_segments(data)[-1]
    path = os.path.join(data, newest)
    os.truncate(path, os.path.getsize(path) // 2)
    state, rc, out = start_from(stopped_node, data)
    assert state == "exited", "started without part of its log"
    assert rc > 0, out
    assert newest in out, out   # the message names the damaged file
    assert "cannot start" in out, out


@pytest.fixture
def killed_node(tmp_path):
    """A node that acknowledged writes, then died (SIGKILL) with its entries
    in an open segment."""
    node = Node(str(tmp_path), "raft0")
    node.start()
    wait_for(lambda: node.role() == "leader", what="leader")
    fill(node, 300, "acked")
    node.kill()
    assert open_segments_with_data(node.data_dir)
    return node


def test_open_segment_cut_to_half_its_size(killed_node):
    """The library tolerates an open segment shorter than its preallocated
    size: the half cut away holds only the preallocation's zeros, and every
    acknowledged (fsynced) write is there after the restart."""
    data = copy_state(killed_node, "halfopen")
    newest = open_segments_with_data(data)[-1]
    path = os.path.join(data, newest)
    os.truncate(path, os.path.getsize(path) // 2)
    state, proc, _ = start_from(killed_node, data)
    assert state == "serving"
    r = killed_node.client()
    assert r.dbsize() == 300
    assert r.mget([f"acked{i}" for i in range(300)]) == [
        f"value-{i}".encode() * 10 for i in range(300)]
    assert killed_node.stop() == 0


def test_open_segment_damaged_before_its_end(tmp_path):
    """A byte flipped inside an open segment, with intact batches after it:
    libraft 0.15 would take the damaged batch for a torn write and start
    without it and everything after, acknowledged writes included, without
    a word. cashed checks the batches itself and refuses to start."""
    node = Node(str(tmp_path), "raft0")
    node.start()
    wait_for(lambda: node.role() == "leader", what="leader")
    r = node.client()
    for i in range(40):  # one write, one batch
        assert r.set(f"acked{i}", f"value-{i}" * 10)
    node.kill()
    (newest,) = open_segments_with_data(node.data_dir)[-1:]
    whole = copy_state(node, "whole")
    data = copy_state(node, "flipped")
    path = os.path.join(data, newest)
    with open(path, "r+b") as f:
        used = len(f.read().rstrip(b"\0"))
        f.seek(used // 2)
        byte = f.read(1)
        f.seek(used // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    try:
        state, rc, out = start_from(node, data)
        assert state == "exited", "started without the entries after the damage"
        assert rc == 1, out
        assert "cannot start" in out and newest in out, out
        assert "intact entries follow" in out, out
        # The same log undamaged starts with every acknowledged write.
        state, proc, _ = start_from(node, whole)
        assert state == "serving"
        assert node.client().dbsize() == 40
        assert node.stop() == 0
    finally:
        if node.proc.poll() is None:
            node.kill()


def test_open_segment_cut_inside_its_entries(killed_node):
    """libraft 0.15 aborts (double free) loading an open segment that ends
    inside its entries; cashed loads the log in a child process first and
    turns that into a message and exit code 1."""
    data = copy_state(killed_node, "tornopen")
    newest = open_segments_with_data(data)[-1]
    path = os.path.join(data, newest)
    with open(path, "rb") as f:
        used = len(f.read().rstrip(b"\0"))
    os.truncate(path, used // 2)
    state, result, out = start_from(killed_node, data)
    if state == "exited":
        assert result > 0, f"crashed (status {result}):\n{out}"
        assert "cannot start" in out, out
        assert "corrupt" in out or "raft" in out, out
    else:
        # Started: what it kept must be a prefix of the acknowledged writes.
        r = killed_node.client()
        n = r.dbsize()
        assert r.exists(*[f"acked{i}" for i in range(n)]) == n
        assert killed_node.stop() == 0


def test_data_dir_refuses_another_node_name(tmp_path):
    """A data directory belongs to the node that made it: started under
    another --id the node would wait forever with an unknown Raft id."""
    from conftest import Node
    first = Node(str(tmp_path), "raft0").start()
    wait_for(lambda: first.role() == "leader")
    assert first.stop() == 0
    other = Node(str(tmp_path), "raft7")
    other.data_dir = first.data_dir
    assert_refused(other.args(), "belongs to node 'raft0'")


def test_data_dir_is_locked_while_a_node_runs(tmp_path):
    """A second process on a running node's data directory would rewrite its
    log under it: it is refused, --recover too, while the first keeps
    serving; after the first is killed -9 the directory is free again."""
    first = Node(str(tmp_path), "raft0").start()
    wait_for(lambda: first.role() == "leader")
    first.client().set("k", "v")
    second = Node(str(tmp_path), "raft0")
    second.data_dir = first.data_dir
    assert_refused(second.args(),
                   f"is in use by another process (pid {first.proc.pid})")
    assert_refused(second.args() + ["--recover"],
                   f"in use by process {first.proc.pid}")
    first.client().set("k2", "v2")
    assert first.client().get("k") == b"v"

    first.kill()
    second.start()
    wait_for(lambda: second.role() == "leader")
    assert second.client().get("k2") == b"v2"
    assert second.stop() == 0


def test_unix_socket_path_is_not_taken_from_others(tmp_path):
    """The socket path is removed before binding only when it is a socket
    nobody serves (left by a killed node): another node's live socket and a
    file that is not a socket are left alone, and the start is refused."""
    first = Node(str(tmp_path), "raft0").start()
    second = Node(str(tmp_path), "raft1")
    second.sock = first.sock
    assert_refused(second.args(), "another process serves it")
    assert first.unix_client().ping()

    other = tmp_path / "not-a-socket"
    other.write_text("keep me")
    second.sock = str(other)
    assert_refused(second.args(), "not a socket")
    assert other.read_text() == "keep me"

    # A killed node's socket file is stale: the next node takes the path.
    first.kill()
    assert os.path.exists(first.sock)
    second.sock = first.sock
    second.start()
    assert second.unix_client().ping()
    assert second.stop() == 0
    assert not os.path.exists(first.sock)


@pytest.mark.parametrize("busy", ["listenaddr", "raftaddr"])
def test_address_in_use_refused_before_the_data_dir_is_touched(tmp_path,
                                                               busy):
    """A first node whose port is taken must not bootstrap on the way out:
    its next start, with --leaderaddr, would find a one-node cluster there
    and restart it instead of joining."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        node = Node(str(tmp_path), "raft0")
        if busy == "listenaddr":
            node.port = taken
        else:
            node.raft_port = taken
        assert_refused(node.args(), f"127.0.0.1:{taken} is in use")
        assert not os.path.exists(node.data_dir), os.listdir(node.data_dir)
    finally:
        holder.close()
