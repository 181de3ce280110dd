"""The longpoll suite: LongPoll clients beside WebSocket clients of the same
Endpoint, in the same run.

The server is this module under ``beamish run`` (:func:`children`): an
Endpoint with ``longpoll`` on whose socket accepts everyone and routes
``room:*`` to :class:`EchoChannel` (the channels suite's bench channel,
plus a ``ping`` event answered with its payload).  The measuring process
is the client side (gevent sockets, :mod:`tools.harness.client`); one
measurement per transport, each in a fresh process with a fresh server.

1. **memory per idle client**: 10 clients join first (warm-up), then the
   server's RSS (after a full collection) is the baseline; ``clients``
   more join ``room:lobby`` and sit idle, a LongPoll one with its session
   open and a poll held (as the official client always has), and 2 s
   later RSS again.  Value: the RSS delta over ``clients``.
2. **push -> reply**: one more client of the same transport pushes
   ``ping`` ``tries`` times, one at a time; value: the median time until
   its reply arrives (LongPoll: a POST, the reply in the held poll).
3. **broadcast -> receipt**: that client pushes ``shout``, broadcast to
   the topic; value: median over ``rounds`` broadcasts of the time until
   the last of the ``clients`` idle clients has its copy.
"""
from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from functools import partial
from urllib.parse import quote

import gevent
import gevent.event

from tools.harness import HarnessError, Node, raise_nofile
from tools.harness.client import HTTPClient, WSClient

from ._report import LOWER, Bench, Sample, System, suite
from ._runner import child_main

WARMUP = 10
TOPIC = "room:lobby"
LP_PATH = "/socket/longpoll?vsn=2.0.0"


# ------------------------------------------------------------------ server
def add_arguments(parser):
    parser.add_argument("--port", type=int, default=0)


def children(config):
    from beamish import ChildSpec, spawn_link
    from beamish.channels import Endpoint
    from beamish.pubsub import PubSub
    from tools.harness.console import out, serve

    from ._chan_server import PUBSUB, BenchChannel, BenchSocket

    class EchoChannel(BenchChannel):
        def handle_in(self, event, payload, ref):
            if event == "ping":
                return ("ok", payload)
            return super().handle_in(event, payload, ref)

    class EchoSocket(BenchSocket):
        channels = [("room:*", EchoChannel)]

    return [PubSub.child_spec(PUBSUB),
            Endpoint.child_spec(pubsub=PUBSUB, sockets={"/socket": EchoSocket},
                                host="127.0.0.1", port=config.port, longpoll=True,
                                on_ready=lambda port: out(f"listening {port}")),
            ChildSpec(id="console", start=spawn_link, args=(lambda: serve({}),))]


# ------------------------------------------------------------------ clients
class _Client:
    """One Phoenix V2 JSON client; every message it receives goes to
    ``on_message(msg, arrival)`` from its reader greenlet."""

    def __init__(self, on_message) -> None:
        self.on_message = on_message
        self.ref = 0
        self.reader = None

    def push(self, event: str, payload) -> str:
        self.ref += 1
        self.send(json.dumps(["1", str(self.ref), TOPIC, event, payload]))
        return str(self.ref)

    def join(self) -> str:
        self.ref += 1
        self.send(json.dumps(["1", str(self.ref), TOPIC, "phx_join", {}]))
        return str(self.ref)


class _WebSocket(_Client):
    def __init__(self, port: int, on_message) -> None:
        super().__init__(on_message)
        self.ws = WSClient.connect(port, "/socket/websocket?vsn=2.0.0", timeout=3600)
        self.reader = gevent.spawn(self._read)

    def send(self, text: str) -> None:
        self.ws.send(text)

    def _read(self) -> None:
        while True:
            item = self.ws.receive(3600)
            if not isinstance(item, str):
                return
            self.on_message(json.loads(item), time.monotonic())

    def close(self) -> None:
        self.reader.kill(block=False)
        self.ws.shutdown()


class _LongPoll(_Client):
    """A LongPoll session as the official client keeps one: a poll always
    held on one connection, messages POSTed on another (opened when the
    client first sends)."""

    def __init__(self, port: int, on_message) -> None:
        super().__init__(on_message)
        self.port = port
        self.polls = HTTPClient(port, 3600)
        body = json.loads(self.polls.request("GET", LP_PATH).body)
        if body["status"] != 410:
            raise HarnessError(f"longpoll session refused: {body}")
        self.token = body["token"]
        self.posts = None
        self.reader = gevent.spawn(self._read)

    def _target(self) -> str:
        return f"{LP_PATH}&token={quote(self.token)}"

    def send(self, text: str) -> None:
        if self.posts is None:
            self.posts = HTTPClient(self.port, 60)
        body = json.loads(self.posts.request(
            "POST", self._target(), [("content-type", "application/x-ndjson")],
            text.encode()).body)
        if body["status"] != 200:
            raise HarnessError(f"longpoll POST answered {body}")

    def done_sending(self) -> None:
        """An idle client holds only its poll's connection."""
        if self.posts is not None:
            self.posts.close()
            self.posts = None

    def _read(self) -> None:
        while True:
            body = json.loads(self.polls.request("GET", self._target()).body)
            arrival = time.monotonic()
            if body["status"] not in (200, 204):
                return
            self.token = body.get("token", self.token)
            for text in body.get("messages", ()):
                self.on_message(json.loads(text), arrival)

    def close(self) -> None:
        self.reader.kill(block=False)
        self.polls.close()
        self.done_sending()


