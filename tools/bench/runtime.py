"""The runtime suite: spawn, idle memory, ping-pong, ring, fan-out and
selective receive, each beside its floors (see :mod:`tools.bench._floors`),
plus a check that the runtime returns to its baseline after 100k processes.

The beamish functions are written the way an application would write them
(public API only); the driver is the main greenlet, which beamish adopts as
a process on its first ``self()``.  Hot loops bind ``send``/``receive`` to
locals, as the floors bind their mailbox methods, so the comparison is of
the runtimes and not of Python's name lookup.
"""
from __future__ import annotations

import statistics

import gevent

from beamish import (GenServer, exit, hibernate, process_count, process_info, receive,
                     registered, send, spawn)
from beamish import self as self_pid

from . import _floors as F
from ._floors import now, rss, settle
from ._report import HIGHER, LOWER, Bench, Check, CheckResult, Sample, System, suite
from ._runner import child_main

TARGETS = {"spawn": 6.0, "memory": 6000.0, "pingpong": 1.6, "ring": 700_000.0,
           "fanout": 150_000.0, "selective": 150.0}


# ----------------------------------------------------------------- spawn
def _spawn_exiting(n: int) -> None:
    """Spawn ``n`` processes that exit at once; return when all have run.
    Each counts down a shared counter and the last one messages the driver."""
    driver = self_pid()
    left = [n]

    def child():
        left[0] -= 1
        if not left[0]:
            send(driver, "all_done")
    sp = spawn
    for _ in range(n):
        sp(child)
    msg = receive()
    assert msg == "all_done", msg


def beamish_spawn(n: int) -> float:
    self_pid()
    t0 = now()
    _spawn_exiting(n)
    return (now() - t0) * 1e6 / n


