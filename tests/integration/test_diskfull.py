"""A full disk costs availability, never data.

A real 3-node cluster with one node's data directory on its own small tmpfs
(mounted here, so the tests need root: they skip otherwise), filled with a
file while the cluster serves:

- the full node refuses writes with NOSPACE, naming itself and its data
  directory, keeps serving reads, and a full leader hands leadership over,
  so writes through the other nodes go on;
- once the file is gone the node takes writes again by itself;
- a node whose log write fails all the same (the disk filled faster than
  its watch) stops at once with status 3, before canonical/raft can write
  entries after the missing ones; restarted on a disk still full it waits
  for space, then starts and catches up;
- no acknowledged write is lost, every node ends with the same keyspace,
  and a restart loads the full node's log.
"""

import os
import shutil
import subprocess

import pytest
import redis

from conftest import Cluster, wait_for

MIN_FREE = 16 * 1024 * 1024  # --min-free-space of every node
EXIT_LOG_WRITE_FAILED = 3

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None,
    reason="mounting a tmpfs for the data directory needs root")


# --- helpers ---------------------------------------------------------------


class FullDisk:
    """A tmpfs of @size on @path, and a file that eats its free space."""

    def __init__(self, path, size):
        self.path = path
        self.fill_path = os.path.join(path, "fill")
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                        "tmpfs", path], check=True)

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """Take all but @leave bytes of free space."""
        with open(self.fill_path, "ab") as f:
            size = os.fstat(f.fileno()).st_size + self.free() - leave
            os.posix_fallocate(f.fileno(), 0, size)

    def release(self):
        os.unlink(self.fill_path)

    def segments_ready(self):
        """canonical/raft has preallocated its open segments (the current
        one and spares, 8 MiB each): filling the disk now leaves the node
        room to go on taking entries from the leader for a while."""
        return len([f for f in os.listdir(self.path)
                    if f.startswith("open-")]) >= 2

    def umount(self):
        if subprocess.run(["umount", self.path]).returncode != 0:
            subprocess.run(["umount", "-l", self.path])


@pytest.fixture
def disk_cluster(tmp_path, request):
    """A started 3-node cluster whose node @request.param[0] has its data
    directory on a FullDisk of @request.param[1]: yields (cluster, that
    node, its disk)."""
    name, size = request.param
    cluster = Cluster(tmp_path, 3, extra=[f"--min-free-space={MIN_FREE}"])
    node = next(n for n in cluster.nodes if n.name == name)
    disk = FullDisk(node.data_dir, size)
    try:
        cluster.start()
        wait_for(disk.segments_ready, what="preallocated segments")
        yield cluster, node, disk
    finally:
        cluster.stop()
        disk.umount()


def disk_info(node):
    info = node.info("raft")
    return info["disk_full"], info["disk_free_bytes"], info["disk_reserve_bytes"]


def readonly(node):
    """A client whose every connection reads from @node's own store."""

    def on_connect(conn):
        conn.on_connect()
        conn.send_command("READONLY")
        if conn.read_response() != b"OK":
            raise redis.ConnectionError("READONLY refused")

    return node.client(timeout=10, redis_connect_func=on_connect)


def write(node, kv, prefix, n, size=16, tag=""):
    """SET @n keys through @node, all of which must succeed; @kv records
    what was acknowledged."""
    c = node.client(timeout=30)
    pipe = c.pipeline(transaction=False)
    values = {f"{prefix}:{i:05d}": f"{prefix}:{i:05d}{tag}=" + "v" * size
              for i in range(n)}
    for k, v in values.items():
        pipe.set(k, v)
    assert all(r is True for r in pipe.execute())
    kv.update(values)
    c.close()


def assert_nospace(node, disk):
    with pytest.raises(redis.ResponseError) as e:
        node.client(timeout=10).set("refused", "x")
    msg = str(e.value)
    assert msg.startswith(f"NOSPACE node {node.name}: data directory "
                          f"{disk.path} has "), msg
    assert "writes are refused until space is freed" in msg, msg


def same_everywhere(cluster, kv, timeout=30):
    """Every node applies up to the same index and holds the same keyspace,
    with every acknowledged write in it."""
    nodes = [n for n in cluster.nodes if n.alive()]

    def settled():
        applied = {n.info("raft")["last_applied"] for n in nodes}
        commit = {n.info("raft")["commit_index"] for n in nodes}
        return len(applied) == 1 and applied == commit

    wait_for(settled, timeout=timeout, what="every node at the same index")
    dumps = []
    for n in nodes:
        c = readonly(n)
        keys = sorted(c.keys("*"))
        values = c.mget(keys) if keys else []
        dumps.append(dict(zip(keys, values)))
        c.close()
    for n, d in zip(nodes, dumps):
        missing = [k for k, v in kv.items()
                   if d.get(k.encode()) != v.encode()]
        assert not missing, f"{n.name} lost {len(missing)} acknowledged " \
                            f"writes, e.g. {missing[:5]}"
        assert d == dumps[0], f"{n.name} differs from {nodes[0].name}"
    assert b"refused" not in dumps[0], "a write refused with NOSPACE applied"


def restart(node):
    assert node.stop() == 0, node.read_log()[-2000:]
    node.start()


# --- tests -----------------------------------------------------------------


