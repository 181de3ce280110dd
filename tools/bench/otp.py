"""The OTP suite: GenServer call and cast, and supervisor restarts, each
beside the raw process doing the same with ``send``/``receive``.

1. **call**: ``call(server, "ping")`` round trips from a client process to
   a GenServer that replies with the request; beside it the runtime
   suite's raw ping-pong (two beamish processes, ``send``/``receive``: the
   reference) and the deque-mailbox floor.  Target: 3.6 us a call, three
   times Erlang's gen_server:call on this machine (1.2 us).  ``call`` is measured with its default ``timeout=5``
   (every call arms a receive timer) and with ``timeout=None``.
2. **cast**: ``n`` casts from a client process, then one call to wait until
   the server has handled them all; beside it ``n`` raw sends to a process
   that receives them, then one ping, and the same on deque mailboxes.
3. **restart**: a one_for_one Supervisor (intensity high enough never to
   give up) with one GenServer child started under a registered name.  The
   driver crashes the child (``exit(pid, "kill")``, or a cast that makes
   ``handle_cast`` raise) and waits for the new child's ``init`` to end; the
   latency runs from just before the crash to the end of that ``init``
   (the name is registered before ``init`` runs).  After each restart the
   driver waits (untimed) until the supervisor is idle again.  The floor:
   a raw process trapping exits that ``spawn_link``s a child registering
   the same name.  Value: the median; p99 and mean beside it.

Crash reports go through ``logging`` as usual; nothing is configured here,
so they reach only the ``beamish`` logger's NullHandler (records are still
built, tracebacks are not formatted).
"""
from __future__ import annotations

import statistics
from functools import partial

from gevent import spawn_raw

from beamish import (ANY, ChildSpec, ExitMsg, GenServer, Supervisor, call, cast, count_children,
                     exit, process_flag, receive, register, send, spawn, spawn_link)
from beamish import self as self_pid

from tools.harness import percentiles

from . import _floors as F
from ._floors import Mailbox, now
from ._report import HIGHER, LOWER, Bench, Sample, System, suite
from ._runner import child_main
from .runtime import beamish_pingpong

TARGETS = {"call": 3.6}   # us: 3x Erlang's gen_server:call here (1.2 us)


# ------------------------------------------------------------------ call
class Echo(GenServer):
    """Replies with the request; counts casts."""

    def init(self) -> None:
        self.casts = 0

    def handle_call(self, request, from_):
        if request == "casts":
            return self.casts
        return request

    def handle_cast(self, msg) -> None:
        self.casts += 1


def _in_process(fn, *args, **kw):
    """Run ``fn(*args, **kw)`` in a fresh beamish process; return what it returns
    (the driver is the adopted main greenlet; the loops run as ordinary
    processes, as in the runtime suite's ping-pong)."""
    driver = self_pid()

    def body():
        send(driver, ("result", fn(*args, **kw)))
    spawn(body)
    return receive(("result", ANY))[1]


def _calls(n: int, timeout) -> float:
    server = Echo.start_link()
    c = call
    t0 = now()
    for _ in range(n):
        c(server, "ping", timeout)
    return (now() - t0) * 1e6 / n


# ------------------------------------------------------------------ cast
def _casts(n: int) -> float:
    server = Echo.start_link()
    c = cast
    msg = ("event", 1)
    t0 = now()
    for _ in range(n):
        c(server, msg)
    handled = call(server, "casts", None)
    t1 = now()
    assert handled == n, handled
    return n / (t1 - t0)


def _sends(n: int) -> float:
    def sink():
        recv, got = receive, 0
        while True:
            m = recv()
            if m.__class__ is tuple:
                got += 1
            else:
                send(m, got)
    sink_pid = spawn(sink)
    snd = send
    msg = ("event", 1)
    t0 = now()
    for _ in range(n):
        snd(sink_pid, msg)
    snd(sink_pid, self_pid())
    handled = receive()
    t1 = now()
    assert handled == n, handled
    exit(sink_pid, "kill")
    return n / (t1 - t0)


