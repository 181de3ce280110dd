"""How woken processes are run: switched to directly by the process that
parks (a handoff), in wake order, with the hub still getting its turn for
I/O and timers; and receive timers that are reused between waits."""
import time

import gevent
import greenlet
from gevent import socket

from beamish import ANY, exit, receive, send, send_after, spawn
from beamish import self as self_pid
from beamish.core._process import RUN_BUDGET
from beamish.testing import assert_receive, settle


def _pinger(partner_of, rounds, report_to):
    """Play ``rounds`` of ping-pong with the pid ``partner_of[0]``, then report."""
    partner = partner_of[0]
    me = self_pid()
    for _ in range(rounds):
        send(partner, me)
        receive()
    send(partner, None)
    send(report_to, "done")


def _ponger():
    while True:
        reply_to = receive()
        if reply_to is None:
            return
        send(reply_to, "pong")


def _hub_switches_during(fn):
    """How many greenlet switches go into the hub while ``fn()`` runs."""
    hub = gevent.get_hub()
    count = [0]
    previous = greenlet.gettrace()

    def trace(event, args):
        if event == "switch" and args[1] is hub:
            count[0] += 1
        if previous is not None:
            previous(event, args)
    greenlet.settrace(trace)
    try:
        fn()
    finally:
        greenlet.settrace(previous)
    return count[0]


def test_ping_pong_switches_process_to_process_not_through_the_hub():
    rounds = 2000
    partner = [spawn(_ponger)]
    settle()

    def play():
        spawn(_pinger, partner, rounds, self_pid())
        assert_receive("done", timeout=10)
    into_hub = _hub_switches_during(play)
    # Through the hub, every message costs a hub switch (2 per round);
    # with handoffs the hub runs about once per RUN_BUDGET switches.
    assert into_hub < rounds // 4, into_hub
    settle()


def test_woken_processes_run_in_the_order_they_were_woken():
    ran = []

    def waiter(i):
        receive()
        ran.append(i)
    pids = [spawn(waiter, i) for i in range(50)]
    settle()
    for pid in reversed(pids):     # woken last to first
        send(pid, "go")
    settle()
    assert ran == list(reversed(range(50)))


def test_ping_pong_leaves_the_hub_its_turn_for_timers_and_sockets():
    """Two processes that never stop messaging each other do not starve a
    receive timeout, a send_after timer or a loopback socket."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    partner = [spawn(_ponger)]
    settle()
    player = spawn(_pinger, partner, 10**9, self_pid())   # runs until killed

    def timed_waiter(parent):
        t0 = time.monotonic()
        receive(("never", ANY), timeout=0.05, default=None)
        send(parent, ("waited", time.monotonic() - t0))

    def echo_client(parent):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"ping")
        send(parent, ("echoed", c.recv(4)))
        c.close()
    try:
        t0 = time.monotonic()
        spawn(timed_waiter, self_pid())
        send_after(0.05, self_pid(), "tick")
        spawn(echo_client, self_pid())
        conn, _ = server.accept()
        conn.sendall(conn.recv(4))
        conn.close()
        assert assert_receive(("echoed", ANY), timeout=5)[1] == b"ping"
        waited = assert_receive(("waited", ANY), timeout=5)[1]
        assert 0.04 <= waited < 3.0, waited
        assert_receive("tick", timeout=5)
        assert time.monotonic() - t0 < 5
    finally:
        exit(player, "kill")
        send(partner[0], None)
        server.close()
    settle()


def test_a_process_killed_while_woken_ends_and_the_queue_moves_on():
    """A process woken by a message and killed before it ran leaves a
    stale entry in the woken queue; the next woken process still runs."""
    got = []

    def waiter(tag):
        got.append((tag, receive()))
    doomed = spawn(waiter, "doomed")
    after = spawn(waiter, "after")
    settle()
    send(doomed, 1)
    exit(doomed, "kill")
    send(after, 2)
    settle()
    assert got == [("after", 2)]


def test_a_long_handoff_chain_still_returns_to_the_hub_every_budget():
    """A ring of processes passing one token keeps every process busy; the
    hub must still run (here: a gevent greenlet sleeping 10 ms wakes)."""
    procs = 20
    hops = RUN_BUDGET * 50
    pids = []
    woke = []

    def node(i):
        nxt = pids[(i + 1) % procs]
        while True:
            h = receive()
            if h is None:
                send(nxt, None)
                return
            if h >= hops:
                send(nxt, None)
                continue
            send(nxt, h + 1)

    def sleeper():
        gevent.sleep(0.01)
        woke.append(time.monotonic())
    pids.extend(spawn(node, i) for i in range(procs))
    settle()
    t0 = time.monotonic()
    g = gevent.spawn(sleeper)
    send(pids[0], 0)
    g.join(timeout=5)
    assert woke and woke[0] - t0 < 3.0
    settle()


def test_a_receive_timer_lasts_its_full_timeout_after_being_reused():
    """Receive timers are kept for reuse; one that fired or was stopped
    early still times the next wait from its start."""
    me = self_pid()
    for _ in range(3):
        t0 = time.monotonic()
        assert receive(timeout=0.05, default="none") == "none"      # fired
        assert time.monotonic() - t0 >= 0.045
    for _ in range(3):
        send_after(0.01, me, "early")
        assert receive(timeout=0.3) == "early"                      # stopped early
        gevent.sleep(0.05)
        t0 = time.monotonic()
        assert receive(timeout=0.3, default="none") == "none"
        assert time.monotonic() - t0 >= 0.29
