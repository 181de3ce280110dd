"""The presence suite: the Tracker CRDT on a real three-node cluster, and
its pure parts in-process (the benchmark of presence's acceptance targets).

1. **cold start** (one child process per run, which builds a cluster):
   a redis-server on a free loopback port and three node OS processes
   (:mod:`tools.bench._presence_node`, ``beamish run`` on the Redis
   adapter).  Once the nodes see each other, each spawns its share of
   ``presences`` idle holder processes (RSS is read there: the baseline),
   then all three track them at the same moment, spread over ``topics``
   topics.  Value: from the first track to when every node lists all of
   them (the time of the last change any node reported; nodes read
   ``CLOCK_MONOTONIC``, system-wide), with the part after the last track,
   in heartbeat periods, beside it.
2. **healed partition** (same cluster, ``heals`` times, each node in
   turn): a node is SIGSTOPped until the others have marked it down and
   for at least ``down_period`` plus two periods (so it finds them silent
   past its own down period), the two others each untrack ``changes/4``
   presences and track ``changes/4`` new ones, then it is SIGCONTed.
   Value: median of the heals of the heartbeat periods from the SIGCONT
   until the three nodes list identical presences for good (the last
   change any node reported; the lists are then compared in full).
   Target: 3.
3. **memory per presence** (same cluster): per node, RSS after the cold
   convergence minus RSS with the holders spawned but nothing tracked,
   over the presences the node lists (all of them: every node holds the
   whole cluster's), mean of the nodes.  The tracked processes are not
   counted, their tracking is (links, entries, indexes, delta
   generations, remote pids).  Target: under 1 KB.
4. **heartbeat payload per change** (pure): the tracker's heartbeat
   message carrying a delta of ``n`` joins, encoded with beamish's term
   codec (what the Redis adapter publishes), over ``n``; deltas of leaves
   and of updates beside it.  Floor: msgpack of the bare
   ``[topic, key, meta]`` of each join.
5. **merge cost per delta entry** (pure, ``_state.merge``): a delta of
   ``n`` joins, decoded from the wire as a node gets it, merged into a
   replica that has none of them; leaves and a full transfer (extract)
   beside it.  Floor: inserting the same entries into a dict.

The nodes run a Tracker (Presence without the ``presence_diff``
broadcasts; they have no channels to send them to) with
``broadcast_period`` ``period``, ``max_silent_periods`` ``silent`` and
``down_period`` ``down``; see :mod:`tools.bench._presence_node`.  A node
with nothing to send heartbeats every ``silent + 1`` periods, so its
peers may take that long to hear that a paused node is back: row 2
varies between runs with where in that cycle the node was stopped.
``BEAMISH_BENCH_KEEP_LOGS=1`` keeps the nodes' logs, with every diff
they reported and when, to see where convergence time goes.
"""
from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

import msgpack

from beamish import Pid
from beamish.lowlevel import decode_term as decode, encode_term as encode
from beamish.presence.crdt import (State, clocks, extract, join, leave, merge, new_replica,
                                   replica_up, reset_delta, update)

from tools.harness import HarnessError, Node, RedisServer

from ._report import LOWER, Bench, Sample, System, suite
from ._runner import child_main

TARGETS = {"heal": 3.0, "memory": 1024.0}
#: Set this environment variable to keep the nodes' logs, with every diff
#: they reported, to see where convergence time goes.
KEEP_LOGS = "BEAMISH_BENCH_KEEP_LOGS"
NODES = 3
now = time.monotonic


