import logging

import gevent
import pytest

from beamish import (ANY, IGNORE, CallExit, CallTimeout, GenServer, NoReply, Reply, StartError,
                     Stop, Task, call, cast, exit, is_alive, monitor, process_flag, process_info,
                     receive, reply, self, send, spawn, stop, unlink, whereis)
from beamish.testing import assert_receive, refute_receive, settle


class Counter(GenServer):
    def init(self, start=0, report_to=None):
        self.total = start
        self.report_to = report_to

    def handle_call(self, request, from_):
        match request:
            case "get":
                return self.total
            case ("add", n):
                self.total += n
                return Reply(self.total)
            case ("later", v):
                send(self_pid(), ("answer", from_, v))
                return NoReply()
            case ("stop_with_reply", why):
                return Stop(why, reply="bye")
            case ("sleep", s):
                gevent.sleep(s)
                return "slept"
            case "crash":
                raise ValueError("crash in call")
            case "none":
                return None

    def handle_cast(self, msg):
        self.total += msg

    def handle_info(self, msg):
        match msg:
            case ("answer", from_, v):
                reply(from_, v)
            case "timeout":
                if self.report_to:
                    send(self.report_to, ("idle", self.total))
            case ("go_idle", t):
                return NoReply(timeout=t)
            case ("continue", arg):
                return NoReply(continue_=arg)
            case _:
                return super().handle_info(msg)

    def handle_continue(self, arg):
        if self.report_to:
            send(self.report_to, ("continued", arg))

    def terminate(self, reason):
        if self.report_to:
            send(self.report_to, ("terminated", reason))


def self_pid():
    return self()


def start_counter(*args, **kw):
    pid = Counter.start(*args, **kw)
    return pid


def test_call_cast_and_replies():
    pid = start_counter(10)
    cast(pid, 5)
    assert call(pid, "get") == 15
    assert call(pid, ("add", 1)) == 16
    assert call(pid, "none") is None
    stop(pid)


def test_a_deferred_reply_arrives_through_reply():
    pid = start_counter()
    assert call(pid, ("later", "deferred")) == "deferred"
    stop(pid)


def test_start_link_with_a_name_and_call_by_name():
    pid = Counter.start(1, name="counter")
    assert whereis("counter") == pid
    assert call("counter", "get") == 1
    with pytest.raises(StartError, match="already_started") as info:
        Counter.start(name="counter")
    assert info.value.reason == ("already_started", pid)
    stop("counter")
    assert whereis("counter") is None


def test_call_to_a_dead_or_unknown_server_raises_noproc():
    with pytest.raises(CallExit) as info:
        call("nobody", "hi")
    assert info.value.reason == "noproc"
    pid = start_counter()
    stop(pid)
    with pytest.raises(CallExit) as info:
        call(pid, "get")
    assert info.value.reason == "noproc"


def test_a_timed_out_call_raises_and_its_late_reply_never_lands():
    pid = start_counter()
    with pytest.raises(CallTimeout):
        call(pid, ("sleep", 0.05), timeout=0.01)
    gevent.sleep(0.1)
    refute_receive(timeout=0.01)
    assert call(pid, "get") == 0
    stop(pid)


@pytest.mark.crashes_expected
def test_a_server_crashing_during_a_call_makes_the_call_raise_its_reason(caplog):
    pid = start_counter(report_to=self())
    with caplog.at_level(logging.ERROR, logger="beamish"):
        with pytest.raises(CallExit) as info:
            call(pid, "crash")
    assert isinstance(info.value.reason, ValueError)
    t = assert_receive(("terminated", ANY))
    assert isinstance(t[1], ValueError)
    assert any("terminating" in r.getMessage() for r in caplog.records)


def test_stop_with_a_reply_replies_once_terminate_has_returned():
    class SlowToTerminate(Counter):
        def terminate(self, reason):
            gevent.sleep(0.05)   # yields: a reply sent first would overtake the report
            super().terminate(reason)

    pid = SlowToTerminate.start(0, self())
    ref = monitor(pid)
    assert call(pid, ("stop_with_reply", "normal")) == "bye"
    # OTP: {stop, Reason, Reply, State} runs terminate, then replies.
    assert_receive(("terminated", "normal"), timeout=0)
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "normal"


