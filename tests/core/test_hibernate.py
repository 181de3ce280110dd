"""Hibernation (erlang:hibernate/3): a hibernating process gives its
greenlet back and keeps everything else; the next message or exit signal
runs its continuation on a pooled greenlet."""
import gc
import tracemalloc

import gevent
import pytest

from beamish import (ANY, CallTimeout, Exit, ExitMsg, GenServer, NoReply, NotAProcess, Reply, call, cast,
                     exit, get_label, hibernate, link, monitor, process_flag, process_info,
                     receive, register, self, send, send_after, set_label, spawn, stop, whereis)
from beamish.lowlevel import runtime_view
from beamish.testing import assert_receive, eventually, refute_receive, settle


def _status(pid):
    info = process_info(pid)
    return None if info is None else info.status


def _hibernated(pid):
    eventually(lambda: _status(pid) == "hibernating", timeout=5.0)


def sleeper(parent):
    """Report each message to ``parent`` and hibernate between them."""
    msg = receive()
    if msg == "stop":
        return
    send(parent, ("got", self(), msg))
    hibernate(sleeper, parent)


def start_sleeper():
    pid = spawn(hibernate, sleeper, self())
    _hibernated(pid)
    return pid


def test_hibernating_process_holds_no_greenlet_and_is_shown_hibernating():
    pid = start_sleeper()
    rec = runtime_view().process(pid)
    assert rec.g is None and rec.mq is None
    info = process_info(pid)
    assert info.status == "hibernating"
    assert info.current_function is None
    send(pid, "stop")
    eventually(lambda: process_info(pid) is None)


def test_messages_sent_while_hibernating_are_neither_lost_nor_reordered():
    pid = start_sleeper()
    for i in range(50):
        send(pid, i)
    for i in range(50):
        assert_receive(("got", pid, i), timeout=5.0)
    _hibernated(pid)
    send(pid, "stop")
    eventually(lambda: process_info(pid) is None)


def test_selective_receive_after_waking():
    def picky(parent):
        receive()                       # "wake"
        send(parent, ("second", receive(("b", ANY))))
        send(parent, ("first", receive(("a", ANY))))

    def body(parent):
        hibernate(picky, parent)
    pid = spawn(body, self())
    _hibernated(pid)
    send(pid, "wake")
    send(pid, ("a", 1))
    send(pid, ("b", 2))
    assert_receive(("second", ("b", 2)), timeout=5.0)
    assert_receive(("first", ("a", 1)), timeout=5.0)


def test_kill_and_exit_signals_end_a_hibernating_process():
    for reason, expected in (("kill", "killed"), ("shutdown", "shutdown")):
        pid = start_sleeper()
        ref = monitor(pid)
        exit(pid, reason)
        assert_receive(("DOWN", ref, "process", pid, expected), timeout=5.0)


def test_a_hibernating_process_is_linked_and_gets_a_linked_crash():
    pid = start_sleeper()
    me = self()
    process_flag("trap_exit", True)
    try:
        link(pid)
        helper = spawn(lambda: (link(pid), receive("go"), exit("boom")))
        settle()
        assert _status(pid) == "hibernating"
        send(helper, "go")
        assert_receive(ExitMsg(pid, "boom"), timeout=5.0)
        assert process_info(pid) is None
    finally:
        process_flag("trap_exit", False)
    assert me == self()


def test_a_trapping_hibernating_process_gets_exit_messages_and_normal_is_ignored():
    def trapper(parent):
        process_flag("trap_exit", True)
        send(parent, "ready")
        hibernate(sleeper, parent)
    pid = spawn(trapper, self())
    assert_receive("ready")
    _hibernated(pid)
    exit(pid, "shutdown")
    assert_receive(("got", pid, ExitMsg(self(), "shutdown")), timeout=5.0)
    _hibernated(pid)
    # a non-trapping hibernating process ignores exit(pid, "normal") from another
    plain = start_sleeper()
    exit(plain, "normal")
    refute_receive(ANY, timeout=0.2)
    assert _status(plain) == "hibernating"
    for p in (pid, plain):
        ref = monitor(p)
        exit(p, "kill")
        assert_receive(("DOWN", ref, "process", p, "killed"), timeout=5.0)


