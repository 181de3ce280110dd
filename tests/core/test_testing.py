"""beamish.testing's own helpers: settle, eventually, the identity-based
leak check and the crash check."""
import socket
import textwrap
import time

import gevent
import pytest
from gevent import socket as gsocket

from beamish import (alias, cancel_timer, demonitor, exit, link, monitor, receive, register,
                     registered, self, send, send_after, spawn, unalias, unlink, unregister)
from beamish.lowlevel import instance, put_instance, remove_instance
from beamish.testing import (ErrorReports, EventuallyTimeout, LeakError, SettleTimeout,
                             assert_received, check_leaks, eventually, settle, snapshot)


def _forward(to):
    send(to, receive())


def _idle():
    receive("never")


# ------------------------------------------------------------------ settle
def test_settle_returns_after_a_long_chain_of_hops_has_run():
    me = self()
    head = me
    for _ in range(200):
        head = spawn(_forward, head)
    send(head, "through")
    settle()
    assert assert_received("through") == "through"


def test_settle_counts_a_socket_ready_to_read_as_work_to_do():
    a, b = gsocket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    me = self()

    def reader():
        send(me, ("read", b.recv(100)))
    spawn(reader)
    settle()                    # the reader now blocks in recv
    a.sendall(b"bytes")         # ready in the kernel; the hub has not polled yet
    settle()
    assert assert_received(("read", b"bytes"))
    a.close()
    b.close()


def test_settle_returns_while_processes_wait_on_timers_and_sockets():
    a, b = gsocket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sleeper = spawn(gevent.sleep, 30)
    waiter = spawn(lambda: receive("never", timeout=30))
    reader = spawn(b.recv, 10)
    tref = send_after(30, self(), "later")
    t0 = time.monotonic()
    settle()
    assert time.monotonic() - t0 < 1.0
    cancel_timer(tref)
    for pid in (sleeper, waiter, reader):
        exit(pid, "kill")
    a.close()
    b.close()


def test_settle_times_out_naming_processes_that_never_block():
    def ping(peer_box):
        while True:
            msg = receive()
            if msg[0] == "peer":
                peer_box.append(msg[1])
            else:
                send(peer_box[0], ("ball",))
    a, b = spawn(ping, []), spawn(ping, [])
    send(a, ("peer", b))
    send(b, ("peer", a))
    send(a, ("ball",))
    with pytest.raises(SettleTimeout, match=repr(a).replace(".", r"\.")) as info:
        settle(timeout=0.2)
    assert repr(b) in str(info.value)
    exit(a, "kill")
    exit(b, "kill")
    settle()


# -------------------------------------------------------------- eventually
def test_eventually_retries_a_predicate_until_it_is_true_and_returns_its_value():
    box = []
    gevent.spawn_later(0.05, box.append, "done")
    t0 = time.monotonic()
    assert eventually(lambda: box and box[0], timeout=5) == "done"
    assert time.monotonic() - t0 >= 0.04


def test_eventually_retries_an_assert_style_check():
    box = []
    gevent.spawn_later(0.05, box.append, 1)

    def check():
        assert box == [1], box
        return True
    assert eventually(check, timeout=5) is True


def test_eventually_times_out_with_the_last_assertion():
    def check():
        assert 1 == 2, "never equal"
    t0 = time.monotonic()
    with pytest.raises(EventuallyTimeout, match="never equal") as info:
        eventually(check, timeout=0.1)
    assert 0.09 <= time.monotonic() - t0 < 2
    assert isinstance(info.value.__cause__, AssertionError)
    with pytest.raises(EventuallyTimeout, match="returned None"):
        eventually(lambda: None, timeout=0.05)


def test_eventually_lets_other_errors_through_at_once():
    calls = []

    def check():
        calls.append(1)
        raise KeyError("broken")
    with pytest.raises(KeyError):
        eventually(check, timeout=5)
    assert calls == [1]


# ---------------------------------------------------- leaks, by identity
@pytest.fixture
def keeper():
    pid = spawn(_idle)
    yield pid
    exit(pid, "kill")


def test_freeing_one_monitor_and_leaking_another_is_a_leak(keeper):
    old = monitor(keeper)
    before = snapshot()
    demonitor(old)
    new = monitor(keeper)
    with pytest.raises(LeakError, match="monitor") as info:
        check_leaks(before, grace=0.05)
    assert repr(new) in str(info.value)


def test_swapping_a_link_a_name_an_alias_a_timer_and_an_instance_is_a_leak(keeper):
    other = spawn(_idle)
    link(keeper)
    put_instance("testing_kind", "old", 1, keeper)
    register("testing_swap", keeper)
    old_alias = alias()
    old_timer = send_after(30, self(), "old")
    before = snapshot()
    unlink(keeper)
    link(other)
    unregister("testing_swap")
    register("testing_swap", other)
    unalias(old_alias)
    alias()
    cancel_timer(old_timer)
    send_after(30, self(), "new")
    remove_instance("testing_kind", "old")
    put_instance("testing_kind", "new", 2, keeper)
    with pytest.raises(LeakError) as info:
        check_leaks(before, grace=0.05)
    text = str(info.value)
    for what in ("link", "name 'testing_swap'", "alias", "send_after timer",
                 "instance testing_kind 'new'"):
        assert what in text, what
    exit(other, "kill")
    assert eventually(lambda: "testing_swap" not in registered())
    assert instance("testing_kind", "new") is None


def test_the_same_holdings_are_no_leak(keeper):
    ref = monitor(keeper)
    before = snapshot()
    check_leaks(before, grace=0.05)
    demonitor(ref)


# ------------------------------------------------------------ crash check
def _boom():
    raise RuntimeError("boom in a process")


@pytest.mark.crashes_expected
def test_error_reports_collects_a_crash_report():
    with ErrorReports() as reports:
        pid = spawn(_boom)
        settle()
    assert any(repr(pid) in r.getMessage() for r in reports.records)
    assert "boom in a process" in reports.summary()


@pytest.mark.crashes_expected
def test_a_marked_test_may_crash_processes():
    spawn(_boom)
    settle()


def test_the_fixtures_fail_unexpected_crashes_and_leaks_in_a_real_pytest_run(pytester):
    pytester.makeconftest(textwrap.dedent("""
        from gevent import monkey
        monkey.patch_all()
        import pytest
        pytest_plugins = ["beamish.testing"]

        @pytest.fixture(autouse=True)
        def _checks(beamish_no_crashes, beamish_no_leaks):
            yield
    """))
    pytester.makepyfile(textwrap.dedent("""
        import pytest
        from beamish import demonitor, monitor, receive, spawn, exit
        from beamish.testing import settle

        def boom():
            raise RuntimeError("boom")

        def test_unexpected_crash():
            spawn(boom)
            settle()

        @pytest.mark.crashes_expected
        def test_expected_crash():
            spawn(boom)
            settle()

        def test_swapped_monitor():
            keeper = spawn(receive, "never")
            demonitor(monitor(keeper))
            monitor(keeper)

        def test_clean():
            spawn(lambda: None)
            settle()
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["*UnexpectedCrash*1 error report*", "*boom*"])
    result.stdout.fnmatch_lines(["*LeakError*", "*monitor*"])
