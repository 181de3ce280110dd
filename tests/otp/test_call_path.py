"""The call's wait skips what the caller had queued before the call (OTP's
receive optimisation), and still finds what arrives after that point."""
import time

import pytest

from beamish import CallExit, GenServer, call, make_ref, receive, send, spawn, stop
from beamish import self as self_pid
from beamish.lowlevel import await_reply, current_process
from beamish.testing import flush, settle


class Echo(GenServer):
    def handle_call(self, request, from_):
        return request


def _calls_per_second(server, n):
    t0 = time.process_time()
    for i in range(n):
        assert call(server, i) == i
    return n / max(time.process_time() - t0, 1e-6)


def test_a_call_does_not_scan_what_the_caller_had_queued():
    server = Echo.start_link()
    me = self_pid()
    empty_rate = _calls_per_second(server, 300)
    for i in range(20_000):
        send(me, ("backlog", i))
    backlog_rate = _calls_per_second(server, 300)
    # Scanning 20,000 queued messages per call is ~1,000x slower than a
    # call; skipping them leaves the two rates alike (a wide margin for a
    # loaded machine).
    assert backlog_rate > empty_rate / 10, (backlog_rate, empty_rate)
    assert flush() == [("backlog", i) for i in range(20_000)]
    stop(server)
    settle()


def test_a_call_from_a_process_with_a_backlog_still_sees_its_server_die():
    """The DOWN of a dead server comes after the mark: still found."""
    dead = spawn(lambda: None)
    settle()
    for i in range(100):
        send(self_pid(), ("backlog", i))
    with pytest.raises(CallExit) as info:
        call(dead, "hello")
    assert info.value.reason == "noproc"
    assert flush() == [("backlog", i) for i in range(100)]


def test_await_reply_finds_a_reply_queued_after_the_mark_before_the_wait():
    me = current_process()
    send(self_pid(), "before")
    mark = len(me.mq)
    ref = make_ref()
    send(self_pid(), "noise")
    send(self_pid(), (ref, "answer"))
    assert await_reply(ref, 0, mark) == (ref, "answer")
    assert flush() == ["before", "noise"]


def test_await_reply_with_a_mark_past_the_mailbox_scans_it_all():
    """A mark beyond what is queued (messages were taken since) is not
    trusted: the whole mailbox is looked at."""
    ref = make_ref()
    send(self_pid(), (ref, "answer"))
    assert await_reply(ref, 0, 5) == (ref, "answer")


def test_a_reply_sent_while_the_caller_waits_behind_a_backlog_arrives():
    def late_server():
        msg = receive()
        (_, (caller, ref), request) = msg
        send(caller, "noise after the call")
        send(ref, (ref, ("got", request)))
    server = spawn(late_server)
    for i in range(50):
        send(self_pid(), ("backlog", i))
    assert call(server, "x") == ("got", "x")
    rest = flush()
    assert rest[:50] == [("backlog", i) for i in range(50)]
    assert rest[50:] == ["noise after the call"]
    settle()
