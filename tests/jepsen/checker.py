"""Linearizability checker for cashe histories (per-key register model).

Pure Python 3.11 standard library. A history is a list of operations, each a
dict:

    {"process": p, "key": k, "op": kind, "args": [...],
     "invoke_time": float, "complete_time": float | None,
     "outcome": "ok" | "fail" | "unknown", "result": ...}

Kinds and the result an "ok" operation carries:

    read            -> value (str) or None when absent
    write  [v]      -> ignored (SET always succeeds)
    setnx  [v]      -> True if it set the key (it was absent), else False
    setxx  [v]      -> True if it set the key (it was present), else False
    incr   [delta]  -> the new integer; "ERR" when the value is not an integer
    getset [v]      -> the old value or None
    del             -> 1 if a key was removed, else 0

Failed operations never take effect and are dropped. Unknown operations may
take effect at any point after their invocation, or never: their completion
time is +infinity and the search may leave them out. Keys are independent,
so each key's sub-history is checked alone (P-compositionality).

The search is the Wing-Gong algorithm with Lowe's memoisation, organised
like Porcupine: a doubly linked list of call/return events; an operation may
be linearized while its call precedes every pending return; the cache holds
(linearized set as a bitmask, model state) pairs already explored.

Run as a script on a JSON file (a list of operations, or an object with
"history" and optional "final") to check a recorded history.
"""

import json
import math
import sys
import time

INF = math.inf
MUTATORS = ("write", "setnx", "setxx", "incr", "getset", "del")


class Op:
    """One operation of one key's history, normalised for the search."""

    __slots__ = ("idx", "process", "key", "kind", "arg", "invoke",
                 "complete", "known", "result", "src")

    def __init__(self, idx, src, known=None, complete=None):
        self.idx = idx
        self.src = src
        self.process = src.get("process")
        self.key = src["key"]
        self.kind = src["op"]
        args = src.get("args") or []
        self.arg = args[0] if args else None
        self.invoke = float(src["invoke_time"])
        if known is None:
            known = src["outcome"] == "ok"
        self.known = known
        if complete is None:
            complete = src.get("complete_time") if known else INF
        self.complete = INF if complete is None else float(complete)
        self.result = _norm_result(self.kind, src.get("result")) \
            if known else None

    def clone(self, idx, known=None, complete=None):
        return Op(idx, self.src, known, complete)


def _norm_value(v):
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode()
    return str(v)


def _norm_result(kind, r):
    if kind in ("setnx", "setxx"):
        return bool(r)
    if kind == "del":
        return 1 if r else 0
    if kind == "incr":
        if isinstance(r, int) or (isinstance(r, str) and
                                  r.lstrip("-").isdigit()):
            return int(r)
        return "ERR"
    if kind in ("read", "getset"):
        return _norm_value(r)
    return None


def _as_int(state):
    """The integer a stored value stands for, or None (INCR fails)."""
    if state is None:
        return 0
    s = state
    if s[:1] == "-":
        s = s[1:]
    if not s.isdigit() or (len(s) > 1 and s[0] == "0") or s != s.strip():
        return None
    return int(state)


def step(state, op):
    """Apply @op to @state: (expected result, new state). Deterministic."""
    k = op.kind
    if k == "read":
        return state, state
    if k == "write":
        return None, _norm_value(op.arg)
    if k == "setnx":
        return (True, _norm_value(op.arg)) if state is None else (False, state)
    if k == "setxx":
        return (False, state) if state is None else (True, _norm_value(op.arg))
    if k == "incr":
        n = _as_int(state)
        if n is None:
            return "ERR", state
        n += int(op.arg if op.arg is not None else 1)
        return n, str(n)
    if k == "getset":
        return state, _norm_value(op.arg)
    if k == "del":
        return (0, None) if state is None else (1, None)
    raise ValueError(f"unknown operation kind {k!r}")


def _mutates(kind, result):
    if kind in ("write", "incr", "getset"):
        return result != "ERR"
    if kind in ("setnx", "setxx"):
        return bool(result)
    if kind == "del":
        return result == 1
    return False


