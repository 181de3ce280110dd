"""GenServer ergonomics: Python-style mistakes fail where they are made,
``self.pid``, Elixir-like call exits, one report per crash, quiet progress
reports, and initial calls that name the user's class."""
import logging

import pytest

import beamish
from beamish import (ANY, CallExit, DynamicSupervisor, GenServer, StartError, Supervisor, call,
                     cast, monitor, process_info, self, send, start_child, stop,
                     which_children)
from beamish.testing import assert_receive, eventually, settle


class Counter(GenServer):
    def init(self, test=None, start=0):
        self.total = start
        if test is not None:
            send(test, ("init_pid", self.pid))

    def handle_call(self, request, from_):
        if request == "get":
            return self.total
        return super().handle_call(request, from_)

    def handle_cast(self, msg):
        if msg == "crash":
            raise RuntimeError("counter broke")
        self.total += msg


def _stop_sup(sup):
    stop(sup)


def _tracebacks_of(caplog, exc_type):
    """Log records that carry the traceback of an ``exc_type`` exception."""
    return [r for r in caplog.records
            if r.exc_info and r.exc_info[0] is not None and issubclass(r.exc_info[0], exc_type)]


# -------------------------------------------------- item 11: loud mistakes
def test_a_subclass_defining_dunder_init_is_refused_where_it_is_defined():
    with pytest.raises(beamish.BadGenServer, match=r"__init__.*rename it to init"):
        class Wrong(GenServer):
            def __init__(self, start):
                self.total = start


@pytest.mark.parametrize("result", [("ok", {"n": 1}), ("ok", 1, 500), ("stop", "nope"),
                                    "ignore"])
@pytest.mark.crashes_expected
def test_init_returning_an_elixir_style_result_fails_the_start_with_a_hint(result):
    class Elixirish(GenServer):
        def init(self):
            return result
    with pytest.raises(StartError) as info:
        Elixirish.start_link()
    reason = info.value.reason
    assert isinstance(reason, beamish.BadGenServer)
    assert "Elixir-style" in str(reason) and "return nothing" in str(info.value)


def test_an_instance_given_as_a_child_fails_the_start_with_pass_the_class(caplog):
    with caplog.at_level(logging.ERROR, logger="beamish"):
        with pytest.raises(StartError) as info:
            Supervisor.start_link([Counter.__new__(Counter)])
    reason = info.value.reason
    assert isinstance(reason, beamish.ChildSpecError) and reason.child_id is Counter
    assert "pass the class" in str(info.value) and "child Counter" in str(info.value)
    # The user's mistake, reported to the user: no crash report, no traceback.
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("dynamic", [False, True])
def test_start_child_with_an_instance_is_refused_at_the_caller_and_the_supervisor_lives(
        dynamic):
    if dynamic:
        sup = DynamicSupervisor.start_link()
        add = DynamicSupervisor.start_child
    else:
        sup = Supervisor.start_link([])
        add = start_child
    with pytest.raises(beamish.ChildSpecError, match="pass the class"):
        add(sup, Counter.__new__(Counter))
    with pytest.raises(beamish.ChildSpecError, match=r"child 'w': restart must be one of"):
        add(sup, {"id": "w", "start": Counter.start_link, "restart": "sometimes"})
    with pytest.raises(beamish.ChildSpecError, match=r"child 'w': not a valid child spec"):
        add(sup, {"id": "w", "start": Counter.start_link, "restrat": "temporary"})
    pid = add(sup, Counter)      # the supervisor is the same one, and serves
    assert call(pid, "get") == 0
    _stop_sup(sup)


def test_a_bad_field_in_a_child_list_names_the_child_and_what_is_wrong():
    with pytest.raises(StartError) as info:
        Supervisor.start_link([{"id": "cache", "start": Counter.start_link,
                                "shutdown": -5}])
    assert isinstance(info.value.reason, beamish.ChildSpecError)
    assert "child 'cache': shutdown must be milliseconds" in str(info.value)
    with pytest.raises(StartError, match=r"child Counter: two children have this id"):
        Supervisor.start_link([Counter, Counter])


def test_an_unknown_request_crashes_the_server_which_its_supervisor_restarts(caplog):
    sup = Supervisor.start_link([Counter])
    [(_, first, _)] = which_children(sup)
    with caplog.at_level(logging.CRITICAL, logger="beamish"):
        with pytest.raises(CallExit) as info:
            call(first, ("what", "is", "this"))
    assert isinstance(info.value.reason, beamish.UnknownRequest)
    assert "Counter has no handle_call for ('what', 'is', 'this')" in str(info.value)
    eventually(lambda: which_children(sup)[0][1] not in (None, first))
    [(_, now, _)] = which_children(sup)
    assert now != first and call(now, "get") == 0
    _stop_sup(sup)


