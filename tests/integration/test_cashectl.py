"""cashectl against real cashed daemons: every subcommand, its output and
exit status, --json parsed back, membership changes seen through status,
snapshot save and restore into a fresh cluster, and the quorum-loss
recovery procedure of cashe(7) on a cluster that lost two of three nodes.
"""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import CASHED, Cluster, Node, free_port, wait_for

CASHECTL = os.environ.get(
    "CASHECTL", os.path.join(os.path.dirname(CASHED), "src", "ctl", "cashectl"))

OK, FAILED, USAGE, NOT_FOUND, UNAVAILABLE = 0, 1, 2, 3, 4


def ctl(*args, node=None, stdin=None, env=None, timeout=60):
    """Run cashectl (on @node's socket when given); returns CompletedProcess
    with bytes stdout and text stderr."""
    argv = [CASHECTL]
    if node is not None:
        argv += ["--socket", node.sock]
    argv += [str(a) for a in args]
    e = dict(os.environ)
    e.pop("CASHE_PASSWORD", None)
    e.update(env or {})
    p = subprocess.run(argv, input=stdin, capture_output=True, env=e,
                       timeout=timeout)
    p.stderr = p.stderr.decode(errors="replace")
    return p


def ok(*args, **kw):
    p = ctl(*args, **kw)
    assert p.returncode == OK, (args, p.returncode, p.stderr)
    return p.stdout


def ctl_json(*args, **kw):
    return json.loads(ok("--json", *args, **kw))


def status(node):
    return ctl_json("status", node=node)


def members_by_name(st):
    return {m["name"]: m for m in st["members"]}


@pytest.fixture(scope="module", autouse=True)
def built():
    if not os.access(CASHECTL, os.X_OK):
        pytest.fail(f"cashectl not built at {CASHECTL}; set CASHECTL")


# ---- command line, no daemon needed ---------------------------------------

def test_help_lists_every_command_and_exit_codes():
    out = ok("--help").decode()
    for cmd in ["get KEY", "put KEY", "del KEY", "ls [PREFIX]", "ttl KEY",
                "watch PREFIX", "status", "member list", "member add",
                "member remove", "member promote", "leader transfer",
                "snapshot save", "snapshot restore"]:
        assert cmd in out
    assert "4 cluster or node unavailable" in out
    assert ok("--version").decode().startswith("cashectl ")


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["--bogus", "status"], ["get"], ["get", "a", "b"],
    ["put"], ["del"], ["ls", "a", "b"], ["ttl"], ["ttl", "k", "0"],
    ["ttl", "k", "5", "--clear"], ["member"], ["member", "add", "x"],
    ["leader"], ["leader", "elect"], ["snapshot", "save"],
    ["snapshot", "load", "f"], ["ls", "--clear"], ["get", "--ttl", "5", "k"],
    ["--socket", "/x", "--endpoint", ":1", "status"], ["-i", "../x", "status"],
    ["--timeout", "soon", "status"], ["put", "--ttl", "-1", "k", "v"],
    ["snapshot", "save", "--force", "f"],
])
def test_usage_errors_exit_2_without_a_node(tmp_path, args):
    # The socket does not exist: a usage error must win over unavailable.
    p = ctl("--socket", str(tmp_path / "none.sock"), *args) \
        if "--socket" not in args and "-i" not in args else ctl(*args)
    assert p.returncode == USAGE, (args, p.stderr)
    assert "cashectl --help" in p.stderr


def test_unreachable_node_is_unavailable(tmp_path):
    p = ctl("--socket", str(tmp_path / "none.sock"), "get", "k")
    assert p.returncode == UNAVAILABLE
    assert "Is it running" in p.stderr
    p = ctl("--endpoint", f"127.0.0.1:{free_port()}", "status")
    assert p.returncode == UNAVAILABLE
    assert "cannot connect" in p.stderr and "listenaddr" in p.stderr
    p = ctl("-i", "ctl-none-" + uuid.uuid4().hex[:8], "status")
    assert p.returncode == UNAVAILABLE
    assert "/run/cashe/" in p.stderr and "/tmp/cashe-" in p.stderr


