"""cashe-fuse against real daemons: two mounts of two nodes of one cluster.

Every test mounts with `cashe-fuse -f` in the background and unmounts with
`fusermount3 -u`. The kernel caches attributes and entries for 1 s
(attr_timeout, entry_timeout): a change made through one mount is checked
on the other with wait_for. Needs root and /dev/fuse.
"""

import errno
import glob
import os
import random
import shutil
import signal
import subprocess
import time

import pytest
import redis

from conftest import CASHED, Cluster, Node, wait_for

FUSE_BIN = os.environ.get(
    "CASHE_FUSE", os.path.join(os.path.dirname(CASHED), "fuse", "cashe-fuse"))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse")
    or not os.path.exists(FUSE_BIN) or shutil.which("fusermount3") is None,
    reason="needs root, /dev/fuse, fusermount3 and a built cashe-fuse")

# The daemons' value limit, and the mounts' (they must agree: see
# docs/fuse.md). Small, so that the EFBIG test is cheap.
MAX_VALUE = "1m"
MAX_KEY = "1000"


# ---- the path mapping, written out again from docs/fuse.md ---------------

def seg_len(rest):
    for i in range(1, len(rest) - 1):
        if rest[i] == 0x2F:
            return i
    return len(rest)


def escaped_at(seg, i):
    """NUL and '/' always; '%' where it would read as an escape."""
    c = seg[i]
    if c in (0x00, 0x2F):
        return True
    if c != 0x25:
        return False
    return (seg[i + 1:i + 3] in (b"00", b"2F", b"25")
            or (i + 2 == len(seg) and seg[i + 1] == 0x2B))


def unit(seg, i):
    return b"%%%02X" % seg[i] if escaped_at(seg, i) else seg[i:i + 1]


def encode_segment(seg):
    units = [unit(seg, i) for i in range(len(seg))]
    total = sum(len(u) for u in units)
    parts, i = [], 0
    while total > 255:
        start, n = i, 0
        while n + len(units[i]) <= 253:
            n += len(units[i])
            i += 1
        parts.append(b"".join(units[start:i]) + b"%+")
        total -= n
    rest = seg[i:]
    if rest in (b".", b"..", b"%", b"%2E", b"%2E%2E"):
        parts.append(b"".join(b"%%%02X" % c if c in (0x25, 0x2E)
                              else bytes([c]) for c in rest))
    else:
        parts.append(b"".join(units[i:]))
    return parts


def encode_key(key):
    """The path components of a key."""
    if key == b"":
        return [b"%"]
    comps, i = [], 0
    while True:
        n = seg_len(key[i:])
        comps += encode_segment(key[i:i + n])
        i += n
        if i == len(key):
            return comps
        i += 1


# ---- mounts ----------------------------------------------------------------

