"""Pooling, timers, system monitor and the leak check itself."""
import logging
import time

import gevent
import pytest
from hypothesis import given, settings, strategies as st

from beamish import (ANY, cancel_timer, exit, process_count, process_info, receive,
                     registered, self, send, send_after, spawn, spawn_monitor,
                     start_system_monitor, stop_system_monitor)
from beamish.core import _process
from beamish.testing import (LeakError, assert_receive, check_leaks, eventually, flush,
                             refute_receive, settle, snapshot)


def test_ten_thousand_processes_spawned_and_exited_leave_the_tables_empty():
    base, names = process_count(), registered()
    done = []
    for i in range(10_000):
        spawn(done.append, i)
    eventually(lambda: len(done) == 10_000, timeout=30)
    settle()
    assert process_count() == base and registered() == names
    assert len(_process._pool) <= _process.POOL_MAX


def test_a_thousand_hibernating_processes_leave_at_most_256_idle_greenlets():
    from beamish import hibernate
    from beamish.lowlevel import runtime_view

    def sleeper():
        receive("nap")         # parked on a greenlet of its own
        hibernate(receive)     # gives it back; the next message runs receive
    pids = [spawn(sleeper) for _ in range(1_000)]
    try:
        settle()
        for p in pids:
            send(p, "nap")
        settle()
        assert all(process_info(p).status == "hibernating" for p in pids)
        assert runtime_view().pool_size <= 256   # ~8 KB each, held by an idle node
    finally:
        for p in pids:
            exit(p, "kill")
        settle()


def test_a_reused_greenlet_carries_nothing_of_its_previous_process():
    def first(parent):
        send(parent, ("first", self()))
        receive("never")
    a = spawn(first, self())
    assert_receive(("first", a))
    exit(a, "kill")
    settle()

    def second(parent):
        send(parent, ("second", self(), receive(timeout=0, default="empty")))
    b, ref = spawn_monitor(second, self())
    assert assert_receive(("second", b, ANY)) == ("second", b, "empty")
    assert assert_receive(("DOWN", ref, ANY, ANY, ANY)).reason == "normal"


def test_send_after_delivers_later_and_cancel_timer_stops_it():
    t0 = time.monotonic()
    send_after(0.03, self(), "tick")
    assert assert_receive("tick", timeout=1) and time.monotonic() - t0 >= 0.025
    tref = send_after(0.02, self(), "never")
    assert cancel_timer(tref) is True and cancel_timer(tref) is False
    refute_receive("never", timeout=0.05)


def test_a_process_holding_the_hub_is_reported_as_a_long_schedule(caplog):
    events = []
    start_system_monitor(0.05, on_event=events.append)
    try:
        def hog():
            t = time.monotonic()
            while time.monotonic() - t < 0.3:
                pass
        with caplog.at_level(logging.WARNING, logger="beamish"):
            pid = spawn(hog)
            gevent.sleep(0.01)
            gevent.sleep(0.2)
    finally:
        stop_system_monitor()
    assert [e.pid for e in events] == [pid]
    assert events[0].seconds >= 0.25 and events[0].initial_call.endswith("hog")
    assert any(repr(pid) in r.getMessage() and "long_schedule" in r.getMessage()
               for r in caplog.records)


def test_the_leak_check_catches_and_cleans_a_leaked_process():
    before = snapshot()
    pid = spawn(lambda: receive("never"))
    with pytest.raises(LeakError, match="still alive"):
        check_leaks(before, grace=0.05)
    assert process_info(pid) is None


def test_the_leak_check_catches_a_leaked_monitor():
    keeper = spawn(lambda: receive("never"))
    before = snapshot()
    from beamish import monitor
    monitor(keeper)
    with pytest.raises(LeakError, match="monitor"):
        check_leaks(before, grace=0.05)
    exit(keeper, "kill")


# --- the mailbox against a plain list model, under any mix of operations ---
ops = st.lists(st.one_of(
    st.tuples(st.just("send"), st.sampled_from(["a", "b", "c"]), st.integers(0, 3)),
    st.tuples(st.just("send_raw"), st.sampled_from([1, "x", (), ([],)]), st.just(0)),
    st.tuples(st.just("recv_tag"), st.sampled_from(["a", "b", "c"]), st.integers(0, 3)),
    st.tuples(st.just("recv_any_tag"), st.sampled_from(["a", "b", "c"]), st.just(0)),
    st.tuples(st.just("recv"), st.just(None), st.just(0)),
    st.tuples(st.just("recv_pred"), st.just(None), st.integers(0, 3)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_selective_receive_with_the_tag_index_behaves_as_a_plain_scan(history):
    me = self()
    flush()
    model = []

    def take(pred):
        for i, m in enumerate(model):
            if pred(m):
                return model.pop(i)
        return "none"

    for op, tag, n in history:
        if op == "send":
            send(me, (tag, n))
            model.append((tag, n))
        elif op == "send_raw":
            send(me, tag)
            model.append(tag)
        elif op == "recv_tag":
            got = receive((tag, n), timeout=0, default="none")
            assert got == take(lambda m: m == (tag, n))
        elif op == "recv_any_tag":
            got = receive((tag, ANY), timeout=0, default="none")
            assert got == take(lambda m: isinstance(m, tuple) and len(m) == 2 and m[0] == tag)
        elif op == "recv":
            assert receive(timeout=0, default="none") == (model.pop(0) if model else "none")
        else:
            def pred(m, n=n):
                return isinstance(m, tuple) and len(m) == 2 and m[1] == n
            assert receive(pred, timeout=0, default="none") == take(pred)
    assert flush() == model