# ---- one node: instance shortcut and TCP with a password -------------------

def test_instance_shortcut_and_endpoint_password(tmp_path):
    name = "ctl" + uuid.uuid4().hex[:8]
    node = Node(str(tmp_path), "raft0", ["--password=s3cret"])
    node.sock = f"/tmp/cashe-{name}.sock"
    node.start(wait=False)
    try:
        wait_for(lambda: ctl("-i", name, "status").returncode == OK,
                 what="the node to lead")
        assert ok("-i", name, "put", "k", "v") == b"OK\n"
        ep = ["--endpoint", node.addr]
        p = ctl(*ep, "get", "k")
        assert p.returncode == FAILED and "CASHE_PASSWORD" in p.stderr
        p = ctl(*ep, "--password", "wrong", "get", "k")
        assert p.returncode == FAILED and "password" in p.stderr
        assert ok(*ep, "--password", "s3cret", "get", "k") == b"v"
        assert ok(*ep, "get", "k", env={"CASHE_PASSWORD": "s3cret"}) == b"v"
    finally:
        node.kill()
        if os.path.exists(node.sock):
            os.unlink(node.sock)


# ---- keys, on a three-node cluster ------------------------------------------

def test_get_put_del(cluster3, tmp_path):
    a, b, c = cluster3.nodes
    assert ok("put", "app/db/host", "db1", node=a) == b"OK\n"
    assert ok("get", "app/db/host", node=b) == b"db1"
    assert ok("put", "bin", node=c, stdin=b"\x00\xff\nline\n") == b"OK\n"
    assert ok("get", "bin", node=a) == b"\x00\xff\nline\n"
    f = tmp_path / "value"
    f.write_bytes(b"from a file")
    ok("put", "--file", f, "fromfile", node=b)
    assert ok("get", "fromfile", node=c) == b"from a file"
    ok("put", "empty", "", node=a)
    assert ok("get", "empty", node=b) == b""

    # Bytes that are not UTF-8 come back as \u00XX of each byte.
    assert ctl_json("get", "bin", node=a) == {"key": "bin",
                                              "value": "\x00\xff\nline\n"}
    p = ctl("get", "nope", node=a)
    assert p.returncode == NOT_FOUND and "no such key: nope" in p.stderr
    p = ctl("put", "k", "v", "--file", f, node=a)
    assert p.returncode == USAGE

    assert ok("del", "empty", "fromfile", "ghost", node=c) == b"2\n"
    assert ctl_json("del", "bin", node=a) == {"deleted": 1}
    p = ctl("del", "bin", "ghost", node=b)
    assert p.returncode == NOT_FOUND and p.stdout == b"0\n"
    assert a.client().exists("bin", "empty", "fromfile") == 0


def test_ls(cluster3):
    a, b, _ = cluster3.nodes
    r = a.client()
    for k in ["app/db/host", "app/db/port", "app/web", "app", "apple", "top",
              "star*"]:
        r.set(k, "v" + k)
    assert ok("ls", node=b).decode().splitlines() == [
        "app", "app/", "apple", "star*", "top"]
    assert ok("ls", "app", node=b).decode().splitlines() == ["db/", "web"]
    assert ok("ls", "app/", node=b) == ok("ls", "app", node=a)
    listing = ctl_json("ls", "app", node=b)
    assert [(e["name"], e["kind"], e["size"]) for e in listing] == [
        ("db", "dir", 0), ("web", "file", len("vapp/web"))]
    assert listing[1]["mtime_ms"] > 0
    assert ok("ls", "-r", "app", node=b).decode().splitlines() == [
        "app", "app/db/host", "app/db/port", "app/web", "apple"]
    assert ok("ls", "-r", "app/", node=b).decode().splitlines() == [
        "app/db/host", "app/db/port", "app/web"]
    # Glob characters in the prefix are literal.
    assert ctl_json("ls", "--recursive", "star*", node=a) == ["star*"]
    assert ctl("ls", "-r", "st*r", node=a).returncode == NOT_FOUND
    p = ctl("ls", "nothing/here", node=a)
    assert p.returncode == NOT_FOUND and "no keys under" in p.stderr
    p = ctl("ls", "-r", "zzz", node=a)
    assert p.returncode == NOT_FOUND