@pytest.mark.parametrize("disk_cluster", [("raft0", "64m")], indirect=True)
def test_full_leader_refuses_writes_hands_over_and_resumes(disk_cluster):
    cluster, node, disk = disk_cluster
    kv = {}
    assert cluster.leader() is node
    write(node, kv, "before", 200)
    assert disk_info(node)[0] == 0

    disk.fill(leave=1024 * 1024)
    wait_for(lambda: disk_info(node)[0] == 1, timeout=10,
             what="the leader to see its disk full")
    full, free, reserve = disk_info(node)
    assert free < MIN_FREE <= reserve
    assert_nospace(node, disk)

    # It hands leadership over; the others then take writes.
    wait_for(lambda: cluster.leader() is not node, timeout=20,
             what="leadership to leave the full node")
    others = [n for n in cluster.nodes if n is not node]
    for n in others:
        write(n, kv, f"during-{n.name}", 100)
    assert_nospace(node, disk)
    # Reads go on through the full node, linearizable and local.
    c = node.client(timeout=10)
    assert c.get("during-raft1:00007").decode() == kv["during-raft1:00007"]
    wait_for(lambda: readonly(node).get("during-raft2:00099") is not None,
             what="the full node to apply what the others took")
    log = node.read_log()
    assert log.count("refusing writes") == 1, log[-3000:]
    assert "handing leadership over" in log

    disk.release()
    wait_for(lambda: disk_info(node)[0] == 0, timeout=10,
             what="the node to see space again")
    write(node, kv, "after", 100)
    assert node.read_log().count("taking writes again") == 1

    restart(node)
    write(node, kv, "restarted", 50)
    same_everywhere(cluster, kv)


@pytest.mark.parametrize("disk_cluster", [("raft2", "64m")], indirect=True)
def test_full_follower_refuses_writes_while_majority_serves(disk_cluster):
    cluster, node, disk = disk_cluster
    kv = {}
    leader = cluster.leader()
    assert leader is not node
    write(node, kv, "before", 200)

    disk.fill(leave=1024 * 1024)
    wait_for(lambda: disk_info(node)[0] == 1, timeout=10,
             what="the follower to see its disk full")
    assert_nospace(node, disk)
    # The majority has space: writes through the others go on.
    for n in cluster.nodes:
        if n is not node:
            write(n, kv, f"during-{n.name}", 100)
    assert cluster.leader() is leader
    assert_nospace(node, disk)
    c = node.client(timeout=10)
    assert c.get("during-raft0:00042").decode() == kv["during-raft0:00042"]
    assert c.dbsize() == len(kv)

    disk.release()
    wait_for(lambda: disk_info(node)[0] == 0, timeout=10,
             what="the follower to see space again")
    write(node, kv, "after", 100)

    restart(node)
    same_everywhere(cluster, kv)


@pytest.mark.parametrize("disk_cluster", [("raft2", "128m")], indirect=True)
def test_failed_log_write_stops_node_and_loses_nothing(disk_cluster):
    """The follower's disk fills to the last byte and the cluster writes
    more than its preallocated segments hold: its next segment cannot be
    created. canonical/raft 0.15 alone would carry on and, once space
    returned, leave entries at the wrong indexes on that node."""
    cluster, node, disk = disk_cluster
    kv = {}
    leader = cluster.leader()
    write(leader, kv, "before", 100)

    disk.fill()
    wait_for(lambda: disk_info(node)[0] == 1, timeout=10,
             what="the follower to see its disk full")
    # 40 MiB of log, more than its three segments of 8 MiB hold, over the
    # same 80 keys (a keyspace of 5 MiB).
    for i in range(8):
        write(leader, kv, "bulk", 80, size=64 * 1024, tag=f"/{i}")
    rc = wait_for(lambda: node.proc.poll(), timeout=60,
                  what="the follower to stop")
    node.log.close()
    assert rc == EXIT_LOG_WRITE_FAILED, node.read_log()[-3000:]
    log = node.read_log()
    assert "cannot write the Raft log in " + node.data_dir in log, log[-3000:]
    # The others go on.
    write(leader, kv, "without", 100)

    # Restarted (as systemd would) on a disk still full: it waits.
    node.start(wait=False)
    wait_for(lambda: "Raft needs to start (a log segment and a snapshot): "
             "waiting for space" in node.read_log(), timeout=15,
             what="the node to wait")
    assert node.alive()
    with pytest.raises(redis.ConnectionError):
        node.client(timeout=2).ping()
    # Stopped while it waits, it exits as from any stop (it was killed by
    # the signal), then waits again when started again.
    assert node.stop() == 0, node.read_log()[-3000:]
    assert "stopped while waiting for space in " + node.data_dir in \
        node.read_log()
    node.start(wait=False)
    wait_for(lambda: node.read_log().count(
        "snapshot): waiting for space") == 2, timeout=15,
        what="the node to wait again")

    disk.release()
    wait_for(node.ping, timeout=30, what="the node to start")
    wait_for(lambda: disk_info(node)[0] == 0 and node.role() == "follower",
             timeout=20, what="the node to rejoin with room to spare")
    write(node, kv, "after", 100)
    same_everywhere(cluster, kv)
    restart(node)
    same_everywhere(cluster, kv)
