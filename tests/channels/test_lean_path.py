"""Idle connections hibernate: the socket and channel processes of a joined
client give their greenlets back after ``hibernate_after`` and serve
frames, replies, broadcasts and the idle timeout as before, over real
websockets."""
import gevent
import pytest

from beamish import Supervisor, process_info, processes, stop
from beamish.channels import Channel, Endpoint, Socket, broadcast
from beamish.pubsub import PubSub
from beamish.testing import eventually
from tools.harness.client import Close, PhxClient as Client, WSClient, joined

pytestmark = pytest.mark.timeout(60)


class LeanChannel(Channel):
    hibernate_after = 0.1

    def join(self, topic, payload):
        return ("ok", {})

    def handle_in(self, event, payload, ref):
        if event == "mix":   # pushes and broadcasts interleaved, then the reply
            for i in range(payload["n"]):
                self.push("mine", {"i": i})
                self.broadcast("ours", {"i": i})
        return ("ok", {"echoed": payload})


class LeanSocket(Socket):
    channels = [("lean:*", LeanChannel)]
    hibernate_after = 0.1
    idle_timeout = 30.0


class SleepySocket(LeanSocket):
    idle_timeout = 1.0


class QuickSocket(LeanSocket):
    send_timeout = 1.0


class DrowsySocket(LeanSocket):
    hibernate_after = 30.0      # only a heartbeat-only turn hibernates it in a test


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("lean_ps", pool_size=2),
        Endpoint.child_spec(pubsub="lean_ps", port=0, name="lean_endpoint",
                            sockets={"/socket": LeanSocket, "/sleepy": SleepySocket,
                                         "/quick": QuickSocket, "/drowsy": DrowsySocket},
                            on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def _by_initial_call(suffix):
    found = []
    for pid in processes():
        info = process_info(pid)
        if info is not None and info.initial_call.endswith(suffix):
            found.append(pid)
    return found


def _all_hibernating(suffix, n):
    pids = _by_initial_call(suffix)
    if len(pids) != n:
        return False
    return all(getattr(process_info(p), "status", None) == "hibernating" for p in pids)


def test_defaults_are_phoenixs_fifteen_seconds():
    assert Socket.hibernate_after == 15.0
    assert Channel.hibernate_after == 15.0


def test_idle_socket_and_channel_hibernate_and_serve_on_waking(port):
    c = Client(port)
    jr = joined(c, "lean:1")
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    # a client frame wakes both; the reply comes back through them
    ref = c.push("lean:1", "echo", {"n": 1}, join_ref=jr)
    assert c.reply(ref)[4] == {"status": "ok", "response": {"echoed": {"n": 1}}}
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    # a broadcast (fastlane, into the hibernated socket process)
    broadcast("lean_ps", "lean:1", "news", {"n": 2})
    assert c.event("news")[4] == {"n": 2}
    ref = c.push("phoenix", "heartbeat", {})
    assert c.reply(ref)[4] == {"status": "ok", "response": {}}
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_idle_timeout_fires_into_a_hibernated_socket(port):
    c = _sleepy(port)
    joined(c, "lean:2")
    eventually(lambda: _all_hibernating("SleepySocket.connect", 1))
    assert c.closed(timeout=10.0) == Close(1001, "idle timeout")
    c.ws.sock.close()
    eventually(lambda: not _by_initial_call("SleepySocket.connect"))
    eventually(lambda: not _by_initial_call("LeanChannel.join"))


def _sleepy(port):
    """A client of the ``/sleepy`` socket (1 s idle timeout)."""
    return _client(port, "/sleepy")


def _client(port, path):
    """A client of the socket at ``path``."""
    c = Client.__new__(Client)
    c.ws = WSClient.connect(port, f"{path}/websocket?vsn=2.0.0&user=bob")
    c.ref = 0
    c.pending = []
    return c


def test_a_turn_of_heartbeats_only_hibernates_the_socket_at_once(port):
    c = _client(port, "/drowsy")
    jr = joined(c, "lean:hb")            # a join: the socket stays awake
    pid = _socket_pid("DrowsySocket.connect")
    gevent.sleep(0.2)
    assert process_info(pid).status != "hibernating"
    ref = c.push("phoenix", "heartbeat", {})
    assert c.reply(ref)[4] == {"status": "ok", "response": {}}
    eventually(lambda: process_info(pid).status == "hibernating", timeout=5.0)
    ref = c.push("lean:hb", "echo", {"x": 1}, join_ref=jr)   # not a heartbeat: awake
    assert c.reply(ref)[4]["status"] == "ok"
    gevent.sleep(0.2)
    assert process_info(pid).status != "hibernating"
    c.close()
    eventually(lambda: not _by_initial_call("DrowsySocket.connect"))


# -- fastlane broadcasts are written without waking the socket process --------------------

def _socket_pid(suffix="LeanSocket.connect"):
    pids = _by_initial_call(suffix)
    assert len(pids) == 1, pids
    return pids[0]


def test_a_broadcast_to_a_hibernated_socket_leaves_it_hibernating(port):
    c = Client(port)
    joined(c, "lean:3")
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    pid = _socket_pid()
    before = process_info(pid).reductions
    for i in range(20):
        broadcast("lean_ps", "lean:3", "news", {"n": i})
    assert [c.event("news")[4]["n"] for _ in range(20)] == list(range(20))
    # written by the broadcaster: the socket process took no message, never woke
    info = process_info(pid)
    assert info.reductions == before and info.status == "hibernating"
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_pushes_broadcasts_and_the_reply_of_a_channel_keep_their_order(port):
    c = Client(port)
    jr = joined(c, "lean:4")
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1))
    ref = c.push("lean:4", "mix", {"n": 30}, join_ref=jr)
    got = []
    while True:
        f = c.recv()
        got.append((f[3], f[4].get("i")) if f[3] != "phx_reply" else ("reply", f[1]))
        if f[3] == "phx_reply":
            break
    want = [e for i in range(30) for e in (("mine", i), ("ours", i))] + [("reply", ref)]
    assert got == want
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_a_reader_that_falls_behind_gets_every_frame_whole_and_in_order(port):
    """Frames the kernel does not take at once are queued and finished by the
    socket process (woken for it), ahead of later broadcasts."""
    c = Client(port)
    joined(c, "lean:5")
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1))
    pid = _socket_pid()
    before = process_info(pid).reductions
    blob = "y" * 60_000
    n = 150   # 9 MB: more than loopback's socket buffers take while the client is not reading
    for i in range(n):
        broadcast("lean_ps", "lean:5", "big", {"n": i, "blob": blob})
    # woken (through its mailbox) to finish a write the kernel did not take
    eventually(lambda: process_info(pid).reductions > before)
    got = [c.event("big", timeout=10)[4] for _ in range(n)]
    assert [g["n"] for g in got] == list(range(n)) and all(g["blob"] == blob for g in got)
    broadcast("lean_ps", "lean:5", "small", {})
    assert c.event("small")[4] == {}
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_a_client_that_never_reads_broadcasts_is_dropped_after_the_send_timeout(port):
    c = _client(port, "/quick")
    joined(c, "lean:6")
    eventually(lambda: _all_hibernating("QuickSocket.connect", 1))
    blob = "z" * 60_000
    for i in range(150):
        broadcast("lean_ps", "lean:6", "big", {"n": i, "blob": blob})
    # the queued write cannot finish: the socket is cut off within its send timeout
    eventually(lambda: not _by_initial_call("QuickSocket.connect"), timeout=QuickSocket.send_timeout + 10)
    eventually(lambda: not _by_initial_call("LeanChannel.join"))
    c.ws.sock.close()


