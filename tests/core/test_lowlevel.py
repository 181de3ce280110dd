"""beamish.lowlevel: the runtime's public low-level API and read-only view."""
import pytest

from beamish import (ANY, GenServer, Stop, call, exit, monitor, register, self, send, send_after,
                     cancel_timer, spawn, start_server, stop)
from beamish import lowlevel
from beamish.testing import assert_receive, flush, refute_receive, settle


def _idle():
    from beamish import receive
    receive()


def test_runtime_view_lists_live_processes_names_aliases_and_timers():
    view = lowlevel.runtime_view()
    pid = spawn(_idle)
    register("lowlevel_idle", pid)
    tref = send_after(60, pid, "later")
    try:
        assert pid in [p.pid for p in view.processes()]
        assert view.process(pid).pid == pid
        assert view.names()["lowlevel_idle"] == pid
        assert tref in view.timers() and view.timer_count >= 1
        assert view.process_count == len(view.processes())
        assert view.pool_size >= 0 and view.ready_count >= 0
        view.names()["other"] = pid          # a snapshot: the runtime is untouched
        assert "other" not in view.names()
    finally:
        assert cancel_timer(tref)
        exit(pid, "kill")
    assert tref not in view.timers()
    settle()
    assert view.process(pid) is None and "lowlevel_idle" not in view.names()


def test_take_first_and_flush_mailbox_keep_the_tag_index_true():
    me = lowlevel.current_process()
    flush()
    for m in [("a", 1), ("b", 2), ("a", 3)]:
        send(self(), m)
    assert lowlevel.take_first(me, ("a", ANY)) == ("a", 1)
    assert lowlevel.take_first(me, ("z", ANY), default="none") == "none"
    assert assert_receive(("a", ANY)) == ("a", 3)    # the index saw the removal
    send(self(), ("c", 4))
    assert lowlevel.flush_mailbox(me) == [("b", 2), ("c", 4)]
    assert me.scanned == 0 and me.tags is None
    refute_receive(timeout=0)


def test_monitor_as_makes_the_watcher_get_the_down():
    me = lowlevel.current_process()
    target = spawn(_idle)
    ref = lowlevel.monitor_as(me, target)
    exit(target, "kill")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=5).reason == "killed"
    other = spawn(_idle)
    ref2 = lowlevel.monitor_as(me, other)
    lowlevel.demonitor_as(me, ref2)
    exit(other, "kill")
    refute_receive(("DOWN", ref2, ANY, ANY, ANY), timeout=0.2)


@pytest.mark.parametrize("reason, clean", [
    ("normal", True), ("shutdown", True), (("shutdown", "bye"), True), ("killed", False),
    (("shutdown", 1, 2), False), (ValueError("x"), False),
])
def test_is_clean_exit(reason, clean):
    assert lowlevel.is_clean_exit(reason) is clean


class Holder(GenServer):
    def init(self, value):
        self.value = value

    def handle_call(self, request, from_):
        if request == "stop_with_reply":
            return Stop("normal", reply="bye")
        return (lowlevel.exit_pending(lowlevel.current_process()),
                lowlevel.process_state_object(lowlevel.current_process()) is self)


def test_a_gen_server_records_its_instance_as_its_state_object():
    pid = start_server(Holder, ("v",), link=False)
    proc = lowlevel.lookup(pid)
    state = lowlevel.process_state_object(proc)
    assert isinstance(state, Holder) and state.value == "v"
    assert call(pid, "ask") == (False, True)
    assert lowlevel.initial_call_of(proc).endswith("Holder.init")
    stop(pid)
    assert lowlevel.process_state_object(proc) is None   # dropped with the process


def test_stop_says_whether_it_carries_a_reply():
    assert Stop("normal", reply=None).has_reply
    assert not Stop("normal").has_reply
    pid = start_server(Holder, ("v",), link=False)
    ref = monitor(pid)
    assert call(pid, "stop_with_reply") == "bye"
    assert_receive(("DOWN", ref, ANY, ANY, "normal"), timeout=5)
