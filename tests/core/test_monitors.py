from beamish import (ANY, Down, MonitorInfo, demonitor, exit, monitor, node, process_info,
                     receive, register, self, send, spawn, spawn_monitor, unregister)
from beamish.testing import assert_receive, flush, refute_receive, settle


def idle():
    receive("never")


def test_monitor_returns_a_fresh_ref_every_call_and_counts_them():
    pid = spawn(idle)
    r1, r2 = monitor(pid), monitor(pid)
    assert r1 != r2
    mine = process_info(self()).monitors
    assert [m.ref for m in mine] == [r1, r2] and {m.target for m in mine} == {pid}
    assert process_info(pid).monitored_by == (self(), self())
    exit(pid, "kill")
    downs = {assert_receive(Down).ref, assert_receive(Down).ref}
    assert downs == {r1, r2}


def test_down_message_is_a_tuple_and_a_named_record():
    pid, ref = spawn_monitor(lambda: exit("bye"))
    msg = assert_receive(("DOWN", ref, "process", pid, ANY))
    assert msg == ("DOWN", ref, "process", pid, "bye")
    match msg:
        case ("DOWN", r, "process", p, reason):
            assert (r, p, reason) == (ref, pid, "bye")
    assert msg.reason == "bye" and msg.pid == pid and msg.ref == ref


def test_monitoring_a_dead_pid_gives_an_immediate_noproc_down():
    pid = spawn(lambda: None)
    settle()
    ref = monitor(pid)
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=0) == ("DOWN", ref, "process",
                                                                       pid, "noproc")
    assert process_info(self()).monitors == ()


def test_demonitor_stops_the_down():
    pid = spawn(idle)
    ref = monitor(pid)
    assert demonitor(ref) is True
    assert process_info(pid).monitored_by == ()
    exit(pid, "kill")
    refute_receive(Down, timeout=0.02)


def test_demonitor_with_flush_drops_a_down_already_queued():
    pid = spawn(idle)
    ref = monitor(pid)
    send(self(), "keep me")
    exit(pid, "kill")
    settle()
    assert process_info(self()).message_queue_len == 2
    demonitor(ref, flush=True)
    assert flush() == ["keep me"]


def test_monitor_by_registered_name_reports_name_and_node():
    def named():
        register("watched", self())
        receive("stop")
    pid = spawn(named)
    settle()
    ref = monitor("watched")
    send(pid, "stop")
    down = assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert down.pid == ("watched", node()) and down.reason == "normal"


def test_a_monitor_by_name_stays_bound_to_its_process_after_unregister():
    pid = spawn(idle)
    register("watched", pid)
    ref = monitor("watched")
    unregister("watched")
    assert process_info(self()).monitors == (MonitorInfo(ref, ("watched", node())),)
    exit(pid, "kill")
    down = assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert down.pid == ("watched", node()) and down.reason == "killed"


def test_demonitor_by_name_after_unregister_stops_the_down():
    pid = spawn(idle)
    register("watched", pid)
    ref = monitor("watched")
    unregister("watched")
    demonitor(ref)
    assert process_info(self()).monitors == ()
    assert process_info(pid).monitored_by == ()
    exit(pid, "kill")
    refute_receive(Down, timeout=0.05)


def test_a_dead_watcher_by_name_is_released_from_its_target_after_unregister():
    target = spawn(idle)
    register("watched", target)

    def watcher(test):
        monitor("watched")
        send(test, "watching")
        receive("go")
    w = spawn(watcher, self())
    assert_receive("watching")
    assert process_info(target).monitored_by == (w,)
    unregister("watched")
    ref = monitor(w)
    send(w, "go")
    assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert process_info(target).monitored_by == ()
    exit(target, "kill")


def test_monitoring_an_unknown_name_gives_noproc():
    ref = monitor("no_such_name")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=0).reason == "noproc"


def test_monitors_held_by_a_dead_process_are_released_from_their_targets():
    target = spawn(idle)

    def watcher():
        monitor(target)
        monitor(target)
    spawn(watcher)
    settle()
    assert process_info(target).monitored_by == ()
    exit(target, "kill")


def test_an_alias_routes_until_deactivated():
    from beamish import alias, unalias
    a = alias()
    send(a, "via alias")
    assert assert_receive("via alias", timeout=0)
    assert unalias(a) is True and unalias(a) is False
    send(a, "dropped")
    refute_receive("dropped", timeout=0.01)


def test_a_monitor_alias_drops_replies_after_demonitor():
    pid = spawn(idle)
    ref = monitor(pid, alias=True)
    send(ref, (ref, "early"))
    assert assert_receive((ref, ANY), timeout=0) == (ref, "early")
    demonitor(ref, flush=True)
    send(ref, (ref, "late"))
    refute_receive((ref, ANY), timeout=0.01)
    exit(pid, "kill")


def test_a_monitor_alias_ends_with_the_down():
    from beamish.core._process import _aliases
    pid = spawn(idle)
    ref = monitor(pid, alias=True)
    exit(pid, "kill")
    assert_receive(("DOWN", ref, ANY, ANY, ANY))
    assert ref not in _aliases
    send(ref, "late")
    refute_receive("late", timeout=0.01)
