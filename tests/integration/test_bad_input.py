"""Hostile and broken clients, byte for byte over raw sockets, against one
daemon with small limits. The daemon must answer with an error, close what
cannot be parsed, keep its memory bounded and keep serving everyone else.

The tests share one daemon and run in file order; the last one checks that
it is still healthy and that its log holds no sanitizer report (run with
CASHED pointing at a -Db_sanitize=address,undefined build for that).
"""

import os
import random
import socket
import subprocess
import time

import pytest
import redis

from conftest import CASHED, Node, wait_for

LIMITS = ["--max-value-size=1m", "--max-key-size=1k", "--max-args=100",
          "--max-client-buffer=4m", "--max-clients=50"]
MAX_VALUE = 1024 * 1024
MAX_KEY = 1024
MAX_CLIENTS = 50
PROTO_ERR = b"-ERR Protocol error: "
CASHECTL = os.environ.get(
    "CASHECTL", os.path.join(os.path.dirname(CASHED), "src", "ctl", "cashectl"))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(str(tmp_path_factory.mktemp("bad")), "raft0", extra=LIMITS)
    n.start()
    wait_for(lambda: n.role() == "leader", what="single node leader")
    yield n
    if n.alive():
        n.proc.kill()
        n.proc.wait(10)
        n.log.close()


def rss_mb(node, field="VmRSS"):
    with open(f"/proc/{node.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no " + field)


def connect(node, timeout=5):
    s = socket.create_connection(("127.0.0.1", node.port), timeout)
    s.settimeout(timeout)
    return s


def read_until_eof(s, limit=1 << 20):
    """Everything the daemon sends until it closes; TimeoutError if it keeps
    the connection open."""
    out = b""
    while len(out) < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except socket.timeout:
            raise TimeoutError(f"connection still open after {out!r}")
        if not chunk:
            break
        out += chunk
    return out


def read_line(s):
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = s.recv(1)
        if not chunk:
            raise EOFError(f"closed after {out!r}")
        out += chunk
    return out


def read_reply(s):
    """One RESP reply, raw (enough for the replies used here)."""
    line = read_line(s)
    if line[:1] == b"$" and int(line[1:]) >= 0:
        n = int(line[1:])
        data = b""
        while len(data) < n + 2:
            data += s.recv(n + 2 - len(data))
        return line + data
    return line


def cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def assert_protocol_error_then_close(node, data, expect=None):
    s = connect(node)
    s.sendall(data)
    out = read_until_eof(s)
    s.close()
    assert out.startswith(PROTO_ERR), out[:200]
    assert out.count(b"\r\n") == 1, "exactly one reply, then EOF"
    if expect is not None:
        assert expect in out, out
    return out


def test_declared_bulk_length_over_limit_allocates_nothing(node):
    node.client().ping()
    before = rss_mb(node)
    for length in (999999999999, MAX_VALUE + 1, 2**63 - 1):
        for _ in range(10):
            assert_protocol_error_then_close(
                node, b"*2\r\n$3\r\nGET\r\n$%d\r\n" % length,
                b"invalid bulk length")
    for bad in (b"$-2", b"$abc", b"$" + b"9" * 40):
        assert_protocol_error_then_close(
            node, b"*2\r\n$3\r\nGET\r\n" + bad + b"\r\n")
    grown = rss_mb(node) - before
    assert grown < 4, f"RSS grew by {grown:.1f} MB"


def test_argument_count_over_limit(node):
    before = rss_mb(node)
    assert_protocol_error_then_close(node, b"*1000000\r\n",
                                     b"invalid multibulk length")
    assert_protocol_error_then_close(node, b"*101\r\n",
                                     b"invalid multibulk length")
    assert rss_mb(node) - before < 4
    # At the limit is fine: MSET with 49 pairs is 99 arguments.
    s = connect(node)
    pairs = [x for i in range(49) for x in (f"arg{i}", str(i))]
    s.sendall(cmd("MSET", *pairs) + cmd("GET", "arg48"))
    assert read_reply(s) == b"+OK\r\n"
    assert read_reply(s) == b"$2\r\n48\r\n"
    s.close()


