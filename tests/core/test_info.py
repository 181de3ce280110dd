import logging

import gevent
import pytest

from beamish import (ANY, exit, link, monitor, process_count, process_info, processes, receive,
                     register, self, send, spawn, unlink)
from beamish.testing import assert_receive, settle


def parked_in_receive(parent):
    send(parent, "parked")
    receive("never")


def test_process_info_reports_the_erlang_fields():
    pid = spawn(parked_in_receive, self())
    assert_receive("parked")
    register("infoee", pid)
    link(pid)
    ref = monitor(pid)
    for i in range(3):
        send(pid, ("hello", i))
    assert process_info(pid).status == "runnable", "woken by the sends, not yet run"
    settle()
    info = process_info(pid)
    assert info.pid == pid
    assert info.status == "waiting"
    assert info.registered_name == "infoee"
    assert info.initial_call.endswith("test_info:parked_in_receive")
    assert info.current_function.endswith("test_info:parked_in_receive")
    assert info.message_queue_len == 3
    assert info.messages is None, "mailbox contents only when asked"
    assert info.links == (self(),) and info.monitored_by == (self(),)
    assert info.reductions >= 1 and info.memory > 1000
    assert process_info(pid, messages=True).messages == tuple(("hello", i) for i in range(3))
    assert any("parked_in_receive" in line for line in process_info(pid, stack=True).stack)
    mine = process_info(self())
    assert [(m.ref, m.target) for m in mine.monitors] == [(ref, pid)]
    unlink(pid)
    exit(pid, "kill")
    assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert process_info(pid) is None


def test_reductions_count_messages_handled():
    def counter(parent):
        for _ in range(10):
            receive()
        send(parent, "done")
        receive("never")
    pid = spawn(counter, self())
    settle()
    before = process_info(pid).reductions
    for i in range(10):
        send(pid, i)
    assert_receive("done")
    assert process_info(pid).reductions >= before + 10
    exit(pid, "kill")


def test_memory_grows_with_the_mailbox():
    pid = spawn(lambda: receive("never"))
    settle()
    empty = process_info(pid).memory
    for i in range(1000):
        send(pid, ("payload", "x" * 100, i))
    # shallow sizes: 1,000 3-tuples of at least 64 bytes each (the shared str is not counted)
    assert process_info(pid).memory >= empty + 64_000
    exit(pid, "kill")


def test_processes_lists_live_pids_and_count_matches():
    base = process_count()
    pids = [spawn(lambda: receive("never")) for _ in range(5)]
    assert process_count() == base + 5
    assert set(pids) <= set(processes())
    for p in pids:
        exit(p, "kill")
    settle()
    assert process_count() == base


def test_a_process_suspended_in_gevent_is_reported_waiting_in_its_function():
    def sleeper():
        gevent.sleep(10)
    pid = spawn(sleeper)
    settle()
    info = process_info(pid)
    assert info.status == "waiting"
    assert info.current_function.startswith("gevent")
    assert "sleeper" in "".join(process_info(pid, stack=True).stack)
    exit(pid, "kill")


@pytest.mark.crashes_expected
def test_an_unlinked_crash_is_logged_with_pid_initial_call_and_traceback(caplog):
    def doomed():
        raise KeyError("lost")
    with caplog.at_level(logging.ERROR, logger="beamish"):
        pid, ref = spawn(doomed), None
        settle()
    rec = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(rec) == 1
    text = rec[0].getMessage()
    assert repr(pid) in text and "test_info:test_an_unlinked_crash" in text and "lost" in text
    assert rec[0].exc_info and rec[0].exc_info[1].args == ("lost",)


def test_a_linked_crash_is_not_logged_as_a_crash_report(caplog):
    def doomed():
        raise KeyError("seen by the trapper")

    def trapper(parent):
        from beamish import process_flag, spawn_link
        process_flag("trap_exit", True)
        spawn_link(doomed)
        send(parent, receive())
    with caplog.at_level(logging.ERROR, logger="beamish"):
        spawn(trapper, self())
        msg = assert_receive(("EXIT", ANY, ANY))
    assert isinstance(msg.reason, KeyError)
    assert not [r for r in caplog.records if "crashed" in r.getMessage()]