# ------------------------------------------------------------- the cluster
class _Cluster:
    def __init__(self, period: float, down: float, silent: int, log_dir: str,
                 trace: bool = False) -> None:
        self.period = period
        self.redis = RedisServer(dir=log_dir).start()
        self.nodes: list = []
        try:
            for i in range(NODES):
                self.nodes.append(Node(
                    "tools.bench._presence_node", "--no-control", "--redis", self.redis.url,
                    "--period", str(period), "--down", str(down), "--silent", str(silent),
                    "--permdown", str(max(120.0, 20 * down)), *(["--trace"] if trace else []),
                    name=f"pres{i}@bench", log_dir=log_dir, env={"PYTHONHASHSEED": "0"}))
            for n in self.nodes:
                n.expect("ready", 60)
        except BaseException:
            self.stop()
            raise

    def all(self, line: str, prefix: str, timeout: float = 120.0, nodes=None) -> list:
        """Send ``line`` to every node at once, then collect the answers."""
        nodes = self.nodes if nodes is None else nodes
        for n in nodes:
            n.send(line)
        return [n.expect(prefix, timeout)[len(prefix):].split() for n in nodes]

    def status(self, nodes=None) -> list:
        return [(int(c), int(d), float(t)) for c, d, t in self.all("status", "status ", 30, nodes)]

    def wait(self, pred, timeout: float, what: str, nodes=None, stable: float = 0.0) -> list:
        """Poll ``status`` until ``pred(statuses)`` has held, with no node
        reporting a change, for ``stable`` seconds; returns the statuses."""
        deadline = now() + timeout
        since, last = None, None
        while True:
            st = self.status(nodes)
            if pred(st):
                mark = tuple(s[2] for s in st)
                if mark != last:
                    since, last = now(), mark
                if now() - since >= stable:
                    return st
            else:
                since = last = None
            if now() > deadline:
                raise HarnessError(f"{what}: not reached within {timeout:g} s; statuses {st}")
            time.sleep(0.05)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
        self.redis.close()


def _same(st: list, count: int) -> bool:
    return all(s[0] == count for s in st) and len({s[1] for s in st}) == 1


def _check_lists(c: _Cluster, presences: int, topics: int, what: str) -> int:
    """Once the cluster is quiet, every node's full list must be the same
    ``presences`` entries.  A node that held its hub too long (a full
    collection on a loaded machine) may be marked down and up again by
    the others meanwhile: wait for quiet and compare again, a few times.
    Returns how many comparisons found such a flap."""
    flaps = 0
    for _ in range(4):
        c.wait(lambda st: _same(st, presences), 120, f"{what}: a quiet cluster",
               stable=max(1.0, 2 * c.period))
        full = [(int(a), int(b)) for a, b in c.all(f"full {topics}", "full ")]
        st = c.status()
        if len(set(full)) == 1 and full[0][0] == presences and _same(st, presences) \
                and st[0][1] == full[0][1]:
            return flaps
        flaps += 1
    raise HarnessError(f"{what}: the nodes' full lists differ: {full}")


