"""Unit tests of the linearizability checker on hand-made histories.

Run: /usr/bin/python3 -m pytest tests/jepsen/test_checker.py -q
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checker  # noqa: E402


def op(p, kind, inv, comp, result=None, args=None, outcome="ok", key="k"):
    return {"process": p, "key": key, "op": kind, "args": args or [],
            "invoke_time": inv, "complete_time": comp,
            "outcome": outcome, "result": result}


def w(p, v, inv, comp, outcome="ok", key="k"):
    return op(p, "write", inv, comp, "OK", [v], outcome, key)


def r(p, v, inv, comp, key="k"):
    return op(p, "read", inv, comp, v, key=key)


# --- plain registers ------------------------------------------------------


def test_empty_history_is_linearizable():
    assert checker.check([]).valid


def test_read_of_absent_key_is_nil():
    assert checker.check([r(1, None, 0, 1)]).valid
    assert not checker.check([r(1, "1", 0, 1)]).valid


def test_sequential_write_then_read():
    assert checker.check([w(1, "1", 0, 1), r(2, "1", 2, 3)]).valid


def test_stale_read_after_completed_write_is_violation():
    h = [w(1, "1", 0, 1), w(1, "2", 2, 3), r(2, "1", 4, 5)]
    res = checker.check(h)
    assert not res.valid
    (bad,) = res.violations
    # The minimal sub-history still shows the overwrite and the stale read.
    kinds = sorted((o.kind, o.arg, o.result) for o in bad.minimal)
    assert ("read", None, "1") in kinds
    assert ("write", "2", None) in kinds
    assert len(bad.minimal) <= 3
    assert "NOT linearizable" in res.report()


def test_concurrent_writes_reads_in_either_order():
    # Two overlapping writes: readers after both may see either value,
    # but two later sequential reads must agree with one order.
    h = [w(1, "a", 0, 10), w(2, "b", 1, 9)]
    assert checker.check(h + [r(3, "a", 11, 12), r(3, "a", 13, 14)]).valid
    assert checker.check(h + [r(3, "b", 11, 12), r(3, "b", 13, 14)]).valid
    # Reads concurrent with the writes may observe b then a.
    assert checker.check(h + [r(3, "b", 2, 3), r(3, "a", 4, 5)]).valid
    assert checker.check(h + [r(3, "a", 2, 3), r(3, "b", 4, 5)]).valid
    # After both completed, flip-flopping is impossible.
    bad = h + [r(3, "a", 11, 12), r(3, "b", 13, 14), r(3, "a", 15, 16)]
    assert not checker.check(bad).valid


def test_read_concurrent_with_write_may_see_old_or_new():
    base = [w(1, "1", 0, 1), w(2, "2", 2, 6)]
    assert checker.check(base + [r(3, "1", 3, 4)]).valid
    assert checker.check(base + [r(3, "2", 3, 4)]).valid
    # But once a read saw the new value, a later read cannot see the old.
    assert not checker.check(base + [r(3, "2", 3, 4),
                                     r(4, "1", 4.5, 5)]).valid


# --- outcomes -----------------------------------------------------------


def test_unknown_write_appearing_later_is_fine():
    h = [w(1, "1", 0, 1), w(2, "2", 2, None, outcome="unknown"),
         r(3, "1", 3, 4), r(3, "2", 50, 51)]
    assert checker.check(h).valid


def test_unknown_write_never_appearing_is_fine():
    h = [w(1, "1", 0, 1), w(2, "2", 2, None, outcome="unknown"),
         r(3, "1", 3, 4), r(3, "1", 50, 51)]
    assert checker.check(h, {"k": "1"}).valid


def test_unknown_write_cannot_appear_before_its_invocation():
    h = [w(1, "1", 0, 1), r(3, "2", 2, 3),
         w(2, "2", 5, None, outcome="unknown")]
    assert not checker.check(h).valid


def test_failed_write_appearing_is_violation():
    h = [w(1, "1", 0, 1), w(2, "2", 2, 3, outcome="fail"),
         r(3, "2", 4, 5)]
    res = checker.check(h)
    assert not res.valid
    assert len(res.violations) == 1


def test_failed_write_not_appearing_is_fine():
    h = [w(1, "1", 0, 1), w(2, "2", 2, 3, outcome="fail"),
         r(3, "1", 4, 5)]
    assert checker.check(h).valid


def test_unknown_read_is_ignored():
    h = [w(1, "1", 0, 1),
         op(2, "read", 2, None, "garbage", outcome="unknown"),
         r(3, "1", 4, 5)]
    assert checker.check(h).valid


# --- read-modify-write operations -----------------------------------------


def incr(p, inv, comp, result, outcome="ok"):
    return op(p, "incr", inv, comp, result, [1], outcome)


def test_incr_sequence():
    h = [incr(1, 0, 1, 1), incr(2, 2, 3, 2), r(3, "2", 4, 5),
         incr(1, 6, 7, 3)]
    assert checker.check(h, {"k": "3"}).valid


def test_concurrent_incrs_return_distinct_values():
    ok = [incr(1, 0, 5, 1), incr(2, 0, 5, 2)]
    assert checker.check(ok).valid
    dup = [incr(1, 0, 5, 1), incr(2, 0, 5, 1)]
    assert not checker.check(dup).valid


def test_incr_gap_explained_only_by_unknown():
    h = [incr(1, 0, 1, 1), incr(2, 2, None, None, outcome="unknown"),
         incr(1, 3, 4, 3)]
    assert checker.check(h).valid
    without = [incr(1, 0, 1, 1), incr(1, 3, 4, 3)]
    assert not checker.check(without).valid


def test_incr_on_non_integer_errors():
    h = [w(1, "x", 0, 1), incr(2, 2, 3, "ERR"), r(3, "x", 4, 5)]
    assert checker.check(h).valid
    assert not checker.check([w(1, "x", 0, 1), incr(2, 2, 3, 1)]).valid


def setnx(p, v, inv, comp, result, outcome="ok"):
    return op(p, "setnx", inv, comp, result, [v], outcome)


def test_setnx_race_one_winner():
    h = [setnx(1, "a", 0, 5, True), setnx(2, "b", 0, 5, False),
         r(3, "a", 6, 7)]
    assert checker.check(h).valid
    both = [setnx(1, "a", 0, 5, True), setnx(2, "b", 0, 5, True)]
    assert not checker.check(both).valid
    # The loser's value must not be what remains.
    wrong = [setnx(1, "a", 0, 5, True), setnx(2, "b", 0, 5, False),
             r(3, "b", 6, 7)]
    assert not checker.check(wrong).valid


def test_setnx_after_del_succeeds_again():
    h = [setnx(1, "a", 0, 1, True), op(2, "del", 2, 3, 1),
         setnx(3, "b", 4, 5, True), r(1, "b", 6, 7)]
    assert checker.check(h).valid
    h[1] = op(2, "del", 2, 3, 0)
    assert not checker.check(h).valid


def test_setxx_needs_present_key():
    h = [op(1, "setxx", 0, 1, False, ["a"]), r(2, None, 2, 3),
         w(1, "1", 4, 5), op(1, "setxx", 6, 7, True, ["2"]),
         r(2, "2", 8, 9)]
    assert checker.check(h).valid
    assert not checker.check([op(1, "setxx", 0, 1, True, ["a"])]).valid


def test_getset_returns_previous_value():
    h = [w(1, "1", 0, 1), op(2, "getset", 2, 3, "1", ["2"]),
         op(3, "getset", 4, 5, "2", ["3"]), r(1, "3", 6, 7)]
    assert checker.check(h).valid
    h[2] = op(3, "getset", 4, 5, "1", ["3"])
    assert not checker.check(h).valid


def test_keys_are_independent():
    h = [w(1, "1", 0, 1, key="a"), r(2, None, 2, 3, key="b"),
         r(2, "1", 2, 3, key="a"), r(2, "1", 4, 5, key="b")]
    res = checker.check(h)
    assert [v.key for v in res.violations] == ["b"]


# --- lost writes ----------------------------------------------------------


def test_lost_acknowledged_write():
    h = [w(1, "1", 0, 1), w(2, "2", 2, 3)]
    res = checker.check(h, {"k": "1"})
    assert not res.valid
    assert [(k, o.arg) for k, o in res.lost_writes] == [("k", "2")]
    assert "lost" in res.report()


def test_lost_write_found_also_without_later_reads():
    res = checker.check([w(1, "1", 0, 1)], {"k": None})
    assert [o.arg for _, o in res.lost_writes] == ["1"]


def test_overwritten_write_is_not_lost():
    h = [w(1, "1", 0, 1), w(2, "2", 2, 3), op(3, "del", 4, 5, 1)]
    res = checker.check(h, {"k": None})
    assert res.valid
    key = res.keys["k"]
    assert key.overwritten == {0: 1, 1: 2}


def test_final_state_may_come_from_unknown_write():
    h = [w(1, "1", 0, 1), w(2, "2", 2, 10, outcome="unknown")]
    assert checker.check(h, {"k": "2"}).valid
    assert checker.check(h, {"k": "1"}).valid
    assert not checker.check(h, {"k": "3"}).valid


# --- minimisation and scale ----------------------------------------------


def test_minimal_history_drops_unrelated_ops():
    h = []
    t = 0.0
    for i in range(40):
        h.append(w(1, str(i), t, t + 1))
        h.append(r(2, str(i), t + 2, t + 3))
        t += 4
    h.append(r(3, "5", t, t + 1))   # stale by 34 writes
    res = checker.check(h)
    (bad,) = res.violations
    assert len(bad.minimal) <= 3
    assert any(o.kind == "read" and o.result == "5" and o.process == 3
               for o in bad.minimal)


def simulate(seed, clients=5, ops_per_client=200, keys=3):
    """A linearizable random history: a serial register store where each
    operation takes effect at a random point inside its interval."""
    rng = random.Random(seed)
    events = []
    for p in range(clients):
        t = rng.random()
        for _ in range(ops_per_client):
            d = rng.uniform(0.5, 3.0)
            events.append((rng.uniform(t, t + d), p, t, t + d))
            t += d + rng.uniform(0, 0.2)
    events.sort()
    state = {}
    hist = []
    for n, (at, p, inv, comp) in enumerate(events):
        key = f"k{rng.randrange(keys)}"
        kind = rng.choice(["read", "write", "setnx", "incr", "getset",
                           "del"])
        arg = str(n) if kind not in ("incr", "read", "del") else None
        o = checker.Op(0, {"key": key, "op": kind, "args":
                           [arg] if arg is not None else
                           ([1] if kind == "incr" else []),
                           "invoke_time": inv, "complete_time": comp,
                           "outcome": "unknown"})
        res, state[key] = checker.step(state.get(key), o)
        outcome = "ok"
        if kind != "read" and rng.random() < 0.03:
            outcome = "unknown"
        hist.append({"process": p, "key": key, "op": kind, "args": o.src[
            "args"], "invoke_time": inv, "complete_time": comp,
            "outcome": outcome, "result": res})
    return hist, state


def test_performance_5_clients_200_ops_3_keys():
    hist, final = simulate(7)
    t = time.monotonic()
    res = checker.check(hist, final)
    took = time.monotonic() - t
    assert res.valid, res.report()
    assert res.ops_checked >= 950
    assert took < 10, f"check took {took:.1f}s"


def test_performance_corrupted_history_is_caught_quickly():
    hist, final = simulate(11)
    # Make one acknowledged read return a value never written.
    for e in hist:
        if e["op"] == "read" and e["outcome"] == "ok" and e["key"] == "k1":
            e["result"] = "never-written"
            break
    t = time.monotonic()
    res = checker.check(hist, final)
    assert [v.key for v in res.violations] == ["k1"]
    assert time.monotonic() - t < 20
    bad = res.violations[0]
    assert any(o.result == "never-written" for o in bad.minimal)
    assert len(bad.minimal) <= 3


def test_depth_first_search_and_locate_agree():
    """Both algorithms on many small random (often non-linearizable)
    histories: they must always give the same verdict."""
    rng = random.Random(5)
    verdicts = set()
    for _ in range(400):
        hist = []
        for n in range(rng.randrange(1, 8)):
            inv = rng.uniform(0, 10)
            kind = rng.choice(["read", "write", "setnx", "incr", "getset",
                               "del"])
            outcome = rng.choice(["ok"] * 4 + ["unknown", "fail"])
            result = {"read": rng.choice([None, "1", "2", "3"]),
                      "write": "OK", "setnx": rng.random() < 0.5,
                      "incr": rng.randrange(1, 4),
                      "getset": rng.choice([None, "1", "2"]),
                      "del": rng.randrange(2)}[kind]
            args = {"incr": [1], "read": [], "del": []}.get(
                kind, [rng.choice(["1", "2", "3"])])
            hist.append(op(n, kind, inv, inv + rng.uniform(0, 4), result,
                           args, outcome))
        ops = checker._prepare(hist)
        dfs, _ = checker.search(ops)
        bad, _ = checker.locate(ops)
        assert dfs is (bad is None), checker.format_history(ops)
        verdicts.add(dfs)
    assert verdicts == {True, False}


def test_command_line_exit_status(tmp_path, capsys):
    import json
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"history": [w(1, "1", 0, 1)],
                                "final": {"k": "1"}}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([w(1, "1", 0, 1), r(2, None, 2, 3)]))
    assert checker.main(["checker", str(good)]) == 0
    assert checker.main(["checker", str(bad)]) == 1
    assert "NOT linearizable" in capsys.readouterr().out
    assert checker.main(["checker"]) == 2


# --- the harness's own pure helpers ---------------------------------------


def test_refusal_verdicts():
    import harness
    clear = ("12:00:00.000 raft1 error: cannot start: the Raft log in /d "
             "is corrupt (the raft library crashed loading it: signal 6)\n")
    assert harness.refusal_problem(clear, 1) is None
    assert "signal 6" in harness.refusal_problem(clear, -6)
    assert "exit status 66" in harness.refusal_problem(clear, 66)
    asan = clear + "==1==ERROR: LeakSanitizer: detected memory leaks\n" \
        "SUMMARY: AddressSanitizer: 2568 byte(s) leaked\n"
    assert "Sanitizer" in harness.refusal_problem(asan, 1)
    assert "cannot start" in harness.refusal_problem("bye\n", 1)
    assert harness.refusal_problem(clear, None) == "still running"


def test_newest_segment_skips_preallocated_open_segments(tmp_path):
    import harness
    assert harness.newest_segment(tmp_path) is None
    (tmp_path / "0000000000000001-0000000000000001").write_bytes(b"\1" * 80)
    (tmp_path / "0000000000000002-0000000000000300").write_bytes(b"\1" * 90)
    assert harness.newest_segment(tmp_path) == \
        "0000000000000002-0000000000000300"
    # Open segments are preallocated with zeros; one holding only its
    # 8-byte format header has no entries yet.
    (tmp_path / "open-4").write_bytes(b"\1" + b"\0" * 7 + b"\0" * 4096)
    assert harness.newest_segment(tmp_path) == \
        "0000000000000002-0000000000000300"
    (tmp_path / "open-3").write_bytes(b"\1" + b"\0" * 7 + b"\7" * 100
                                      + b"\0" * 4096)
    (tmp_path / "metadata1").write_bytes(b"\1" * 32)
    assert harness.newest_segment(tmp_path) == "open-3"
    assert harness.used_bytes(tmp_path / "open-3") == 108


def test_fault_counts_by_kind_and_leader():
    import harness
    faults = [("kill -9", "leader", "raft0", 0, 1),
              ("kill -9", "random", "raft1", 2, 3),
              ("pause", "leader, 2.0 s", "raft2", 4, 6),
              ("kill -9", "leader, two down", "raft3", 7, 8)]
    assert harness.fault_counts(faults) == \
        "kill -9: 3 (2 of the leader), pause: 1 (1 of the leader)"