def search(ops, init=None, max_steps=2_000_000):
    """Linearize @ops from state @init.

    Returns (True, [op, ...]) with a linearization (unknown operations left
    out never took effect), (False, None), or (None, None) when the step
    budget ran out before an answer."""
    n = len(ops)
    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        events.append((op.complete, 1, i))
    events.sort(key=lambda e: (e[0], e[1]))
    m = len(events)
    head = m
    nxt = [i + 1 for i in range(m)] + [0]
    nxt[m - 1] = -1
    prv = [i - 1 for i in range(m)] + [-1]
    if m:
        prv[0] = head
    else:
        nxt[head] = -1
    is_call = [e[1] == 0 for e in events]
    op_of = [e[2] for e in events]
    ret_node = [0] * n
    for node, e in enumerate(events):
        if e[1] == 1:
            ret_node[e[2]] = node

    def unlink(x):
        nxt[prv[x]] = nxt[x]
        if nxt[x] != -1:
            prv[nxt[x]] = prv[x]

    def relink(x):
        nxt[prv[x]] = x
        if nxt[x] != -1:
            prv[nxt[x]] = x

    pending = sum(1 for op in ops if op.known)
    cache = set()
    stack = []
    state = init
    mask = 0
    entry = nxt[head]
    steps = 0
    while pending:
        steps += 1
        if steps > max_steps:
            return None, None
        if entry != -1 and is_call[entry]:
            i = op_of[entry]
            op = ops[i]
            expect, new = step(state, op)
            if not op.known or expect == op.result:
                newmask = mask | (1 << i)
                if (newmask, new) not in cache:
                    cache.add((newmask, new))
                    stack.append((entry, state))
                    unlink(entry)
                    unlink(ret_node[i])
                    state, mask = new, newmask
                    pending -= op.known
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
            continue
        # A return reached with its operation still pending: backtrack.
        if not stack:
            return False, None
        entry, state = stack.pop()
        i = op_of[entry]
        relink(ret_node[i])
        relink(entry)
        mask &= ~(1 << i)
        pending += ops[i].known
        entry = nxt[entry]
    return True, [ops[op_of[e]] for e, _ in stack]


def _prune(configs):
    """Among configurations with the same state and linearized open ops,
    one that used a subset of another's unknown operations can do all it
    can (it may still apply the rest later): keep only minimal ones."""
    groups = {}
    for st, lin, used in configs:
        groups.setdefault((st, lin), []).append(used)
    out = set()
    for (st, lin), sets in groups.items():
        kept = []
        for u in sorted(sets, key=len):
            if not any(k <= u for k in kept):
                kept.append(u)
                out.add((st, lin, u))
    return out


def locate(ops, init=None, max_configs=200_000):
    """Just-in-time linearization over events in time order, keeping every
    reachable configuration (state, open ops linearized, unknown ops
    applied). Linear in the history, so it finds *where* a history stops
    being linearizable even when the depth-first search gives up.

    Returns (None, None) if linearizable, (op, states) with the first
    operation whose completion no configuration can explain and the states
    possible just before it, or ("budget", None)."""
    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        if op.known:
            events.append((op.complete, 1, i))
    events.sort(key=lambda e: (e[0], e[1]))
    configs = {(init, frozenset(), frozenset())}
    open_known, called_unknown = set(), set()
    for _, typ, i in events:
        if typ == 0:
            (open_known if ops[i].known else called_unknown).add(i)
            continue
        seen = set(configs)
        frontier = [c for c in configs if i not in c[1]]
        while frontier:
            st, lin, used = frontier.pop()
            cands = [j for j in open_known if j not in lin] + \
                [j for j in called_unknown if j not in used]
            for j in cands:
                op = ops[j]
                expect, new = step(st, op)
                if op.known:
                    if expect != op.result:
                        continue
                    c = (new, lin | {j}, used)
                else:
                    c = (new, lin, used | {j})
                if c not in seen:
                    seen.add(c)
                    if i not in c[1]:
                        frontier.append(c)
            if len(seen) > max_configs:
                return "budget", None
        done = {(st, lin - {i}, used) for st, lin, used in seen if i in lin}
        if not done:
            return ops[i], sorted({c[0] for c in configs}, key=str)
        configs = _prune(done)
        open_known.discard(i)
    return None, None


def _prepare(entries):
    """Normalise one key's raw entries: drop failed operations and unknown
    reads (neither can affect anything), order by invocation."""
    ops = []
    for src in sorted(entries, key=lambda e: float(e["invoke_time"])):
        if src["outcome"] == "fail":
            continue
        if src["outcome"] not in ("ok", "unknown"):
            raise ValueError(f"bad outcome {src['outcome']!r}")
        if src["outcome"] == "unknown" and src["op"] == "read":
            continue
        ops.append(Op(len(ops), src))
    return ops


def _truncate(ops, cut):
    """The history as seen at time @cut: operations invoked by then, those
    still running turned unknown. Non-linearizable here implies the whole
    history is non-linearizable, so the shortest such prefix is sound."""
    out = []
    for op in ops:
        if op.invoke > cut:
            continue
        if op.known and op.complete <= cut:
            out.append(op.clone(len(out)))
        elif op.kind != "read":
            out.append(op.clone(len(out), known=False))
    return out


