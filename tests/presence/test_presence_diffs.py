"""Coalesced presence diffs: the official client ends where it would have.

The property test replays random histories (joins, leaves and updates on
two replicas, several keys and several metas per key, deltas merged at
random points) through the official ``phoenix`` client's
``Presence.syncState``/``syncDiff`` under Node (tests/js/presence_sync.mjs,
one process for the module), once with one diff per change and once with
the diffs a :class:`DiffBuffer` coalesces over random windows, each both
from the start and for a client that joins midway (``presence_state``
then the diffs that follow).  Every replay must give exactly the server's
grouped list.  The tracker-level tests check the window with real shard
processes.
"""
import json
import os
import shutil
import subprocess
import time

import gevent
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beamish import exit, receive, spawn, stop
from beamish.presence import Presence, Tracker, group, list_presence, track
from beamish.presence import update as update_presence
from beamish.presence.crdt import (Replica, State, get_by_topic, join, leave, merge, replica_up,
                                   reset_delta, update)
from beamish.presence._diffs import DiffBuffer
from beamish.pubsub import PubSub, subscribe, unsubscribe
from tools.harness import ROOT

JS = os.path.join(ROOT, "tests", "js")
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


@pytest.fixture(scope="module")
def client():
    """``replay(runs) -> final states`` through the official client."""
    if not os.path.isdir(os.path.join(JS, "node_modules", "phoenix")):
        pytest.fail("tests/js/node_modules is missing: run `make test` (it runs npm ci)")
    proc = subprocess.Popen(["node", "presence_sync.mjs"], cwd=JS, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def replay(runs):
        proc.stdin.write(json.dumps(runs) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, "the node driver died"
        return json.loads(line)
    yield replay
    proc.stdin.close()
    proc.wait(timeout=10)


# ------------------------------------------------------------------ property

TOPIC = "T"
who = st.integers(0, 1)                    # replica 0 is remote, replica 1 is watched
op = st.one_of(
    st.tuples(st.just("join"), who, st.integers(0, 2), st.sampled_from("TU"),
              st.sampled_from("kln")),
    st.tuples(st.just("join"), who, st.integers(0, 2), st.just(TOPIC), st.sampled_from("kl")),
    st.tuples(st.just("leave"), who, st.integers(0, 20)),
    st.tuples(st.just("update"), who, st.integers(0, 20)),
    st.tuples(st.just("sync")),            # replica 0's delta merged into replica 1
    st.tuples(st.just("flush")),           # a diff window ends
    st.tuples(st.just("flush")),
    st.tuples(st.just("snapshot")),        # the late client joins here
)


def wire(joins, leaves):
    return {"joins": group(joins), "leaves": group(leaves)}


def only(topic, entries):
    return [(e.key, e.meta) for e in entries if e.topic == topic]


def run_history(steps):
    """Play ``steps``; return the client runs and the server's final list."""
    a, b = State(Replica("a", 1)), State(Replica("b", 1))
    replica_up(a, b.replica)
    replica_up(b, a.replica)
    refs = iter(range(10**6))
    per_change, coalesced = [], []        # ("diff", payload) steps, in order
    snap = None                           # (state payload, per_change index, coalesced index)
    buffer = DiffBuffer()

    def observe(joins, leaves):
        j, lv = only(TOPIC, joins), only(TOPIC, leaves)
        if j or lv:
            per_change.append(["diff", wire(j, lv)])
        buffer.add(joins, leaves)

    def flush():
        for topic, j, lv in buffer.take():
            if topic == TOPIC:
                coalesced.append(["diff", wire(j, lv)])

    for s in steps:
        kind = s[0]
        if kind in ("join", "leave", "update"):
            state = (a, b)[s[1]]
            mine = sorted(state.owned.items())
            if kind == "join":
                _, _, pid, topic, key = s
                if (topic, pid, key) in state.owned:
                    continue
                diff = join(state, pid, topic, key, {"phx_ref": f"r{next(refs)}"})
            elif not mine:
                continue
            else:
                (topic, pid, key), tag = mine[s[2] % len(mine)]
                if kind == "leave":
                    diff = leave(state, pid, topic, key)
                else:
                    old = state.values[tag].meta["phx_ref"]
                    diff = update(state, pid, topic, key,
                                  {"phx_ref": f"r{next(refs)}", "phx_ref_prev": old})
            if state is b:
                observe(diff[1], diff[2])
        elif kind == "sync":
            _, delta = reset_delta(a)
            _, joins, leaves = merge(b, delta)
            observe(joins, leaves)
        elif kind == "flush":
            flush()
        elif kind == "snapshot" and snap is None:
            snap = (group(only(TOPIC, get_by_topic(b, TOPIC))), len(per_change), len(coalesced))
    flush()
    runs = [per_change, coalesced]
    if snap is not None:
        state, i, k = snap
        runs += [[["state", state]] + per_change[i:], [["state", state]] + coalesced[k:]]
    return runs, group(only(TOPIC, get_by_topic(b, TOPIC)))


@pytest.mark.slow
@needs_node
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=60))
def test_the_official_client_reaches_the_same_state_from_coalesced_diffs(client, steps):
    runs, server = run_history(steps)
    finals = client(runs)
    for run, final in zip(runs, finals):
        assert final == server, (run, final, server)