# ---------------------------------------------------------------- memory
def beamish_memory(n: int) -> Sample:
    self_pid()
    started = [0]

    def idle():
        started[0] += 1
        receive()
    r0 = rss()
    pids = [spawn(idle) for _ in range(n)]
    settle(started, n)
    r1 = rss()
    sample = pids[::max(1, n // 10_000)]   # process_info costs ~30 us; 10k pids is plenty
    estimate = sum(process_info(p).memory for p in sample) / len(sample)
    return Sample((r1 - r0) / n, {"process_info().memory mean": (estimate, "bytes/proc")})


# --------------------------------------------------- hibernated memory
def beamish_hibernated_memory(n: int) -> Sample:
    """Resident memory per idle process that hibernated (``hibernate``: no
    greenlet, no frames; its record, pid and continuation only)."""
    self_pid()
    started = [0]

    def idle():
        started[0] += 1
        hibernate(receive)
    r0 = rss()
    pids = [spawn(idle) for _ in range(n)]
    settle(started, n)
    gevent.sleep(0)
    r1 = rss()
    sample = pids[::max(1, n // 10_000)]
    estimate = sum(process_info(p).memory for p in sample) / len(sample)
    return Sample((r1 - r0) / n, {"process_info().memory mean": (estimate, "bytes/proc")})


class _Idle(GenServer):
    """A GenServer that hibernates as soon as it has nothing to do."""

    hibernate_after = 0.0


def beamish_hibernated_genserver_memory(n: int) -> Sample:
    """Resident memory per idle hibernated GenServer (started unlinked;
    the issue's target: at most 1,500 B; Erlang's idle process: 2.7 KB)."""
    self_pid()
    r0 = rss()
    pids = [_Idle.start() for _ in range(n)]
    while any(process_info(p).status != "hibernating" for p in pids[-100:]):
        gevent.sleep(0.01)
    r1 = rss()
    for p in pids:
        exit(p, "kill")
    gevent.sleep(0.1)
    return Sample((r1 - r0) / n, {})


# ------------------------------------------------------------- ping-pong
def beamish_pingpong(n: int) -> float:
    driver = self_pid()

    def pong():
        recv, snd = receive, send
        while True:
            reply_to = recv()
            if reply_to is None:
                return
            snd(reply_to, "pong")

    def ping(pong_pid):
        me, recv, snd = self_pid(), receive, send
        t0 = now()
        for _ in range(n):
            snd(pong_pid, me)
            recv()
        t1 = now()
        snd(pong_pid, None)
        snd(driver, t1 - t0)
    spawn(ping, spawn(pong))
    return receive() * 1e6 / n


# ------------------------------------------------------------------ ring
def beamish_ring(procs: int, hops: int) -> float:
    driver = self_pid()
    pids: list = []

    def node(i):
        recv, snd, nxt = receive, send, pids[(i + 1) % procs]
        while True:
            h = recv()
            if h >= hops:
                snd(driver, h)
                return
            snd(nxt, h + 1)
    pids.extend(spawn(node, i) for i in range(procs))
    gevent.sleep(0)
    t0 = now()
    send(pids[0], 0)
    receive()
    return hops / (now() - t0)


# --------------------------------------------------------------- fan-out
def beamish_fanout(n: int, rounds: int = 1, setup=None, publish=None) -> float:
    """Median over ``rounds`` of deliveries/s for one message to ``n``
    processes (each runs ``setup()`` first, e.g. subscribes): ``send`` in a
    loop, or one ``publish(msg)``.  The last receiver tells the driver."""
    driver = self_pid()
    started = [0]
    left = [0]

    def receiver():
        if setup is not None:
            setup()
        started[0] += 1
        recv = receive
        for _ in range(rounds):
            recv()
            left[0] -= 1
            if not left[0]:
                send(driver, "all_received")
    pids = [spawn(receiver) for _ in range(n)]
    settle(started, n)
    msg = ("event", "hello")
    snd = send
    rates = []
    for _ in range(rounds):
        left[0] = n
        t0 = now()
        if publish is not None:
            publish(msg)
        else:
            for p in pids:
                snd(p, msg)
        assert receive() == "all_received"
        rates.append(n / (now() - t0))
    return statistics.median(rates)


# ----------------------------------------------------- selective receive
def _fill_own_mailbox(queued: int):
    me = self_pid()
    for i in range(queued):
        send(me, ("other", i))
    return me


def beamish_selective(queued: int, reps: int) -> float:
    me = _fill_own_mailbox(queued)
    t0 = now()
    for k in range(reps):
        send(me, ("target", k))
        receive(("target", k))
    t1 = now()
    assert process_info(me).message_queue_len == queued
    return (t1 - t0) * 1e6 / reps


def beamish_selective_predicate(queued: int, reps: int) -> float:
    me = _fill_own_mailbox(queued)
    t0 = now()
    for k in range(reps):
        send(me, ("target", k))
        receive(lambda m: m[0] == "target" and m[1] == k)
    t1 = now()
    assert process_info(me).message_queue_len == queued
    return (t1 - t0) * 1e6 / reps


# ------------------------------------------------------------------ check
def back_to_baseline(n: int, rounds: int, slack_mb: float, growth_mb: float) -> CheckResult:
    """Spawn ``n`` processes that exit, ``rounds`` times; the process table,
    the name table and RSS must come back (RSS within ``slack_mb`` of the
    baseline, and growing by at most ``growth_mb`` over the later rounds:
    the first round may keep allocator arenas and the greenlet pool)."""
    self_pid()
    gevent.sleep(0)
    count0, names0, r0 = process_count(), sorted(registered()), rss()
    after = []
    for _ in range(rounds):
        _spawn_exiting(n)
        gevent.sleep(0)
        after.append(rss())
    count1, names1 = process_count(), sorted(registered())
    mb = 1 << 20
    delta = (after[-1] - r0) / mb
    growth = (after[-1] - after[0]) / mb
    facts = {"n": n, "rounds": rounds, "process_count_baseline": count0, "process_count_after": count1,
             "registered_baseline": names0, "registered_after": names1,
             "rss_baseline_mb": r0 / mb, "rss_after_rounds_mb": [a / mb for a in after],
             "rss_delta_mb": delta, "rss_growth_after_round1_mb": growth,
             "rss_slack_mb": slack_mb, "rss_growth_limit_mb": growth_mb}
    ok_count, ok_names = count1 == count0, names1 == names0
    ok_rss = delta <= slack_mb and growth <= growth_mb
    lines = (
        f"{rounds} x {n:,} processes spawned and exited",
        f"process_count(): baseline {count0}, after {count1}  [{'ok' if ok_count else 'LEAK'}]",
        f"registered():    baseline {names0}, after {names1}  [{'ok' if ok_names else 'CHANGED'}]",
        f"RSS: baseline {r0 / mb:.1f} MB, after each round "
        + ", ".join(f"{a / mb:.1f}" for a in after)
        + f" MB; delta {delta:+.1f} MB (limit {slack_mb:g}), growth after round 1 {growth:+.1f} MB"
        f" (limit {growth_mb:g})  [{'ok' if ok_rss else 'TOO HIGH'}]",
    )
    return CheckResult(ok_count and ok_names and ok_rss, facts, lines)


# ------------------------------------------------------------------ suite
SYSTEMS = {
    "beamish": System("beamish", floor=False),
    "beamish_pred": System("beamish, predicate", floor=False),
    "beamish_hib": System("beamish, hibernated", floor=False),
    "genserver_hib": System("GenServer, hibernated", floor=False),
    "greenlet": System("raw greenlet"),
    "deque": System("deque mailbox"),
    "gqueue": System("gevent Queue"),
}

SUITE = suite(
    "runtime", "processes, mailboxes and receive vs their gevent floors", SYSTEMS,
    Bench("spawn", "1. spawn+exit", "us/proc", LOWER,
          {"beamish": beamish_spawn, "greenlet": F.greenlet_spawn, "deque": F.deque_spawn},
          ref="deque", params={"n": 100_000}, quick_params={"n": 30_000},
          target=TARGETS["spawn"]),
    Bench("memory", "2. idle memory", "bytes/proc", LOWER,
          {"beamish": beamish_memory, "beamish_hib": beamish_hibernated_memory,
           "genserver_hib": beamish_hibernated_genserver_memory,
           "greenlet": F.greenlet_memory, "deque": F.deque_memory},
          ref="deque", params={"n": 100_000}, quick_params={"n": 20_000},
          target=TARGETS["memory"]),
    Bench("pingpong", "3. ping-pong", "us/roundtrip", LOWER,
          {"beamish": beamish_pingpong, "greenlet": F.greenlet_pingpong,
           "deque": F.deque_pingpong, "gqueue": F.gqueue_pingpong},
          ref="deque", params={"n": 200_000}, quick_params={"n": 50_000},
          target=TARGETS["pingpong"]),
    Bench("ring", "4. ring", "hops/s", HIGHER,
          {"beamish": beamish_ring, "deque": F.deque_ring, "gqueue": F.gqueue_ring},
          ref="deque", params={"procs": 10_000, "hops": 1_000_000},
          quick_params={"procs": 2_000, "hops": 300_000}, target=TARGETS["ring"]),
    Bench("fanout", "5. fan-out", "deliveries/s", HIGHER,
          {"beamish": beamish_fanout, "deque": F.deque_fanout, "gqueue": F.gqueue_fanout},
          ref="deque", params={"n": 100_000}, quick_params={"n": 30_000},
          target=TARGETS["fanout"]),
    Bench("selective", "6. selective receive", "us/receive", LOWER,
          {"beamish": beamish_selective, "beamish_pred": beamish_selective_predicate,
           "deque": F.deque_selective, "gqueue": F.gqueue_selective},
          ref="deque", params={"queued": 10_000, "reps": 200},
          quick_params={"queued": 10_000, "reps": 100}, target=TARGETS["selective"]),
    checks=(Check("baseline", "7. back to baseline after spawn+exit", back_to_baseline,
                  params={"n": 100_000, "rounds": 2, "slack_mb": 32.0, "growth_mb": 4.0},
                  quick_params={"n": 30_000, "rounds": 2, "slack_mb": 32.0, "growth_mb": 4.0}),),
)

if __name__ == "__main__":
    child_main(SUITE)
