"""The benchmark harness still works: cashe-loadgen against a real cluster,
and bench/report.py on a small sample. Short runs; never asserts on speed.

The full comparison is bench/run.sh (bench/README.md); `bench/run.sh
--smoke` runs all of it for a few seconds when CASHE_BENCH_SMOKE=1 (it
installs packages and builds, so it is not part of the default suite).
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import CASHED, ROOT, Cluster, Node, wait_for

LOADGEN = os.environ.get(
    "CASHE_LOADGEN",
    os.path.join(os.path.dirname(CASHED), "bench", "cashe-loadgen"))
REPORT = os.path.join(ROOT, "bench", "report.py")
KEYS = 2000


def loadgen(*args, timeout=120):
    """Run cashe-loadgen; return its JSON line as a dict."""
    assert os.path.exists(LOADGEN), f"{LOADGEN} not built"
    r = subprocess.run([LOADGEN, *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    out = json.loads(lines[0])
    out["stderr"] = r.stderr
    return out


def check_sane(out, clients):
    assert out["tool"] == "loadgen"
    assert out["clients"] == clients
    assert out["ops"] > 0, out
    assert out["errors"] == 0, out
    assert out["lost"] == 0 and out["disconnects"] == 0, out
    assert out["rps"] > 0 and out["seconds"] > 0
    assert 0 < out["p50_ms"] <= out["p90_ms"] <= out["p99_ms"] \
        <= out["p999_ms"] <= out["max_ms"], out
    assert out["max_stall_ms"] <= out["seconds"] * 1000 + 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("bench"), 3).start()
    yield c
    c.stop()


def test_fill_writes_every_key_once(cluster):
    lead = cluster.leader()
    out = loadgen("-p", lead.port, "-c", 8, "-P", 16, "--fill", KEYS)
    assert out["workload"] == "fill"
    assert out["ops"] == KEYS and out["errors"] == 0
    r = lead.client()
    assert r.dbsize() >= KEYS
    # 16-byte keys, 100-byte values, both ends of the range.
    for k in (0, KEYS - 1):
        key = f"key:{k:012d}"
        assert len(key) == 16
        assert len(r.get(key)) == 100


@pytest.mark.parametrize("what", ["set", "get", "readonly-get"])
def test_loadgen_against_cluster(cluster, what):
    lead = cluster.leader()
    target = cluster.followers()[0] if what == "readonly-get" else lead
    args = ["-p", target.port, "-c", 8, "-t", 2, "-r", KEYS,
            "--workload", what]
    if what == "readonly-get":
        args += ["--init", "READONLY"]
    out = loadgen(*args, "set" if what == "set" else "get")
    check_sane(out, 8)
    assert out["workload"] == what
    assert out["command"] == ("set" if what == "set" else "get")


def test_pipeline_and_unix_socket(cluster):
    lead = cluster.leader()
    out = loadgen("-s", lead.sock, "-c", 2, "-P", 8, "-n", 500, "mixed")
    assert out["ops"] == 500, out
    assert out["pipeline"] == 8 and out["errors"] == 0


def test_error_replies_are_counted(cluster):
    """An --init command the server refuses is an error reply: counted, and
    the load still runs."""
    lead = cluster.leader()
    out = loadgen("-p", lead.port, "-c", 3, "-t", 1, "--init",
                  "NO-SUCH-COMMAND x", "get")
    assert out["errors"] == 3, out
    assert out["ops"] > 0
    assert "NO-SUCH-COMMAND" in out["stderr"] or "unknown" in \
        out["stderr"].lower(), out["stderr"]


def test_lost_connections_are_reported(tmp_path):
    """The server dies mid-run: the loss is reported, the run finishes and
    its JSON shows the stall."""
    node = Node(str(tmp_path), "raft0").start()
    wait_for(lambda: node.role() == "leader", what="single node leader")
    killer = threading.Timer(1.5, node.kill)
    killer.start()
    try:
        out = loadgen("-p", node.port, "-c", 4, "-t", 4, "set")
    finally:
        killer.cancel()
        if node.alive():
            node.kill()
    assert out["disconnects"] == 4, out
    assert out["ops"] > 0
    assert out["max_stall_ms"] > 1000, out
    assert "retrying" in out["stderr"]


def test_bad_options_exit_2():
    for args in (["-c", "0", "set"], ["nosuch"], ["--fill", "x"], []):
        r = subprocess.run([LOADGEN, *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "usage" in r.stderr


# ---- report.py -------------------------------------------------------------

def row(workload, server, rep, **fields):
    fields.update(workload=workload, server=server, rep=rep)
    return json.dumps(fields)


def test_report_turns_json_into_tables_and_charts(tmp_path):
    tagged = subprocess.run(
        [sys.executable, REPORT, "tag", "--workload", "set", "--server",
         "cashe", "--rep", "1"],
        input='noise\n{"tool":"loadgen","workload":"x","ops":10,"rps":500.0,'
              '"p50_ms":1.0,"p99_ms":4.0,"max_ms":9.0,"errors":0}\n',
        capture_output=True, text=True, timeout=30)
    assert tagged.returncode == 0, tagged.stderr
    first = json.loads(tagged.stdout)
    assert first["server"] == "cashe" and first["tool_workload"] == "x"

    lines = [tagged.stdout.strip()]
    lines.append(row("set", "cashe", 2, rps=700.0, p50_ms=1.0, p99_ms=3.0,
                     max_ms=8.0, errors=0))
    for rep, rps in ((1, 1000.0), (2, 1000.0)):
        lines.append(row("set", "redis-fsync", rep, rps=rps, p50_ms=0.5,
                         p99_ms=2.0, max_ms=5.0, errors=0))
    lines.append(row("rss", "cashe-leader", 1, rss_kb=120000))
    lines.append(row("rss", "redis", 1, rss_kb=100000))
    lines.append(row("failover", "cashe", 1, first_write_s=1.25))
    (tmp_path / "raw.jsonl").write_text("\n".join(lines) + "\n")

    r = subprocess.run([sys.executable, REPORT, "report", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "report.md").read_text()
    # ratio = median of per-repetition ratios: 500/1000 and 700/1000
    assert "| SET 50 clients vs redis appendfsync always | ×0.6 | >= ×0.7 " \
           "| MISS | 2 |" in md, md
    assert "| RSS with the same keys vs redis-server | ×1.2 | <= ×1.5 " \
           "| PASS | 1 |" in md, md
    assert "| kill -9 of the leader: first write (s) | 1.25 | <= 2 | PASS" \
        in md, md
    assert "| cashe | 2 | 600 | 1.000 | 3.500 |" in md, md
    assert "cashe / redis-fsync (same runs): rps ×0.60" in md, md
    assert "| SET -P 16 vs unpipelined | n/a | >= ×5 | not run | 0 |" in md
    if shutil.which("gnuplot"):
        for png in ("throughput.png", "latency.png"):
            data = (tmp_path / png).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n", png
            assert f"]({png})" in md


@pytest.mark.skipif(os.environ.get("CASHE_BENCH_SMOKE") != "1",
                    reason="set CASHE_BENCH_SMOKE=1 to run bench/run.sh --smoke")
def test_run_sh_smoke(tmp_path):
    out = tmp_path / "results"
    r = subprocess.run([os.path.join(ROOT, "bench", "run.sh"), "--smoke",
                        "--no-fuse", "-o", str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "raw.jsonl").read_text().splitlines()]
    assert {x["workload"] for x in rows} >= {"set", "get", "get-readonly",
                                             "failover", "rss", "snapshot"}
    assert (out / "report.md").exists()


def test_optimized_build_allocates_with_jemalloc(tmp_path):
    # The RSS target rests on jemalloc and the settings in
    # src/malloc_conf.c: the optimized build (scripts/build.sh, the one
    # bench/ and the package use) must link it and read them. The
    # background purging thread exists only if malloc_conf was read.
    cashed = os.path.join(ROOT, "build", "cashed")
    assert os.path.exists(cashed), "scripts/build.sh builds build/cashed"
    ldd = subprocess.run(["ldd", cashed], capture_output=True, text=True)
    assert "libjemalloc" in ldd.stdout, ldd.stdout
    n = Node(str(tmp_path), "raft0")
    n.args = lambda a=n.args: [cashed] + a()[1:]
    n.start()
    try:
        task = f"/proc/{n.proc.pid}/task"
        names = [open(f"{task}/{t}/comm").read().strip()
                 for t in os.listdir(task)]
        assert "jemalloc_bg_thd" in names, names
        cl = n.client()
        assert cl.set("k", "v") and cl.get("k") == b"v"
    finally:
        assert n.stop() == 0