# -- the HTTP request is parsed once and not kept after the upgrade -----------------------

def test_a_join_parses_the_handshake_once(port, monkeypatch):
    import beamish.channels._http as http_mod
    import beamish.channels._transport as transport_mod
    calls = []
    real = transport_mod.parse_handshake

    def counting(request, headers=None):
        calls.append(request)
        return real(request, headers)
    monkeypatch.setattr(http_mod, "parse_handshake", counting)
    monkeypatch.setattr(transport_mod, "parse_handshake", counting)
    c = Client(port)
    joined(c, "lean:once")
    assert len(calls) == 1
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def _server_h11_connections():
    """h11 connections in the server role alive now (the test's clients
    use h11 as clients, through wsproto)."""
    import gc
    import h11
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if type(o) is h11.Connection and o.our_role is h11.SERVER)


def test_an_open_websocket_keeps_nothing_of_its_http_request(port):
    before = _server_h11_connections()
    clients = [Client(port) for _ in range(3)]
    for i, c in enumerate(clients):
        joined(c, f"lean:h{i}")
    eventually(lambda: len(_by_initial_call("LeanSocket.connect")) == 3)
    assert _server_h11_connections() == before
    for c in clients:
        c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


# -- no greenlet per idle connection: reads are driven by readiness -----------------------

