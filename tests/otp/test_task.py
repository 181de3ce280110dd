"""Task and TaskSupervisor: results, crashes, timeouts without late replies,
yield, shutdown, supervised tasks that cannot take their caller down."""
import gevent
import pytest

from beamish import (ANY, BadArg, ChildSpec, DynamicSupervisor, Supervisor, SupervisorError,
                     Task, TaskExit, TaskSupervisor, TaskTimeout, exit, is_alive, monitor,
                     process_flag, process_info, receive, self, send, spawn, spawn_link, stop,
                     which_children)
from beamish.otp._task import _supervised_main
from beamish.testing import assert_receive, flush, refute_receive, settle


def add(a, b=0):
    return a + b


def slow(value, seconds):
    gevent.sleep(seconds)
    return value


def boom():
    raise ValueError("boom")


def wait_dead(pid):
    """Wait for ``pid`` to end; its reason, or "noproc" if it already had."""
    ref = monitor(pid)
    return assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=1.0).reason


def ended(pid):
    return wait_dead(pid) in ("normal", "noproc")


@pytest.fixture
def trapping():
    process_flag("trap_exit", True)
    yield
    process_flag("trap_exit", False)
    flush()


@pytest.fixture
def tasks():
    sup = TaskSupervisor.start_link(name="test_tasks")
    yield sup
    stop(sup)


# ------------------------------------------------------------- async/await
def test_await_returns_the_result():
    t = Task.async_(add, 1, b=2)
    assert (t.owner, process_info(t.pid).links) == (self(), (self(),))
    assert Task.await_(t) == 3
    assert ended(t.pid)
    refute_receive(timeout=0.02)


def test_a_none_result_is_a_result():
    assert Task.await_(Task.async_(lambda: None)) is None


def test_await_timeout_raises_and_the_late_result_never_arrives():
    t = Task.async_(slow, "late", 0.1)
    with pytest.raises(TaskTimeout) as ei:
        Task.await_(t, timeout=0.02)
    assert ei.value.reason == "timeout" and ei.value.task == t
    assert is_alive(t.pid)              # the task keeps running, as in Elixir
    assert wait_dead(t.pid) == "normal"  # ...and finished, sending its result
    refute_receive(timeout=0.05)         # which the inactive alias dropped
    assert process_info(self()).monitors == ()


@pytest.mark.crashes_expected
def test_a_crash_kills_a_non_trapping_owner():
    def owner(test):
        send(test, ("task", Task.async_(boom)))
        receive("never")
    pid = spawn(owner, self())
    ref = monitor(pid)
    _, task = assert_receive(("task", ANY))
    reason = assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason
    assert isinstance(reason, ValueError) and str(reason) == "boom"
    assert not is_alive(task.pid)


@pytest.mark.crashes_expected
def test_await_raises_the_tasks_reason_when_the_owner_traps_exits(trapping):
    t = Task.async_(boom)
    with pytest.raises(TaskExit) as ei:
        Task.await_(t)
    assert isinstance(ei.value.reason, ValueError) and str(ei.value.reason) == "boom"
    assert not isinstance(ei.value, TaskTimeout)
    assert str(t.pid) in str(ei.value)
    assert assert_receive(("EXIT", t.pid, ANY)).reason is ei.value.reason


def test_the_owners_death_kills_its_task():
    def owner(test):
        send(test, ("task", Task.async_(slow, "x", 10)))
        receive("die")
        exit("owner gone")
    pid = spawn(owner, self())
    _, task = assert_receive(("task", ANY))
    send(pid, "die")
    assert wait_dead(task.pid) == "owner gone"


def test_only_the_owner_may_await():
    t = Task.async_(slow, 1, 0.01)

    def stranger(test):
        try:
            Task.await_(t)
        except BadArg as e:
            send(test, ("refused", str(e)))
    spawn(stranger, self())
    assert "owned by" in assert_receive(("refused", ANY))[1]
    assert Task.await_(t) == 1


# ------------------------------------------------------- yield and shutdown
def test_yield_returns_none_while_running_then_the_result():
    t = Task.async_(slow, "done", 0.05)
    assert Task.yield_(t, timeout=0) is None
    assert Task.yield_(t, timeout=0.01) is None
    assert Task.yield_(t, timeout=1) == ("ok", "done")
    wait_dead(t.pid)
    refute_receive(timeout=0.02)


@pytest.mark.crashes_expected
def test_yield_reports_an_exit(trapping):
    t = Task.async_(boom)
    status, reason = Task.yield_(t, timeout=1)
    assert status == "exit" and isinstance(reason, ValueError)


def test_shutdown_stops_a_running_task():
    t = Task.async_(slow, "x", 10)
    assert Task.shutdown(t) is None
    assert not is_alive(t.pid)
    assert process_info(self()).monitors == () and process_info(self()).links == ()
    refute_receive(timeout=0.02)


def test_shutdown_kills_a_task_that_ignores_shutdown():
    def stubborn():
        process_flag("trap_exit", True)
        gevent.sleep(10)
    t = Task.async_(stubborn)
    settle()
    # Elixir: killed for outliving the timeout is not the shutdown asked for.
    assert Task.shutdown(t, timeout=0.02) == ("exit", "killed")
    assert not is_alive(t.pid)
    t = Task.async_(stubborn)
    settle()
    assert Task.shutdown(t, "brutal_kill") is None
    refute_receive(timeout=0.02)


