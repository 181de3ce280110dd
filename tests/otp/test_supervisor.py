"""Crash/restart supervision: every strategy, intensity and escalation,
restart types, shutdown order and brutal kill, failing children."""
import logging
import random
import time

import gevent
import pytest

from beamish import (ANY, ChildSpec, DynamicSupervisor, GenServer, StartError, Supervisor,
                     SupervisorError, call, cast, count_children, delete_child, exit, monitor,
                     process_count, process_flag, process_info, processes, receive,
                     restart_child, self, send, spawn, start_child, stop, terminate_child,
                     spawn_monitor, unlink, which_children, whereis)
from beamish import AlreadyStarted, CallExit
from beamish.testing import assert_receive, refute_receive, settle

EVENTS = "sup_events"


class Worker(GenServer):
    """Reports start and terminate to the test; traps exits to see shutdown."""

    def init(self, wid, test, trap=True, slow_stop=0.0):
        if trap:
            process_flag("trap_exit", True)
        self.wid, self.test, self.slow_stop = wid, test, slow_stop
        send(test, ("started", wid, self_pid()))

    def handle_call(self, request, from_):
        return ("pong", self.wid)

    def handle_cast(self, msg):
        if msg == "crash":
            raise RuntimeError(f"worker {self.wid} crashed")

    def terminate(self, reason):
        if self.slow_stop:
            gevent.sleep(self.slow_stop)
        send(self.test, ("stopped", self.wid, reason))

    @classmethod
    def spec(cls, wid, test, restart="permanent", shutdown=1000, **kw):
        return ChildSpec(id=wid, start=cls.start_link, args=(wid, test), kwargs=kw,
                         restart=restart, shutdown=shutdown)


def self_pid():
    from beamish import self as me
    return me()


def crash(pid):
    """Make a worker raise (workers trap exits, so a signal would not do)."""
    cast(pid, "crash")


def started(wid):
    return assert_receive(("started", wid, ANY), timeout=1)[2]


def start_sup(specs, **flags):
    sup = Supervisor.start(specs, **flags)
    return sup


@pytest.mark.crashes_expected
def test_one_for_one_restarts_only_the_crashed_child():
    me = self()
    sup = start_sup([Worker.spec("a", me), Worker.spec("b", me)], strategy="one_for_one")
    a, b = started("a"), started("b")
    crash(a)
    a2 = started("a")
    assert a2 != a
    refute_receive(("started", "b", ANY), timeout=0.02)
    assert [(i, p) for i, p, _ in which_children(sup)] == [("a", a2), ("b", b)]
    stop(sup)


@pytest.mark.crashes_expected
def test_one_for_all_restarts_every_child_in_order_after_stopping_the_others_in_reverse():
    me = self()
    sup = start_sup([Worker.spec(w, me) for w in "abc"], strategy="one_for_all")
    pids = {w: started(w) for w in "abc"}
    crash(pids["b"])
    assert assert_receive(("stopped", ANY, "shutdown")) == ("stopped", "c", "shutdown")
    assert assert_receive(("stopped", ANY, "shutdown")) == ("stopped", "a", "shutdown")
    assert [assert_receive(("started", ANY, ANY))[1] for _ in range(3)] == ["a", "b", "c"]
    stop(sup)


@pytest.mark.crashes_expected
def test_rest_for_one_restarts_the_child_and_those_started_after_it():
    me = self()
    sup = start_sup([Worker.spec(w, me) for w in "abc"], strategy="rest_for_one")
    pids = {w: started(w) for w in "abc"}
    crash(pids["b"])
    assert assert_receive(("stopped", ANY, "shutdown")) == ("stopped", "c", "shutdown")
    assert [assert_receive(("started", ANY, ANY))[1] for _ in range(2)] == ["b", "c"]
    refute_receive(("started", "a", ANY), timeout=0.02)
    assert which_children(sup)[0][1] == pids["a"]
    stop(sup)


def test_children_stop_in_reverse_order_when_the_supervisor_stops():
    me = self()
    sup = start_sup([Worker.spec(w, me) for w in "abc"])
    for w in "abc":
        started(w)
    stop(sup)
    assert [assert_receive(("stopped", ANY, ANY))[1] for _ in range(3)] == ["c", "b", "a"]


@pytest.mark.crashes_expected
def test_restart_intensity_reached_shuts_the_supervisor_down(caplog):
    me = self()
    sup = start_sup([Worker.spec("a", me)], max_restarts=2, max_seconds=5)
    ref = monitor(sup)
    with caplog.at_level(logging.ERROR, logger="beamish"):
        for _ in range(3):
            crash(started("a"))
        down = assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=1)
    assert down.reason == "shutdown"
    assert any("restart intensity" in r.getMessage() for r in caplog.records)


