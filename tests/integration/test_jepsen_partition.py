"""Jepsen-style schedules under network partitions.

Every node runs in its own network namespace on a bridge
(tests/jepsen/netns.py); the clients stay in the root namespace and always
reach every node's client port, so the history records what clients saw,
while PartitionNemesis cuts node-to-node traffic with nftables: a random
majority/minority split, the leader alone, a bridge (two halves that one
node connects), each healed before the next. Each schedule runs
JEPSEN_SECONDS (default 30), replayable with JEPSEN_SEED, and must end with
zero linearizability violations, undecided keys and lost acknowledged
writes; while a minority is cut off it must acknowledge nothing and the
majority must serve. Needs root and network namespaces (skipped otherwise)
and nft (Debian's nftables).
"""

import json
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "jepsen"))

import harness  # noqa: E402
import netns  # noqa: E402

SECONDS = float(os.environ.get("JEPSEN_SECONDS", "30"))
SEED = os.environ.get("JEPSEN_SEED")


@pytest.fixture
def net_ok():
    why = netns.unsupported()
    if why:
        pytest.skip(why)


def log_tails(cluster, lines=40):
    out = []
    for node in cluster.nodes:
        try:
            tail = node.read_log().splitlines()[-lines:]
        except OSError as e:
            tail = [repr(e)]
        out.append(f"--- {node.name} ({node.host}) log tail:\n"
                   + "\n".join(tail))
    return "\n".join(out)


def run_partitions(tmp_path, n, **opts):
    with netns.Net(n) as net:
        cluster = netns.Cluster(net, tmp_path)
        try:
            cluster.start()
            run = harness.Run(cluster, seconds=SECONDS,
                              seed=int(SEED) if SEED else None, clients=5,
                              keys=3, nemesis=netns.PartitionNemesis,
                              nemesis_opts=opts).execute()
            try:
                cluster.relay_everywhere()
                run.relay = None
            except TimeoutError as e:
                run.relay = str(e)
        except BaseException:
            print(log_tails(cluster))
            raise
        finally:
            cluster.stop()
    nem = run.nemesis
    print(run.summary())
    print(nem.summary())
    with open(tmp_path / "history.json", "w") as f:
        json.dump({"seed": run.seed, "history": run.rec.history,
                   "final": run.final, "faults": nem.faults,
                   "cuts": nem.cuts, "probes": nem.probes,
                   "recoveries": nem.recoveries}, f)
    if run.relay or nem.errors or run.replicas:
        print(log_tails(cluster))
    return run


def acknowledged_on_minority(run):
    """Operations a cut-off minority node acknowledged: invoked on it once
    every rule was in place, ok before the heal began. Must be none."""
    bad = []
    for cut in run.nemesis.cuts:
        for e in run.rec.history:
            if e.get("node") in cut["minority"] and e["outcome"] == "ok" \
                    and e["invoke_time"] >= cut["start"] \
                    and e["complete_time"] < cut["heal"]:
                bad.append((cut["kind"], e))
    return bad


def served_on_majority(run):
    """Per cut with a minority: operations majority nodes acknowledged
    during it."""
    return [sum(1 for e in run.rec.history
                if e.get("node") in cut["majority"] and e["outcome"] == "ok"
                and cut["start"] <= e["invoke_time"]
                and e["complete_time"] < cut["heal"])
            for cut in run.nemesis.cuts if cut["minority"]]


def assert_clean(run):
    nem = run.nemesis
    text = run.summary() + "; " + nem.summary()
    res = run.result
    assert not res.violations, text
    assert not res.undecided, text
    assert not res.lost_writes, text
    assert not run.rec.unexpected, run.rec.unexpected[:10]
    assert not nem.errors, nem.errors
    assert not run.replicas, run.replicas
    assert run.relay is None, run.relay
    ok = sum(1 for e in run.rec.history if e["outcome"] == "ok")
    assert ok >= 100 * SECONDS / 30, text
    # A cut and its heal take about 10 s with the defaults.
    assert len(nem.faults) >= max(2, int(SECONDS / 12)), text
    if SECONDS >= 25:
        assert {c["kind"] for c in nem.cuts} == set(nem.KINDS), text
    # A cut-off minority acknowledges nothing: every probe there was
    # refused (NOLEADER, TRYAGAIN: fail; UNKNOWN, timeout: unknown), and
    # so was every client operation on it.
    minority = [p for p in nem.probes if p["side"] == "minority"]
    assert minority, text
    assert all(p["outcome"] in ("fail", "unknown") for p in minority), \
        [p for p in minority if p["outcome"] not in ("fail", "unknown")]
    bad = acknowledged_on_minority(run)
    assert not bad, bad[:5]
    # ...while the majority serves: a probe acknowledged in every cut.
    cuts = [c for c in nem.cuts if c["minority"]]
    assert cuts, text
    for c in cuts:
        acked = [p for p in nem.probes if p["cut"] == c["n"]
                 and p["side"] == "majority" and p["outcome"] == "ok"]
        assert acked, (c, [p for p in nem.probes if p["cut"] == c["n"]])
    print("operations acknowledged by the majority during each cut:",
          served_on_majority(run))


def test_partitions_3_nodes(tmp_path, net_ok):
    """3 nodes: a node cut off (minority 1), the leader alone, a bridge."""
    run = run_partitions(tmp_path, 3)
    assert_clean(run)


def test_partitions_5_nodes(tmp_path, net_ok):
    """5 nodes: minorities of 1 or 2, the leader alone, a bridge node
    joining two pairs."""
    run = run_partitions(tmp_path, 5)
    assert_clean(run)
    assert any(len(c["minority"]) == 2 for c in run.nemesis.cuts), \
        run.nemesis.cuts


def test_relayed_write_bounded_when_the_leader_is_cut_off(tmp_path, net_ok):
    """A follower relays a SET to the leader just cut off alone: the client
    gets an answer (ok through the new leader, or UNKNOWN/NOLEADER) within
    request-timeout (5 s) and an election, not when the partition heals."""
    with netns.Net(3) as net:
        cluster = netns.Cluster(net, tmp_path)
        try:
            cluster.start()
            lead = cluster.leader()
            via = next(n for n in cluster.nodes if n is not lead)
            conn = via.client(timeout=60)
            assert conn.set("warm", "1")  # the relay connection is open
            net.partition([[lead.index],
                           [n.index for n in cluster.nodes if n is not lead]])
            got = {}

            def send():
                t = time.monotonic()
                try:
                    got["reply"] = conn.set("during", "1")
                except Exception as e:  # noqa: BLE001 - any answer will do
                    got["reply"] = repr(e)
                got["after"] = time.monotonic() - t
            th = threading.Thread(target=send)
            th.start()
            th.join(12)
            net.heal()
            th.join(120)
        finally:
            cluster.stop()
    print(got)
    assert got.get("after", 1e9) < 12, got