def test_name_label_and_monitors_survive_hibernation():
    def named(parent):
        register("hib_named", self())
        set_label("sleepy")
        send(parent, "ready")
        hibernate(sleeper, parent)
    pid = spawn(named, self())
    assert_receive("ready")
    _hibernated(pid)
    ref = monitor(pid)
    assert whereis("hib_named") == pid and get_label(pid) == "sleepy"
    info = process_info(pid)
    assert info.registered_name == "hib_named" and info.label == "sleepy"
    assert self() in info.monitored_by
    send("hib_named", "hi")
    assert_receive(("got", pid, "hi"), timeout=5.0)
    send(pid, "stop")
    assert_receive(("DOWN", ref, "process", pid, "normal"), timeout=5.0)
    assert whereis("hib_named") is None


def test_send_after_fires_into_a_hibernating_process():
    pid = start_sleeper()
    send_after(0.05, pid, "tick")
    assert_receive(("got", pid, "tick"), timeout=5.0)
    send(pid, "stop")


def test_hibernate_with_queued_messages_carries_on_at_once():
    def body(parent):
        send(self(), "already here")
        hibernate(sleeper, parent)
    pid = spawn(body, self())
    assert_receive(("got", pid, "already here"), timeout=5.0)
    send(pid, "stop")


def test_only_spawned_processes_hibernate():
    with pytest.raises(NotAProcess):
        hibernate(print)


def test_a_pending_exit_signal_ends_instead_of_hibernating():
    def body():
        try:
            receive("never")
        except Exit:
            hibernate(receive)     # the signal stays pending: this raises it again
    pid = spawn(body)
    settle()
    ref = monitor(pid)
    exit(pid, "shutdown")
    assert_receive(("DOWN", ref, "process", pid, "shutdown"), timeout=5.0)


# ---------------------------------------------------------------- GenServer
class Sleepy(GenServer):
    def init(self, hib_after=None):
        self.n = 0
        if hib_after is None:
            return NoReply(hibernate=True)

    def handle_call(self, request, from_):
        if request == "wait":
            return NoReply(timeout=0.2, hibernate=True)
        self.n += 1
        return Reply(self.n, hibernate=True)

    def handle_cast(self, msg):
        self.n += msg

    def handle_info(self, msg):
        if msg == "timeout":
            self.n = -1


def test_gen_server_hibernate_result_and_call_to_a_hibernated_server():
    pid = Sleepy.start_link()
    _hibernated(pid)
    assert call(pid, "inc") == 1
    _hibernated(pid)
    assert call(pid, "inc") == 2
    cast(pid, 10)
    assert call(pid, "inc") == 13
    stop(pid)


def test_gen_server_hibernate_after_and_a_timeout_kept_while_hibernating():
    class Later(Sleepy):
        hibernate_after = 0.05
    pid = Later.start_link(0.05)
    _hibernated(pid)
    assert call(pid, "inc") == 1
    _hibernated(pid)
    # NoReply(timeout=0.2, hibernate=True): the timeout fires into the hibernated server
    with pytest.raises(CallTimeout):
        call(pid, "wait", timeout=0.05)
    # any message would restart the timeout (as OTP's): let it pass untouched
    gevent.sleep(1.0)
    assert call(pid, "inc") == 0      # -1 + 1: handle_info("timeout") ran
    stop(pid)


def test_hibernated_gen_server_memory():
    """An idle hibernated GenServer (linked to its starter) costs at most
    1,500 bytes of Python heap: measured with tracemalloc over 2,000 of them
    (the benchmark measures 100k; see tools/bench)."""
    class Idle(GenServer):
        hibernate_after = 0.0

    n = 2000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pids = [Idle.start(name=None) for _ in range(n)]
        eventually(lambda: all(_status(p) == "hibernating" for p in pids), timeout=30.0)
        gc.collect()
        per = (tracemalloc.get_traced_memory()[0] - before - 0) / n
    finally:
        tracemalloc.stop()
    for p in pids:
        exit(p, "kill")
    eventually(lambda: all(process_info(p) is None for p in pids), timeout=30.0)
    gevent.sleep(0)
    print(f"hibernated GenServer: {per:.0f} B")
    assert per <= 1500, per