@pytest.mark.crashes_expected
def test_intensity_escalates_through_nested_supervisors():
    me = self()
    inner_spec = ChildSpec(id="inner", start=Supervisor.start_link,
                           args=([Worker.spec("w", me)],),
                           kwargs={"max_restarts": 1, "max_seconds": 5}, type="supervisor",
                           shutdown="infinity")
    top = start_sup([inner_spec], max_restarts=1, max_seconds=5)
    ref = monitor(top)
    # each inner supervisor dies after 2 crashes of w; top dies after 2 inner deaths
    for _ in range(4):
        crash(started("w"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=2).reason == "shutdown"


@pytest.mark.crashes_expected
def test_transient_children_are_not_restarted_after_a_normal_exit():
    me = self()
    sup = start_sup([Worker.spec("t", me, restart="transient")])
    pid = started("t")
    stop(pid, "normal")
    refute_receive(("started", "t", ANY), timeout=0.05)
    assert which_children(sup) == [("t", None, "worker")]
    assert restart_child(sup, "t") is not None
    pid = started("t")
    crash(pid)
    started("t")
    stop(sup)


@pytest.mark.crashes_expected
@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_a_temporary_sibling_stopped_by_a_restart_is_not_restarted_but_forgotten(strategy):
    me = self()
    sup = start_sup([Worker.spec("a", me), Worker.spec("tmp", me, restart="temporary"),
                     Worker.spec("b", me)], strategy=strategy)
    a, tmp, b = started("a"), started("tmp"), started("b")
    crash(a)
    assert_receive(("stopped", "tmp", "shutdown"))
    assert [assert_receive(("started", ANY, ANY))[1] for _ in range(2)] == ["a", "b"]
    refute_receive(("started", "tmp", ANY), timeout=0.05)
    assert [i for i, _, _ in which_children(sup)] == ["a", "b"]
    assert count_children(sup)["specs"] == 2
    stop(sup)


@pytest.mark.crashes_expected
def test_temporary_children_are_never_restarted_and_are_forgotten():
    me = self()
    sup = start_sup([Worker.spec("tmp", me, restart="temporary")])
    crash(started("tmp"))
    refute_receive(("started", "tmp", ANY), timeout=0.05)
    assert which_children(sup) == []
    stop(sup)


@pytest.mark.crashes_expected
def test_a_child_that_ignores_shutdown_is_brutally_killed_after_its_timeout():
    me = self()
    sup = start_sup([Worker.spec("slow", me, shutdown=50, slow_stop=5.0),
                     Worker.spec("fast", me)])
    slow = started("slow")
    started("fast")
    ref = monitor(slow)
    t0 = time.monotonic()
    stop(sup)
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY), timeout=1).reason == "killed"
    assert 0.04 <= time.monotonic() - t0 < 1.0
    assert_receive(("stopped", "fast", "shutdown"))


def test_brutal_kill_does_not_run_terminate():
    me = self()
    sup = start_sup([Worker.spec("b", me, shutdown="brutal_kill")])
    started("b")
    stop(sup)
    refute_receive(("stopped", "b", ANY), timeout=0.02)


class CrashInInit(GenServer):
    def init(self):
        raise RuntimeError("cannot start")


@pytest.mark.crashes_expected
def test_a_child_whose_init_crashes_fails_the_supervisor_start_and_stops_the_others():
    me = self()
    with pytest.raises(StartError) as info:
        Supervisor.start_link([Worker.spec("ok", me), CrashInInit])
    reason = info.value.reason
    assert reason[0] == "failed_to_start_child" and reason[1] is CrashInInit
    started("ok")
    assert_receive(("stopped", "ok", "shutdown"))


@pytest.mark.crashes_expected
def test_a_child_that_crashes_during_shutdown_does_not_stop_the_rest():
    class Crashy(Worker):
        def terminate(self, reason):
            raise RuntimeError("crash while stopping")
    me = self()
    spec = ChildSpec(id="crashy", start=Crashy.start_link, args=("crashy", me))
    sup = start_sup([Worker.spec("a", me), spec, Worker.spec("c", me)])
    for w in ("a", "crashy", "c"):
        started(w)
    ref = monitor(sup)
    stop(sup)
    assert_receive(("stopped", "c", "shutdown"))
    assert_receive(("stopped", "a", "shutdown"))
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "normal"


def test_child_management_calls():
    me = self()
    sup = start_sup([Worker.spec("a", me)])
    started("a")
    b = start_child(sup, Worker.spec("b", me))
    assert b == started("b")
    with pytest.raises(AlreadyStarted) as ei:
        start_child(sup, Worker.spec("b", me))
    assert ei.value.pid == b and ei.value.reason == ("already_started", b)
    assert isinstance(ei.value, SupervisorError)
    assert count_children(sup) == {"specs": 2, "active": 2, "supervisors": 0, "workers": 2}
    terminate_child(sup, "b")
    assert_receive(("stopped", "b", "shutdown"))
    with pytest.raises(SupervisorError, match="already_present"):
        start_child(sup, Worker.spec("b", me))
    assert count_children(sup)["active"] == 1
    with pytest.raises(SupervisorError, match="running"):
        delete_child(sup, "a")
    delete_child(sup, "b")
    with pytest.raises(SupervisorError, match="not_found"):
        restart_child(sup, "b")
    stop(sup)


