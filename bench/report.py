#!/usr/bin/python3
"""The results of bench/run.sh: tagging, machine description, report.

    report.py tag --workload W --server S --rep N < tool-output
        the last JSON object line of a load generator's output, with the
        three tags added, on stdout (run.sh appends it to raw.jsonl); a
        one-line summary on stderr. Exit 1 when the input holds none.
    report.py meta [--workdir DIR] [--param KEY=VALUE]...
        this machine and the software under test, as JSON on stdout.
    report.py report DIR
        DIR/raw.jsonl (+ DIR/meta.json) -> DIR/report.md, and with gnuplot
        DIR/throughput.png and DIR/latency.png.

Every row of raw.jsonl is one run of one load generator against one server
in one repetition (rep). A table per workload shows the median over the
repetitions of each server; a ratio to a peer is the median of the ratios
taken within each repetition, so both sides of a ratio always come from the
same moment of the same run. Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys

# Workloads in report order: (name, title, subject server, what it measures).
# The subject is the server the ratios are taken for; every other server of
# the workload is its peer.
WORKLOADS = [
    ("set", "SET, 50 clients, fsync on (cashe-loadgen)", "cashe",
     "cashe's 3-node leader against one redis-server with appendfsync "
     "always (the same durability, no replication) and without fsync."),
    ("node-set", "SET / etcd put, 50 clients (Node generator)", "cashe",
     "The same Node.js generator (ioredis, etcd3) against cashe's leader and "
     "a 3-member etcd."),
    ("get", "GET, linearizable, 50 clients (cashe-loadgen)", "cashe",
     "Linearizable GETs on cashe's leader against redis-server GET."),
    ("node-get", "GET / etcd linearizable get, 50 clients (Node generator)",
     "cashe", "Linearizable reads, same generator for both."),
    ("get-readonly", "GET with READONLY on a follower (cashe-loadgen)",
     "cashe-follower",
     "Local, possibly stale reads on a cashe follower against redis-server "
     "GET."),
    ("set-pipeline", "SET, 50 clients, pipeline 16 vs 1 (cashe-loadgen)",
     "cashe-P16", "What batching of appends and replies gains."),
    ("set-1client", "SET, 1 client (cashe-loadgen)", "cashe",
     "Latency of one write at a time."),
    ("node-set-1client", "SET / etcd put, 1 client (Node generator)",
     "cashe", "Latency of one write at a time, same generator for both."),
    ("fuse", "FUSE open+read+close vs GET on the Unix socket, 1 client",
     "cashe-fuse", "Reads of a 100-byte key through the mount against GET "
     "over the leader's Unix socket."),
    ("failover", "kill -9 of the leader under write load", "cashe",
     "Seconds from the kill to the first acknowledged write sent after it."),
    ("failover-load", "the write load during the failovers (cashe-loadgen)",
     "cashe", "50 clients writing through a follower while its leader is "
     "killed: errors are the writes reported UNKNOWN."),
    ("fill", "sequential fill of the keyspace, 50 clients, pipeline 16",
     "cashe", "How the keys of the memory and snapshot workloads got there."),
    ("rss", "resident memory with the same keys and 100-byte values",
     "cashe-leader", "VmRSS of each process after the fill."),
    ("snapshot", "GET load on the leader with and without a snapshot",
     "cashe-snapshot",
     "CASHE SNAPSHOT sent to the leader while it serves linearizable GETs; "
     "max stall is the longest time without any reply."),
    ("snapshot-cmd", "the CASHE SNAPSHOT commands", "cashe",
     "How long the command took to answer."),
]

# The targets: (workload, subject, peer or None, metric, op, value,
# label). With a peer, the value bounds the ratio subject/peer of metric;
# without, the metric itself.
TARGETS = [
    ("node-set", "cashe", "etcd", "rps", ">=", 4.0,
     "SET 50 clients vs etcd put: throughput"),
    ("node-set", "cashe", "etcd", "p99_ms", "<=", 0.5,
     "SET 50 clients vs etcd put: p99"),
    ("set", "cashe", "redis-fsync", "rps", ">=", 0.7,
     "SET 50 clients vs redis appendfsync always"),
    ("node-get", "cashe", "etcd", "rps", ">=", 5.0,
     "GET linearizable vs etcd linearizable get"),
    ("get-readonly", "cashe-follower", "redis", "rps", ">=", 0.7,
     "GET READONLY on a follower vs redis GET"),
    ("set-pipeline", "cashe-P16", "cashe-P1", "rps", ">=", 5.0,
     "SET -P 16 vs unpipelined"),
    ("node-set-1client", "cashe", "etcd", "p50_ms", "<=", 0.7,
     "1-client SET vs etcd put: p50"),
    ("rss", "cashe-leader", "redis", "rss_kb", "<=", 1.5,
     "RSS with the same keys vs redis-server"),
    ("snapshot", "cashe-snapshot", None, "max_stall_ms", "<=", 50.0,
     "longest stall during a snapshot (ms)"),
    ("failover", "cashe", None, "first_write_s", "<=", 2.0,
     "kill -9 of the leader: first write (s)"),
    ("fuse", "cashe-fuse", "cashe-unix-get", "rps", ">=", 0.5,
     "FUSE read vs GET on the Unix socket"),
]

# Columns a workload's table may show, in order: (field, heading, format).
COLUMNS = [
    ("rps", "ops/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("max_stall_ms", "max stall ms", "{:.1f}"),
    ("first_write_s", "first write s", "{:.3f}"),
    ("rss_kb", "RSS MiB", None),
    ("dbsize", "keys", "{:,.0f}"),
    ("seconds", "seconds", "{:.2f}"),
]
SUMMED = ("errors", "lost")
# A request still unanswered this long at the end of a run is stuck.
STUCK_MS = 1000.0


# ---- tag -----------------------------------------------------------------

def cmd_tag(o):
    found = None
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found = value
    if found is None:
        print(f"report.py: {o.workload} on {o.server} (rep {o.rep}): "
              "no result", file=sys.stderr)
        return 1
    if "workload" in found and found["workload"] != o.workload:
        found["tool_workload"] = found["workload"]
    found.update(workload=o.workload, server=o.server, rep=o.rep)
    print(json.dumps(found, sort_keys=False), flush=True)
    print(f"  {o.workload:<18} {o.server:<18} #{o.rep}  {summary(found)}",
          file=sys.stderr)
    return 0


def summary(row):
    parts = []
    for key, head, fmt in COLUMNS:
        v = row.get(key)
        if isinstance(v, (int, float)) and (key != "seconds"
                                            or "rps" not in row):
            parts.append(f"{head} {fmt_value(key, fmt, v)}")
    for key in SUMMED:
        if row.get(key):
            parts.append(f"{key} {row[key]}")
    if (number(row.get("oldest_pending_ms")) or 0) > STUCK_MS:
        parts.append(f"UNANSWERED {row.get('pending')} requests, oldest "
                     f"{row['oldest_pending_ms']:.0f} ms")
    return ", ".join(parts)


# ---- meta ----------------------------------------------------------------

def run_out(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def package_version(name):
    return run_out("dpkg-query", "-W", "-f=${Version}", name) or None


def cmd_meta(o):
    lscpu = {}
    for line in run_out("lscpu").splitlines():
        key, _, value = line.partition(":")
        lscpu[key.strip()] = value.strip()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": lscpu.get("Model name"),
        "cpus": os.cpu_count(),
        "cores_per_socket": lscpu.get("Core(s) per socket"),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "kernel": platform.release(),
        "memory_kb": meminfo_total(),
        "os": os_release(),
        "cashe_commit": run_out("git", "-C", root, "rev-parse", "--short",
                                "HEAD") or None,
        "cashe_tree_dirty": bool(run_out("git", "-C", root, "status",
                                         "--porcelain", "--untracked-files=no")),
        "packages": {p: package_version(p) for p in (
            "etcd-server", "redis-server", "libraft2", "libraft-dev", "libuv1",
            "libhiredis0.14", "fuse3", "nodejs", "gnuplot-nox")},
        "params": dict(p.split("=", 1) for p in o.param if "=" in p),
    }
    if o.workdir:
        meta["workdir"] = o.workdir
        df = run_out("df", "--output=source,fstype,target", o.workdir)
        lines = df.splitlines()
        if len(lines) > 1:
            meta["workdir_fs"] = " ".join(lines[1].split())
    print(json.dumps(meta, indent=1))
    return 0


def meminfo_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


# ---- report --------------------------------------------------------------

def load_rows(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except ValueError:
                print(f"report.py: {path}:{n}: not JSON, skipped",
                      file=sys.stderr)
                continue
            if isinstance(row, dict) and "workload" in row and "server" in row:
                rows.append(row)
    return rows


def number(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) \
        else None


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Results:
    """Rows grouped as workload -> server -> rep -> row (the last row of a
    repetition wins)."""

    def __init__(self, rows):
        self.by = {}
        for row in rows:
            w = self.by.setdefault(row["workload"], {})
            w.setdefault(row["server"], {})[row.get("rep", 1)] = row

    def workloads(self):
        known = [w[0] for w in WORKLOADS if w[0] in self.by]
        return known + sorted(w for w in self.by if w not in known)

    def servers(self, workload):
        return list(self.by.get(workload, {}))

    def values(self, workload, server, key):
        runs = self.by.get(workload, {}).get(server, {})
        return {rep: number(row.get(key)) for rep, row in runs.items()}

    def median(self, workload, server, key):
        return median_of(self.values(workload, server, key).values())

    def ratio(self, workload, subject, peer, key):
        """Median of subject/peer over the repetitions holding both."""
        a = self.values(workload, subject, key)
        b = self.values(workload, peer, key)
        ratios = [a[r] / b[r] for r in a
                  if r in b and a[r] is not None and b[r]]
        return median_of(ratios), len(ratios)


def fmt_value(key, fmt, v):
    if v is None:
        return "n/a"
    if key == "rss_kb":
        return f"{v / 1024:,.1f}"
    return fmt.format(v)


def workload_info(name):
    for w in WORKLOADS:
        if w[0] == name:
            return w
    return (name, name, None, "")


def subject_of(res, workload):
    subject = workload_info(workload)[2]
    servers = res.servers(workload)
    if subject in servers:
        return subject
    cashe = [s for s in servers if s.startswith("cashe")]
    return cashe[0] if cashe else (servers[0] if servers else None)


def workload_table(res, workload):
    name, title, _, what = workload_info(workload)
    servers = res.servers(workload)
    subject = subject_of(res, workload)
    servers.sort(key=lambda s: (s != subject, s))
    columns = [c for c in COLUMNS
               if any(res.median(workload, s, c[0]) is not None
                      for s in servers)]
    runs = {s: len(res.by[workload][s]) for s in servers}
    out = [f"### {title}", ""]
    if what:
        out += [what, ""]
    head = ["server", "runs"] + [c[1] for c in columns] + list(SUMMED)
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for s in servers:
        cells = [s, str(runs[s])]
        for key, _, fmt in columns:
            cells.append(fmt_value(key, fmt, res.median(workload, s, key)))
        for key in SUMMED:
            total = sum(v for v in res.values(workload, s, key).values()
                        if v is not None)
            cells.append(f"{total:,.0f}")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    stuck = []
    for s in servers:
        for rep, row in sorted(res.by[workload][s].items()):
            old = number(row.get("oldest_pending_ms")) or 0
            if old > STUCK_MS:
                stuck.append(f"- **{s}, run {rep}: {row.get('pending')} "
                             "requests unanswered at the end, the oldest "
                             f"for {old:,.0f} ms**")
    if stuck:
        out += stuck + [""]
    peers = [s for s in servers if s != subject]
    ratio_keys = [k for k in ("rps", "p50_ms", "p99_ms", "rss_kb",
                              "max_stall_ms") if k in [c[0] for c in columns]]
    for peer in peers:
        parts = []
        for key in ratio_keys:
            r, n = res.ratio(workload, subject, peer, key)
            if r is not None:
                parts.append(f"{key.replace('_ms', '').replace('_kb', '')} "
                             f"×{r:.2f}")
        if parts:
            out.append(f"- {subject} / {peer} (same runs): "
                       + ", ".join(parts))
    if peers:
        out.append("")
    return out


def evaluate_targets(res):
    """[(label, measured, op, target, verdict, n)] for every target."""
    rows = []
    for workload, subject, peer, key, op, target, label in TARGETS:
        if peer:
            measured, n = res.ratio(workload, subject, peer, key)
        else:
            vals = [v for v in res.values(workload, subject, key).values()
                    if v is not None]
            measured, n = median_of(vals), len(vals)
        if measured is None:
            verdict = "not run"
        elif (measured >= target) if op == ">=" else (measured <= target):
            verdict = "PASS"
        else:
            verdict = "MISS"
        rows.append((label, workload, subject, peer, key, measured, op,
                     target, verdict, n))
    return rows


def machine_lines(meta):
    if not meta:
        return ["(no meta.json: machine not described)", ""]
    pk = meta.get("packages", {})
    mem = meta.get("memory_kb")
    out = [
        f"- date: {meta.get('date')}, host: {meta.get('host')}",
        f"- CPU: {meta.get('cpu_model')}, {meta.get('cpus')} CPUs "
        f"({meta.get('cores_per_socket')} cores per socket, "
        f"{meta.get('threads_per_core')} threads per core)"
        + (f", {meta['hypervisor']} guest" if meta.get("hypervisor") else ""),
        f"- memory: {mem // 1024:,} MiB" if mem else "- memory: n/a",
        f"- kernel {meta.get('kernel')}, {meta.get('os')}",
        f"- data directories: {meta.get('workdir_fs', meta.get('workdir'))}",
        "- packages: " + ", ".join(f"{k} {v}" for k, v in pk.items() if v),
        f"- cashe: commit {meta.get('cashe_commit')}"
        + (" with local changes" if meta.get("cashe_tree_dirty") else ""),
    ]
    params = meta.get("params")
    if params:
        out.append("- run: " + ", ".join(f"{k}={v}" for k, v in
                                         params.items()))
    return out + [""]


def render(res, meta, charts):
    out = ["# cashe benchmark report", ""]
    out += ["## Machine", ""] + machine_lines(meta)
    out += ["Servers on CPU 0, load generators on CPU 1. Each figure is the "
            "median over the repetitions; each ratio the median of the "
            "ratios within a repetition.", ""]
    out += ["## Targets (issue 7)", ""]
    out.append("| target | measured | goal | verdict | runs |")
    out.append("|---|---|---|---|---|")
    for label, _, _, peer, key, measured, op, target, verdict, n in \
            evaluate_targets(res):
        unit = "×" if peer else ""
        m = "n/a" if measured is None else f"{unit}{measured:.3g}"
        out.append(f"| {label} | {m} | {op} {unit}{target:g} | {verdict} "
                   f"| {n} |")
    out.append("")
    for chart, caption in charts:
        out += [f"![{caption}]({chart})", ""]
    out += ["## Workloads", ""]
    for workload in res.workloads():
        out += workload_table(res, workload)
    out += ["Raw results: `raw.jsonl` (one JSON object per run), machine: "
            "`meta.json`.", ""]
    return "\n".join(out)


def gnuplot_terminal():
    try:
        r = subprocess.run(["gnuplot", "-e", "set terminal"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return "pngcairo" if "pngcairo" in r.stdout + r.stderr else "png"


def quote(s):
    return '"' + s.replace('"', "'") + '"'


def plot_ratios(res, outdir, term):
    """Bars: subject/peer ops/s of every pair of every workload, beside the
    issue's target for that pair where it has one."""
    goals = {(t[0], t[1], t[2]): t[5] for t in TARGETS if t[3] == "rps"}
    lines, top, bottom = [], 1.0, 1.0
    for workload in res.workloads():
        subject = subject_of(res, workload)
        for peer in res.servers(workload):
            if peer == subject:
                continue
            r, _ = res.ratio(workload, subject, peer, "rps")
            if r is None:
                continue
            goal = goals.get((workload, subject, peer))
            top = max(top, r, goal or 0)
            bottom = min(bottom, max(r, 0.001), goal or 1)
            label = f"{workload}: {subject} / {peer}"
            lines.append(f"{quote(label)} {max(r, 0.001):.4f} "
                         + (f"{goal:.4f}" if goal else "NaN"))
    if not lines:
        return None
    dat = os.path.join(outdir, "throughput.dat")
    with open(dat, "w") as f:
        f.write("# pair ops-ratio target\n" + "\n".join(lines) + "\n")
    width = max(900, 70 * len(lines))
    targets = ", '' using 3 title \"target (issue 7)\"" \
        if any(not line.endswith("NaN") for line in lines) else ""
    script = f"""
set terminal {term} size {width},650
set output {quote(os.path.join(outdir, 'throughput.png'))}
set title "throughput ratio, same runs (ops/s of the first / ops/s of the second)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 2
set format y "%g"
set yrange [{bottom / 2:.4f}:{top * 2:.3f}]
set ylabel "ratio (log scale)"
set xtics rotate by 30 right font ",8"
set key top right
set grid ytics
plot {quote(dat)} using 2:xtic(1) title "measured"{targets}
"""
    return run_gnuplot(script, "throughput.png")


