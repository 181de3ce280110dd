"""The tracker at room scale: with real shard processes over the in-memory
cluster, a 100k-entry transfer merges without stalling the node; and a
presence costs well under 1 KB of state, tracked here or merged from a
peer through the wire codec."""
import gc
import time
import tracemalloc

import gevent
import pytest

from beamish import ANY, receive, send, self, spawn, stop
from beamish.core._codec import encode, decode
from beamish.presence import Tracker, list_tracked as tracker_list
from beamish.presence.crdt import (State, extract, join, merge, new_replica, replica_up,
                                   reset_delta)
from beamish.presence._tracker import _trackers
from beamish.pubsub import MemoryAdapter, MemoryCluster, PubSub

pytestmark = pytest.mark.timeout(60)


def ticker(parent):
    """Sleeps 1 ms at a time until told to stop; reports its longest gap."""
    worst, last = 0.0, time.monotonic()
    while receive("stop", timeout=0.001, default=None) is None:
        now = time.monotonic()
        worst, last = max(worst, now - last), now
    send(parent, ("worst", worst))


def test_a_100k_entry_transfer_merges_without_stalling_the_node():
    cluster = MemoryCluster()
    ps = PubSub.start("big_ps", adapter=MemoryAdapter(cluster, "n0"))
    diffs, tr = [], None
    try:
        tr = Tracker.start("big_tr", pubsub="big_ps", cluster_name="big", diff_window=0.025,
                           handle_diff=lambda t, j, lv: diffs.append(len(j)))
        # A peer's full state: 100k presences in one room, built outside the timing.
        peer = State(new_replica("peer"))
        for i in range(100_000):
            join(peer, i, "room:big", f"u{i}", {"phx_ref": f"r{i}"})
        shard = _trackers["big_tr"]["shards"][0]
        replica = peer.replica
        payload = extract(peer, shard.state.replica, {replica: 0, shard.state.replica: 0})
        del peer
        # The payload's 100k entries (shared with the state once merged) stay
        # out of full garbage collections, whose pauses grow with the heap
        # and are not the merge's doing: this times the shard's own work.
        gc.collect()
        gc.freeze()
        tick = spawn(ticker, self())
        gevent.sleep(0.05)
        send(shard._pid, ("transfer_ack", None, replica, payload))
        deadline = time.monotonic() + 30
        while sum(diffs) < 100_000 and time.monotonic() < deadline:
            gevent.sleep(0.01)
        send(tick, "stop")
        _, worst = receive(("worst", ANY), timeout=5)
        assert len(tracker_list("big_tr", "room:big")) == 100_000
        assert worst < 0.1, f"the node stalled {worst * 1000:.0f} ms"
    finally:
        gc.unfreeze()
        if tr is not None:
            stop(tr)
        stop(ps)


def bytes_per_presence(build, n):
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del kept
    return used / n


def test_a_presence_costs_well_under_a_kilobyte_of_state():
    n = 5000
    pids = [object() for _ in range(n)]    # the processes exist anyway: not counted
    meta = {"status": "online", "phx_ref": "GBMvY2hI0Ko2SABC"}

    def local():
        s = State(new_replica("a@host"))
        for i, pid in enumerate(pids):
            join(s, pid, "".join(["room:", "lobby"]), f"user{i}", meta)  # a topic string each
        reset_delta(s)
        return s

    a = State(new_replica("a@host"))
    for i in range(n):
        join(a, i, "room:lobby", f"user{i}", meta)
    wire = encode(reset_delta(a)[1])

    def remote():
        b = State(new_replica("b@host"))
        replica_up(b, a.replica)
        merge(b, decode(wire))          # fresh copies of everything, as from Redis
        return b

    assert bytes_per_presence(local, n) < 700
    assert bytes_per_presence(remote, n) < 700
