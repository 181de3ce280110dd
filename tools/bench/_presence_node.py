"""A presence node for the presence suite, driven by lines on stdin.

``beamish run tools.bench._presence_node --redis URL --name NAME
[--period S] [--down S] [--permdown S] [--silent N] [--pool N]``

A PubSub on the Redis adapter and a :class:`~beamish.presence.Tracker`
(what Presence is built on, without the ``presence_diff`` broadcasts: this
node has no channel to send them to).  Its ``handle_diff`` keeps, as the
tracker reports them, the number of visible presences, an
order-independent digest of them (a sum of 64-bit hashes of (topic, key,
phx_ref): ``hash()`` when ``PYTHONHASHSEED=0`` makes it agree between
nodes, else blake2b) and the ``CLOCK_MONOTONIC`` time of the last change; the clock
is system-wide, so the driver compares these times across nodes.  So
"every node lists the same presences since time t" is read off the nodes
after the fact, with no polling delay in it.

Commands (one answer line each):

  spawn N              N idle holder processes        -> spawned N
  track PREFIX TOPICS  track every untracked holder under key PREFIX<i> in
                       topic room:<i % TOPICS>        -> tracked N T0 T1
  untrack K            untrack the first K tracked    -> untracked K
  peers                peers marked up                -> peers N
  status               count, digest, last change     -> status N DIGEST T
  full TOPICS          count and digest recomputed from the tracker's lists
                                                      -> full N DIGEST
  rss                  RSS after a full collection    -> rss BYTES
(:func:`tools.harness.console.serve`).
Prints ``ready`` once subscribed to Redis.
"""
import hashlib
import os
import sys
import time

import gevent

from beamish import ChildSpec, receive, spawn, spawn_link
from beamish.presence import Tracker, replicas, track, untrack
from beamish.presence import list_tracked as tracker_list
from beamish.pubsub import PubSub, RedisAdapter

from tools.harness.console import out, serve

PUBSUB, TRACKER = "bench", "presence"
_MASK = (1 << 64) - 1

_seen = {"count": 0, "digest": 0, "t": 0.0}
_adapter = None
_trace = False


def add_arguments(parser):
    parser.add_argument("--redis", required=True)
    parser.add_argument("--period", type=float, default=0.5, help="broadcast_period (s)")
    parser.add_argument("--down", type=float, default=3.0, help="down_period (s)")
    parser.add_argument("--permdown", type=float, default=120.0, help="permdown_period (s)")
    parser.add_argument("--silent", type=int, default=3, help="max_silent_periods")
    parser.add_argument("--pool", type=int, default=1, help="tracker pool_size")
    parser.add_argument("--trace", action="store_true",
                        help="log every reported diff (time, joins, leaves) to stderr")


def _h(topic, key, meta) -> int:
    raw = f"{topic}\0{key}\0{meta.get('phx_ref')}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


if os.environ.get("PYTHONHASHSEED") == "0":
    # str hashes are the same in every node started so (the suite does):
    # hash() is ~5x cheaper than blake2b, and this runs in the shard
    def _h(topic, key, meta) -> int:  # noqa: F811
        return hash((topic, key, meta.get("phx_ref"))) & _MASK


def handle_diff(topic, joins, leaves):
    """Runs in the tracker shard for every change it reports."""
    d = _seen["digest"]
    for key, meta in joins:
        d += _h(topic, key, meta)
    for key, meta in leaves:
        d -= _h(topic, key, meta)
    _seen["digest"] = d & _MASK
    _seen["count"] += len(joins) - len(leaves)
    _seen["t"] = time.monotonic()
    if _trace:
        sys.stderr.write(f"diff {_seen['t']:.4f} {topic} +{len(joins)} -{len(leaves)} "
                         f"={_seen['count']}\n")


def _holder():
    receive("never")


def console():
    while not _adapter.connected:
        gevent.sleep(0.01)
    out("ready")
    holders, tracked = [], []     # pids; (pid, topic, key) tracked
    untracked = [0]               # holders[untracked:] were never tracked
    meta = {"online_at": int(time.time()), "device": "web"}

    def spawn_(n):
        for _ in range(int(n)):
            holders.append(spawn(_holder))
            if len(holders) % 1000 == 0:
                gevent.sleep(0)
        return f"spawned {len(holders)}"

    def track_(prefix, topics):
        t0, n0 = time.monotonic(), untracked[0]
        for i, pid in enumerate(holders[n0:], n0):
            topic, key = f"room:{i % int(topics)}", f"{prefix}{i}"
            track(TRACKER, pid, topic, key, meta)
            tracked.append((pid, topic, key))
        untracked[0] = len(holders)
        return f"tracked {untracked[0] - n0} {t0!r} {time.monotonic()!r}"

    def untrack_(k):
        k = int(k)
        for pid, topic, key in tracked[:k]:
            untrack(TRACKER, pid, topic, key)
        del tracked[:k]
        return f"untracked {k}"

    def full(topics):
        n = d = 0
        for t in range(int(topics)):
            topic = f"room:{t}"
            for key, m in tracker_list(TRACKER, topic):
                n += 1
                d += _h(topic, key, m)
            gevent.sleep(0)   # never hold the hub for long: peers would think us down
        return f"full {n} {d & _MASK}"
    serve({"spawn": spawn_, "track": track_, "untrack": untrack_, "full": full,
           "peers": lambda: f"peers {sum(1 for s in replicas(TRACKER).values() if s == 'up')}",
           "status": lambda: f"status {_seen['count']} {_seen['digest']} {_seen['t']!r}"})


def children(config):
    global _adapter, _trace
    _adapter = RedisAdapter(config.redis)
    _trace = config.trace
    return [PubSub.child_spec(PUBSUB, adapter=_adapter),
            Tracker.child_spec(TRACKER, pubsub=PUBSUB, pool_size=config.pool,
                               broadcast_period=config.period, down_period=config.down,
                               permdown_period=config.permdown,
                               max_silent_periods=config.silent, handle_diff=handle_diff),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
