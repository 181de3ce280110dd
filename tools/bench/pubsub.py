"""The pubsub suite: local fan-out, subscribe/unsubscribe on one hot topic
at growing sizes, memory per subscription, and cross-node latency through
a real redis-server.

1. **fanout**: ``n`` processes subscribe to one topic and block in
   ``receive``; one ``broadcast`` and the time until the last of them has
   it (each decrements a counter; the last messages the driver); the
   median over ``rounds`` broadcasts to the same processes.  Beside
   it, the same ``n`` subscribed processes reached by ``send`` in a loop
   (the raw process fan-out: the reference) and the deque-mailbox floor of
   the runtime suite, done the same way.  Target: within 1.3x of the raw fan-out.
2. **subscribe** / **unsubscribe** on one hot topic that already has
   ``existing`` subscribers (1k, 100k, 1M), each a real live process
   (spawned, subscribed, parked in ``receive``; the garbage collector is
   paused while they are built, then one full collection runs before
   anything is timed).  ``probes`` more processes then, ``rounds`` times,
   each subscribe (every probe times its own ``subscribe`` call) and each
   unsubscribe, so the topic stays between ``existing`` and ``existing +
   probes``.  Value: the median over rounds of the mean time per call (the
   rate is its inverse); beside it the round's wall time per call including
   waking each probe, and what building the subscribers took.  The row at
   1k is the reference: ratio = us(N) / us(1k) = rate(1k) / rate(N), so
   "rate at 1M within 1.2x of the rate at 1k" is a ratio <= 1.2.  1M live
   processes take about 7.3 GiB and 20 s to build here (2 cores).
3. **memory**: ``n`` live processes (their mailboxes already used once)
   each subscribe once to one topic; RSS after - RSS before, over ``n``.
   The floor: one dict entry ``{pid: None}`` per subscriber, the least a
   topic table can hold.
4. **redis**: two node OS processes over a redis-server this benchmark
   starts on a free loopback port; one broadcasts timestamped messages, one
   at a time, the other receives them (see :mod:`tools.bench._redis_nodes`).
   Value: one-way p50 in us; p99 and the round-trip p50 beside it.  Floors:
   raw redis-py PUBLISH/SUBSCRIBE between two processes, with and without
   gevent.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import uuid
from functools import partial

import gevent

from beamish import receive, send, spawn
from beamish import self as self_pid
from beamish.pubsub import PubSub, broadcast, shard_stats, subscribe, unsubscribe

from tools.harness import HarnessError, LineProc, RedisServer, percentiles

from . import runtime
from ._floors import deque_fanout, now, rss, settle
from ._report import HIGHER, LOWER, Bench, Sample, System, suite
from ._runner import child_main

TARGETS = {"fanout": 1 / 1.3, "subscribe": 1.2}   # ratios to the reference row
PS = "bench"
TOPIC = "room:hot"
POOL_SIZE = 1           # PubSub's default, as Phoenix's


def _start() -> None:
    self_pid()
    PubSub.start_link(PS, pool_size=POOL_SIZE)


# --------------------------------------------------------------- fan-out
def _fanout(n: int, rounds: int, via_pubsub: bool) -> float:
    """The runtime suite's fan-out to ``n`` subscribed processes."""
    _start()
    return runtime.beamish_fanout(n, rounds, setup=partial(subscribe, PS, TOPIC),
                                  publish=partial(broadcast, PS, TOPIC) if via_pubsub else None)


FANOUT = {"beamish": partial(_fanout, via_pubsub=True),
                  "raw": partial(_fanout, via_pubsub=False), "deque": deque_fanout}


# ------------------------------------------------- subscribe / unsubscribe
def _build_subscribers(n: int) -> float:
    """``n`` live processes subscribed to TOPIC and parked; returns seconds."""
    started = [0]

    def subscriber():
        subscribe(PS, TOPIC)
        started[0] += 1
        receive()
    t0 = now()
    gc.disable()
    try:
        sp = spawn
        for i in range(n):
            sp(subscriber)
            if i % 10_000 == 9_999:
                gevent.sleep(0)      # let them run: fewer ready at once
        settle(started, n)
    finally:
        gc.enable()
    gc.collect()
    return now() - t0


def sub_unsub(existing: int, probes: int, rounds: int) -> Sample:
    """Subscribe and unsubscribe timings on a topic of ``existing``."""
    _start()
    driver = self_pid()
    setup = _build_subscribers(existing)
    spent = [0.0]
    left = [0]

    def probe():
        recv, clock, ps, topic = receive, now, PS, TOPIC
        while True:
            cmd = recv()
            if cmd == "sub":
                t = clock()
                subscribe(ps, topic)
                spent[0] += clock() - t
            elif cmd == "unsub":
                t = clock()
                unsubscribe(ps, topic)
                spent[0] += clock() - t
            left[0] -= 1
            if not left[0]:
                send(driver, "round")
    pids = [spawn(probe) for _ in range(probes)]

    def round_(cmd: str) -> tuple:
        spent[0], left[0] = 0.0, probes
        t0 = now()
        for p in pids:
            send(p, cmd)
        receive("round")
        return spent[0] * 1e6 / probes, (now() - t0) * 1e6 / probes
    round_("warm")                   # every probe's mailbox exists; code is warm
    subs, unsubs = [], []
    for _ in range(rounds):
        subs.append(round_("sub"))
        unsubs.append(round_("unsub"))
    assert sum(s["pids"] for s in shard_stats(PS)) == existing   # probes all left
    sub_us = statistics.median(s for s, _ in subs)
    unsub_us = statistics.median(s for s, _ in unsubs)
    return Sample(sub_us, {
        "wall, with wake-up": (statistics.median(w for _, w in subs), "us"),
        "setup: build subscribers": (setup, "s"),
        "setup: RSS": (rss() / 2**30, "GiB"),
        "unsubscribe": (unsub_us, "us"),
        "unsubscribe: wall, with wake-up": (statistics.median(w for _, w in unsubs), "us"),
    })