# ------------------------------------------------------ item 12: self.pid
def test_self_pid_is_the_servers_own_pid_already_in_init():
    pid = Counter.start_link(self())
    assert assert_receive(("init_pid", ANY), timeout=2)[1] == pid
    stop(pid)


@pytest.mark.crashes_expected
def test_pid_is_reserved():
    with pytest.raises(beamish.BadGenServer, match="reserves"):
        class HasPid(GenServer):
            def pid(self):
                return 1

    class SetsPid(GenServer):
        def init(self, other):
            self.pid = other
    with pytest.raises(StartError) as info:
        SetsPid.start_link(self())
    assert isinstance(info.value.reason, beamish.BadGenServer)
    assert "reserved" in str(info.value.reason)


# ------------------------------------------- item 13: reports and exits
def test_a_call_exit_reads_like_elixirs():
    with pytest.raises(CallExit) as info:
        call("nobody_here", "get")
    assert str(info.value).startswith("exited in: call('nobody_here', 'get')\n")
    assert "** (EXIT) no process" in str(info.value)
    with pytest.raises(CallExit, match=r"exited in: stop\('nobody_here', 'other'\)"):
        stop("nobody_here", "other")


class Caller(GenServer):
    """Calls a server that is not there, from a callback."""

    def handle_cast(self, target):
        self.ask(target)

    def ask(self, target):
        return call(target, "hello")


@pytest.mark.crashes_expected
def test_a_server_dying_of_a_failed_call_is_reported_with_its_own_call_site(caplog):
    pid = Caller.start()
    ref = monitor(pid)
    with caplog.at_level(logging.ERROR, logger="beamish"):
        cast(pid, "no_such_server")
        assert_receive(("DOWN", ref, ANY, ANY, "noproc"), timeout=2)
    [rec] = [r for r in caplog.records if "terminating" in r.getMessage()]
    text = rec.getMessage()
    assert "exited in: call('no_such_server', 'hello')" in text and "no process" in text
    assert isinstance(rec.exc_info[1], CallExit)
    frames = [f.name for f in __import__("traceback").extract_tb(rec.exc_info[2])]
    assert "ask" in frames and "handle_cast" in frames


@pytest.mark.crashes_expected
def test_a_crashing_server_is_logged_once(caplog):
    pid = Counter.start()
    ref = monitor(pid)
    with caplog.at_level(logging.ERROR, logger="beamish"):
        cast(pid, "crash")
        assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=2)
        settle()
    assert len(_tracebacks_of(caplog, RuntimeError)) == 1
    assert len([r for r in caplog.records if "counter broke" in r.getMessage()]) == 1


@pytest.mark.crashes_expected
def test_a_supervised_crash_is_logged_once_and_the_child_id_reads_as_a_name(caplog):
    sup = Supervisor.start_link([Counter])
    [(_, first, _)] = which_children(sup)
    with caplog.at_level(logging.ERROR, logger="beamish"):
        cast(first, "crash")
        eventually(lambda: which_children(sup)[0][1] not in (None, first))
    assert len(_tracebacks_of(caplog, RuntimeError)) == 1
    [sup_rec] = [r for r in caplog.records if "exited with" in r.getMessage()]
    assert "child Counter " in sup_rec.getMessage() and "<class" not in sup_rec.getMessage()
    _stop_sup(sup)


# ----------------------------------------------------- item 14: logging
def test_supervisor_progress_reports_are_debug(caplog):
    with caplog.at_level(logging.INFO, logger="beamish"):
        sup = Supervisor.start_link([Counter])
    assert not [r for r in caplog.records if "started child" in r.getMessage()]
    _stop_sup(sup)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="beamish"):
        sup = Supervisor.start_link([Counter])
    [rec] = [r for r in caplog.records if "started child" in r.getMessage()]
    assert rec.levelno == logging.DEBUG and "started child Counter as" in rec.getMessage()
    _stop_sup(sup)


# ---------------------------------------------- item 4: the user's class
def test_a_servers_initial_call_is_its_class_init():
    pid = Counter.start_link()
    assert process_info(pid).initial_call == f"{Counter.__module__}:Counter.init"
    stop(pid)
    sup = Supervisor.start_link([])
    assert process_info(sup).initial_call == "beamish.otp._supervisor:Supervisor.init"
    _stop_sup(sup)