def _partition(c: _Cluster, j: int, shares: list, presences: int, topics: int,
               down: float, changes: int) -> dict:
    """Stop one node (``j`` picks which) past the down period, change
    presences on the two others, continue it; when did all lists agree?"""
    period = c.period
    c.wait(lambda st: _same(st, presences)
           and all(int(p[0]) == NODES - 1 for p in c.all("peers", "peers ", 10)),
           60, "a quiet cluster before the partition", stable=2 * period)
    v = (1 + j) % NODES
    victim = c.nodes[v]
    others = [n for i, n in enumerate(c.nodes) if i != v]
    rest = presences - shares[v]
    victim.signal(signal.SIGSTOP)
    t_stop = now()
    try:
        st = c.wait(lambda st: _same(st, rest), 20 * down + 60,
                    "the stopped node marked down", nodes=others)
        seen_down = max(s[2] for s in st) - t_stop
        k = max(1, changes // 4)
        for n in others:
            n.send(f"untrack {k}")
        for n in others:
            n.expect("untracked", 120)
        for i, n in enumerate(others):
            n.send(f"spawn {k}")
            n.expect("spawned", 120)
            n.send(f"track q{j}{i}_ {topics}")
        for n in others:
            n.expect("tracked ", 120)
        c.wait(lambda st: _same(st, rest), 60, "the two running nodes agreeing",
               nodes=others, stable=2 * period)
        # past the down period on the stopped node's side too: it will
        # find the others silent for longer than down_period
        time.sleep(max(0.0, down + 2 * period - (now() - t_stop)))
        stopped_for = now() - t_stop
    finally:
        t_heal = now()
        victim.signal(signal.SIGCONT)
    st = c.wait(lambda st: _same(st, presences), 120, "convergence after the heal",
                stable=max(2.0, 4 * period))
    return {"heal": max(s[2] for s in st) - t_heal, "stopped_for": stopped_for,
            "seen_down": seen_down, "changed": 4 * k, "t_heal": t_heal}


def beamish_cluster(presences: int, topics: int, period: float, silent: int, down: float,
                    changes: int, heals: int) -> Sample:
    """Cold start, memory and ``heals`` healed partitions on one fresh cluster."""
    log_dir = tempfile.mkdtemp(prefix="bench-presence-")
    keep = bool(os.environ.get(KEEP_LOGS))
    c = None
    heals_done: list = []
    try:
        c = _Cluster(period, down, silent, log_dir, trace=keep)
        c.wait(lambda _: all(int(p[0]) == NODES - 1 for p in c.all("peers", "peers ", 10)),
               30, "nodes seeing each other")
        shares = [presences // NODES + (1 if i < presences % NODES else 0) for i in range(NODES)]
        for n, k in zip(c.nodes, shares):
            n.send(f"spawn {k}")
        for n in c.nodes:
            n.expect("spawned", 120)
        base = [int(r[0]) for r in c.all("rss", "rss ")]

        # 1. cold start: every node tracks its share at the same moment
        for i, n in enumerate(c.nodes):
            n.send(f"track p{i}_ {topics}")
        tracked = [n.expect("tracked ", 600).split()[2:] for n in c.nodes]
        t_first = min(float(t[0]) for t in tracked)
        t_tracked = max(float(t[1]) for t in tracked)
        st = c.wait(lambda st: _same(st, presences), 300 + presences / 200,
                    "cold-start convergence", stable=max(1.0, 2 * period))
        t_conv = max(s[2] for s in st)
        cold, after = t_conv - t_first, t_conv - t_tracked

        # 3. memory per presence
        rss = [int(r[0]) for r in c.all("rss", "rss ")]
        per = [(r - b) / presences for r, b in zip(rss, base)]
        flaps = _check_lists(c, presences, topics, "cold start")

        # 2. healed partitions, each node stopped in turn
        for j in range(heals):
            heals_done.append(_partition(c, j, shares, presences, topics, down, changes))
            flaps += _check_lists(c, presences, topics, f"heal {j + 1}")
        h = [x["heal"] for x in heals_done]
        mib = 1 << 20
        return Sample(cold, {
            "after the last track": (after, "s"),
            "  in heartbeat periods": (after / period, "periods"),
            "tracking (slowest node)": (max(float(t[1]) - float(t[0]) for t in tracked), "s"),
            "heal": (statistics.median(h) / period, "periods"),
            "heal: seconds": (statistics.median(h), "s"),
            "heal: slowest of the heals": (max(h) / period, "periods"),
            "heal: fastest of the heals": (min(h) / period, "periods"),
            "heal: stopped for": (statistics.median(x["stopped_for"] for x in heals_done), "s"),
            "heal: marked down after": (statistics.median(x["seen_down"] for x in heals_done),
                                        "s"),
            "heal: presences changed": (heals_done[0]["changed"], "joins+leaves"),
            "heal: flaps outside the partitions": (flaps, "flaps"),
            "memory": (statistics.mean(per), "bytes/presence"),
            "memory: least, one node": (min(per), "bytes/presence"),
            "memory: most, one node": (max(per), "bytes/presence"),
            "memory: node RSS after": (max(rss) / mib, "MiB"),
        }, waits=True)
    finally:
        if c is not None:
            c.stop()
        if keep:
            print(f"presence: node logs (with every diff) kept in {log_dir}; heals at "
                  f"{[x['t_heal'] for x in heals_done]}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


# ------------------------------------------------------------ pure parts
_META = {"online_at": 1_700_000_000, "device": "web"}


def _replica_with(n: int, name: str = "a@bench") -> tuple:
    """A state that joined ``n`` entries (one pid each, 100 topics), and the
    ``(pid, topic, key)`` of each."""
    st = State(new_replica(name))
    ids = []
    for i in range(n):
        pid = Pid(name, 1000 + i, 1)
        topic, key = f"room:{i % 100}", f"user{i}"
        # a phx_ref as the tracker makes it: 16 url-safe characters
        join(st, pid, topic, key, dict(_META, phx_ref=f"F{i:015d}"))
        ids.append((pid, topic, key))
    return st, ids


def _heartbeat_bytes(st: State) -> tuple:
    _, delta = reset_delta(st)
    return delta, len(encode(("heartbeat", st.replica, delta, clocks(st)[1])))


def beamish_payload(n: int) -> Sample:
    a, ids = _replica_with(n)
    _, size_joins = _heartbeat_bytes(a)
    for pid, topic, key in ids:
        update(a, pid, topic, key, dict(_META, phx_ref="G000000000000000",
                                        phx_ref_prev="F000000000000000"))
    _, size_updates = _heartbeat_bytes(a)
    for pid, topic, key in ids:
        leave(a, pid, topic, key)
    _, size_leaves = _heartbeat_bytes(a)
    empty = len(encode(("heartbeat", a.replica, None, clocks(a)[1])))
    return Sample(size_joins / n, {"leaves": (size_leaves / n, "bytes/change"),
                                   "updates (leave + join)": (size_updates / n, "bytes/change"),
                                   "empty heartbeat": (empty, "bytes")})


def floor_payload(n: int) -> float:
    rows = [[f"room:{i % 100}", f"user{i}", dict(_META, phx_ref=f"F{i:015d}")] for i in range(n)]
    return len(msgpack.packb(rows)) / n


def _wire(payload):
    """``payload`` as a node receives it: encoded and decoded again."""
    data = encode(("heartbeat", payload))
    t0 = time.perf_counter()
    out = decode(data)[1]
    return out, time.perf_counter() - t0


def beamish_merge(n: int) -> Sample:
    a, ids = _replica_with(n)
    b = State(new_replica("b@bench"))
    replica_up(b, a.replica)
    replica_up(a, b.replica)
    _, delta = reset_delta(a)
    delta, t_decode = _wire(delta)
    t0 = time.perf_counter()
    _, joins, _ = merge(b, delta)
    t_join = time.perf_counter() - t0
    assert len(joins) == n
    for pid, topic, key in ids:
        leave(a, pid, topic, key)
    _, delta = reset_delta(a)
    delta, _ = _wire(delta)
    t0 = time.perf_counter()
    _, _, leaves = merge(b, delta)
    t_leave = time.perf_counter() - t0
    assert len(leaves) == n
    # a full transfer of n entries to a replica that has none of them
    c, _ = _replica_with(n, "c@bench")
    d = State(new_replica("d@bench"))
    replica_up(d, c.replica)
    replica_up(c, d.replica)
    ext, _ = _wire(extract(c, d.replica, clocks(d)[1]))
    t0 = time.perf_counter()
    _, joins, _ = merge(d, ext)
    t_extract = time.perf_counter() - t0
    assert len(joins) == n
    us = 1e6 / n
    return Sample(t_join * us, {"leaves delta": (t_leave * us, "us/entry"),
                                "transfer (extract)": (t_extract * us, "us/entry"),
                                "decoding the delta (codec)": (t_decode * us, "us/entry")})


def floor_merge(n: int) -> float:
    a, _ = _replica_with(n)
    _, delta = reset_delta(a)
    delta, _ = _wire(delta)
    values: dict = {}
    t0 = time.perf_counter()
    for tag, entry in delta.values.items():
        if tag not in values:
            values[tag] = entry
    return (time.perf_counter() - t0) * 1e6 / n


# ------------------------------------------------------------------ suite
SYSTEMS = {"beamish": System("beamish", floor=False),
           "msgpack": System("msgpack [topic, key, meta]"),
           "dict": System("dict insert")}

_CLUSTER = {"presences": 100_000, "topics": 100, "period": 0.5, "silent": 3, "down": 5.0,
            "changes": 2_000, "heals": 3}
_QUICK = dict(_CLUSTER, presences=5_000, changes=400, heals=1)

SUITE = suite(
    "presence", "Tracker CRDT: 3 nodes over Redis, and merge/payload in-process", SYSTEMS,
    Bench("cold", "1. converge from a cold start", "s", LOWER, {"beamish": beamish_cluster},
          params=_CLUSTER, quick_params=_QUICK),
    Bench("heal", "2. converge after a healed partition", "periods", LOWER,
          target=TARGETS["heal"], from_extra=("cold", "heal")),
    Bench("memory", "3. memory per presence", "bytes/presence", LOWER,
          target=TARGETS["memory"], from_extra=("cold", "memory")),
    Bench("payload", "4. heartbeat payload per change", "bytes/change", LOWER,
          {"beamish": beamish_payload, "msgpack": floor_payload}, ref="msgpack",
          params={"n": 10_000}, quick_params={"n": 2_000}),
    Bench("merge", "5. merge cost per delta entry", "us/entry", LOWER,
          {"beamish": beamish_merge, "dict": floor_merge}, ref="dict",
          params={"n": 100_000}, quick_params={"n": 20_000}),
)

if __name__ == "__main__":
    child_main(SUITE)