# ---------------------------------------------------------------- memory
def _idle_processes(n: int, then) -> tuple:
    """``n`` processes that have each received one message (their mailbox
    exists) and wait for a second one, on which they call ``then()``."""
    started = [0]

    def idle():
        receive()
        started[0] += 1
        receive()
        then()
        started[0] += 1
        receive()
    pids = [spawn(idle) for _ in range(n)]
    for p in pids:
        send(p, "warm")
    settle(started, n)
    return pids, started


def beamish_memory(n: int) -> float:
    _start()
    pids, started = _idle_processes(n, partial(subscribe, PS, TOPIC))
    r0 = rss()
    for p in pids:
        send(p, "go")
    settle(started, 2 * n)
    r1 = rss()
    return (r1 - r0) / n


def dict_memory(n: int) -> float:
    _start()
    pids, _ = _idle_processes(n, lambda: None)
    r0 = rss()
    table = {p: None for p in pids}
    r1 = rss()
    assert len(table) == n
    return (r1 - r0) / n


# ------------------------------------------------------------------ redis
def _cross_node(msgs: int, mode: str, warmup: int = 100) -> Sample:
    server = RedisServer().start()
    cmd = [sys.executable, "-m", "tools.bench._redis_nodes"]
    args = [mode, server.url, f"beamish:bench:{uuid.uuid4().hex[:8]}", str(msgs), str(warmup)]
    procs = []
    try:
        procs.append(LineProc(cmd + ["recv"] + args, "redis-recv"))
        procs[0].expect("READY", 60)
        procs.append(LineProc(cmd + ["send"] + args, "redis-send"))
        rtt = json.loads(procs[1].expect("RESULT ", 300)[7:])["rtt"]
        oneway = json.loads(procs[0].expect("RESULT ", 60)[7:])["oneway"]
    finally:
        for p in procs:
            p.stop()
        server.close()
    if len(oneway) != msgs:
        raise HarnessError(f"{len(oneway)} of {msgs} pings arrived")
    ow, rt = percentiles(x * 1e6 for x in oneway), percentiles(x * 1e6 for x in rtt)
    return Sample(ow["p50"], {"p99": (ow["p99"], "us"), "round trip p50": (rt["p50"], "us")},
                  waits=True)


# ------------------------------------------------------------------ suite
SYSTEMS = {
    "beamish": System("beamish", floor=False),
    "raw": System("raw process fan-out (send loop)"),
    "deque": System("deque mailbox"),
    "at_1k": System("beamish, 1k subscribers"),
    "at_mid": System("beamish, 100k (quick: 10k)", floor=False),
    "at_big": System("beamish, 1M (quick: 100k)", floor=False),
    "dict": System("dict entry per subscriber"),
    "redis_gevent": System("redis-py pub/sub, gevent"),
    "redis": System("redis-py pub/sub, blocking"),
}


def _at(size: str, probes: int, rounds: int, mid: int, big: int) -> Sample:
    existing = {"1k": 1_000, "mid": mid, "big": big}[size]
    return sub_unsub(existing, probes, rounds)


SIZES = {f"at_{k}": partial(_at, k) for k in ("1k", "mid", "big")}
HOT = {"probes": 500, "rounds": 200, "mid": 100_000, "big": 1_000_000}
HOT_QUICK = {"probes": 500, "rounds": 40, "mid": 10_000, "big": 100_000}

SUITE = suite(
    "pubsub", "local fan-out, hot-topic subscribe, memory, cross-node latency over Redis",
    SYSTEMS,
    Bench("fanout", "1. broadcast to n subscribers", "deliveries/s", HIGHER, FANOUT,
          ref="raw", params={"n": 100_000, "rounds": 5}, quick_params={"n": 30_000, "rounds": 3},
          target=TARGETS["fanout"], target_ratio=True),
    Bench("subscribe", "2. subscribe, one hot topic", "us/subscribe", LOWER, SIZES,
          ref="at_1k", params=HOT, quick_params=HOT_QUICK,
          target=TARGETS["subscribe"], target_ratio=True),
    Bench("unsubscribe", "2. unsubscribe, one hot topic", "us/unsubscribe", LOWER,
          from_extra=("subscribe", "unsubscribe")),
    Bench("memory", "3. memory per subscription", "bytes/sub", LOWER,
          {"beamish": beamish_memory, "dict": dict_memory},
          ref="dict", params={"n": 100_000}, quick_params={"n": 20_000}),
    Bench("redis", "4. cross-node broadcast via Redis", "us p50", LOWER,
          {m: partial(_cross_node, mode=mode) for m, mode in
           (("beamish", "beamish"), ("redis_gevent", "redis_gevent"), ("redis", "redis"))},
          ref="redis_gevent", params={"msgs": 2000}, quick_params={"msgs": 300}),
)

if __name__ == "__main__":
    child_main(SUITE)