class Mount:
    def __init__(self, source, path, log_path, opts=None, short_cache=True):
        """short_cache: 1 s kernel cache timeouts, as the tests written
        before invalidation assumed; False keeps cashe-fuse's defaults."""
        self.source = source
        self.path = path
        self.log_path = log_path
        cache = ["attr_timeout=1", "entry_timeout=1"] if short_cache else []
        self.opts = cache + [f"max_value={MAX_VALUE}"] + list(opts or [])
        self.proc = None

    def read_log(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def start(self):
        os.makedirs(self.path, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [FUSE_BIN, "-f", "-o", ",".join(self.opts), self.source,
             self.path], stdout=self.log, stderr=subprocess.STDOUT)

        def mounted():
            if self.proc.poll() is not None:
                raise RuntimeError(f"cashe-fuse exited {self.proc.returncode}")
            return os.path.ismount(self.path)
        wait_for(mounted, timeout=10, what=f"mount at {self.path}")
        return self

    def p(self, *parts):
        """A path in the mount; bytes parts are raw names."""
        if any(isinstance(x, bytes) for x in parts):
            return os.path.join(os.fsencode(self.path),
                                *[os.fsencode(x) for x in parts])
        return os.path.join(self.path, *parts)

    def stop(self):
        if self.proc is None:
            return
        deadline = time.monotonic() + 10
        while os.path.ismount(self.path) and time.monotonic() < deadline:
            r = subprocess.run(["fusermount3", "-u", self.path],
                               capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        if os.path.ismount(self.path):
            subprocess.run(["fusermount3", "-uz", self.path])
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()
        self.proc = None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("fusecluster"), 3,
                extra=[f"--max-value-size={MAX_VALUE}",
                       f"--max-key-size={MAX_KEY}"]).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def mounts(cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("mnt")
    ms = []
    try:
        for i in (0, 1):
            node = cluster.nodes[i]
            ms.append(Mount(node.sock, str(base / f"m{i}"),
                            str(base / f"m{i}.log")).start())
        yield ms
    finally:
        for m in ms:
            m.stop()


@pytest.fixture
def m0(mounts):
    return mounts[0]


@pytest.fixture
def m1(mounts):
    return mounts[1]


@pytest.fixture
def r(cluster):
    return cluster.nodes[0].unix_client()


# ---- tests -----------------------------------------------------------------

def test_echo_and_cat_across_nodes(m0, m1, r):
    subprocess.run(f"echo v > {m0.p('echo-key')}", shell=True, check=True)
    assert r.get("echo-key") == b"v\n"
    out = wait_for(lambda: subprocess.run(
        ["cat", m1.p("echo-key")], capture_output=True).stdout == b"v\n",
        what="cat through the other node")
    assert out
    # A change shows on the other mount once its cache expires.
    subprocess.run(f"echo w > {m0.p('echo-key')}", shell=True, check=True)
    wait_for(lambda: read(m1.p("echo-key")) == b"w\n", timeout=5,
             what="the new value through the other node")


def make_tree(root):
    """Nested directories, binary files of many sizes, odd characters."""
    rnd = random.Random(7)
    for d in ["a", "a/b", "a/b/c", "sp ace", "pct%dir", "x.y"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    sizes = [0, 1, 4095, 4096, 4097, 65536, 131073, 300000]
    for i, size in enumerate(sizes * 3):
        d = ["a", "a/b", "a/b/c", "sp ace", "pct%dir", "x.y", "."][i % 7]
        name = ["bin", "f 1", "100%", ".hidden", "n.tar.gz"][i % 5] + str(i)
        write(os.path.join(root, d, name), rnd.randbytes(size))


def test_cp_tree_and_diff_through_other_node(m0, m1, tmp_path):
    src = tmp_path / "src"
    make_tree(str(src))
    for doc in glob.glob("/usr/share/doc/libuv1*"):
        shutil.copytree(doc, src / "doc" / os.path.basename(doc),
                        symlinks=False)
    subprocess.run(["cp", "-r", str(src), m0.p("tree")], check=True)
    d = subprocess.run(["diff", "-r", str(src), m1.p("tree")],
                       capture_output=True, text=True)
    assert d.returncode == 0, d.stdout + d.stderr
    # find and grep -r walk it as a local disk.
    found = subprocess.run(["find", m1.p("tree"), "-type", "f"],
                           capture_output=True, text=True, check=True)
    expected = sum(len(f) for _, _, f in os.walk(src))
    assert len(found.stdout.splitlines()) == expected
    g = subprocess.run(["grep", "-rl", "libuv", m1.p("tree", "doc")],
                       capture_output=True, text=True)
    assert "copyright" in g.stdout
    subprocess.run(["rm", "-r", m0.p("tree")], check=True)
    assert not os.path.exists(m0.p("tree"))


def test_editor_style_save(m0, m1, r):
    write(m0.p("doc.txt"), b"version 1\n")
    fd = os.open(m0.p(".doc.txt.swp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b"version 2\n")
    os.fsync(fd)
    # fsync committed it: the other node sees the temporary file.
    assert r.get(".doc.txt.swp") == b"version 2\n"
    os.close(fd)
    os.rename(m0.p(".doc.txt.swp"), m0.p("doc.txt"))
    assert r.get("doc.txt") == b"version 2\n"
    assert r.exists(".doc.txt.swp") == 0
    wait_for(lambda: read(m1.p("doc.txt")) == b"version 2\n",
             what="the saved file on the other node")
    assert ".doc.txt.swp" not in os.listdir(m1.path)


def test_append(m0, m1, r):
    subprocess.run(f"echo one > {m0.p('log')}", shell=True, check=True)
    subprocess.run(f"echo two >> {m0.p('log')}", shell=True, check=True)
    write(m0.p("log"), b"three\n", "ab")
    assert r.get("log") == b"one\ntwo\nthree\n"
    # O_APPEND writes go to the end even after a seek.
    fd = os.open(m0.p("log"), os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"four\n")
    os.close(fd)
    assert r.get("log") == b"one\ntwo\nthree\nfour\n"


def test_truncate_and_writes_at_offsets(m0, r):
    p = m0.p("trunc")
    write(p, b"0123456789")
    os.truncate(p, 4)
    assert r.get("trunc") == b"0123"
    os.truncate(p, 8)  # grows with zeros, as a sparse file
    assert r.get("trunc") == b"0123\0\0\0\0"
    with open(p, "r+b") as f:
        f.seek(2)
        f.write(b"XY")
        f.seek(12)
        f.write(b"Z")
        f.truncate(14)
    assert r.get("trunc") == b"01XY\0\0\0\0\0\0\0\0Z\0"
    assert os.stat(p).st_size == 14
    # O_TRUNC with nothing written still empties the file.
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    assert r.get("trunc") == b""
    # An empty new file is an empty key at once.
    fd = os.open(m0.p("fresh"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    assert r.get("fresh") == b""
    os.close(fd)


def test_read_only_open_never_writes(m0, r):
    r.set("ro", "value")
    rev = r.execute_command("CASHE.STAT", "ro")[3]
    with open(m0.p("ro"), "rb") as f:
        assert f.read() == b"value"
    os.close(os.open(m0.p("ro"), os.O_RDONLY))
    assert r.execute_command("CASHE.STAT", "ro")[3] == rev


def test_one_open_sees_one_value(m0, r):
    r.set("snap", "A" * 10)
    with open(m0.p("snap"), "rb") as f:
        first = f.read(5)
        r.set("snap", "B" * 10)
        assert first + f.read() == b"A" * 10


ODD_KEYS = [b"odd/with space", b"odd/pct%sign", b"odd/nul\0byte",
            b"odd//lead", b"odd/trail/", b"odd/.", b"odd/..", b"odd/%",
            b"odd/\xff\xfe", b"odd/" + b"L" * 600, b"odd/" + b"%" * 100,
            b"odd/sub/deep", b"odd/50%25off", b"odd/%2E", b"odd/tab\there",
            b"odd/" + b"\0" * 200]


def test_odd_key_names(m0, m1, r):
    for i, k in enumerate(ODD_KEYS):
        r.set(k, b"value %d" % i)
    listed = sorted(os.listdir(m1.p(b"odd")))
    expected = sorted({encode_key(k)[1] for k in ODD_KEYS})
    assert listed == expected
    for i, k in enumerate(ODD_KEYS):
        path = m1.p(*encode_key(k))
        assert read(path) == b"value %d" % i, (k, path)
        write(m0.p(*encode_key(k)), b"new %d" % i)
        assert r.get(k) == b"new %d" % i
    # Names made through the mount become the keys they stand for.
    write(m0.p(b"odd", b"made%here%00"), b"x")
    assert r.get(b"odd/made%here\0") == b"x"
    # A name no key maps to is refused, not guessed at.
    for bad in (b"bad%25zz", b"x%2Fy", b"dot%2541"):
        with pytest.raises(OSError) as e:
            write(m0.p(b"odd", bad), b"x")
        assert e.value.errno == errno.EINVAL
    assert r.keys(b"odd/bad*") + r.keys(b"odd/x*") + r.keys(b"odd/dot*") == []


def test_long_names_cut_into_components(m0, r):
    key = b"long/" + b"n" * 700
    r.set(key, b"far")
    comps = encode_key(key)
    assert comps[1].endswith(b"%+") and comps[2].endswith(b"%+")
    assert all(len(c) <= 255 for c in comps)
    assert os.listdir(m0.p(b"long")) == [comps[1]]
    assert os.path.isdir(m0.p(*comps[:2]))
    assert read(m0.p(*comps)) == b"far"
    # A key longer than the daemon allows (1000) cannot be created.
    deep = [b"m" * 250] * 4
    os.makedirs(m0.p(b"long", *deep))
    with pytest.raises(OSError) as e:
        write(m0.p(b"long", *deep, b"file"), b"x")
    assert e.value.errno == errno.ENAMETOOLONG


def test_key_that_is_also_a_directory(m0, m1, r):
    r.set("both", "own value")
    r.set("both/child", "child value")
    assert os.path.isdir(m0.p("both"))
    assert sorted(os.listdir(m0.p("both"))) == ["%", "child"]
    assert read(m0.p("both", "%")) == b"own value"
    write(m0.p("both", "%"), b"changed")
    assert r.get("both") == b"changed"
    os.unlink(m0.p("both", "%"))
    assert r.exists("both") == 0
    assert os.listdir(m0.p("both")) == ["child"]
    # Created through the mount: the directory first, then its "%".
    os.makedirs(m0.p("made", "sub"))
    write(m0.p("made", "sub", "f"), b"f")
    write(m0.p("made", "%"), b"own")
    assert r.get("made") == b"own" and r.get("made/sub/f") == b"f"
    wait_for(lambda: sorted(os.listdir(m1.p("made"))) == ["%", "sub"],
             what="the directory and its value on the other node")
    # A file becomes a directory when a key appears below it.
    r.set("flip", "file")
    assert os.path.isfile(m1.p("flip"))
    r.set("flip/x", "1")
    wait_for(lambda: os.path.isdir(m1.p("flip")), timeout=5,
             what="the file to become a directory")
    assert read(m1.p("flip", "%")) == b"file"


def test_xattr_ttl(m0, m1, r):
    write(m0.p("ttl"), b"short-lived")
    assert "user.cashe.ttl" not in os.listxattr(m0.p("ttl"))
    with pytest.raises(OSError) as e:
        os.getxattr(m0.p("ttl"), "user.cashe.ttl")
    assert e.value.errno == errno.ENODATA
    os.setxattr(m0.p("ttl"), "user.cashe.ttl", b"100")
    assert 0 < r.ttl("ttl") <= 100
    assert os.getxattr(m0.p("ttl"), "user.cashe.ttl") == b"100"
    os.removexattr(m0.p("ttl"), "user.cashe.ttl")
    assert r.ttl("ttl") == -1
    rev = int(os.getxattr(m0.p("ttl"), "user.cashe.revision"))
    assert rev == r.execute_command("CASHE.STAT", "ttl")[3]
    # Created (1), written (2), expiry set (3) and removed (4).
    assert os.getxattr(m0.p("ttl"), "user.cashe.version") == b"4"
    with pytest.raises(OSError) as e:
        os.setxattr(m0.p("ttl"), "user.cashe.version", b"9")
    assert e.value.errno == errno.EPERM
    # A write keeps the expiry (SET ... KEEPTTL).
    os.setxattr(m0.p("ttl"), "user.cashe.ttl", b"1.5")
    write(m0.p("ttl"), b"rewritten")
    assert r.pttl("ttl") > 0
    start = time.monotonic()
    wait_for(lambda: not os.path.exists(m1.p("ttl")), timeout=10,
             what="the key to expire")
    assert time.monotonic() - start < 5
    assert r.exists("ttl") == 0


def test_mkdir_rmdir_and_enotempty(m0, m1, r):
    os.mkdir(m0.p("d"))
    assert os.path.isdir(m0.p("d"))
    # An empty directory lives in its mount only.
    assert not os.path.exists(m1.p("d"))
    write(m0.p("d", "f"), b"x")
    with pytest.raises(OSError) as e:
        os.rmdir(m0.p("d"))
    assert e.value.errno == errno.ENOTEMPTY
    wait_for(lambda: os.path.isdir(m1.p("d")), what="d on the other node")
    with pytest.raises(OSError) as e:
        os.rmdir(m1.p("d"))
    assert e.value.errno == errno.ENOTEMPTY
    os.unlink(m0.p("d", "f"))
    assert os.listdir(m0.p("d")) == []  # still there, as on a local disk
    os.rmdir(m0.p("d"))
    assert not os.path.exists(m0.p("d"))
    # The own value counts as content.
    r.set("dv", "v")
    r.set("dv/k", "k")
    os.unlink(m0.p("dv", "k"))
    with pytest.raises(OSError) as e:
        os.rmdir(m0.p("dv"))
    assert e.value.errno == errno.ENOTEMPTY
    subprocess.run(["rm", "-r", m0.p("dv")], check=True)
    assert r.exists("dv", "dv/k") == 0


def test_rename_directory_moves_every_key(m0, m1, r):
    r.mset({"mv/a": "1", "mv/b/c": "2", "mv": "own", "mv/": "beside"})
    os.rename(m0.p("mv"), m0.p("moved"))
    assert sorted(r.keys("mv*")) == [b"mv/"]
    assert sorted(r.keys("moved*")) == [b"moved", b"moved/a", b"moved/b/c"]
    wait_for(lambda: os.path.isdir(m1.p("moved", "b")),
             what="the moved tree on the other node")
    r.mset({"full/x": "1"})
    with pytest.raises(OSError) as e:
        os.rename(m0.p("moved"), m0.p("full"))
    assert e.value.errno == errno.ENOTEMPTY
    assert r.get("moved/a") == b"1"
    # A file rename replaces the target atomically.
    r.mset({"rf1": "new", "rf2": "old"})
    os.rename(m0.p("rf1"), m0.p("rf2"))
    assert r.get("rf2") == b"new" and r.exists("rf1") == 0


def test_open_file_follows_rename_and_unlink(m0, r):
    fd = os.open(m0.p("wander"), os.O_WRONLY | os.O_CREAT)
    os.rename(m0.p("wander"), m0.p("arrived"))
    os.write(fd, b"late write")
    os.close(fd)
    assert r.get("arrived") == b"late write" and r.exists("wander") == 0
    fd = os.open(m0.p("doomed"), os.O_WRONLY | os.O_CREAT)
    os.unlink(m0.p("doomed"))
    os.write(fd, b"into the void")
    os.close(fd)
    assert r.exists("doomed") == 0


def test_value_too_large(m0, r):
    with pytest.raises(OSError) as e:
        write(m0.p("huge"), b"x" * (2 * 1024 * 1024))
    assert e.value.errno == errno.EFBIG
    # As on ext4 past its largest file: what fitted was written.
    assert len(r.get("huge")) <= 1024 * 1024


def test_concurrent_files(m0, m1, r):
    """Many threads at once on both mounts: each sees its own writes."""
    import concurrent.futures

    def work(t):
        for i in range(30):
            data = os.urandom(1 + (t * 7919 + i * 104729) % 20000)
            name = f"conc/t{t}/f{i}"
            os.makedirs(m0.p(f"conc/t{t}"), exist_ok=True)
            write(m0.p(name), data)
            if read(m0.p(name)) != data:
                return f"{name} read back wrong"
            with open(m1.p(name) if i % 2 else m0.p(name), "r+b") as f:
                f.seek(len(data))
                f.write(b"+")
            if r.get(name) != data + b"+":
                return f"{name} append lost"
        return None

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        errors = [e for e in pool.map(work, range(16)) if e]
    assert errors == []
    assert len(r.keys("conc/*")) == 16 * 30


def test_statfs_counts_keys_and_bytes(m0, r):
    sv = os.statvfs(m0.path)
    keys = r.dbsize()
    assert abs((sv.f_files - sv.f_ffree) - keys) <= 2
    used = (sv.f_blocks - sv.f_bfree) * sv.f_frsize
    keyspace = r.info("memory")["keyspace_bytes"]
    assert keyspace <= used < keyspace + 4096 * 2 + 65536
    assert sv.f_namemax == 255


def test_mount_through_mount_helper(cluster, tmp_path, r):
    """mount(8) runs mount.fuse3, which runs cashe-fuse as a daemon."""
    mnt = tmp_path / "helper"
    mnt.mkdir()
    source = f"{FUSE_BIN}#{cluster.nodes[2].sock}"
    subprocess.run(["mount", "-t", "fuse", source, str(mnt), "-o",
                    "mode=0640,dir_mode=0750,max_value=1m"], check=True)
    try:
        r.set("helper-key", "via mount")
        assert read(mnt / "helper-key") == b"via mount"
        assert os.stat(mnt / "helper-key").st_mode & 0o777 == 0o640
        with open("/proc/mounts") as f:
            line = [x for x in f if str(mnt) in x][0]
        assert "fuse.cashe-fuse" in line and "cashe:" in line
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert not os.path.ismount(mnt)


def test_large_directory_listing(m0, m1, r):
    n = 100_000
    start = time.monotonic()
    pipe = r.pipeline(transaction=False)
    for base in range(0, n, 1000):
        pipe.mset({f"big/k{i:06d}": "v" for i in range(base, base + 1000)})
    pipe.execute()
    # A subdirectory and a key that is also a directory, among them.
    r.mset({"big/k000500/sub": "s", "big/zz": "z"})
    created = time.monotonic()
    names = os.listdir(m1.p("big"))
    listed = time.monotonic()
    assert len(names) == n + 1
    assert set(names) == {f"k{i:06d}" for i in range(n)} | {"zz"}
    out = subprocess.run(f"ls {m0.p('big')} | wc -l", shell=True,
                         capture_output=True, text=True, check=True)
    assert int(out.stdout) == n + 1
    assert listed - created < 30, f"listing took {listed - created:.1f} s"
    assert listed - start < 60


def test_tcp_source_with_password(tmp_path):
    node = Node(str(tmp_path), "raft0", extra=["--password=s3cret"])
    node.start(wait=False)
    c = node.client(password="s3cret")
    wait_for(lambda: c.ping(), what="the node to serve")
    try:
        bad = subprocess.run([FUSE_BIN, "-f", "-o", "password=wrong",
                              node.addr, str(tmp_path)],
                             capture_output=True, text=True, timeout=20)
        assert bad.returncode != 0 and "AUTH" in bad.stderr
        (tmp_path / "pw").write_text("s3cret\n")
        m = Mount(node.addr, str(tmp_path / "mt"), str(tmp_path / "mt.log"),
                  opts=[f"password_file={tmp_path / 'pw'}"])
        m.start()
        try:
            write(m.p("over-tcp"), b"yes")
            assert c.get("over-tcp") == b"yes"
        finally:
            m.stop()
    finally:
        node.proc.kill()
        node.proc.wait(10)


# ---- failures ---------------------------------------------------------------

def test_close_fails_without_quorum(tmp_path):
    c = Cluster(tmp_path, 3, extra=["--request-timeout=1500"]).start()
    m = Mount(c.nodes[0].sock, str(tmp_path / "mq"), str(tmp_path / "mq.log"),
              opts=["timeout=10"])
    try:
        m.start()
        write(m.p("before"), b"ok")
        for node in c.nodes[1:]:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(10)
        f = open(m.p("before"), "wb")
        f.write(b"lost")
        start = time.monotonic()
        with pytest.raises(OSError) as e:
            f.close()
        assert e.value.errno == errno.EIO
        assert time.monotonic() - start < 15
        # The acknowledged value is intact, the failed one not applied.
        ro = c.nodes[0].unix_client()
        ro.execute_command("READONLY")
        assert ro.get("before") == b"ok"
    finally:
        m.stop()
        c.stop()


def test_daemon_restart_under_mount(tmp_path):
    node = Node(str(tmp_path), "raft0").start()
    wait_for(lambda: node.role() == "leader", what="single node leader")
    m = Mount(node.sock, str(tmp_path / "mr"), str(tmp_path / "mr.log"),
              opts=["timeout=5"])
    try:
        m.start()
        write(m.p("persist"), b"kept")
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        start = time.monotonic()
        with pytest.raises(OSError) as e:
            read(m.p("persist"))
        assert e.value.errno in (errno.EIO, errno.ENOENT)
        assert time.monotonic() - start < 10
        node.start()
        wait_for(lambda: node.role() == "leader", what="leader again")
        wait_for(lambda: read(m.p("persist")) == b"kept", timeout=15,
                 what="the mount to work again")
        write(m.p("after"), b"new")
        assert node.unix_client().get("after") == b"new"
    finally:
        m.stop()
        if node.alive():
            node.proc.kill()
            node.proc.wait(10)


def test_rsync_tree_and_diff_through_other_node(m0, m1, tmp_path):
    """rsync -a writes temporary files and renames them over, sets times
    and modes (accepted, ignored): the tree reads back identical through
    the other node, also after a change is synced again."""
    src = tmp_path / "rsrc"
    make_tree(str(src))
    for doc in glob.glob("/usr/share/doc/libuv1*"):
        shutil.copytree(doc, src / "doc" / os.path.basename(doc),
                        symlinks=False)
    dst = m0.p("rtree") + "/"
    subprocess.run(["rsync", "-a", str(src) + "/", dst], check=True)
    d = subprocess.run(["diff", "-r", str(src), m1.p("rtree")],
                       capture_output=True, text=True)
    assert d.returncode == 0, d.stdout + d.stderr
    write(str(src / "a" / "b" / "bin1"), b"changed by the second sync")
    os.unlink(src / "x.y" / os.listdir(src / "x.y")[0])
    subprocess.run(["rsync", "-a", "--delete", str(src) + "/", dst],
                   check=True)
    d = subprocess.run(["diff", "-r", str(src), m1.p("rtree")],
                       capture_output=True, text=True)
    assert d.returncode == 0, d.stdout + d.stderr
    subprocess.run(["rm", "-r", m0.p("rtree")], check=True)


# ---- cache coherence: long kernel caches, invalidated by keyspace events ----

EVENTS_LIVE = "following keyspace events"


@pytest.fixture(scope="module")
def live(cluster, tmp_path_factory):
    """Mounts of nodes 0 and 1 with cashe-fuse's default cache timeouts
    (60 s): anything they show sooner came from an invalidation."""
    base = tmp_path_factory.mktemp("live")
    ms = []
    try:
        for i in (0, 1):
            m = Mount(cluster.nodes[i].sock, str(base / f"l{i}"),
                      str(base / f"l{i}.log"), short_cache=False).start()
            ms.append(m)
            wait_for(lambda: EVENTS_LIVE in m.read_log(), timeout=10,
                     what="the mount to follow keyspace events")
        yield ms
    finally:
        for m in ms:
            m.stop()


def delay_until(cond, timeout=10.0):
    """Seconds until cond() holds (OSError counts as not yet)."""
    start = time.monotonic()
    while True:
        try:
            if cond():
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.002)


def shows(path, data):
    """The kernel's attributes (size) and the file agree on data."""
    return os.stat(path).st_size == len(data) and read(path) == data


def gone(path):
    return not os.path.lexists(path)


def report(what, seconds):
    print(f"invalidation delay, {what}: {seconds * 1000:.1f} ms")
    assert seconds < 1.0, f"{what}: {seconds:.3f} s"


def test_invalidation_write_through_other_mount(live):
    a, b = live
    write(a.p("coh-w"), b"old")
    assert shows(b.p("coh-w"), b"old")  # now in b's kernel caches
    for i in range(5):
        new = b"new value %d " % i * (i + 2)
        write(a.p("coh-w"), new)
        report(f"write via mount A #{i}",
               delay_until(lambda: shows(b.p("coh-w"), new)))


def test_invalidation_set_on_third_node(live, cluster):
    a, b = live
    r2 = cluster.nodes[2].unix_client()
    r2.set("coh/set", "short")
    assert shows(b.p("coh", "set"), b"short")
    assert shows(a.p("coh", "set"), b"short")
    r2.set("coh/set", "a longer value")
    report("SET on a third node",
           delay_until(lambda: shows(b.p("coh", "set"), b"a longer value")))
    assert shows(a.p("coh", "set"), b"a longer value")
    r2.append("coh/set", "+")
    report("APPEND on a third node", delay_until(
        lambda: shows(b.p("coh", "set"), b"a longer value+")))


def test_invalidation_del_rename_expire(live, cluster):
    a, b = live
    r2 = cluster.nodes[2].unix_client()
    r2.mset({"coh-del": "x", "coh-src": "moved", "coh-dst": "replaced!",
             "coh-exp": "brief"})
    for name, value in (("coh-del", b"x"), ("coh-src", b"moved"),
                        ("coh-dst", b"replaced!"), ("coh-exp", b"brief")):
        assert shows(b.p(name), value)

    r2.delete("coh-del")
    report("DEL", delay_until(lambda: gone(b.p("coh-del"))))
    # The entry went too: the name can be created again at once.
    write(b.p("coh-del"), b"again")
    assert r2.get("coh-del") == b"again"

    r2.rename("coh-src", "coh-dst")
    report("RENAME", delay_until(lambda: gone(b.p("coh-src"))
                                 and shows(b.p("coh-dst"), b"moved")))

    r2.pexpire("coh-exp", 300)
    deadline = time.monotonic() + 0.3
    assert shows(b.p("coh-exp"), b"brief")
    while time.monotonic() < deadline:
        time.sleep(0.01)
    report("EXPIRE (from the deadline)",
           delay_until(lambda: gone(b.p("coh-exp"))))


def test_invalidation_of_directories(live, cluster):
    a, b = live
    r2 = cluster.nodes[2].unix_client()
    # A file that becomes a directory.
    r2.set("coh-flip", "file first")
    assert os.path.isfile(b.p("coh-flip"))
    r2.set("coh-flip/child", "c")
    report("file to directory", delay_until(
        lambda: os.path.isdir(b.p("coh-flip"))
        and read(b.p("coh-flip", "%")) == b"file first"))
    # A directory whose last key goes: gone, and can be made again.
    r2.set("coh-dir/sub/leaf", "l")
    assert shows(b.p("coh-dir", "sub", "leaf"), b"l")
    r2.delete("coh-dir/sub/leaf")
    report("last key of a directory", delay_until(
        lambda: gone(b.p("coh-dir"))))
    os.makedirs(b.p("coh-dir", "sub"))
    write(b.p("coh-dir", "sub", "leaf2"), b"2")
    assert r2.get("coh-dir/sub/leaf2") == b"2"
    # A directory moved through the other mount (CASHE.RENAMEDIR).
    r2.mset({"coh-rd/a": "1", "coh-rd/b/c": "2"})
    assert shows(b.p("coh-rd", "b", "c"), b"2")
    os.rename(a.p("coh-rd"), a.p("coh-rd2"))
    report("directory rename", delay_until(
        lambda: gone(b.p("coh-rd")) and shows(b.p("coh-rd2", "b", "c"),
                                              b"2")))
    # A listing made before a change shows the change.
    assert "coh-rd2" in os.listdir(b.path)
    r2.set("coh-rd2/new", "n")
    report("new name in a listing", delay_until(
        lambda: "new" in os.listdir(b.p("coh-rd2"))))


def test_invalidation_falls_back_while_events_are_lost(tmp_path):
    """The daemon under mount B restarts: events are lost meanwhile, and B
    must not serve its 60 s caches; it shows the change within seconds."""
    c = Cluster(tmp_path, 3).start()
    node = c.nodes[1]
    m = Mount(node.sock, str(tmp_path / "fb"), str(tmp_path / "fb.log"),
              opts=["timeout=5"], short_cache=False)
    writer = c.nodes[0].client()
    try:
        m.start()
        wait_for(lambda: EVENTS_LIVE in m.read_log(), timeout=10,
                 what="the mount to follow keyspace events")
        writer.set("fb-key", "before")
        wait_for(lambda: shows(m.p("fb-key"), b"before"), timeout=5,
                 what="the key through the mount")
        # The key changes while the daemon is down.
        assert node.stop() == 0
        writer.set("fb-key", "changed while the daemon was down")
        node.start()
        d = delay_until(lambda: shows(
            m.p("fb-key"), b"changed while the daemon was down"), timeout=15)
        print(f"fallback, change while down: shown {d:.2f} s after restart")
        assert d < 5
        assert "keyspace events lost" in m.read_log()
        wait_for(lambda: m.read_log().count(EVENTS_LIVE) >= 2, timeout=10,
                 what="events to flow again")
        # The key changes just after a restart, before or after the
        # subscription is back.
        assert node.stop() == 0
        node.start()
        start = time.monotonic()
        writer.set("fb-key", "changed after the restart")
        d = delay_until(lambda: shows(m.p("fb-key"),
                                      b"changed after the restart"),
                        timeout=15)
        print(f"fallback, change after restart: shown after {d:.2f} s")
        assert time.monotonic() - start < 5
    finally:
        m.stop()
        c.stop()
