"""The floors beamish is measured against: the same benchmarks, done with
the least machinery gevent allows.

* raw greenlet: ``greenlet.switch`` between greenlets, no hub, no mailbox.
  The physical floor where a benchmark has an equivalent (spawn, memory,
  ping-pong).
* deque mailbox (:class:`Mailbox`): ``gevent.spawn_raw`` plus a deque and
  one parked greenlet woken through the hub's callback queue.  It is the
  smallest thing that is still a mailbox with gevent scheduling, so it is
  the reference floor for beamish's ratios.
* gevent Queue: ``gevent.spawn`` plus a ``gevent.queue.Queue`` per process,
  what an application gets from gevent off the shelf.

Every function takes the benchmark's parameters as keywords and returns
its value in the benchmark's unit.  The OTP and PubSub suites reuse them
(ping-pong, fan-out) and :class:`Mailbox` for their own floors.
"""
from __future__ import annotations

import gc
import statistics
import time
from collections import deque
from itertools import islice

import gevent
import gevent.queue
import psutil
from gevent import get_hub, spawn_raw
from greenlet import getcurrent, greenlet

__all__ = ["Mailbox", "rss", "now", "settle"]

now = time.perf_counter
_hub = get_hub()
_run_callback = _hub.loop.run_callback
_hub_switch = _hub.switch
_me = psutil.Process()


def rss() -> int:
    """Resident set size in bytes, after a full collection."""
    gc.collect()
    return _me.memory_info().rss


class Mailbox:
    """A deque and at most one parked receiver.

    The sender never blocks or switches: it appends and, if the receiver is
    parked, queues its wake-up on the hub (the mechanism gevent's own Queue
    and Event use, without their bookkeeping).
    """

    __slots__ = ("q", "waiter")

    def __init__(self) -> None:
        self.q: deque = deque()
        self.waiter = None

    def send(self, msg) -> None:
        self.q.append(msg)
        w = self.waiter
        if w is not None:
            self.waiter = None
            _run_callback(w.switch)

    def receive(self):
        q = self.q
        while not q:
            self.waiter = getcurrent()
            _hub_switch()
        return q.popleft()

    def receive_if(self, pred):
        """Selective receive: remove and return the first message ``pred``
        accepts, scanning in place; messages already rejected are not
        looked at again after a wake-up."""
        q = self.q
        seen = 0
        while True:
            for i, m in enumerate(islice(q, seen, None), seen):
                if pred(m):
                    del q[i]
                    return m
            seen = len(q)
            self.waiter = getcurrent()
            _hub_switch()


def settle(started: list, n: int) -> None:
    """Yield to the hub until ``n`` spawned greenlets have started."""
    while started[0] < n:
        gevent.sleep(0)


# ----------------------------------------------------------------- spawn
def greenlet_spawn(n: int) -> float:
    left = [n]

    def child():
        left[0] -= 1
    t0 = now()
    for _ in range(n):
        greenlet(child).switch()
    t1 = now()
    assert left[0] == 0
    return (t1 - t0) * 1e6 / n


def deque_spawn(n: int) -> float:
    parent = Mailbox()
    left = [n]

    def child():
        left[0] -= 1
        if not left[0]:
            parent.send("all_done")
    t0 = now()
    for _ in range(n):
        spawn_raw(child)
    parent.receive()
    t1 = now()
    return (t1 - t0) * 1e6 / n


# ---------------------------------------------------------------- memory
def greenlet_memory(n: int) -> float:
    main = getcurrent()
    started = [0]

    def child():
        started[0] += 1
        main.switch()
    r0 = rss()
    parked = []
    for _ in range(n):
        g = greenlet(child)
        g.switch()
        parked.append(g)
    r1 = rss()
    assert started[0] == n
    return (r1 - r0) / n


def deque_memory(n: int) -> float:
    started = [0]

    def child(mb):
        started[0] += 1
        mb.receive()
    r0 = rss()
    parked = []
    for _ in range(n):
        mb = Mailbox()
        parked.append((spawn_raw(child, mb), mb))
    settle(started, n)
    r1 = rss()
    return (r1 - r0) / n


# ------------------------------------------------------------- ping-pong
def greenlet_pingpong(n: int) -> float:
    def pong(_):
        while True:
            ping_g.switch(None)

    def ping():
        for _ in range(n):
            pong_g.switch(None)
    pong_g = greenlet(pong)
    ping_g = greenlet(ping)
    t0 = now()
    ping_g.switch()
    return (now() - t0) * 1e6 / n