def test_inline_line_too_long(node):
    assert_protocol_error_then_close(node, b"a" * (70 * 1024),
                                     b"too big inline request")
    # An inline command of ordinary size works.
    s = connect(node)
    s.sendall(b"SET inline 'a b'\r\nGET inline\r\n")
    assert read_reply(s) == b"+OK\r\n"
    assert read_reply(s) == b"$3\r\na b\r\n"
    s.close()


@pytest.mark.parametrize("data", [
    b"*2\r\n+foo\r\n",
    b"*1\r\n:1\r\n",
    b"*1\r\n$3\r\nfooXY",
    b"*x\r\n",
    b"*1\r\n$1\r\n",  # not an error yet: see below
    b"*1\r\n$" + b"1" * 64 + b"\r\n",
    b"*" + b"1" * 64 + b"\r\n",
    b"SET 'unterminated\r\n",
    b'SET "a"b\r\n',
], ids=["simple-in-array", "int-in-array", "no-crlf-after-bulk",
        "bad-count", "truncated", "long-bulk-header", "long-count-header",
        "open-quote", "text-after-quote"])
def test_malformed_resp(node, data):
    if data == b"*1\r\n$1\r\n":
        # A command cut short is incomplete, not malformed: the daemon waits,
        # and closes once the client half-closes.
        s = connect(node, timeout=1)
        s.sendall(data)
        with pytest.raises(socket.timeout):
            s.recv(100)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert read_until_eof(s) == b""
        s.close()
        return
    assert_protocol_error_then_close(node, data)


def test_protocol_error_after_pending_commands(node):
    """Commands before the malformed bytes are answered, in order, before
    the error; then the connection closes."""
    s = connect(node)
    s.sendall(b"PING\r\n" + cmd("SET", "before", "err") + cmd("GET", "before")
              + b"*2\r\n+foo\r\n" + cmd("SET", "before", "never"))
    out = read_until_eof(s)
    s.close()
    assert out == (b"+PONG\r\n+OK\r\n$3\r\nerr\r\n" + PROTO_ERR +
                   b"expected '$', got '+'\r\n")
    assert node.client().get("before") == b"err"


def test_key_over_max_key_size(node):
    s = connect(node)
    big_key = b"k" * (MAX_KEY + 1)
    s.sendall(cmd("SET", big_key, "v"))
    reply = read_reply(s)
    assert reply.startswith(b"-ERR key of 1025 bytes exceeds max-key-size"), \
        reply
    # The connection stays usable and nothing was written.
    s.sendall(cmd("EXISTS", big_key) + cmd("MSET", "a", "1", big_key, "2") +
              cmd("EXISTS", "a") + cmd("SET", b"k" * MAX_KEY, "fits"))
    assert read_reply(s) == b":0\r\n"
    assert read_reply(s).startswith(b"-ERR key of 1025 bytes")
    assert read_reply(s) == b":0\r\n"   # MSET is all or nothing
    assert read_reply(s) == b"+OK\r\n"
    s.close()


def test_value_over_max_value_size_closes_connection(node):
    """The declared length of a value over max-value-size is refused as a
    protocol error as soon as its header arrives (the parser's bulk limit is
    the larger of the key and value limits), so the connection is closed
    without reading the value; nothing is written."""
    s = connect(node)
    s.sendall(cmd("SET", "bigv", "small"))
    assert read_reply(s) == b"+OK\r\n"
    s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nbigv\r\n$%d\r\n" % (MAX_VALUE + 1))
    out = read_until_eof(s)
    assert out == PROTO_ERR + b"invalid bulk length\r\n"
    s.close()
    r = node.client()
    assert r.get("bigv") == b"small"
    # Exactly max-value-size is accepted.
    assert r.set("bigv", b"x" * MAX_VALUE) is True
    assert r.strlen("bigv") == MAX_VALUE