def test_stop_runs_terminate_with_the_reason():
    pid = start_counter(report_to=self())
    stop(pid, "shutdown")
    assert_receive(("terminated", "shutdown"))


def test_idle_timeout_delivers_a_timeout_message():
    pid = start_counter(3, report_to=self())
    send(pid, ("go_idle", 0.02))
    assert assert_receive(("idle", ANY), timeout=1) == ("idle", 3)
    stop(pid)


def test_handle_continue_runs_before_the_next_message():
    pid = start_counter(report_to=self())
    send(pid, ("continue", "arg"))
    cast(pid, 1)
    assert_receive(("continued", "arg"))
    assert call(pid, "get") == 1
    stop(pid)


class InitVariants(GenServer):
    def init(self, mode):
        match mode:
            case "ignore":
                return IGNORE
            case "stop":
                return Stop("bad_config")
            case "crash":
                raise RuntimeError("init crashed")
            case "continue":
                self.trace = []
                return NoReply(continue_="warm")

    def handle_continue(self, arg):
        self.trace.append(arg)

    def handle_call(self, request, from_):
        return self.trace


def test_init_ignore_makes_start_link_return_none():
    assert InitVariants.start_link("ignore") is None


@pytest.mark.crashes_expected
def test_init_stop_and_init_crash_are_reported_to_start_link_without_killing_the_caller():
    with pytest.raises(StartError) as info:
        InitVariants.start_link("stop")
    assert info.value.reason == "bad_config"
    with pytest.raises(StartError) as info:
        InitVariants.start_link("crash")
    assert isinstance(info.value.reason, RuntimeError)
    assert process_info(self()).links == ()


def test_init_can_continue():
    pid = InitVariants.start("continue")
    assert call(pid, "trace") == ["warm"]
    stop(pid)


