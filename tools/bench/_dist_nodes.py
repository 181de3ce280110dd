"""The two node OS processes of the dist suite.

``python -m tools.bench._dist_nodes ROLE URL MSGS``

ROLE ``recv``: a node (``bench_recv@127.0.0.1``) with distribution over
Redis at URL, running ``echo`` (answers ``("ping", from, t)`` with
``("pong", t, now)``), ``sink`` (counts ``MSGS * 10`` messages, then tells
their sender) and ``srv`` (a GenServer that returns each request); prints
``READY``.  ROLE ``drive``: the other node; once connected it measures,
one message in flight at a time: remote send one-way (the receiver's
``CLOCK_MONOTONIC`` minus the sender's: the clock is system-wide on Linux)
and round trip, remote ``call`` round trip, remote send throughput
(``MSGS * 10`` sends, then the sink's answer), and a local send one-way
between two processes of the driver; prints one ``RESULT {json}`` line
(seconds; rates in messages per second).
"""
if __name__ == "__main__":
    from gevent import monkey
    monkey.patch_all()

import json
import sys
import time

clock = time.monotonic
RECV = "bench_recv@127.0.0.1"
DRIVE = "bench_drive@127.0.0.1"
SECRET = "bench-secret"
WARMUP = 100


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _start(name: str, url: str) -> None:
    from beamish import set_node_name
    set_node_name(name)
    from beamish import self as self_pid
    from beamish.dist import Dist
    from beamish.pubsub import PubSub, RedisAdapter
    self_pid()
    PubSub.start_link("bench", adapter=RedisAdapter(url))
    Dist.start_link("bench", secret=SECRET, heartbeat=0.5, down_period=5.0)


def recv(url: str, msgs: int) -> None:
    from beamish import GenServer, receive, register, send, spawn

    class Srv(GenServer):
        def handle_call(self, request, from_):
            return request

    def echo():
        while True:
            _, frm, t = receive()
            send(frm, ("pong", t, clock()))

    def sink():
        while True:
            frm = None
            for _ in range(msgs * 10):
                frm = receive()[1]
            send(frm, "done")

    _start(RECV, url)
    register("echo", spawn(echo))
    register("sink", spawn(sink))
    Srv.start(name="srv")
    _out("READY")
    receive("never")


def drive(url: str, msgs: int) -> None:
    import gevent
    from beamish import call, receive, send, spawn
    from beamish import self as self_pid
    from beamish.dist import nodes
    _start(DRIVE, url)
    deadline = clock() + 30
    while RECV not in nodes():
        if clock() > deadline:
            raise SystemExit("the receiving node never came up")
        gevent.sleep(0.05)
    me = self_pid()
    oneway, rtt, calls = [], [], []
    for i in range(WARMUP + msgs):
        t0 = clock()
        send(("echo", RECV), ("ping", me, t0))
        _, t, t_recv = receive(timeout=10)
        if i >= WARMUP:
            oneway.append(t_recv - t)
            rtt.append(clock() - t0)
    for i in range(WARMUP + msgs):
        t0 = clock()
        call(("srv", RECV), i, 10)
        if i >= WARMUP:
            calls.append(clock() - t0)
    t0 = clock()
    for i in range(msgs * 10):
        send(("sink", RECV), ("seq", me))
        if i % 1000 == 999:
            gevent.sleep(0)        # let the writer publish while we produce
    receive("done", timeout=60)
    rate = msgs * 10 / (clock() - t0)

    def local_echo():
        while True:
            _, frm, t = receive()
            send(frm, ("pong", t, clock()))

    echo = spawn(local_echo)
    local = []
    for i in range(WARMUP + msgs):
        send(echo, ("ping", me, clock()))
        _, t, t_recv = receive()
        if i >= WARMUP:
            local.append(t_recv - t)
    _out("RESULT " + json.dumps({"oneway": oneway, "rtt": rtt, "call": calls, "rate": rate,
                                 "local": local}))


if __name__ == "__main__":
    role, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (recv if role == "recv" else drive)(url, n)