def test_shutdown_reports_an_end_other_than_the_one_asked_for():
    def obliging():
        process_flag("trap_exit", True)
        receive(("EXIT", ANY, ANY))
        exit("cleaned_up")
    t = Task.async_(obliging)
    settle()
    assert Task.shutdown(t) == ("exit", "cleaned_up")
    refute_receive(timeout=0.02)


@pytest.mark.crashes_expected
def test_shutdown_of_a_task_whose_end_was_already_seen_reports_noproc(trapping):
    t = Task.async_(boom)
    assert Task.yield_(t, timeout=1)[0] == "exit"
    assert Task.shutdown(t) == ("exit", "noproc")


@pytest.mark.crashes_expected
def test_shutdown_of_a_task_that_already_died_reports_its_reason(trapping):
    t = Task.async_(boom)
    wait_dead(t.pid)
    assert_receive(("EXIT", t.pid, ANY))
    status, reason = Task.shutdown(t)
    assert status == "exit" and isinstance(reason, ValueError)


def test_shutdown_returns_a_result_that_already_arrived():
    t = Task.async_(add, 2, 2)
    settle()
    assert Task.shutdown(t) == ("ok", 4)
    refute_receive(timeout=0.02)


def test_shutdown_after_an_await_timeout():
    t = Task.async_(slow, "x", 10)
    with pytest.raises(TaskTimeout):
        Task.await_(t, timeout=0.01)
    assert Task.shutdown(t) is None
    assert not is_alive(t.pid)


# --------------------------------------------------------- fire and forget
def test_start_link_runs_for_side_effects():
    pid = Task.start_link(send, self(), "side effect")
    assert_receive("side effect")
    assert ended(pid)


@pytest.mark.crashes_expected
def test_a_task_child_is_temporary_under_a_supervisor():
    def once(test):
        send(test, "ran")
        raise RuntimeError("not restarted")
    sup = Supervisor.start_link([Task.child_spec(once, self())])
    assert_receive("ran")
    refute_receive("ran", timeout=0.05)
    assert which_children(sup) == []
    stop(sup)


# ---------------------------------------------------------- TaskSupervisor
def test_async_nolink_returns_the_result(tasks):
    t = TaskSupervisor.async_nolink(tasks, add, 40, 2)
    assert process_info(t.pid).links == (tasks,)
    assert Task.await_(t) == 42


@pytest.mark.crashes_expected
def test_async_nolink_crash_does_not_kill_the_caller(tasks):
    t = TaskSupervisor.async_nolink("test_tasks", boom)
    with pytest.raises(TaskExit) as ei:
        Task.await_(t)
    assert isinstance(ei.value.reason, ValueError)
    refute_receive(timeout=0.02)     # no EXIT, no DOWN left behind
    assert TaskSupervisor.children(tasks) == []


def test_async_nolink_timeout_drops_the_late_result(tasks):
    t = TaskSupervisor.async_nolink(tasks, slow, "late", 0.05)
    with pytest.raises(TaskTimeout):
        Task.await_(t, timeout=0.01)
    assert wait_dead(t.pid) == "normal"
    refute_receive(timeout=0.02)


def test_supervised_async_is_linked_to_the_caller(tasks):
    t = TaskSupervisor.async_(tasks, slow, "y", 0.01)
    assert sorted(process_info(t.pid).links) == sorted([tasks, self()])
    assert Task.await_(t) == "y"


def test_start_child_runs_and_is_not_restarted(tasks):
    pid = TaskSupervisor.start_child(tasks, send, self(), "fired")
    assert_receive("fired")
    assert ended(pid)
    assert TaskSupervisor.children(tasks) == []


def test_stopping_the_supervisor_shuts_its_tasks_down():
    sup = TaskSupervisor.start_link()
    t = TaskSupervisor.async_nolink(sup, slow, "x", 10)
    stop(sup)
    with pytest.raises(TaskExit) as ei:
        Task.await_(t)
    assert ei.value.reason == "shutdown"


def test_max_children_is_enforced():
    sup = TaskSupervisor.start_link(max_children=1)
    t = TaskSupervisor.async_nolink(sup, slow, "x", 10)
    with pytest.raises(SupervisorError):
        TaskSupervisor.async_nolink(sup, add, 1)
    assert Task.shutdown(t) is None
    stop(sup)


def test_a_task_whose_owner_died_before_the_handshake_ends_quietly(tasks):
    # What async_nolink does, minus the monitor and the hand-shake: the
    # owner dies before sending its reply address, so fn must never run.
    ran = []
    test = self()

    def owner():
        spec = ChildSpec(id="Task", start=spawn_link, restart="temporary",
                         args=(_supervised_main, self(), ran.append, (1,), {}))
        send(test, ("child", DynamicSupervisor.start_child(tasks, spec)))
    spawn(owner)
    _, child = assert_receive(("child", ANY))
    assert ended(child) and ran == []