def _reindex(ops):
    return [op.clone(i, op.known, op.complete) for i, op in enumerate(ops)]


def minimize(ops, init=None, budget_s=5.0, max_steps=200_000):
    """A small non-linearizable sub-history of @ops (itself one): the
    shortest non-linearizable prefix, then greedily without every operation
    whose removal keeps it non-linearizable."""
    deadline = time.monotonic() + budget_s
    cuts = sorted({op.complete for op in ops if op.known})
    lo, hi = 0, len(cuts) - 1
    best = ops
    while lo <= hi:
        mid = (lo + hi) // 2
        sub = _truncate(ops, cuts[mid])
        res, _ = search(sub, init, max_steps)
        if res is False:
            best, hi = sub, mid - 1
        else:
            lo = mid + 1
        if time.monotonic() > deadline:
            break
    # Passes until nothing more goes: dropping a read can free the write it
    # observed for removal in the next pass.
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        i = 0
        while i < len(best) and time.monotonic() < deadline:
            if _explains(best[i], best):
                i += 1
                continue
            trial = _reindex(best[:i] + best[i + 1:])
            res, _ = search(trial, init, max_steps)
            if res is False:
                best, changed = trial, True
            else:
                i += 1
    return best


def _explains(w, ops):
    """Whether @w wrote a value another kept operation observed: such writes
    stay in the minimal history, which then shows where a value came from
    instead of only that it could not be there."""
    if w.kind == "incr" and w.known and isinstance(w.result, int):
        v = str(w.result)
    elif w.kind in ("write", "setnx", "setxx", "getset"):
        v = _norm_value(w.arg)
    else:
        return False
    return any(o is not w and o.known and o.kind in ("read", "getset")
               and o.result == v for o in ops)


def _fmt_val(v):
    return "nil" if v is None else repr(v)


def format_op(op, t0=0.0):
    args = "" if op.arg is None else _fmt_val(_norm_value(op.arg))
    end = "inf" if op.complete == INF else f"{op.complete - t0:.6f}"
    if op.known:
        res = "ok" if op.kind == "write" else _fmt_val(op.result)
    else:
        res = "unknown"
    return (f"  p={op.process} [{op.invoke - t0:.6f}, {end}] "
            f"{op.kind}({args}) -> {res}")


def format_history(ops, t0=None):
    if t0 is None:
        t0 = min((op.invoke for op in ops), default=0.0)
    return "\n".join(format_op(op, t0) for op in ops)


def _lost_by_linearization(order, final_known):
    """Acknowledged mutations the linearization does not account for: the
    last mutation must leave the final state; earlier ones are overwritten
    by the next mutation (reported in 'overwritten')."""
    lost, overwritten = [], {}
    state = None
    last = None
    for op in order:
        expect, state = step(state, op)
        if _mutates(op.kind, expect):
            if last is not None and last.known:
                overwritten[last.idx] = op.idx
            last = op
    if last is not None and last.known and final_known is not None:
        if final_known[0] != state:
            lost.append(last)
    return lost, overwritten


def _lost_independent(ops, final):
    """Acknowledged mutations whose resulting value is not the final one
    while no other operation could have come after them: lost whatever the
    linearization. Sound (no false alarms) and independent of the search."""
    lost = []
    # The two latest-ending mutators: "another op ends after w started"
    # needs only those, keeping this linear in the history length.
    muts = sorted((m for m in ops if m.kind in MUTATORS),
                  key=lambda m: m.complete, reverse=True)[:2]
    for w in ops:
        if not w.known or not _mutates(w.kind, w.result):
            continue
        if w.kind in ("write", "setnx", "setxx", "getset"):
            after = _norm_value(w.arg)
        elif w.kind == "del":
            after = None
        else:
            after = str(w.result)
        if after == final:
            continue
        if not any(m is not w and m.complete > w.invoke for m in muts):
            lost.append(w)
    return lost


def _diagnose(r, full, minimize_s, small=300, window=30):
    """After the depth-first search failed or gave up: find the first
    operation no linearization explains, then a small sub-history."""
    bad, states = locate(full)
    if bad is None:
        r.linearizable = True    # the search gave up; this settles it
        return
    if bad == "budget":
        return
    r.linearizable = False
    r.failed_op, r.states_before = bad, states
    prefix = _truncate(full, bad.complete)
    if len(prefix) <= small:
        r.minimal = minimize(prefix, None, minimize_s)
        return
    # Too long to minimise greedily: show what led up to the failure.
    r.minimal_is_window = True
    near = [op for op in prefix if op.known]
    near.sort(key=lambda op: op.complete)
    keep = {op.idx for op in near[-window:]}
    keep |= {op.idx for op in prefix if not op.known
             and op.invoke >= near[-window].invoke - 5.0}
    r.minimal = [op for op in prefix if op.idx in keep]


