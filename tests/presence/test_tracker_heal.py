"""Healing within two periods, on the in-memory cluster: a healed
partition converges within two heartbeat periods, and a node whose whole
OS process was paused past the down period does not mark its peers down."""
import time

import gevent
import gevent.monkey
import pytest

from beamish import exit, spawn
from beamish.presence import replicas, track
from beamish.pubsub import MemoryCluster
from beamish.testing import eventually

from tests.presence.test_tracker import Node, holder

PERIOD = 0.2
# a long silence between empty heartbeats: healing must not wait for one
OPTS = dict(broadcast_period=PERIOD, max_silent_periods=5, down_period=12 * PERIOD,
            permdown_period=30.0, clock_sample_periods=3, cluster_name="heal")


@pytest.fixture
def cluster():
    c = MemoryCluster()
    c.objects = [Node(c, f"h{i}", **OPTS) for i in range(3)]
    yield c
    for n in c.objects:
        n.stop()


def test_a_healed_partition_converges_within_two_periods(cluster):
    a, b, c = cluster.objects
    pids = [spawn(holder) for _ in range(3)]
    for i, n in enumerate((a, b, c)):
        track(n.tracker, pids[i], "room", f"u{i}", {"n": i})
    everyone = [("u0", 0), ("u1", 1), ("u2", 2)]
    eventually(lambda: all(n.list("room") == everyone for n in (a, b, c)))
    cluster.partition(["h0"], ["h1", "h2"])
    eventually(lambda: a.list("room") == [("u0", 0)] and c.list("room") == [("u1", 1), ("u2", 2)],
               timeout=10 * OPTS["down_period"])
    late = [spawn(holder) for _ in range(2)]
    track(a.tracker, late[0], "room", "late_a", {"n": 10})   # changes on both sides
    track(c.tracker, late[1], "room", "late_c", {"n": 12})
    gevent.sleep(3 * PERIOD)
    want = sorted(everyone + [("late_a", 10), ("late_c", 12)])
    cluster.heal()
    t0 = time.monotonic()
    eventually(lambda: all(n.list("room") == want for n in (a, b, c)), timeout=20 * PERIOD,
               interval=0.005)
    took = time.monotonic() - t0
    assert took < 2 * PERIOD, f"healed in {took / PERIOD:.2f} periods"
    for p in pids + late:
        exit(p, "kill")


def test_a_paused_node_does_not_mark_its_peers_down(cluster):
    a, b, c = cluster.objects
    pids = [spawn(holder) for _ in range(3)]
    for i, n in enumerate((a, b, c)):
        track(n.tracker, pids[i], "room", f"u{i}", {"n": i})
    everyone = [("u0", 0), ("u1", 1), ("u2", 2)]
    eventually(lambda: all(n.list("room") == everyone for n in (a, b, c)))
    eventually(lambda: all(set(replicas(n.tracker).values()) == {"up"} for n in (a, b, c)))
    for n in (a, b, c):
        n.diffs.clear()
    block = gevent.monkey.get_original("time", "sleep")   # not gevent's: nothing else runs
    block(1.5 * OPTS["down_period"])      # as if the whole OS process were stopped
    gevent.sleep(4 * PERIOD)              # the overdue ticks run, then a few more
    for n in (a, b, c):
        assert [d for d in n.diffs if d[2]] == [], f"{n.name} reported leaves after a pause"
        assert set(replicas(n.tracker).values()) == {"up"}
        assert n.list("room") == everyone
    for p in pids:
        exit(p, "kill")
