"""The call round trip runs a handful of Python functions and no Python
``__hash__``/``__eq__`` (refs hash at C speed), and still leaves nothing
behind: no monitor, alias, queued DOWN or running timer, whether the call
got its reply, timed out, or the server ended right after replying."""
import collections
import sys

import pytest

from beamish import CallTimeout, GenServer, Stop, call, receive, stop
from beamish.core import _process
from beamish.lowlevel import current_process, runtime_view
from beamish.testing import flush, settle


class Echo(GenServer):
    def handle_call(self, request, from_):
        if request == "bye":
            return Stop("normal", reply="bye")
        if request == "slow":
            receive("never", timeout=0.3, default=None)   # a late reply
        return request


def _python_calls_of_one_call(server):
    calls = collections.Counter()

    def profile(frame, event, arg):
        if event == "call":
            calls[frame.f_code.co_name] += 1
    sys.setprofile(profile)
    try:
        assert call(server, "ping") == "ping"
    finally:
        sys.setprofile(None)
    return calls


def test_a_call_round_trip_runs_few_python_functions_and_no_python_hash():
    server = Echo.start_link()
    for _ in range(5):       # warm: the receive timer is reused from here on
        call(server, "ping")
    try:
        calls = _python_calls_of_one_call(server)
    finally:
        stop(server)
        settle()
    assert not {"__hash__", "__eq__", "__init__"} & set(calls), calls
    # Caller and server together, 10 now: call, gen_call, current_process,
    # the runtime's call (which sends the request) and its wait; the
    # server's turn (step, receive, dispatch, handle_call) and its reply's
    # send.  It was 27 with Python ref hashing and a call split in parts.
    assert sum(calls.values()) <= 12, calls


def _clean(me, server_proc):
    assert not me.monitors and not me.aliases
    assert server_proc is None or not server_proc.monitored_by
    assert runtime_view().aliases() == {}
    assert flush() == []


def test_a_call_leaves_no_monitor_alias_or_message_behind_however_it_ends():
    me = current_process()
    server = Echo.start_link()
    proc = runtime_view().process(server)
    assert call(server, "ping", None) == "ping"
    _clean(me, proc)
    assert call(server, "ping", 5) == "ping"
    _clean(me, proc)
    with pytest.raises(CallTimeout):
        call(server, "slow", 0.05)    # the late reply is dropped
    settle()
    _clean(me, proc)
    assert call(server, "ping", 5) == "ping"
    assert call(server, "bye") == "bye"      # replied, then ended: its DOWN is flushed
    settle()
    _clean(me, None)


def test_receive_timers_of_many_timeouts_fire_and_only_a_few_are_kept():
    timeouts = [0.01 + i / 1000 for i in range(12)]
    for t in timeouts:
        assert receive(timeout=t, default="none") == "none"
    assert len(_process._free_timers) <= _process._FREE_TIMEOUTS_MAX
    assert all(len(free) <= _process._FREE_TIMERS_MAX for free in _process._free_timers.values())
    assert all(not timer.watcher.active for free in _process._free_timers.values()
               for timer in free)
