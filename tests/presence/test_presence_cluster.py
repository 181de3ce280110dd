"""Presence across three node OS processes over a real redis-server:
SIGKILL, SIGSTOP/SIGCONT, a rolling restart and a churn of joins and leaves."""
import json
import signal
import time

import gevent
import pytest

from tools.harness import Node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
DOWN = 1.0


def start(redis_server, i, *args):
    n = Node("tests.presence.node_app", "--redis", redis_server.url, "--down", str(DOWN), *args,
             name=f"p{i}@test")
    n.expect("ready", timeout=20)
    return n


@pytest.fixture
def nodes(redis_server):
    ns = [start(redis_server, i) for i in range(3)]
    yield ns
    for n in ns:
        if n.proc.poll() is None:
            n.proc.send_signal(signal.SIGCONT)
        n.stop()


def listing(node, topic):
    node.send(f"list {topic}")
    return json.loads(node.expect(f"list {topic} ").split(" ", 2)[2])


def converge(nodes, topic, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = [listing(n, topic) for n in nodes]
        if all(g == want for g in got):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"no convergence on {want}: {got}")
        gevent.sleep(0.1)


def test_a_killed_node_leaves_the_others_within_the_down_period(nodes):
    for i, n in enumerate(nodes):
        n.send(f"track room u{i}")
        n.expect(f"tracked room u{i}")
    converge(nodes, "room", [["u0", 1], ["u1", 1], ["u2", 1]])
    nodes[2].proc.kill()
    t0 = time.monotonic()
    t1 = converge(nodes[:2], "room", [["u0", 1], ["u1", 1]], timeout=DOWN * 5)
    assert t1 - t0 < DOWN * 3


def test_a_stopped_node_goes_down_and_converges_after_it_continues(nodes):
    for i, n in enumerate(nodes):
        n.send(f"track room u{i} 2")
    for i, n in enumerate(nodes):
        n.expect(f"tracked room u{i}")
    everyone = [["u0", 2], ["u1", 2], ["u2", 2]]
    converge(nodes, "room", everyone)
    nodes[1].signal(signal.SIGSTOP)
    converge([nodes[0], nodes[2]], "room", [["u0", 2], ["u2", 2]], timeout=DOWN * 5)
    nodes[0].send("track room late")      # a change while the node is away
    nodes[0].expect("tracked room late")
    nodes[1].signal(signal.SIGCONT)
    converge(nodes, "room", [["late", 1]] + everyone, timeout=10)
    refs = []
    for n in nodes:
        n.send("refs room")
        refs.append(json.loads(n.expect("refs room ").split(" ", 2)[2]))
    assert refs[0] == refs[1] == refs[2] and len(set(refs[0])) == 7, "nothing duplicated"


PERIOD = 0.25   # heal test: a quiet node heartbeats every 5 periods, down after 10
SLOW_BEAT = ("--period", str(PERIOD), "--silent", "4", "--down", str(10 * PERIOD))


@pytest.fixture
def slow_beat_nodes(redis_server):
    ns = [start(redis_server, i, *SLOW_BEAT) for i in range(3)]
    yield ns
    for n in ns:
        if n.proc.poll() is None:
            n.proc.send_signal(signal.SIGCONT)
        n.stop()


def test_a_node_stopped_past_the_down_period_heals_within_two_periods(slow_beat_nodes):
    nodes = slow_beat_nodes
    down = 10 * PERIOD
    for i, n in enumerate(nodes):
        n.send(f"track room u{i}")
        n.expect(f"tracked room u{i}")
    everyone = [["u0", 1], ["u1", 1], ["u2", 1]]
    converge(nodes, "room", everyone)
    for round_ in range(2):   # the node's heartbeat phase differs from round to round
        stopped = nodes[1]
        stopped.signal(signal.SIGSTOP)
        t_stop = time.monotonic()
        converge([nodes[0], nodes[2]], "room", [["u0", 1], ["u2", 1]], timeout=down * 3)
        gevent.sleep(max(0.0, down + 2 * PERIOD - (time.monotonic() - t_stop)))
        stopped.signal(signal.SIGCONT)
        t_cont = time.monotonic()
        healed = converge(nodes, "room", everyone, timeout=down * 3) - t_cont
        assert healed < 2 * PERIOD, f"round {round_}: healed in {healed / PERIOD:.2f} periods"


def test_a_rolling_restart_leaves_no_ghost_of_any_old_incarnation(nodes, redis_server):
    for i, n in enumerate(nodes):
        n.send(f"track room u{i}")
        n.expect(f"tracked room u{i}")
    converge(nodes, "room", [["u0", 1], ["u1", 1], ["u2", 1]])
    for i in range(3):
        nodes[i].stop()
        nodes[i] = start(redis_server, i)
        nodes[i].send(f"track room v{i}")
        nodes[i].expect(f"tracked room v{i}")
        gevent.sleep(0.3)
    want = [["v0", 1], ["v1", 1], ["v2", 1]]
    converge(nodes, "room", want, timeout=10)


def test_a_churn_on_every_node_ends_with_identical_lists(nodes):
    for i, n in enumerate(nodes):
        n.send(f"churn lobby n{i}_ 1000")
    for i, n in enumerate(nodes):
        n.expect(f"churned lobby n{i}_", timeout=30)
    want = sorted([f"n{i}_{k}", 1] for i in range(3) for k in range(1, 1000, 2))
    converge(nodes, "lobby", want, timeout=20)