def test_a_genserver_class_can_be_listed_directly_as_a_child():
    class Plain(GenServer):
        def handle_call(self, request, from_):
            return "plain"
    sup = start_sup([Plain])
    [(cid, pid, kind)] = which_children(sup)
    assert cid is Plain and kind == "worker" and call(pid, "x") == "plain"
    stop(sup)


@pytest.mark.crashes_expected
def test_dynamic_supervisor_starts_children_on_demand_up_to_max_children():
    me = self()
    sup = DynamicSupervisor.start(max_children=2)
    a = DynamicSupervisor.start_child(sup, Worker.spec("a", me))
    b = DynamicSupervisor.start_child(sup, Worker.spec("b", me))
    with pytest.raises(SupervisorError, match="max_children"):
        DynamicSupervisor.start_child(sup, Worker.spec("c", me))
    started("a")
    started("b")
    crash(a)
    a2 = started("a")
    assert {p for _, p, _ in DynamicSupervisor.which_children(sup)} == {a2, b}
    DynamicSupervisor.terminate_child(sup, b)
    assert_receive(("stopped", "b", "shutdown"))
    stop(sup)
    assert_receive(("stopped", "a", "shutdown"))


# ------------------------------------------------------------------ chaos
class Bank(GenServer):
    """Counts deposits; a client keeps what it was told, then checks."""

    def init(self, name):
        self.total = 0

    def handle_call(self, request, from_):
        self.total += 1
        return (self_pid(), self.total)


@pytest.mark.crashes_expected
def test_chaos_random_kills_under_load_leave_the_tree_whole_and_nothing_leaked():
    rng = random.Random(7)
    leaf_specs = lambda prefix: [ChildSpec(id=f"{prefix}{i}", start=Bank.start_link,
                                           args=(f"{prefix}{i}",), kwargs={"name": f"{prefix}{i}"})
                                 for i in range(3)]
    mid = lambda name, strategy: ChildSpec(
        id=name, start=Supervisor.start_link, args=(leaf_specs(name + "_"),),
        kwargs={"strategy": strategy, "max_restarts": 1000, "max_seconds": 1, "name": name},
        type="supervisor", shutdown="infinity")
    root = Supervisor.start([mid("m1", "one_for_one"), mid("m2", "one_for_all"),
                             mid("m3", "rest_for_one")], max_restarts=1000, max_seconds=1,
                            name="chaos_root")
    names = [f"m{m}_{i}" for m in (1, 2, 3) for i in range(3)]
    replies = []
    stop_at = time.monotonic() + 1.5

    def client(n):
        while time.monotonic() < stop_at:
            target = names[n % len(names)]
            try:
                replies.append((target, call(target, "deposit", timeout=1)))
            except CallExit:
                pass  # the server was killed mid-call: no reply, nothing lost
            gevent.sleep(0)
    # Monitored, not fire-and-forget: a client that fails (an unexpected
    # error from call) ends with that reason, and the test sees it below.
    clients = [spawn_monitor(client, n) for n in range(6)]
    kills = 0
    while time.monotonic() < stop_at:
        victims = [p for p in processes() if process_info(p) and
                   (process_info(p).registered_name or "").startswith(("m1", "m2", "m3"))]
        if victims:
            exit(rng.choice(victims), rng.choice(["kill", "boom", "shutdown"]))
            kills += 1
        gevent.sleep(0.005)
    for pid, ref in clients:   # each ends by itself once stop_at has passed
        down = assert_receive(("DOWN", ref, "process", pid, ANY), timeout=5)
        assert down.reason == "normal", f"client {pid!r} failed: {down.reason!r}"
    settle()                   # the last restarts are done
    assert kills > 50
    # the tree has exactly its specified children, every one alive
    assert [cid for cid, _, _ in which_children("chaos_root")] == ["m1", "m2", "m3"]
    for m in ("m1", "m2", "m3"):
        kids = which_children(m)
        assert [cid for cid, _, _ in kids] == [f"{m}_{i}" for i in range(3)]
        assert all(pid is not None and process_info(pid) for _, pid, _ in kids)
        assert all(whereis(f"{m}_{i}") == pid for i, (_, pid, _) in enumerate(kids))
    # no reply was lost or doubled: per server incarnation, the counts the
    # clients were told are exactly 1..n
    assert len(replies) > 100
    per_incarnation = {}
    for target, (pid, n) in replies:
        per_incarnation.setdefault(pid, []).append(n)
    for pid, counts in per_incarnation.items():
        assert sorted(counts) == list(range(1, len(counts) + 1)), pid
    stop("chaos_root")