def plot_latency(res, outdir, term):
    """Clustered bars of p50 and p99 per workload and server."""
    lines = []
    for workload in res.workloads():
        for server in res.servers(workload):
            p50 = res.median(workload, server, "p50_ms")
            p99 = res.median(workload, server, "p99_ms")
            if p50 is None or p99 is None or p99 <= 0:
                continue
            lines.append(f"{quote(workload + ' ' + server)} "
                         f"{max(p50, 0.001):.4f} {max(p99, 0.001):.4f}")
    if not lines:
        return None
    dat = os.path.join(outdir, "latency.dat")
    with open(dat, "w") as f:
        f.write("# workload-server p50_ms p99_ms\n" + "\n".join(lines) + "\n")
    width = max(900, 60 * len(lines))
    script = f"""
set terminal {term} size {width},600
set output {quote(os.path.join(outdir, 'latency.png'))}
set title "latency per workload and server (median of runs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 10
set format y "%g"
set ylabel "ms (log scale)"
set xtics rotate by 30 right font ",8"
set key top left
set grid ytics
plot {quote(dat)} using 2:xtic(1) title "p50", '' using 3 title "p99"
"""
    return run_gnuplot(script, "latency.png")


def run_gnuplot(script, name):
    r = subprocess.run(["gnuplot"], input=script, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        print(f"report.py: gnuplot failed for {name}: {r.stderr.strip()}",
              file=sys.stderr)
        return None
    return name


def cmd_report(o):
    raw = os.path.join(o.dir, "raw.jsonl")
    if not os.path.exists(raw):
        print(f"report.py: {raw}: no such file", file=sys.stderr)
        return 1
    res = Results(load_rows(raw))
    meta = None
    meta_path = os.path.join(o.dir, "meta.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    charts = []
    term = gnuplot_terminal() if shutil.which("gnuplot") else None
    if term:
        for fn, caption in ((plot_ratios, "throughput ratios"),
                            (plot_latency, "latency")):
            name = fn(res, o.dir, term)
            if name:
                charts.append((name, caption))
    else:
        print("report.py: no gnuplot, no charts", file=sys.stderr)
    path = os.path.join(o.dir, "report.md")
    with open(path, "w") as f:
        f.write(render(res, meta, charts))
    print(path)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="results of bench/run.sh: tag, meta, report")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tag", help="tag a load generator's JSON line")
    t.add_argument("--workload", required=True)
    t.add_argument("--server", required=True)
    t.add_argument("--rep", type=int, default=1)
    m = sub.add_parser("meta", help="describe this machine as JSON")
    m.add_argument("--workdir")
    m.add_argument("--param", action="append", default=[])
    r = sub.add_parser("report", help="write DIR/report.md and charts")
    r.add_argument("dir")
    o = ap.parse_args(argv)
    return {"tag": cmd_tag, "meta": cmd_meta, "report": cmd_report}[o.cmd](o)


if __name__ == "__main__":
    sys.exit(main())