def test_ls_lists_a_large_directory_completely(cluster3):
    a = cluster3.nodes[0]
    r = a.client()
    pipe = r.pipeline(transaction=False)
    for i in range(2500):
        pipe.set(f"big/{i:05d}", "x")
    pipe.execute()
    names = ok("ls", "big", node=cluster3.nodes[1]).decode().splitlines()
    assert names == [f"{i:05d}" for i in range(2500)]
    assert len(ctl_json("ls", "-r", "big/", node=a)) == 2500


def test_ttl(cluster3):
    a, b, _ = cluster3.nodes
    ok("put", "k", "v", node=a)
    assert ok("ttl", "k", node=b) == b"none\n"
    assert ctl_json("ttl", "k", node=b) == {"key": "k", "ttl_ms": None}
    assert ok("ttl", "k", "100", node=b) == b"OK\n"
    assert 99 <= int(ok("ttl", "k", node=a)) <= 100
    assert 98_000 < ctl_json("ttl", "k", node=a)["ttl_ms"] <= 100_000
    assert ok("ttl", "k", "--clear", node=a) == b"OK\n"
    assert ok("ttl", "k", node=b) == b"none\n"
    assert ok("ttl", "k", "--clear", node=a) == b"OK\n"  # no expiry: fine
    for args in (["ttl", "ghost"], ["ttl", "ghost", "5"],
                 ["ttl", "ghost", "--clear"]):
        p = ctl(*args, node=a)
        assert p.returncode == NOT_FOUND, args
    ok("put", "--ttl", "1", "short", "v", node=b)
    assert ok("ttl", "short", node=a) == b"1\n"
    wait_for(lambda: ctl("get", "short", node=a).returncode == NOT_FOUND,
             timeout=5, what="the key to expire")