def deque_send(n: int) -> float:
    box, reply = Mailbox(), Mailbox()

    def sink():
        recv, got = box.receive, 0
        while True:
            m = recv()
            if m.__class__ is tuple:
                got += 1
            else:
                m.send(got)
                return
    spawn_raw(sink)
    snd = box.send
    msg = ("event", 1)
    t0 = now()
    for _ in range(n):
        snd(msg)
    snd(reply)
    handled = reply.receive()
    t1 = now()
    assert handled == n, handled
    return n / (t1 - t0)


# --------------------------------------------------------------- restart
NAME = "bench_worker"


class Worker(GenServer):
    """Tells the driver when its ``init`` is done; raises on any cast."""

    def init(self, driver) -> None:
        send(driver, ("ready", self_pid(), now()))

    def handle_cast(self, msg):
        raise RuntimeError(f"crash requested: {msg!r}")


def _latencies(lat: list) -> Sample:
    us = [x * 1e6 for x in lat]
    return Sample(statistics.median(us), {"p99": (percentiles(us)["p99"], "us"),
                                          "mean": (statistics.fmean(us), "us")})


def _supervised_restarts(restarts: int, crash: str) -> Sample:
    driver = self_pid()
    spec = ChildSpec(id="worker", start=Worker.start_link, args=(driver,),
                     kwargs={"name": NAME}, shutdown="brutal_kill")
    sup = Supervisor.start_link([spec], strategy="one_for_one",
                                max_restarts=10 * restarts, max_seconds=3600)
    pid = receive(("ready", ANY, ANY))[1]
    lat = []
    for _ in range(restarts):
        t0 = now()
        if crash == "kill":
            exit(pid, "kill")
        else:
            cast(pid, "crash")
        _, pid, t1 = receive(("ready", ANY, ANY))
        lat.append(t1 - t0)
        count_children(sup)          # untimed: the supervisor is idle again
    return _latencies(lat)


def _raw_restarts(restarts: int) -> Sample:
    driver = self_pid()

    def child():
        me = self_pid()
        register(NAME, me)
        send(driver, ("ready", me, now()))
        receive()

    def supervisor():
        process_flag("trap_exit", True)
        spawn_link(child)
        while True:
            m = receive()
            if m.__class__ is ExitMsg:
                spawn_link(child)
            else:
                send(m, "idle")
    sup = spawn(supervisor)
    pid = receive(("ready", ANY, ANY))[1]
    lat = []
    for _ in range(restarts):
        t0 = now()
        exit(pid, "kill")
        _, pid, t1 = receive(("ready", ANY, ANY))
        lat.append(t1 - t0)
        send(sup, self_pid())
        receive("idle")
    exit(sup, "kill")
    return _latencies(lat)


# ------------------------------------------------------------------ suite
SYSTEMS = {
    "beamish": System("beamish", floor=False),
    "beamish_notmo": System("beamish, call timeout=None", floor=False),
    "sup_kill": System("Supervisor, exit(pid, 'kill')", floor=False),
    "sup_raise": System("Supervisor, handle_cast raises", floor=False),
    "raw": System("raw process (send/receive)"),
    "raw_restart": System("raw trap_exit + spawn_link"),
    "deque": System("deque mailbox"),
}

SUITE = suite(
    "otp", "GenServer call/cast and supervisor restarts vs raw processes", SYSTEMS,
    Bench("call", "1. GenServer call round trip", "us/call", LOWER,
          {"beamish": partial(_in_process, _calls, timeout=5.0),
           "beamish_notmo": partial(_in_process, _calls, timeout=None),
           "raw": beamish_pingpong, "deque": F.deque_pingpong},
          ref="raw", params={"n": 500_000}, quick_params={"n": 50_000},
          target=TARGETS["call"]),
    Bench("cast", "2. cast throughput", "msgs/s", HIGHER,
          {"beamish": partial(_in_process, _casts), "raw": partial(_in_process, _sends),
           "deque": deque_send},
          ref="raw", params={"n": 1_000_000}, quick_params={"n": 100_000}),
    Bench("restart", "3. supervisor restart", "us median", LOWER,
          {"sup_kill": partial(_in_process, _supervised_restarts, crash="kill"),
           "sup_raise": partial(_in_process, _supervised_restarts, crash="raise"),
           "raw_restart": partial(_in_process, _raw_restarts)},
          ref="raw_restart", params={"restarts": 5000}, quick_params={"restarts": 500}),
)

if __name__ == "__main__":
    child_main(SUITE)
