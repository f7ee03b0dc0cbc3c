"""Keyspace notifications: SUBSCRIBE / PSUBSCRIBE on __keyspace@0__ and
__keyevent@0__, delivered on every node for changes made through any node."""

import time

import pytest
import redis

from conftest import wait_for


def collect(pubsub, n, timeout=10):
    """The next n messages (not subscription confirmations)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = pubsub.get_message(timeout=0.2)
        if m and m["type"] in ("message", "pmessage"):
            out.append(m)
    return out


def test_events_from_any_node_reach_every_node(cluster3):
    leader = cluster3.leader()
    subs = []
    for node in cluster3.nodes:
        p = node.client().pubsub()
        p.psubscribe("__keyspace@0__:app/*")
        assert p.get_message(timeout=5)["type"] == "psubscribe"
        subs.append(p)
    writer = cluster3.followers()[0].client()
    writer.set("app/a", "1")
    writer.incrby("app/a", 5)
    writer.append("app/a", "x")
    writer.rename("app/a", "app/b")
    writer.expire("app/b", 100)
    writer.persist("app/b")
    writer.delete("app/b")
    writer.set("other", "not matched")
    want = [(b"__keyspace@0__:app/a", b"set"),
            (b"__keyspace@0__:app/a", b"incrby"),
            (b"__keyspace@0__:app/a", b"append"),
            (b"__keyspace@0__:app/a", b"rename_from"),
            (b"__keyspace@0__:app/b", b"rename_to"),
            (b"__keyspace@0__:app/b", b"expire"),
            (b"__keyspace@0__:app/b", b"persist"),
            (b"__keyspace@0__:app/b", b"del")]
    for p in subs:
        got = [(m["channel"], m["data"]) for m in collect(p, len(want))]
        assert got == want
        assert m_pattern(p) == b"__keyspace@0__:app/*"
        p.close()
    assert leader.alive()


def m_pattern(p):
    return next(iter(p.patterns))


def test_keyevent_channel_and_expired(node1):
    r = node1.client()
    p = r.pubsub()
    p.subscribe("__keyevent@0__:expired", "__keyevent@0__:set")
    for _ in range(2):
        assert p.get_message(timeout=5)["type"] == "subscribe"
    r.set("t1", "v", px=200)
    got = collect(p, 2, timeout=5)
    assert [(m["channel"], m["data"]) for m in got] == [
        (b"__keyevent@0__:set", b"t1"),
        (b"__keyevent@0__:expired", b"t1")]
    p.close()


def test_subscribed_connection_rules(node1):
    conn = redis.Connection(host="127.0.0.1", port=node1.port)
    conn.connect()
    conn.send_command("SUBSCRIBE", "a", "b")
    assert conn.read_response() == [b"subscribe", b"a", 1]
    assert conn.read_response() == [b"subscribe", b"b", 2]
    conn.send_command("GET", "x")
    with pytest.raises(redis.ResponseError, match="only .P.SUBSCRIBE"):
        conn.read_response()
    conn.send_command("PING")
    assert conn.read_response() == [b"pong", b""]
    conn.send_command("UNSUBSCRIBE")
    got = [conn.read_response(), conn.read_response()]
    assert sorted(g[1] for g in got) == [b"a", b"b"]
    assert got[-1][2] == 0
    # Out of subscribed mode, ordinary commands work again.
    conn.send_command("PING")
    assert conn.read_response() == b"PONG"
    conn.send_command("UNSUBSCRIBE")
    assert conn.read_response() == [b"unsubscribe", None, 0]
    conn.disconnect()


def test_subscriber_that_never_reads_is_dropped(tmp_path):
    from conftest import Node
    node = Node(str(tmp_path), "raft0", ["--max-client-buffer=1m"]).start()
    try:
        wait_for(lambda: node.role() == "leader")
        slow = redis.Connection(host="127.0.0.1", port=node.port)
        slow.connect()
        slow.send_command("PSUBSCRIBE", "*")
        r = node.client()
        # Each SET sends the 2000-byte key twice: 12 MB of events, well
        # past the 1 MiB limit and what the kernel's socket buffers hold.
        long_key = "k" * 2000
        for chunk in range(3):
            pipe = r.pipeline(transaction=False)
            for i in range(1000):
                pipe.set(f"{long_key}{chunk}.{i}", "v")
            pipe.execute()
        assert r.ping()
        # Its events piled past max-client-buffer: the node dropped it.
        def dropped():
            clients = r.client_list()
            return all(c.get("cmd") != "psubscribe" for c in clients)
        wait_for(dropped, what="the slow subscriber to be dropped")
        slow.disconnect()
    finally:
        node.stop()


def test_flushall_disconnects_subscribers(node1):
    """FLUSHALL names no keys: subscribers are dropped so a cache built on
    events (cashe-fuse) starts over instead of keeping deleted keys."""
    r = node1.client()
    r.set("a", "1")
    conn = redis.Connection(host="127.0.0.1", port=node1.port,
                            socket_timeout=5)
    conn.connect()
    conn.send_command("PSUBSCRIBE", "*")
    assert conn.read_response()[0] == b"psubscribe"
    r.flushall()
    with pytest.raises(redis.ConnectionError):
        conn.read_response()
    assert r.dbsize() == 0
