"""Distribution in one OS process, against a fake remote node that speaks
the frame protocol by hand (tests/dist/fakepeer.py) over a MemoryCluster:
fast checks of every rule; the real multi-node runs are in
test_dist_cluster.py."""
import logging
import time

import pytest

from beamish import (CallExit, CallTimeout, Down, ExitMsg, call, demonitor, exit, link,
                     monitor, process_flag, receive, self, send, spawn)
from beamish.dist import (join, leave, local_members, members, monitor_node, monitor_nodes,
                          nodes, register_name, stats, whereis_name, which_groups)
from beamish.lowlevel import tags
from beamish.testing import assert_receive, refute_receive

from fakepeer import PEER, make_peer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def peer():
    p = make_peer()
    yield p
    p.close()


def idle():
    receive("never")


def test_a_monitor_of_a_node_that_is_not_connected_is_down_with_noconnection_at_once(peer):
    ref = monitor(peer.pid(5))
    assert_receive(("DOWN", ref, "process", peer.pid(5), "noconnection"), timeout=0.5)
    ref = monitor(("srv", PEER))
    assert_receive(("DOWN", ref, "process", ("srv", PEER), "noconnection"), timeout=0.5)


def test_the_handshake_brings_the_node_up_and_monitor_nodes_reports_it(peer):
    monitor_nodes()
    peer.connect()
    assert_receive(("nodeup", PEER), timeout=2)
    assert nodes() == [PEER]
    monitor_nodes(False)


def test_remote_send_keeps_order_both_ways(peer):
    peer.connect()
    target = peer.pid(5)
    for i in range(200):
        send(target, ("n", i))
    got = [peer.take("m") for _ in range(200)]
    assert [op[2] for op in got] == [("n", i) for i in range(200)]
    assert all(op[1] == target for op in got)
    peer.ops(*[("m", self(), ("back", i)) for i in range(50)])
    for i in range(50):
        assert receive(timeout=2) == ("back", i)


def test_a_remote_monitor_reports_the_process_reason_and_demonitor_is_told(peer):
    peer.connect()
    target = peer.pid(9)
    ref = monitor(target)
    op = peer.take("mon")
    assert op[1:] == (self(), ref, target)
    peer.ops(("down", self(), ref, "boom"))
    msg = receive(timeout=2)
    assert msg.__class__ is Down and msg.ref == ref and msg.pid == target and msg.reason == "boom"
    ref2 = monitor(target)
    peer.take("mon")
    demonitor(ref2)
    assert peer.take("demon")[1] == ref2
    peer.ops(("down", self(), ref2, "late"))     # after demonitor: dropped
    refute_receive(("DOWN", ref2, "process", target, "late"), timeout=0.2)


def test_a_node_that_goes_silent_is_down_for_monitors_links_and_node_monitors(peer):
    peer.connect()
    target = peer.pid(11)
    process_flag("trap_exit", True)
    try:
        ref = monitor(target)
        link(target)
        assert peer.take("link")[1:] == (self(), target)
        monitor_node(PEER)
        peer.silent = True
        t0 = time.monotonic()
        assert_receive(("DOWN", ref, "process", target, "noconnection"), timeout=3)
        assert_receive(ExitMsg(target, "noconnection"), timeout=1)
        assert_receive(("nodedown", PEER), timeout=1)
        assert time.monotonic() - t0 < 0.5 + 1.0     # the down period, and a margin
        assert nodes() == []
    finally:
        process_flag("trap_exit", False)


def test_a_remote_exit_along_a_link_ends_the_local_process(peer):
    peer.connect()
    remote = peer.pid(12)

    def linked():
        link(remote)
        receive("never")

    pid = spawn(linked)
    ref = monitor(pid)
    assert peer.take("link")[1:] == (pid, remote)
    peer.ops(("exit", remote, pid, "remote_crash", True))
    assert_receive(("DOWN", ref, "process", pid, "remote_crash"), timeout=2)


def test_a_local_process_end_signals_its_remote_links_and_watchers(peer):
    peer.connect()
    pid = spawn(idle)
    watcher = peer.pid(20)
    peer.ops(("link", watcher, pid), ("mon", watcher, "wref", pid))
    import gevent
    gevent.sleep(0.1)
    exit(pid, "bye")
    assert peer.take("exit")[1:] == (pid, watcher, "bye", True)
    assert peer.take("down")[1:] == (watcher, "wref", "bye")


