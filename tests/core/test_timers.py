"""Timers count from when they are started, not from libev's cached clock.

libev reads the clock once per loop iteration; a process that computes for
a while without yielding would otherwise start a timer from a stale "now"
and see it fire early, even at once.  (gevent refreshes the clock after its
callbacks run, so the stale case is a process resumed by a timer: after a
sleep, or a receive that timed out.)  Erlang measures a receive's ``after``
from the receive, and so must every timer beamish arms.
"""
import time

from beamish import (ANY, CallTimeout, GenServer, NoReply, call, cancel_timer, is_alive,
                     lowlevel, receive, register, self, send, send_after, spawn, stop,
                     unregister)
from beamish.testing import assert_receive, eventually

TIMEOUT = 0.2
BUSY = 0.25      # longer than TIMEOUT: a stale clock makes the timer already due
AT_LEAST = 0.15  # generous: load can only make a wait longer, never shorter


def compute(seconds):
    """Run for ``seconds`` without yielding to the hub."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def waited(fn):
    """Run ``fn`` in a fresh process, resumed by a timer, after it computed
    for BUSY seconds; the seconds ``fn`` took, measured in that process."""
    def body(test):
        receive(timeout=0.01, default=None)
        compute(BUSY)
        t0 = time.monotonic()
        fn()
        send(test, ("waited", time.monotonic() - t0))
    spawn(body, self())
    return assert_receive(("waited", ANY), timeout=5)[1]


def test_a_receive_timeout_counts_from_the_receive():
    assert waited(lambda: receive(timeout=TIMEOUT, default=None)) >= AT_LEAST


def test_a_selective_receive_timeout_counts_from_the_receive():
    assert waited(lambda: receive(("never", ANY), timeout=TIMEOUT, default=None)) >= AT_LEAST


def test_send_after_counts_from_the_call():
    def timer():
        send_after(TIMEOUT, self(), "ring")
        receive("ring")
    assert waited(timer) >= AT_LEAST


class Silent(GenServer):
    """Never answers a call.  Its first idle timeout computes for BUSY and
    asks for another of TIMEOUT, whose delay it reports to ``test``."""

    def init(self, test=None):
        self.test = test
        self.busy_until = None
        return NoReply(timeout=0.01 if test else None)

    def handle_call(self, request, from_):
        return NoReply()

    def handle_info(self, msg):
        if msg == "timeout" and self.busy_until is None:
            compute(BUSY)
            self.busy_until = time.monotonic()
            return NoReply(timeout=TIMEOUT)
        if msg == "timeout":
            send(self.test, ("idle_after", time.monotonic() - self.busy_until))


def test_a_call_timeout_counts_from_the_call():
    server = Silent.start()

    def timed_call():
        try:
            call(server, "hello", timeout=TIMEOUT)
        except CallTimeout:
            pass
    assert waited(timed_call) >= AT_LEAST
    stop(server)


def test_a_genserver_idle_timeout_counts_from_the_callbacks_return():
    server = Silent.start(self())
    assert assert_receive(("idle_after", ANY), timeout=5)[1] >= AT_LEAST
    stop(server)


# ------------------------------------------------ timers aimed at a dead pid
def test_a_timer_aimed_at_a_process_is_cancelled_when_the_process_ends():
    """erlang:send_after/3: a timer whose destination is a pid is cancelled
    when that process exits (so a process that ends without cancelling its
    own timers leaves none behind)."""

    def owner(parent):
        send(parent, send_after(60.0, self(), "late"))
        receive("stop")

    pid = spawn(owner, self())
    tref = receive(ANY)
    assert tref.active
    assert tref in lowlevel.runtime_view().timers()
    send(pid, "stop")
    eventually(lambda: not tref.active)
    assert tref not in lowlevel.runtime_view().timers()


def test_a_timer_aimed_at_a_dead_pid_is_never_armed():
    pid = spawn(lambda: None)
    eventually(lambda: not is_alive(pid))
    tref = send_after(60.0, pid, "x")
    assert not tref.active


def test_a_timer_aimed_at_a_name_survives_its_setter():
    register("timer_target", self())
    try:
        spawn(lambda parent: send(parent, send_after(0.05, "timer_target", "hi")), self())
        tref = receive(ANY)
        assert_receive("hi", timeout=2)
        assert not tref.active
        assert not cancel_timer(tref)
    finally:
        unregister("timer_target")