def start_watch(node, *args):
    """cashectl watch in the background; its output lines collect in a list
    as they come."""
    w = subprocess.Popen([CASHECTL, "--socket", node.sock, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    t = threading.Thread(target=lambda: lines.extend(iter(w.stdout.readline,
                                                          b"")))
    t.start()
    return w, t, lines


def until_watching(r, lines, key):
    """Write @key until the watch reports it: then it is subscribed."""
    def probe():
        r.set(key, "probe")
        time.sleep(0.05)
        return lines
    wait_for(probe, timeout=10, what="the watch to subscribe")


def test_watch_streams_changes_under_a_prefix(cluster3):
    a, b, c = cluster3.nodes
    w, t, lines = start_watch(c, "--json", "watch", "app/")
    try:
        until_watching(a.client(), lines, "app/probe")
        ok("put", "app/x", "1", node=b)
        ok("put", "other", "1", node=b)
        ok("ttl", "app/x", "50", node=a)
        ok("del", "app/x", node=a)
        wait_for(lambda: any(b'"del"' in x for x in lines),
                 what="the del event")
    finally:
        w.terminate()
        w.wait(10)
        t.join(10)
    events = [json.loads(x) for x in lines]
    assert all(e["key"] != "other" for e in events)
    assert [e for e in events if e["key"] == "app/x"] == [
        {"event": "set", "key": "app/x"},
        {"event": "expire", "key": "app/x"},
        {"event": "del", "key": "app/x"}]


def test_watch_count_exits_after_n_changes(cluster3):
    a = cluster3.nodes[0]
    w, t, lines = start_watch(cluster3.nodes[1], "watch", "w/", "--count", "2")
    r = a.client()
    try:
        wait_for(lambda: (r.set("w/k", "v"), time.sleep(0.05),
                          w.poll() is not None)[2], timeout=10,
                 what="watch to exit after two changes")
    finally:
        if w.poll() is None:
            w.kill()
        t.join(10)
    assert w.returncode == OK
    assert lines == [b"set w/k\n", b"set w/k\n"]


# ---- cluster commands -------------------------------------------------------

def test_member_list_and_status(cluster3):
    lead = cluster3.leader()
    follower = cluster3.followers()[0]
    ok("put", "k", "v", node=follower)
    table = ok("member", "list", node=follower).decode().splitlines()
    assert table[0].split() == ["NAME", "ROLE", "RAFT-ROLE", "RAFT-ADDRESS",
                                "CLIENT-ADDRESS", "LEADER"]
    assert [line.split()[0] for line in table[1:]] == ["raft0", "raft1",
                                                       "raft2"]
    listed = ctl_json("member", "list", node=follower)
    assert [(m["name"], m["role"], m["raft_role"], m["leader"])
            for m in listed] == [(n.name, "voter", "voter", n is lead)
                                 for n in cluster3.nodes]
    assert {m["client_addr"] for m in listed} == {n.addr for n in
                                                  cluster3.nodes}

    # A follower learns of a commit with the leader's next message.
    st = wait_for(lambda: (lambda s: s["node"]["keys"] == 1 and s)(
        status(follower)), what="the follower to apply the put")
    node = st["node"]
    assert node["name"] == follower.name and node["role"] == "follower"
    assert node["leader"] == lead.name and node["leader_addr"] == lead.addr
    assert node["term"] >= 1
    assert node["last_applied"] <= node["commit_index"] <= node["last_index"]
    assert node["data_dir"] == follower.data_dir
    assert node["data_dir_bytes"] > 0
    assert st["lag_error"] is None
    # Every member caught up: the leader's match index says so.
    wait_for(lambda: all(m["behind"] == 0 for m in status(follower)["members"]),
             what="every member caught up")
    human = ok("status", node=lead).decode()
    assert f"node:      {lead.name} (leader)" in human
    assert "MATCH  BEHIND" in human
    for n in cluster3.nodes:
        assert n.addr in human


def test_status_shows_a_member_falling_behind(cluster3):
    lead = cluster3.leader()
    lagging = cluster3.followers()[0]
    lagging.signal(signal.SIGSTOP)
    try:
        r = lead.client()
        for i in range(50):
            r.set(f"k{i}", "v")
        m = members_by_name(status(lead))[lagging.name]
        assert m["behind"] >= 50
        human = ok("status", node=lead).decode()
        line = [x for x in human.splitlines() if x.startswith(lagging.name)][0]
        assert int(line.split()[-1]) >= 50
    finally:
        lagging.signal(signal.SIGCONT)
    wait_for(lambda: members_by_name(status(lead))[lagging.name]["behind"] == 0,
             what="the member to catch up")


def test_leader_transfer_to_any_voter(cluster3):
    lead = cluster3.leader()
    other = cluster3.followers()[0]
    out = ok("leader", "transfer", node=other).decode()
    assert out.startswith("leader is now raft")
    new_leader = out.split()[-1]
    assert new_leader != lead.name
    wait_for(lambda: all(status(n)["node"]["leader"] == new_leader
                         for n in cluster3.nodes), what="everyone to agree")


def test_member_add_transfer_demote_remove(cluster3, tmp_path):
    a = cluster3.nodes[0]
    # A fourth node that cannot join by itself: its --leaderaddr is dead,
    # so only 'member add' brings it in.
    dead = Node(str(tmp_path), "dead")
    new = Node(str(tmp_path), "raft3", leader=dead).start()
    cluster3.nodes.append(new)
    raft = f"127.0.0.1:{new.raft_port}"
    assert ok("member", "add", "raft3", raft, new.addr, node=a) == \
        b"raft3 is a voter\n"
    st = status(a)
    m = members_by_name(st)["raft3"]
    assert (m["role"], m["raft_role"], m["raft_addr"]) == ("voter", "voter",
                                                           raft)
    wait_for(lambda: members_by_name(status(a))["raft3"]["behind"] == 0,
             what="raft3 to catch up")
    # Asking again is a no-op.
    ok("member", "add", "raft3", raft, new.addr, node=a)

    assert ok("leader", "transfer", "raft3", node=a) == \
        b"leader is now raft3\n"
    wait_for(lambda: status(a)["node"]["leader"] == "raft3",
             what="raft3 to lead")
    assert members_by_name(status(new))["raft3"]["leader"] is True
    assert ok("leader", "transfer", "raft0", node=new) == \
        b"leader is now raft0\n"
    wait_for(lambda: status(new)["node"]["leader"] == "raft0",
             what="leadership back on raft0")

    assert ok("member", "demote", "raft2", node=new) == b"raft2 is now a spare\n"
    wait_for(lambda: members_by_name(status(a))["raft2"]["raft_role"] ==
             "spare", what="raft2 to be a spare")
    p = ctl("leader", "transfer", "raft2", node=a)
    assert p.returncode == FAILED and "promote it first" in p.stderr
    ok("member", "promote", "raft2", node=a)
    wait_for(lambda: members_by_name(status(a))["raft2"]["raft_role"] ==
             "voter", what="raft2 to vote again")

    assert ok("member", "remove", "raft3", node=a) == b"removed raft3\n"
    wait_for(lambda: "raft3" not in members_by_name(status(a)),
             what="raft3 gone from status")
    assert len(status(a)["members"]) == 3
    for args, code in ((["member", "remove", "ghost"], NOT_FOUND),
                       (["member", "promote", "ghost"], NOT_FOUND),
                       (["leader", "transfer", "ghost"], NOT_FOUND)):
        p = ctl(*args, node=a)
        assert p.returncode == code, (args, p.stderr)
        assert "ghost" in p.stderr


# ---- snapshot save and restore ----------------------------------------------

def keyspace(node, local=False):
    """Every key with its value and absolute expiry; @local reads the node's
    own copy (READONLY) rather than the leader's."""
    r = node.client()
    keys = list(r.scan_iter(count=1000))
    pipe = r.pipeline(transaction=False)
    if local:
        pipe.execute_command("READONLY")
    for k in keys:
        pipe.get(k)
        pipe.execute_command("PEXPIRETIME", k)
    got = pipe.execute()[1 if local else 0:]
    return {k: (got[2 * i], got[2 * i + 1]) for i, k in enumerate(keys)}


def test_snapshot_save_and_restore_into_a_fresh_cluster(cluster3, tmp_path):
    src = cluster3.nodes[0]
    r = src.client()
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"user/{i}", os.urandom(i % 300))
    pipe.set(b"bin\x00\xffkey", b"\x00" * 1000)
    pipe.set("ttl/long", "v", ex=3600)
    pipe.set("ttl/short", "v", px=1500)
    pipe.set("big", b"x" * (2 << 20))
    pipe.execute()
    dump = tmp_path / "cashe.dump"
    follower = cluster3.followers()[0]
    saved = ctl_json("snapshot", "save", dump, node=follower)
    assert saved["keys"] == 3004 and saved["file"] == str(dump)
    data = dump.read_bytes()
    assert data[:8] == b"CASHESNP" and len(data) == saved["bytes"]
    assert not [f for f in os.listdir(tmp_path) if ".tmp." in f]
    human = ok("snapshot", "save", tmp_path / "again", node=src).decode()
    assert human.startswith("saved 3004 keys")
    p = ctl("snapshot", "save", "-", node=src)
    assert p.returncode == OK and p.stdout[:8] == b"CASHESNP"
    assert "saved 3004 keys" in p.stderr and "to stdout" in p.stderr
    wait_for(lambda: not r.exists("ttl/short"), what="ttl/short to expire")
    expected = keyspace(src)
    assert len(expected) == 3003

    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    (tmp_path / "fresh").mkdir()
    fresh = Cluster(tmp_path / "fresh", 3).start()
    try:
        dst = fresh.nodes[2]
        p = ctl("snapshot", "restore", corrupt, node=dst)
        assert p.returncode == FAILED and "not a valid cashe dump" in p.stderr
        p = ctl("snapshot", "restore", tmp_path / "missing", node=dst)
        assert p.returncode == FAILED and "cannot open" in p.stderr
        assert fresh.nodes[0].client().dbsize() == 0

        out = ok("snapshot", "restore", dump, node=dst).decode()
        assert out.startswith("restored 3003 keys") and "1 had expired" in out
        for n in fresh.nodes:
            wait_for(lambda: keyspace(n, local=True) == expected, timeout=20,
                     what=f"{n.name} to hold the restored keyspace")

        # A second restore would merge: refused without --force.
        p = ctl("snapshot", "restore", dump, node=dst)
        assert p.returncode == FAILED and "--force" in p.stderr
        fresh.nodes[0].client().set("user/1", "changed")
        assert ctl_json("snapshot", "restore", "--force", dump,
                        node=dst) == {"keys": 3003, "expired": 1}
        assert keyspace(fresh.nodes[1]) == expected
    finally:
        fresh.stop()


def test_snapshot_larger_than_the_client_buffer_says_what_to_do(tmp_path):
    node = Node(str(tmp_path), "raft0", ["--max-client-buffer=1m"]).start()
    try:
        wait_for(lambda: node.role() == "leader", what="the node to lead")
        r = node.client()
        for i in range(20):  # each under the limit, together over it
            r.set(f"k{i}", b"x" * (100 << 10))
        p = ctl("snapshot", "save", tmp_path / "d", node=node)
        assert p.returncode == UNAVAILABLE
        assert "max-client-buffer" in p.stderr
        assert not (tmp_path / "d").exists()
    finally:
        node.kill()


# ---- losing quorum for good -----------------------------------------------

def test_quorum_loss_recovery_procedure(tmp_path):
    cluster = Cluster(tmp_path, 3, extra=["--request-timeout=1000"]).start()
    try:
        survivor, lost1, lost2 = cluster.nodes
        r = survivor.client()
        for i in range(200):
            r.set(f"keep/{i}", f"value {i}")
        ok("put", "last", "written before the disaster", node=lost1)
        # Both others destroyed: killed, their disks gone.
        for n in (lost1, lost2):
            n.kill()
            shutil.rmtree(n.data_dir)

        # A leader steps down once it hears from no majority.
        wait_for(lambda: ctl("status", node=survivor).returncode ==
                 UNAVAILABLE, what="the survivor to see no leader")
        p = ctl("put", "k", "v", node=survivor)
        assert p.returncode == UNAVAILABLE and "RECOVERY in cashe(7)" in \
            p.stderr

        # cashe(7) RECOVERY: stop the survivor, --recover, start it. Not
        # while it runs: that would rewrite the log under it.
        busy = subprocess.run(survivor.args() + ["--recover"],
                              capture_output=True, text=True, timeout=30)
        assert busy.returncode == 1 and "still running" in busy.stderr
        assert survivor.stop() == 0
        rec = subprocess.run(survivor.args() + ["--recover"],
                             capture_output=True, text=True, timeout=30)
        assert rec.returncode == 0, rec.stderr
        assert "only voter" in rec.stdout
        survivor.start()
        wait_for(lambda: status(survivor)["node"]["role"] == "leader",
                 what="the survivor to lead alone")
        assert ok("get", "last", node=survivor) == \
            b"written before the disaster"
        assert ok("get", "keep/199", node=survivor) == b"value 199"
        ok("member", "remove", lost1.name, node=survivor)
        ok("member", "remove", lost2.name, node=survivor)
        assert [m["name"] for m in ctl_json("member", "list",
                                            node=survivor)] == ["raft0"]
        ok("put", "after", "recovery", node=survivor)

        # New nodes on empty disks join it: a three-voter cluster again.
        fresh = [Node(cluster.tmp, f"raft{i}", cluster.extra, leader=survivor)
                 for i in (3, 4)]
        cluster.nodes = [survivor] + fresh
        for n in fresh:
            n.start()
        cluster.wait_members(3)
        st = status(fresh[1])
        assert sorted(members_by_name(st)) == ["raft0", "raft3", "raft4"]
        assert ok("get", "keep/7", node=fresh[0]) == b"value 7"
        # It has a quorum again: it survives losing one more node.
        cluster.leader()
        fresh[0].kill()
        assert ok("put", "still", "writable", node=fresh[1]) == b"OK\n"
        assert ok("get", "after", node=fresh[1]) == b"recovery"
    finally:
        cluster.stop()


def test_recover_refuses_an_empty_data_dir(tmp_path):
    node = Node(str(tmp_path), "raft0")
    p = subprocess.run(node.args() + ["--recover"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert "nothing to recover" in p.stderr