def test_a_pid_of_an_old_incarnation_is_dead(peer):
    peer.connect()
    old = peer.pid(5, creation=1)
    ref = monitor(old)
    assert_receive(("DOWN", ref, "process", old, "noproc"), timeout=0.5)
    send(old, "lost")
    before = stats()["dropped"]
    send(old, "lost")
    assert stats()["dropped"] == before + 1


def test_a_restarted_node_is_down_then_up_again(peer):
    peer.connect()
    monitor_nodes()
    ref = monitor(peer.pid(5))
    peer.take("mon")
    peer.connect(creation=78)
    assert_receive(("DOWN", ref, "process", peer.pid(5), "noconnection"), timeout=2)
    assert_receive(("nodedown", PEER), timeout=1)
    assert_receive(("nodeup", PEER), timeout=2)
    monitor_nodes(False)


def test_a_frame_with_a_wrong_secret_is_dropped_and_logged(peer, caplog):
    with caplog.at_level(logging.WARNING, logger="beamish.dist"):
        for _ in range(5):
            peer.ops(("hb",), secret=b"not-the-secret")
        import gevent
        gevent.sleep(0.2)
    assert stats()["bad_frames"] == 5
    assert nodes() == []
    assert peer.inbox == [] or all(op[0] == "hb" for op in peer.inbox), "no hello answered"
    lines = [r for r in caplog.records if "dropped a frame" in r.getMessage()]
    assert len(lines) == 1, "logged, at most once a second"


def test_remote_call_replies_times_out_and_drops_a_late_reply(peer):
    peer.connect()
    server = peer.pid(30)
    results = {}

    def caller(timeout):
        try:
            got = call(server, "ping", timeout)
        except (CallExit, CallTimeout) as e:
            got = type(e).__name__
        results[timeout] = (got, receive(timeout=0.5, default="empty"))

    spawn(caller, 2.0)
    _, watcher, ref, target = peer.take("mon")
    _, to, (tag, (frm, alias), req) = peer.take("m")
    assert (to, tag, req, alias) == (server, tags.CALL, "ping", ref)
    peer.ops(("m", alias, (alias, "pong")))
    spawn(caller, 0.2)
    _, watcher2, ref2, _ = peer.take("mon")
    peer.take("m")
    assert peer.take("demon", timeout=2)[1] == ref     # the first call ended its monitor
    assert peer.take("demon", timeout=2)[1] == ref2    # the timed out one too
    peer.ops(("m", ref2, (ref2, "late")))
    deadline = time.monotonic() + 3
    while len(results) < 2 and time.monotonic() < deadline:
        receive(timeout=0.02, default=None)
    assert results == {2.0: ("pong", "empty"), 0.2: ("CallTimeout", "empty")}


def test_global_names_and_the_conflict_rule(peer):
    peer.connect()
    mine = spawn(idle)
    ref = monitor(mine)
    register_name("svc", mine)
    assert whereis_name("svc") == mine
    assert peer.take("greg")[1:] == ("svc", mine)
    theirs = peer.pid(40)          # "b@test" < this node's name: it ranks lower, so wins
    peer.ops(("greg", "svc", theirs))
    assert_receive(("DOWN", ref, "process", mine, "killed"), timeout=2)
    assert whereis_name("svc") == theirs
    peer.ops(("gunreg", "svc", theirs))
    import gevent
    gevent.sleep(0.05)
    assert whereis_name("svc") is None


def test_groups_join_leave_sync_and_node_down(peer):
    peer.connect()
    a, b = spawn(idle), spawn(idle)
    join("g", [a, b])
    assert peer.take("pjoin")[1:] == ("g", [a, b])
    peer.ops(("pjoin", "g", [peer.pid(50)]))
    import gevent
    gevent.sleep(0.05)
    assert sorted(members("g")) == sorted([a, b, peer.pid(50)])
    assert local_members("g") == [a, b]
    assert leave("g", a)
    assert peer.take("pleave")[1:] == ("g", [a])
    exit(b, "kill")
    assert peer.take("pleave")[1:] == ("g", [b])
    assert members("g") == [peer.pid(50)]
    assert which_groups() == ["g"]
    exit(a, "kill")
    peer.silent = True
    gevent.sleep(1.0)                       # silent past the down period
    assert members("g") == [] and which_groups() == []