def test_terminate_runs_on_the_parents_shutdown_when_trapping_exits():
    class Trapping(Counter):
        def init(self, report_to):
            process_flag("trap_exit", True)
            super().init(0, report_to)

    def parent(test):
        pid = Trapping.start_link(test)
        send(test, ("child", pid))
        receive("never")
    par = spawn(parent, self())
    _, child = assert_receive(("child", ANY))
    ref = monitor(child)
    exit(par, "shutdown")
    assert_receive(("terminated", "shutdown"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "shutdown"


def test_a_non_trapping_server_is_killed_by_its_parents_shutdown_without_terminate():
    def parent(test):
        pid = Counter.start_link(0, test)
        send(test, ("child", pid))
        receive("never")
    par = spawn(parent, self())
    _, child = assert_receive(("child", ANY))
    ref = monitor(child)
    exit(par, "shutdown")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "shutdown"
    refute_receive(("terminated", ANY), timeout=0.01)


def test_unexpected_messages_are_logged_and_ignored(caplog):
    pid = start_counter()
    with caplog.at_level(logging.WARNING, logger="beamish"):
        send(pid, "surprise")
        assert call(pid, "get") == 0
    assert any("surprise" in r.getMessage() for r in caplog.records)
    stop(pid)


def test_calling_oneself_raises_instead_of_deadlocking():
    class Selfish(GenServer):
        def handle_call(self, request, from_):
            try:
                call(self_pid(), "again")
            except CallExit as e:
                return e.reason
    pid = Selfish.start()
    assert call(pid, "go") == "calling_self"
    stop(pid)


def test_stop_of_an_unknown_server_raises_noproc():
    with pytest.raises(CallExit):
        stop("ghost")


# ------------------------------------------- failures inside callbacks
class Failing(GenServer):
    """Fails inside its callbacks in the ways a callback can; reports
    terminate to ``test``."""

    def init(self, test):
        self.test = test

    def handle_call(self, request, from_):
        match request:
            case ("exit", reason):
                exit(reason)
            case ("stop_self", target):
                try:
                    stop(target)
                except CallExit as e:
                    return e.reason

    def handle_cast(self, msg):
        match msg:
            case ("call", server, timeout):
                call(server, "anything", timeout)
            case ("await", seconds):
                Task.await_(Task.async_(gevent.sleep, 10), timeout=seconds)
            case "block":
                receive("never")

    def terminate(self, reason):
        send(self.test, ("terminated", reason))


@pytest.mark.crashes_expected
def test_exit_inside_a_callback_runs_terminate_and_logs(caplog):
    pid = Failing.start(self())
    ref = monitor(pid)
    with pytest.raises(CallExit) as ei:
        call(pid, ("exit", "bad_thing"))
    assert ei.value.reason == "bad_thing"
    assert_receive(("terminated", "bad_thing"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "bad_thing"
    assert any("terminating" in r.getMessage() and "bad_thing" in r.getMessage()
               for r in caplog.records)


def test_a_clean_exit_inside_a_callback_runs_terminate_without_an_error_report(caplog):
    pid = Failing.start(self())
    ref = monitor(pid)
    with pytest.raises(CallExit):
        call(pid, ("exit", "shutdown"))
    assert_receive(("terminated", "shutdown"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "shutdown"
    assert not any("terminating" in r.getMessage() for r in caplog.records)


@pytest.mark.crashes_expected
def test_a_failed_nested_call_runs_terminate():
    dead = spawn(lambda: None)
    settle()
    pid = Failing.start(self())
    ref = monitor(pid)
    cast(pid, ("call", dead, 1))
    assert_receive(("terminated", "noproc"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "noproc"


@pytest.mark.crashes_expected
def test_a_timed_out_nested_call_runs_terminate():
    class Mute(GenServer):
        def handle_call(self, request, from_):
            return NoReply()
    mute = Mute.start()
    pid = Failing.start(self())
    ref = monitor(pid)
    cast(pid, ("call", mute, 0.05))
    assert_receive(("terminated", "timeout"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "timeout"
    stop(mute)


@pytest.mark.crashes_expected
def test_a_timed_out_task_await_runs_terminate():
    pid = Failing.start(self())
    ref = monitor(pid)
    cast(pid, ("await", 0.05))
    assert_receive(("terminated", "timeout"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "timeout"


def test_an_untrapped_exit_signal_during_a_callback_ends_the_server_without_terminate():
    pid = Failing.start(self())
    ref = monitor(pid)
    cast(pid, "block")
    settle()
    exit(pid, "from_outside")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "from_outside"
    refute_receive(("terminated", ANY), timeout=0.02)


def test_a_kill_ends_even_a_trapping_server_without_terminate():
    class Trapping(Failing):
        def init(self, test):
            process_flag("trap_exit", True)
            super().init(test)
    pid = Trapping.start(self())
    ref = monitor(pid)
    exit(pid, "kill")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "killed"
    refute_receive(("terminated", ANY), timeout=0.02)


# ------------------------------------------------------------ stopping oneself
def test_stopping_oneself_raises_calling_self_instead_of_deadlocking():
    with pytest.raises(CallExit) as ei:
        stop(self(), timeout=1)
    assert ei.value.reason == "calling_self"


def test_a_server_stopping_itself_by_name_gets_calling_self():
    pid = Failing.start(self(), name="stopper")
    assert call(pid, ("stop_self", "stopper"), timeout=2) == "calling_self"
    assert is_alive(pid)
    stop(pid)
    assert_receive(("terminated", "normal"))


# ---------------------------------------------------- parent of start (no link)
def test_an_unlinked_server_is_its_own_parent_so_the_starters_exit_is_a_message():
    class Trapping(GenServer):
        def init(self, test):
            process_flag("trap_exit", True)
            self.test = test

        def handle_info(self, msg):
            send(self.test, ("info", msg))

        def terminate(self, reason):
            send(self.test, ("terminated", reason))

    pid = Trapping.start(self())
    exit(pid, "shutdown")
    assert assert_receive(("info", ANY))[1] == ("EXIT", self(), "shutdown")
    assert is_alive(pid)
    refute_receive(("terminated", ANY), timeout=0.02)
    stop(pid)
    assert_receive(("terminated", "normal"))
