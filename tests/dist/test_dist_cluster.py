"""Distribution between real node OS processes (tests/dist/node_app.py),
over a real redis-server and over the host relay: order under load,
call/cast/timeout, monitor and link reasons, SIGKILL and SIGSTOP of a node,
a restarted node's old pids, a wrong cluster secret."""
import os
import shutil
import signal
import tempfile
import time

import gevent
import pytest

from beamish import stop
from beamish.pubsub import HOST_CLUSTER_ENV, HostRelay
from tools.harness import Node

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
DOWN = 1.0


def boot(name, *args, env=None):
    return Node("tests.dist.node_app", *args, "--down", str(DOWN), name=name, ready="ready",
                env=env)


def until(node, command, prefix, want, timeout=15.0):
    """Ask ``command`` until its answer (after ``prefix``) is ``want``."""
    deadline = time.monotonic() + timeout
    while True:
        got = " ".join(node.ask(command, prefix))
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{node.name}: {command!r} gave {got!r}, wanted {want!r}")
        gevent.sleep(0.1)


def connected(nodes):
    for n in nodes:
        others = ",".join(sorted(m.name for m in nodes if m is not n))
        until(n, "nodes", "nodes", others)


@pytest.fixture
def cluster(redis_server):
    started = []

    def start(name, *args):
        n = boot(name, "--redis", redis_server.url, *args)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


def check_order_call_and_timeout(a, b):
    b.send("collect inbox 20000")
    b.expect("collecting inbox")
    a.send(f"flood {b.name} inbox 20000")
    b.expect("collected inbox ok", timeout=60)
    b.send("serve echo")
    b.expect("serving echo")
    assert a.ask(f"call {b.name} echo hello 5", "call") == ["'hello'", "leak", "none"]
    a.send(f"sleepcall {b.name} echo 1.0 0.2")
    assert a.expect("call", timeout=10).split() == ["call", "CallTimeout:timeout", "leak", "none"]
    assert a.ask(f"call {b.name} nobody x 5", "call") == ["CallExit:noproc", "leak", "none"]


def test_remote_send_keeps_order_under_load_and_call_times_out_cleanly(cluster):
    a, b = cluster("d1@test"), cluster("d2@test")
    connected([a, b])
    check_order_call_and_timeout(a, b)


def test_monitor_and_link_report_the_process_reason(cluster):
    a, b = cluster("d1@test"), cluster("d2@test")
    connected([a, b])
    b.send("serve victim")
    b.expect("serving victim")
    a.send(f"watch {b.name} victim")
    a.expect("watching victim")
    b.send("crash victim boom")
    assert {a.expect("down victim").split()[2], a.expect("exit victim").split()[2]} == {"boom"}


def test_a_killed_node_is_noconnection_for_every_watcher_within_the_down_period(cluster):
    a, b, c = cluster("d1@test"), cluster("d2@test"), cluster("d3@test")
    connected([a, b, c])
    c.send("serve target")
    c.expect("serving target")
    for w in (a, b):
        w.send(f"watch {c.name} target")
        w.expect("watching target")
    c.signal(signal.SIGKILL)
    t0 = time.monotonic()
    for w in (a, b):
        assert w.expect("down target", timeout=DOWN * 5).split()[2] == "noconnection"
        assert w.expect("exit target", timeout=2).split()[2] == "noconnection"
    assert time.monotonic() - t0 < DOWN * 4, "within the down period (and a loaded machine's margin)"
    connected([a, b])


def test_a_stopped_node_goes_down_comes_back_and_names_and_groups_converge(cluster):
    a, b, c = cluster("d1@test"), cluster("d2@test"), cluster("d3@test")
    connected([a, b, c])
    a.send("watch_nodes")
    a.expect("watching_nodes")
    b.send("watch_nodes")
    b.expect("watching_nodes")
    for n in (a, b, c):
        n.send("join room")
        n.expect("joined room")
    assert b.ask("greg solo", "greg solo") == ["ok"]
    for n in (a, c):
        until(n, "gwhere solo", "gwhere solo", "d2@test")
        until(n, "members room", "members room", "d1@test,d2@test,d3@test")
    b.signal(signal.SIGSTOP)
    a.expect("nodedown d2@test", timeout=DOWN * 5)
    for n in (a, c):
        until(n, "gwhere solo", "gwhere solo", "none")           # no ghost owner
        until(n, "members room", "members room", "d1@test,d3@test")
    assert a.ask("greg solo", "greg solo") == ["ok"]            # taken while d2 is away
    b.signal(signal.SIGCONT)
    a.expect("nodeup d2@test", timeout=10)
    b.expect("nodedown d1@test", timeout=10)                     # the stopped side too
    b.expect("nodeup d1@test", timeout=10)
    connected([a, b, c])
    for n in (a, b, c):
        # The conflict rule: the lower (node, creation, id) keeps the name.
        until(n, "gwhere solo", "gwhere solo", "d1@test")
        until(n, "members room", "members room", "d1@test,d2@test,d3@test")


def test_a_restarted_nodes_old_pids_are_dead(cluster, redis_server):
    a, b = cluster("d1@test"), cluster("d2@test")
    connected([a, b])
    b.send("serve srv")
    b.expect("serving srv")
    a.send(f"remember {b.name} srv")
    a.expect("remembered srv")
    b.stop()
    b2 = cluster("d2@test")
    b2.send("serve srv")
    b2.expect("serving srv")
    connected([a, b2])
    assert a.ask("probe srv", "probe srv") == ["noproc"]
    assert a.ask(f"call {b2.name} srv again 5", "call") == ["'again'", "leak", "none"]


def test_a_node_with_a_wrong_secret_is_not_let_in_and_its_frames_are_logged(cluster):
    a, b = cluster("d1@test"), cluster("d2@test")
    connected([a, b])
    c = cluster("d3@test", "--secret", "wrong")
    gevent.sleep(DOWN)
    connected([a, b])
    assert a.ask("nodes", "nodes") == ["d2@test"]
    assert c.ask("nodes", "nodes") == []
    assert int(a.ask("stats", "stats")[0]) > 0
    assert "dropped a frame" in a.stderr_text()


def test_send_call_and_monitor_over_the_host_relay():
    tmp = tempfile.mkdtemp(prefix="bd-")
    path = os.path.join(tmp, "relay.sock")
    relay = HostRelay.start(path)
    nodes = []
    try:
        env = {HOST_CLUSTER_ENV: path}
        a = boot("w1@test", env=env)
        nodes.append(a)
        b = boot("w2@test", env=env)
        nodes.append(b)
        connected([a, b])
        check_order_call_and_timeout(a, b)
        b.send("serve victim")
        b.expect("serving victim")
        a.send(f"watch {b.name} victim")
        a.expect("watching victim")
        b.signal(signal.SIGKILL)
        assert a.expect("down victim", timeout=DOWN * 5).split()[2] == "noconnection"
    finally:
        for n in nodes:
            n.stop()
        stop(relay)
        shutil.rmtree(tmp)