def _busy_greenlets():
    """Live greenlets other than the runtime's pool of idle workers (bounded,
    shared by all processes: a hibernated process's greenlet goes there)."""
    import gc
    from greenlet import greenlet
    from beamish.lowlevel import runtime_view
    gc.collect()
    live = sum(1 for o in gc.get_objects() if isinstance(o, greenlet) and not o.dead)
    return live - runtime_view().pool_size


def test_idle_hibernated_connections_hold_no_greenlet(port):
    n = 8
    before = _busy_greenlets()
    clients = [Client(port) for _ in range(n)]
    refs = [joined(c, f"lean:g{i}") for i, c in enumerate(clients)]
    eventually(lambda: _all_hibernating("LeanSocket.connect", n)
               and _all_hibernating("LeanChannel.join", n))
    # neither a reader per connection nor a process greenlet
    assert _busy_greenlets() - before < n // 2
    # and every one still reads: a frame wakes its socket, the reply comes back
    for i, (c, jr) in enumerate(zip(clients, refs)):
        ref = c.push(f"lean:g{i}", "echo", {"i": i}, join_ref=jr)
        assert c.reply(ref)[4] == {"status": "ok", "response": {"echoed": {"i": i}}}
    for c in clients:
        c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_stopping_the_endpoint_closes_idle_connections_with_1012_promptly():
    """No greenlet reads these connections: the Close replies are read on
    readiness, a client that never replies is dropped after the close
    timeout, and every socket process ends."""
    import time as _time
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("lean_stop_ps"),
        Endpoint.child_spec(pubsub="lean_stop_ps", port=0, name="lean_stop_endpoint",
                            sockets={"/socket": LeanSocket}, on_ready=ports.append),
    ])
    try:
        clients = [Client(ports[0]) for _ in range(3)]
        for i, c in enumerate(clients):
            joined(c, f"lean:s{i}")
        eventually(lambda: _all_hibernating("LeanSocket.connect", 3))
        mute = WSClient.connect(ports[0], "/socket/websocket?vsn=2.0.0")  # never reads
        eventually(lambda: len(_by_initial_call("LeanSocket.connect")) == 4)
    finally:
        started = _time.monotonic()
        stop(sup)
        took = _time.monotonic() - started
    assert took < 5.0
    for c in clients:
        assert c.closed(timeout=5.0) == Close(1012, "server shutting down")
        c.ws.sock.close()
    mute.sock.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))
    eventually(lambda: not _by_initial_call("LeanChannel.join"))


def _deques_held_by_open_websockets():
    """The deques an open server-side WebSocket or its wsproto connection
    holds directly (an empty deque is 760 B: idle connections keep none)."""
    import gc
    from collections import deque
    from beamish.channels._transport import WebSocket
    found, open_ws = [], 0
    for ws in [o for o in gc.get_objects() if type(o) is WebSocket and not o.closed]:
        open_ws += 1
        held = gc.get_referents(ws) + gc.get_referents(ws._conn)
        found += [o for o in held if isinstance(o, deque)]
    return open_ws, found


def test_an_idle_connection_keeps_no_empty_queues(port):
    c = Client(port)
    jr = joined(c, "lean:q")
    ref = c.push("lean:q", "mix", {"n": 3}, join_ref=jr)   # reads, pushes, broadcasts
    assert c.reply(ref)[4]["status"] == "ok"
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    open_ws, deques = _deques_held_by_open_websockets()
    assert open_ws == 1
    assert deques == []
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))