def test_growth_beyond_max_value_size(node):
    r = node.client()
    r.set("grow", b"g" * (MAX_VALUE - 10))
    with pytest.raises(redis.ResponseError, match="beyond max-value-size"):
        r.append("grow", b"x" * 11)
    assert r.strlen("grow") == MAX_VALUE - 10
    assert r.append("grow", b"x" * 10) == MAX_VALUE
    with pytest.raises(redis.ResponseError, match="beyond max-value-size"):
        r.append("grow", b"y")
    with pytest.raises(redis.ResponseError, match="beyond max-value-size"):
        r.setrange("grow2", MAX_VALUE, b"z")
    assert r.exists("grow2") == 0
    assert r.strlen("grow") == MAX_VALUE
    assert r.getrange("grow", -11, -1) == b"g" + b"x" * 10


def test_max_clients(node):
    stats = node.client().info("stats")
    rejected_before = stats["rejected_connections"]
    socks = [connect(node) for _ in range(MAX_CLIENTS + 10)]
    accepted, rejected = [], []
    for s in socks:
        s.sendall(b"PING\r\n")
        reply = read_line(s)
        if reply == b"+PONG\r\n":
            accepted.append(s)
        else:
            assert reply == b"-ERR max number of clients reached\r\n", reply
            assert s.recv(100) == b""
            rejected.append(s)
    assert len(rejected) >= 10 and len(accepted) >= MAX_CLIENTS - 5
    # Those let in are served. (Idle connections of earlier tests may close
    # at any moment, so the count is bounded, not exact.)
    probe = accepted[0]
    for s in accepted:
        s.sendall(cmd("INCR", "served"))
    for s in accepted:
        assert read_reply(s).startswith(b":")
    probe.sendall(cmd("INFO", "clients"))
    info = read_reply(probe)
    connected = int(info.split(b"connected_clients:")[1].split(b"\r")[0])
    assert len(accepted) <= connected <= MAX_CLIENTS, info
    probe.sendall(cmd("INFO", "stats"))
    info = read_reply(probe)
    assert b"rejected_connections:%d\r\n" % (
        rejected_before + len(rejected)) in info

    for s in socks:
        s.close()
    # Once they are gone, new connections get in again.
    fresh = wait_for(lambda: node.client().ping() and node.client(),
                     timeout=10, what="a free client slot")
    assert int(fresh.get("served")) == len(accepted)
    wait_for(lambda: fresh.info("clients")["connected_clients"] <= 5,
             timeout=10, what="closed connections to be released")