_TRANSPORTS = {"websocket": _WebSocket, "longpoll": _LongPoll}


def _open(kind: str, port: int, n: int, on_message) -> list:
    """``n`` clients joined to the topic, opened 50 at a time."""
    clients, joined = [], gevent.event.AsyncResult()
    pending = [n]

    def note(client_msg, arrival, client=None):
        if client_msg[3] == "phx_reply" and client_msg[1] == "1" and not client.ready:
            client.ready = True
            pending[0] -= 1
            if pending[0] == 0:
                joined.set(True)
            return
        on_message(client_msg, arrival)

    def one():
        holder = {}
        c = _TRANSPORTS[kind](port, lambda m, t: note(m, t, holder["c"]))
        c.ready = False
        holder["c"] = c
        clients.append(c)
        c.join()
        if isinstance(c, _LongPoll):
            c.done_sending()

    for start in range(0, n, 50):
        gevent.joinall([gevent.spawn(one) for _ in range(min(50, n - start))], raise_error=True)
    if not joined.wait(120):
        raise HarnessError(f"{pending[0]} of {n} {kind} clients never joined")
    return clients


# ------------------------------------------------------------------ session
def _session(kind: str, clients: int, tries: int, rounds: int) -> Sample:
    raise_nofile()
    log_dir = tempfile.mkdtemp(prefix=f"bench-longpoll-{kind}-")
    srv, opened = None, []
    try:
        srv = Node("tools.bench.longpoll", "--no-control", name="lpbench@127.0.0.1",
                   log_dir=log_dir)
        port = int(srv.expect("listening ", 60).split()[1])
        arrivals: dict = {}

        def on_idle(msg, arrival):
            if msg[3] == "shout":
                arrivals.setdefault(msg[4]["k"], []).append(arrival)

        opened += _open(kind, port, WARMUP, on_idle)
        base = int(srv.ask("rss", "rss ", 60)[0])
        opened += _open(kind, port, clients, on_idle)
        time.sleep(2.0)
        rss = int(srv.ask("rss", "rss ", 60)[0])

        replies: dict = {}

        def on_reply(msg, arrival):
            if msg[3] == "phx_reply" and msg[1] in replies:
                replies[msg[1]].set(arrival)

        me = _open(kind, port, 1, on_reply)[0]
        opened.append(me)
        rtts = []
        for _ in range(tries):
            ref = str(me.ref + 1)
            reply = replies[ref] = gevent.event.AsyncResult()
            t0 = time.monotonic()
            me.push("ping", {"t": t0})
            rtts.append(reply.get(timeout=30) - t0)
            del replies[ref]
        lasts, medians = [], []
        for k in range(rounds):
            time.sleep(0.3)
            t0 = time.monotonic()
            me.push("shout", {"k": k})
            deadline = t0 + 30
            while len(arrivals.get(k, ())) < clients + WARMUP and time.monotonic() < deadline:
                gevent.sleep(0.005)
            got = sorted(arrivals.get(k, ()))
            if len(got) < clients + WARMUP:
                raise HarnessError(f"broadcast {k}: {len(got)} of {clients + WARMUP} copies")
            lasts.append(got[-1] - t0)
            medians.append(got[len(got) // 2] - t0)
        ms = 1e3
        return Sample((rss - base) / clients, {
            "server RSS": (rss / (1 << 20), "MiB"),
            "round trip": (statistics.median(rtts) * ms, "ms"),
            "round trip: slowest": (max(rtts) * ms, "ms"),
            "broadcast": (statistics.median(lasts) * ms, "ms"),
            "broadcast: median client": (statistics.median(medians) * ms, "ms"),
        }, waits=True)
    finally:
        for c in opened:
            c.close()
        if srv is not None:
            srv.stop()
        shutil.rmtree(log_dir, ignore_errors=True)


# ------------------------------------------------------------------ suite
SYSTEMS = {"websocket": System("beamish, WebSocket"),
           "longpoll": System("beamish, LongPoll", floor=False)}

_PARAMS = {"clients": 1_000, "tries": 50, "rounds": 5}
_QUICK = {"clients": 200, "tries": 20, "rounds": 3}

SUITE = suite(
    "longpoll", "LongPoll beside WebSocket on one Endpoint: idle memory, latency",
    SYSTEMS,
    Bench("mem", "1. server memory per idle joined client", "bytes/client", LOWER,
          {k: partial(_session, k) for k in SYSTEMS}, ref="websocket", params=_PARAMS,
          quick_params=_QUICK),
    Bench("rtt", "2. push -> reply round trip", "ms", LOWER,
          from_extra=("mem", "round trip")),
    Bench("bcast", "3. broadcast, until the last idle client has it", "ms", LOWER,
          from_extra=("mem", "broadcast")),
)

if __name__ == "__main__":
    child_main(SUITE)