def test_each_entry_appears_once_as_it_ends_the_window_and_an_update_is_one_of_each():
    b = State(Replica("b", 1))
    buf = DiffBuffer()
    buf.add(*join(b, 1, TOPIC, "k", {"phx_ref": "x"})[1:])
    buf.add(*leave(b, 1, TOPIC, "k")[1:])
    # a client that joined in between was shown "x": the leave must reach it
    assert buf.take() == [(TOPIC, [], [("k", {"phx_ref": "x"})])]
    assert buf.take() == []
    buf.add(*join(b, 1, TOPIC, "k", {"phx_ref": "y"})[1:])
    assert buf.take() == [(TOPIC, [("k", {"phx_ref": "y"})], [])]
    buf.add(*update(b, 1, TOPIC, "k", {"phx_ref": "z", "phx_ref_prev": "y"})[1:])
    assert buf.take() == [(TOPIC, [("k", {"phx_ref": "z", "phx_ref_prev": "y"})],
                           [("k", {"phx_ref": "y"})])]


# ------------------------------------------------------------------ real processes

def holder():
    receive("never")


@pytest.fixture
def presence():
    ps = PubSub.start("pd_ps")
    pr = Presence.start("pd_presence", pubsub="pd_ps", diff_window=0.2)
    yield "pd_presence"
    stop(pr)
    stop(ps)


def diffs(timeout):
    """Every presence_diff broadcast received within ``timeout``."""
    got = []
    while True:
        msg = receive(lambda m: getattr(m, "event", None) == "presence_diff", timeout=timeout,
                      default=None)
        if msg is None:
            return got
        got.append(msg.payload)


def test_n_tracks_within_one_window_make_one_presence_diff(presence):
    subscribe("pd_ps", "room:big")
    pids = [spawn(holder) for _ in range(50)]
    try:
        refs = [track(presence, p, "room:big", f"u{i % 20}", {"i": i})
                for i, p in enumerate(pids)]
        update_presence(presence, pids[0], "room:big", "u0", {"i": -1})
        exit(pids[1], "kill")
        [diff] = diffs(timeout=0.6)
        left = [m["phx_ref"] for v in diff["leaves"].values() for m in v["metas"]]
        joined = [m["phx_ref"] for v in diff["joins"].values() for m in v["metas"]]
        assert sorted(left) == sorted(refs[:2])     # the updated meta and the killed one
        assert len(joined) == 49 and refs[0] not in joined and refs[1] not in joined
        assert diff["joins"] == list_presence(presence, "room:big")
    finally:
        unsubscribe("pd_ps", "room:big")
        for p in pids:
            exit(p, "kill")
        gevent.sleep(0.3)


def test_the_listing_is_built_once_per_window_of_the_topic(presence):
    p, q = spawn(holder), spawn(holder)
    try:
        track(presence, p, "room:1", "alice", {})
        gevent.sleep(0.4)                                      # alice's window ends
        first = list_presence(presence, "room:1")
        assert list(first) == ["alice"] and list_presence(presence, "room:1") is first
        track(presence, q, "room:2", "bob", {})
        assert list_presence(presence, "room:1") is first    # another topic changed
        track(presence, q, "room:1", "bob", {})
        assert list_presence(presence, "room:1") is first    # bob is in the next diff
        deadline = time.monotonic() + 3
        while list_presence(presence, "room:1") is first:
            assert time.monotonic() < deadline, "the window's diff did not renew the listing"
            gevent.sleep(0.01)
        assert sorted(list_presence(presence, "room:1")) == ["alice", "bob"]
        exit(q, "kill")
        deadline = time.monotonic() + 3
        while list(list_presence(presence, "room:1")) != ["alice"]:
            assert time.monotonic() < deadline, "the cached listing outlived bob"
            gevent.sleep(0.01)
    finally:
        for pid in (p, q):
            exit(pid, "kill")
        gevent.sleep(0.3)


def test_a_zero_window_sends_one_diff_per_change():
    ps = PubSub.start("pd0_ps")
    seen = []
    tr = Tracker.start("pd0_tr", pubsub="pd0_ps", handle_diff=lambda t, j, lv: seen.append(j))
    pids = [spawn(holder) for _ in range(3)]
    try:
        for i, p in enumerate(pids):
            track("pd0_tr", p, "t", f"u{i}", {})
        assert len(seen) == 3
    finally:
        for p in pids:
            exit(p, "kill")
        stop(tr)
        stop(ps)