def connect_unix(node, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(node.sock)
    return s


def ping_all(socks):
    """PING on each socket: (those answered PONG, those refused)."""
    accepted, refused = [], []
    for s in socks:
        try:
            s.sendall(b"PING\r\n")
        except BrokenPipeError:
            pass  # refused and closed already; the refusal is still to read
        reply = read_line(s)
        if reply == b"+PONG\r\n":
            accepted.append(s)
        else:
            assert reply == b"-ERR max number of clients reached\r\n", reply
            refused.append(s)
    return accepted, refused


def test_tcp_clients_cannot_lock_out_the_unix_socket(node):
    """max-clients counts TCP and Unix-socket clients apart: with every TCP
    slot taken, cashectl still gets in, and the Unix socket has a limit of its
    own."""
    tcp = [connect(node) for _ in range(MAX_CLIENTS + 10)]
    local = []
    try:
        _, refused = ping_all(tcp)
        assert len(refused) >= 10
        assert subprocess.run([CASHECTL, "--socket", node.sock, "status"],
                              capture_output=True, timeout=30).returncode == 0
        local = [connect_unix(node) for _ in range(MAX_CLIENTS + 10)]
        accepted, refused = ping_all(local)
        assert len(refused) >= 10 and len(accepted) >= MAX_CLIENTS - 5
    finally:
        for s in tcp + local:
            s.close()
    wait_for(lambda: node.client().info("clients")["connected_clients"] <= 5,
             timeout=10, what="closed connections to be released")


def test_slow_reader_is_bounded(node):
    """A client pipelines GETs of a 100 KB value and never reads. The daemon
    stops reading from it once 1 MiB of replies or 4096 commands wait, and
    drops it when the replies already admitted exceed max-client-buffer
    (4 MiB here), as redis's client output buffer limit does. Its memory
    stays bounded and other clients are served without delay."""
    r = node.client()
    r.set("big", b"v" * 100_000)
    r.set("small", "s")
    base = rss_mb(node)

    slow = socket.create_connection(("127.0.0.1", node.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.setblocking(False)
    request = cmd("GET", "big") * 200_000   # 5.4 MB of commands
    sent, closed_by_daemon = 0, False
    peak, worst_latency = base, 0.0
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        try:
            sent += slow.send(request[sent:sent + 65536])
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed_by_daemon = True
            break
        if sent == len(request):
            break
        t0 = time.monotonic()
        assert r.get("small") == b"s"
        worst_latency = max(worst_latency, time.monotonic() - t0)
        peak = max(peak, rss_mb(node))
        time.sleep(0.01)
    peak = max(peak, rss_mb(node))
    slow.close()

    print(f"slow reader: sent {sent} of {len(request)} bytes, closed by "
          f"daemon {closed_by_daemon}, RSS {base:.0f} -> {peak:.0f} MB, "
          f"worst GET latency {worst_latency * 1000:.1f} ms")
    assert peak - base < 200, f"RSS grew {peak - base:.0f} MB"
    assert worst_latency < 0.5
    # Backpressure: the daemon did not swallow the whole pipeline.
    assert closed_by_daemon or sent < len(request)
    assert closed_by_daemon, "4 MiB of replies exceed max-client-buffer"
    assert "over max-client-buffer; closing it" in node.read_log()
    wait_for(lambda: rss_mb(node) - base < 50, timeout=10,
             what="memory of the dropped client to be released")
    assert r.get("small") == b"s"


def test_slow_reader_gets_every_reply_whole_and_in_order(node):
    """Replies larger than the socket takes at once go out partly by a direct
    write and partly by a write request, and a client reading slowly still
    gets every byte, in order, with replies that wait for Raft (SET) and
    replies ready at once (GET) interleaved."""
    values = [bytes([65 + i % 26]) * (90_000 + i) for i in range(30)]
    request = b"".join(cmd("SET", f"slow:{i}", v) + cmd("GET", f"slow:{i}")
                       for i, v in enumerate(values))
    expected = b"".join(b"+OK\r\n$%d\r\n%s\r\n" % (len(v), v)
                        for v in values)

    # Over the Unix socket: its buffers are far smaller than loopback TCP's,
    # so the daemon's writes of these replies come out partial.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(node.sock)
    s.settimeout(10)
    s.sendall(request)
    chunks, n = [], 0
    while n < len(expected):
        chunk = s.recv(16384)
        assert chunk, f"closed after {n} of {len(expected)} bytes"
        chunks.append(chunk)
        n += len(chunk)
        time.sleep(0.001)
    s.close()
    assert b"".join(chunks) == expected
    assert node.client().ping()


def test_half_closed_socket_still_gets_replies(node):
    s = connect(node)
    s.sendall(b"PING\r\n" + cmd("SET", "half", "closed") + cmd("GET", "half"))
    s.shutdown(socket.SHUT_WR)
    assert read_until_eof(s) == b"+PONG\r\n+OK\r\n$6\r\nclosed\r\n"
    s.close()


FRAGMENTS = [b"*", b"$", b"\r\n", b"\r", b"\n", b"-1", b"0", b"3", b"99",
             b"GET", b"SET", b"PING", b"ECHO", b"INCR", b"APPEND", b"k",
             b"\"", b"'", b"\\x", b" ", b"\x00", b"\xff", b"+OK", b":5"]


def garbage(rng):
    parts = []
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.5:
            parts.append(rng.choice(FRAGMENTS))
        else:
            parts.append(rng.randbytes(rng.randint(1, 200)))
    return b"".join(parts)


def test_random_garbage(node):
    rng = random.Random(20240601)
    replies = 0
    for batch in range(5):
        socks = []
        for _ in range(40):
            s = connect(node)
            s.sendall(garbage(rng))
            s.shutdown(socket.SHUT_WR)
            socks.append(s)
        for s in socks:
            # Each ends in EOF: a reply then close, or just close.
            out = read_until_eof(s)
            replies += out.count(b"\r\n")
            s.close()
        assert node.alive()
    assert replies > 0
    assert node.client().ping() is True


def test_still_healthy_afterwards(node):
    r = node.client()
    assert r.ping() is True
    assert r.set("after", "all") is True and r.get("after") == b"all"
    assert node.info()["role"] == "leader"
    log = node.read_log()
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer"):
        assert marker not in log, log[-3000:]
    assert node.alive()


def test_hostile_swarm_costs_only_what_it_sends(node):
    """Forty clients at once, each hostile in its own way and all kept open
    while they trickle: bulk strings declared just under max-value-size whose
    bytes come slowly, inline lines that never end, argument counts at the
    limit whose arguments come slowly, sockets half-closed after a request.
    A declared length reserves nothing, so memory grows only by what was
    actually sent, and a normal client is served without delay throughout."""
    r = node.client()
    r.set("probe", "p")
    base = rss_mb(node)
    # Untouched reservations show in the address space, not in RSS.
    base_vm = rss_mb(node, "VmData")
    clients = int(node.info("clients")["connected_clients"])
    kinds = ("bulk", "inline", "bulk", "args", "bulk", "halfclosed")
    socks = []
    for i in range(40):
        s = connect(node)
        kind = kinds[i % len(kinds)]
        if kind == "bulk":
            s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (MAX_VALUE - 1))
        elif kind == "inline":
            s.sendall(b"SET k ")
        elif kind == "args":
            s.sendall(b"*100\r\n" + b"$1\r\nx\r\n" * 10)
        else:
            s.sendall(cmd("GET", "probe"))
            s.shutdown(socket.SHUT_WR)
        socks.append((kind, s))
    sent = 0
    peak, peak_vm = base, base_vm
    worst = 0.0
    for _ in range(6):
        for kind, s in socks:
            try:
                if kind == "bulk":
                    s.sendall(b"v" * 16384)
                    sent += 16384
                elif kind == "inline":
                    s.sendall(b"a" * 512)
                    sent += 512
                elif kind == "args":
                    s.sendall(b"$1\r\nx\r\n")
            except OSError:
                pass  # an inline line over the limit gets the socket closed
        t = time.monotonic()
        assert r.get("probe") == b"p"
        worst = max(worst, time.monotonic() - t)
        peak = max(peak, rss_mb(node))
        peak_vm = max(peak_vm, rss_mb(node, "VmData"))
        time.sleep(0.3)
    # 20 declared megabyte values would be 20 MB if reserved up front; what
    # was sent is under 2 MB.
    print(f"swarm: RSS {base:.1f} -> {peak:.1f} MB, data {base_vm:.1f} -> "
          f"{peak_vm:.1f} MB, {sent} bytes sent")
    assert peak - base < 16, f"RSS {base:.0f} -> {peak:.0f} MB for {sent} bytes"
    assert peak_vm - base_vm < 20, f"VmData {base_vm:.0f} -> {peak_vm:.0f} MB"
    assert worst < 0.5, f"probe took {worst:.3f} s"
    for kind, s in socks:
        if kind == "halfclosed":
            assert read_reply(s) == b"$1\r\np\r\n"
        s.close()
    wait_for(lambda: int(node.info("clients")["connected_clients"])
             <= clients + 1, what="the swarm's connections to be gone")
    assert r.get("probe") == b"p"