class KeyResult:
    def __init__(self, key, ops):
        self.key = key
        self.ops = ops
        self.linearizable = None
        self.order = None
        self.minimal = None
        self.minimal_is_window = False
        self.failed_op = None
        self.states_before = None
        self.lost = []
        self.overwritten = {}
        self.seconds = 0.0


class Result:
    def __init__(self):
        self.keys = {}

    @property
    def violations(self):
        return [r for r in self.keys.values() if r.linearizable is False]

    @property
    def undecided(self):
        return [r for r in self.keys.values() if r.linearizable is None]

    @property
    def lost_writes(self):
        return [(r.key, op) for r in self.keys.values() for op in r.lost]

    @property
    def ops_checked(self):
        return sum(len(r.ops) for r in self.keys.values())

    @property
    def valid(self):
        return not (self.violations or self.undecided or self.lost_writes)

    def report(self):
        lines = [f"checked {self.ops_checked} operations on "
                 f"{len(self.keys)} keys: "
                 f"{len(self.violations)} non-linearizable, "
                 f"{len(self.undecided)} undecided, "
                 f"{len(self.lost_writes)} lost acknowledged writes"]
        for r in self.keys.values():
            t0 = min((op.invoke for op in r.ops), default=0.0)
            if r.linearizable is False:
                what = ("last operations before it (history too long to "
                        "minimise)" if r.minimal_is_window else
                        "smallest offending sub-history found")
                lines.append(f"key {r.key!r} NOT linearizable "
                             f"({len(r.ops)} ops); {what} "
                             f"({len(r.minimal)} ops):")
                lines.append(format_history(r.minimal, t0))
                if r.failed_op is not None:
                    states = ", ".join(_fmt_val(v)
                                       for v in r.states_before[:10])
                    lines.append("no linearization explains:\n"
                                 + format_op(r.failed_op, t0)
                                 + f"\n  possible values just before: "
                                 f"{states}")
            elif r.linearizable is None:
                lines.append(f"key {r.key!r}: search budget exhausted "
                             f"({len(r.ops)} ops, {r.seconds:.1f}s)")
            for op in r.lost:
                lines.append(f"key {r.key!r}: acknowledged write lost:\n"
                             + format_op(op, t0))
        return "\n".join(lines)


def check(history, final=None, max_steps=2_000_000, minimize_s=5.0):
    """Check @history; @final optionally maps keys to the value read once
    every client stopped (None for absent), for the lost-write check."""
    by_key = {}
    for e in history:
        by_key.setdefault(e["key"], []).append(e)
    if final:
        for k in final:
            by_key.setdefault(k, [])
    out = Result()
    for key in sorted(by_key, key=str):
        t = time.monotonic()
        ops = _prepare(by_key[key])
        r = KeyResult(key, ops)
        final_known = None
        full = ops
        if final is not None and key in final:
            fv = _norm_value(final[key])
            final_known = (fv,)
            end = max([op.invoke for op in ops] +
                      [op.complete for op in ops if op.known] + [0.0])
            probe = Op(len(ops), {"process": "final", "key": key,
                                  "op": "read", "args": [],
                                  "invoke_time": end + 1e-6,
                                  "complete_time": end + 2e-6,
                                  "outcome": "ok", "result": fv})
            full = ops + [probe]
        r.linearizable, order = search(full, None, max_steps)
        if not r.linearizable:
            _diagnose(r, full, minimize_s)
        if r.linearizable:
            # Operations linearized after the final read took effect after
            # it, if ever: they are no part of the final state.
            cut = [i for i, op in enumerate(order) if op.idx >= len(ops)]
            r.order = order[:cut[0]] if cut else order
            r.lost, r.overwritten = _lost_by_linearization(r.order,
                                                           final_known)
        if final_known is not None:
            seen = {op.idx for op in r.lost}
            r.lost += [op for op in _lost_independent(ops, final_known[0])
                       if op.idx not in seen]
        r.seconds = time.monotonic() - t
        out.keys[key] = r
    return out


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} HISTORY.json", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        data = json.load(f)
    if isinstance(data, dict):
        res = check(data["history"], data.get("final"))
    else:
        res = check(data)
    print(res.report())
    return 0 if res.valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
