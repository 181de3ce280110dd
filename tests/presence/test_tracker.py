"""Fast cluster tests: several tracker nodes in one OS process over the
in-memory adapter, with partitions cut and healed on demand."""

import gevent
import pytest

from beamish import exit, receive, self, send, spawn, stop, unlink
from beamish.presence import (AlreadyTracked, NoPresence, Tracker, purge, replicas, track,
                              untrack)
from beamish.presence import list_tracked as tracker_list, update as update_presence
from beamish.pubsub import MemoryAdapter, MemoryCluster, PubSub
from beamish.testing import eventually

PERIOD = 0.05
OPTS = dict(broadcast_period=PERIOD, max_silent_periods=2, down_period=0.3,
            permdown_period=1.0, clock_sample_periods=2, cluster_name="test")


class Node:
    def __init__(self, cluster, name, diffs=None, **opts):
        self.name = name
        self.ps = f"ps_{name}"
        self.tracker = f"tr_{name}"
        self.diffs = diffs if diffs is not None else []
        self.ps_pid = PubSub.start(self.ps, adapter=MemoryAdapter(cluster, name))
        self.tr_pid = Tracker.start(self.tracker, pubsub=self.ps,
                                    handle_diff=lambda t, j, l: self.diffs.append((t, j, l)),
                                    **{**OPTS, **opts})

    def list(self, topic):
        return sorted((k, m.get("n")) for k, m in tracker_list(self.tracker, topic))

    def stop(self):
        stop(self.tr_pid)
        stop(self.ps_pid)


def holder():
    receive("never")


@pytest.fixture
def cluster():
    c = MemoryCluster()
    nodes = [Node(c, f"n{i}") for i in range(3)]
    c.objects = nodes
    yield c
    for n in nodes:
        if n.tr_pid is not None:
            n.stop()


def test_presences_replicate_to_every_node(cluster):
    a, b, c = cluster.objects
    p1, p2 = spawn(holder), spawn(holder)
    track(a.tracker, p1, "room", "alice", {"n": 1})
    track(b.tracker, p2, "room", "bob", {"n": 2})
    want = [("alice", 1), ("bob", 2)]
    eventually(lambda: all(n.list("room") == want for n in (a, b, c)))
    exit(p1, "kill")
    eventually(lambda: all(n.list("room") == [("bob", 2)] for n in (a, b, c)))
    exit(p2, "kill")
    eventually(lambda: all(n.list("room") == [] for n in (a, b, c)))


def test_track_twice_raises_update_needs_a_presence_and_untrack_is_harmless(cluster):
    a = cluster.objects[0]
    p = spawn(holder)
    ref = track(a.tracker, p, "t", "k", {"n": 1})
    with pytest.raises(AlreadyTracked):
        track(a.tracker, p, "t", "k", {})
    new_ref = update_presence(a.tracker, p, "t", "k", lambda m: {**m, "n": 2})
    from beamish.presence import get_by_key as tracker_get_by_key
    [(pid, meta)] = tracker_get_by_key(a.tracker, "t", "k")
    assert meta["n"] == 2 and meta["phx_ref"] == new_ref and meta["phx_ref_prev"] == ref
    with pytest.raises(NoPresence):
        update_presence(a.tracker, p, "t", "other", {})
    untrack(a.tracker, p, "t", "nothing")
    untrack(a.tracker, p)
    assert a.list("t") == []
    exit(p, "kill")


def test_a_silent_node_goes_down_and_comes_back_up_with_the_same_incarnation(cluster):
    a, b, c = cluster.objects
    p = spawn(holder)
    track(c.tracker, p, "room", "carol", {"n": 3})
    eventually(lambda: a.list("room") == [("carol", 3)])
    cluster.isolate("n2")
    eventually(lambda: a.list("room") == [] and b.list("room") == [], timeout=2)
    assert replicas(a.tracker) == {"n1": "up", "n2": "down"}
    cluster.heal()
    eventually(lambda: a.list("room") == [("carol", 3)] and b.list("room") == [("carol", 3)])
    exit(p, "kill")


def test_permdown_forgets_a_node_and_its_presences(cluster):
    a, b, c = cluster.objects
    p = spawn(holder)
    track(c.tracker, p, "room", "carol", {"n": 3})
    eventually(lambda: a.list("room") == [("carol", 3)])
    cluster.isolate("n2")
    eventually(lambda: "n2" not in replicas(a.tracker), timeout=3)
    assert a.list("room") == []
    exit(p, "kill")


def test_a_restarted_node_is_a_new_incarnation(cluster):
    a, b, c = cluster.objects
    p = spawn(holder)
    track(c.tracker, p, "room", "carol", {"n": 3})
    eventually(lambda: a.list("room") == [("carol", 3)])
    exit(p, "kill")
    unlink_all = c.tr_pid
    stop(c.tr_pid)
    c.tr_pid = Tracker.start(c.tracker, pubsub=c.ps, **OPTS)
    p2 = spawn(holder)
    track(c.tracker, p2, "room", "carol", {"n": 33})
    eventually(lambda: a.list("room") == [("carol", 33)] and b.list("room") == [("carol", 33)])
    exit(p2, "kill")
    assert unlink_all


def test_a_healed_partition_converges_both_sides(cluster):
    a, b, c = cluster.objects
    cluster.partition(["n0"], ["n1", "n2"])
    pa, pb = spawn(holder), spawn(holder)
    track(a.tracker, pa, "room", "a", {"n": 1})
    track(b.tracker, pb, "room", "b", {"n": 2})
    gevent.sleep(0.1)
    assert c.list("room") == [("b", 2)] and a.list("room") == [("a", 1)]
    cluster.heal()
    want = [("a", 1), ("b", 2)]
    eventually(lambda: all(n.list("room") == want for n in (a, b, c)))
    for p in (pa, pb):
        exit(p, "kill")


def test_diffs_add_up_to_the_list(cluster):
    a, b, c = cluster.objects
    pids = [spawn(holder) for _ in range(20)]
    for i, p in enumerate(pids):
        track([a, b, c][i % 3].tracker, p, "room", f"u{i % 7}", {"n": i})
    for p in pids[::2]:
        exit(p, "kill")
    eventually(lambda: len(c.list("room")) == 10 and len(a.list("room")) == 10)
    gevent.sleep(0.2)
    for n in (a, b, c):
        seen = {}
        for topic, joins, leaves in n.diffs:
            for k, m in joins:
                seen[m["phx_ref"]] = (k, m["n"])
            for k, m in leaves:
                seen.pop(m["phx_ref"], None)
        assert sorted(seen.values()) == n.list("room")
    for p in pids[1::2]:
        exit(p, "kill")


def test_purge_removes_a_zombie_node_by_hand(cluster):
    a, b, c = cluster.objects
    p = spawn(holder)
    track(c.tracker, p, "room", "zombie", {"n": 0})
    eventually(lambda: a.list("room") == [("zombie", 0)])
    assert purge(a.tracker, "n2") == 1
    assert a.list("room") == []
    exit(p, "kill")