def _pingpong(n: int, box, put, get, spawn) -> float:
    """Ping-pong through mailboxes; ping times itself and reports."""
    ping_box, pong_box, result = box(), box(), box()

    def pong():
        recv = get(pong_box)
        while True:
            reply_to = recv()
            if reply_to is None:
                return
            put(reply_to)("pong")

    def ping():
        send, recv = put(pong_box), get(ping_box)
        t0 = now()
        for _ in range(n):
            send(ping_box)
            recv()
        t1 = now()
        send(None)
        put(result)(t1 - t0)
    spawn(pong)
    spawn(ping)
    return get(result)() * 1e6 / n


def _ring(procs: int, hops: int, box, put, get, spawn) -> float:
    boxes = [box() for _ in range(procs)]
    done = box()

    def node(i):
        recv, forward = get(boxes[i]), put(boxes[(i + 1) % procs])
        while True:
            h = recv()
            if h >= hops:
                put(done)(h)
                return
            forward(h + 1)
    for i in range(procs):
        spawn(node, i)
    gevent.sleep(0)
    t0 = now()
    put(boxes[0])(0)
    get(done)()
    return hops / (now() - t0)


def _fanout(n: int, rounds: int, box, put, get, spawn) -> float:
    """Median over ``rounds`` of deliveries/s for one message to ``n``
    mailboxes, each with a receiver that counts down the shared total."""
    done = box()
    started = [0]
    left = [0]

    def receiver(b):
        started[0] += 1
        recv = get(b)
        for _ in range(rounds):
            recv()
            left[0] -= 1
            if not left[0]:
                put(done)("all_received")
    boxes = [box() for _ in range(n)]
    for b in boxes:
        spawn(receiver, b)
    settle(started, n)
    msg = ("event", "hello")
    rates = []
    for _ in range(rounds):
        left[0] = n
        t0 = now()
        for b in boxes:
            put(b)(msg)
        get(done)()
        rates.append(n / (now() - t0))
    return statistics.median(rates)


def _mb_put(b: Mailbox):
    return b.send


def _mb_get(b: Mailbox):
    return b.receive


def _q_put(q):
    return q.put


def _q_get(q):
    return q.get


def deque_pingpong(n: int) -> float:
    return _pingpong(n, Mailbox, _mb_put, _mb_get, spawn_raw)


def gqueue_pingpong(n: int) -> float:
    return _pingpong(n, gevent.queue.Queue, _q_put, _q_get, gevent.spawn)


def deque_ring(procs: int, hops: int) -> float:
    return _ring(procs, hops, Mailbox, _mb_put, _mb_get, spawn_raw)


def gqueue_ring(procs: int, hops: int) -> float:
    return _ring(procs, hops, gevent.queue.Queue, _q_put, _q_get, gevent.spawn)


def deque_fanout(n: int, rounds: int = 1) -> float:
    return _fanout(n, rounds, Mailbox, _mb_put, _mb_get, spawn_raw)


def gqueue_fanout(n: int, rounds: int = 1) -> float:
    return _fanout(n, rounds, gevent.queue.Queue, _q_put, _q_get, gevent.spawn)


# ----------------------------------------------------- selective receive
def deque_selective(queued: int, reps: int) -> float:
    mb = Mailbox()
    for i in range(queued):
        mb.send(("other", i))
    t0 = now()
    for k in range(reps):
        mb.send(("target", k))
        mb.receive_if(lambda m: m[0] == "target" and m[1] == k)
    t1 = now()
    assert len(mb.q) == queued
    return (t1 - t0) * 1e6 / reps


def gqueue_selective(queued: int, reps: int) -> float:
    """A Queue cannot be searched in place: the receiver drains it into a
    save list until a message matches.  The refill that restores the queue
    for the next rep is not timed."""
    q = gevent.queue.Queue()
    for i in range(queued):
        q.put(("other", i))
    total = 0.0
    for k in range(reps):
        t0 = now()
        q.put(("target", k))
        saved = []
        get = q.get_nowait
        while True:
            m = get()
            if m[0] == "target" and m[1] == k:
                break
            saved.append(m)
        total += now() - t0
        assert len(saved) == queued and q.empty()
        for m in saved:
            q.put(m)
    return total * 1e6 / reps
