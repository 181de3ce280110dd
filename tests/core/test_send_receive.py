import gevent
import pytest

from beamish import (ANY, NotRegistered, ReceiveTimeout, receive, register, self, send, spawn,
                     spawn_link)
from beamish.testing import assert_receive, flush, refute_receive, settle


def test_messages_from_one_sender_arrive_in_send_order():
    def producer(dest):
        for i in range(1000):
            send(dest, ("n", i))
    spawn(producer, self())
    got = [receive(("n", ANY), timeout=1)[1] for _ in range(1000)]
    assert got == list(range(1000))


def test_send_to_a_dead_pid_is_a_silent_noop():
    pid = spawn(lambda: None)
    settle()
    assert send(pid, "late") == "late"


def test_send_to_an_unknown_name_raises():
    with pytest.raises(NotRegistered, match="nobody_here"):
        send("nobody_here", 1)


def test_send_to_a_registered_name_delivers():
    def named(parent):
        register("echoer", self())
        send(parent, "ready")
        send(parent, ("echo", receive()))
    spawn(named, self())
    assert_receive("ready")
    send("echoer", 42)
    assert assert_receive(("echo", ANY)) == ("echo", 42)


def test_selective_receive_leaves_other_messages_queued_in_order():
    me = self()
    for m in [("a", 1), ("b", 2), ("a", 3), "x", ("b", 4)]:
        send(me, m)
    assert receive(("b", ANY)) == ("b", 2)
    assert flush() == [("a", 1), ("a", 3), "x", ("b", 4)]


def test_timeout_zero_polls_without_waiting():
    assert receive(timeout=0, default="empty") == "empty"
    send(self(), "here")
    assert receive(timeout=0) == "here"


def test_timeout_raises_without_default():
    t0 = gevent.get_hub().loop.now()
    with pytest.raises(ReceiveTimeout):
        receive(("never", ANY), timeout=0.05)
    assert gevent.get_hub().loop.now() - t0 >= 0.04


def test_non_matching_arrivals_do_not_end_the_timeout_early_or_late():
    def chatter(dest):
        for _ in range(5):
            send(dest, "noise")
            gevent.sleep(0.01)
    spawn(chatter, self())
    assert receive("signal", timeout=0.1, default="timed out") == "timed out"
    assert flush() == ["noise"] * 5


def test_a_message_arriving_while_waiting_is_matched():
    def later(dest):
        gevent.sleep(0.01)
        send(dest, ("noise", 0))
        send(dest, ("wanted", 7))
    spawn(later, self())
    assert receive(("wanted", ANY), timeout=1) == ("wanted", 7)
    assert flush() == [("noise", 0)]


def test_type_and_predicate_patterns():
    me = self()
    send(me, 1)
    send(me, "two")
    send(me, {"k": 3})
    assert receive(str) == "two"
    assert receive(lambda m: isinstance(m, dict) and m.get("k") == 3) == {"k": 3}
    assert receive() == 1


def test_a_match_statement_can_serve_as_the_predicate():
    def wanted(msg):
        match msg:
            case ("order", qty, _) if qty > 10:
                return True
        return False
    me = self()
    send(me, ("order", 5, "a"))
    send(me, ("order", 50, "b"))
    assert receive(wanted) == ("order", 50, "b")
    assert flush() == [("order", 5, "a")]


def test_several_patterns_take_the_earliest_matching_message():
    me = self()
    send(me, ("z", 0))
    send(me, ("b", 1))
    send(me, ("a", 2))
    assert receive(("a", ANY), ("b", ANY)) == ("b", 1)
    assert receive(("a", ANY), lambda m: m[0] == "z") == ("z", 0)
    assert flush() == [("a", 2)]


def test_wildcards_match_nested_structure_and_records():
    me = self()
    send(me, ("reply", ("ok", {"x": 1})))
    assert receive(("reply", ("ok", ANY))) == ("reply", ("ok", {"x": 1}))


def test_waiting_receive_scans_only_new_messages_on_each_wakeup():
    calls = []

    def pred(m):
        calls.append(m)
        return m == "stop"

    def feeder(dest):
        for i in range(20):
            send(dest, i)
            gevent.sleep(0)
        send(dest, "stop")
    spawn(feeder, self())
    assert receive(pred, timeout=1) == "stop"
    assert len(calls) == 21, "each queued message is tested once across wake-ups"
    assert flush() == list(range(20))


def test_tag_patterns_skip_messages_already_scanned_by_earlier_receives():
    me = self()
    for i in range(1000):
        send(me, ("other", i))
    for k in range(50):
        send(me, ("target", k))
        assert receive(("target", k)) == ("target", k)
    from beamish.core._process import _current
    p = _current()
    assert p.scanned == 1000 and p.tags == {"other": 1000}
    assert receive() == ("other", 0)
    assert p.scanned == 999 and p.tags == {"other": 999}
    flush()


def test_receive_outside_a_process_greenlet_raises():
    from beamish import NotAProcess
    import greenlet
    g = greenlet.greenlet(lambda: receive(timeout=0))
    with pytest.raises(NotAProcess):
        g.switch()


def test_refute_receive_fails_on_a_match():
    send(self(), "boom")
    with pytest.raises(AssertionError, match="boom"):
        refute_receive("boom", timeout=0)
    refute_receive("boom", timeout=0)


def test_assert_receive_failure_shows_the_mailbox():
    send(self(), ("something", "else"))
    with pytest.raises(AssertionError, match="something"):
        assert_receive(("wanted", ANY), timeout=0.01)
    flush()


def test_a_linked_helper_can_feed_the_main_process():
    pid = spawn_link(lambda parent: send(parent, "fed"), self())
    assert assert_receive("fed")
    gevent.sleep(0)
    assert pid
