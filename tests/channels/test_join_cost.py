"""What a join costs the server: the request's headers are walked once,
writes the kernel takes at once arm no timer and take no lock, a readiness
turn that drained the socket does not ask it again, and records that are
the same for every connection (a channel class's intercepts, a socket's
idle wait) are shared, not made per join.  Real websockets on loopback;
the transport's read turn over a real socket pair."""
import sys
import types

import gevent.socket
import gevent.timeout
import h11._headers
import pytest

from beamish import Supervisor, process_info, processes, stop
from beamish.channels import Channel, Endpoint, Socket
from beamish.channels._transport import Handshake, WebSocket, _ServerConnection
from beamish.otp import get_state
from beamish.pubsub import PubSub, subscribers
from beamish.testing import eventually
from tools.harness.client import PhxClient as Client, joined
from tools.harness.wire import masked_frame

pytestmark = pytest.mark.timeout(60)

PUBSUB = "join_cost_ps"


class CostChannel(Channel):
    intercept = ("kept",)

    def join(self, topic, payload):
        return ("ok", {})

    def handle_in(self, event, payload, ref):
        return ("ok", {"echoed": payload})


class CostSocket(Socket):
    channels = [("cost:*", CostChannel)]


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec(PUBSUB),
        Endpoint.child_spec(pubsub=PUBSUB, port=0, name="join_cost_endpoint",
                            sockets={"/socket": CostSocket}, on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def _sockets():
    found = []
    for pid in processes():
        info = process_info(pid)
        if info is not None and info.initial_call.endswith("CostSocket.connect"):
            found.append(pid)
    return found


def _from_channels(modules=("beamish.channels",), depth=4):
    """True when the caller's caller (or a few frames further out) is code
    of ``modules``: what the server does, not the test client."""
    frame = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_globals.get("__name__", "").startswith(modules):
            return True
        frame = frame.f_back
    return False


#: Where frames are written (the HTTP server's request-head timeout is not a write's).
_WRITERS = ("beamish.channels._transport", "beamish.channels._socket")


# -- the request's headers are walked once per upgrade ------------------------------------

def test_an_upgrade_walks_the_request_headers_once(port, monkeypatch):
    walks = []
    headers_cls = h11._headers.Headers
    plain_iter, plain_raw = headers_cls.__iter__, headers_cls.raw_items

    def counted_iter(self):
        if _from_channels():
            walks.append("iter")
        return plain_iter(self)

    def counted_raw(self):
        if _from_channels():
            walks.append("raw_items")
        return plain_raw(self)
    monkeypatch.setattr(headers_cls, "__iter__", counted_iter)
    monkeypatch.setattr(headers_cls, "raw_items", counted_raw)
    c = Client(port)
    joined(c, "cost:walk")
    assert len(walks) == 1, walks
    c.close()
    eventually(lambda: not _sockets())


# -- writes the kernel takes at once: no timer, no lock -----------------------------------

def test_writes_with_room_in_the_kernel_arm_no_timer_and_take_no_lock(port, monkeypatch):
    import gc
    from gevent.lock import Semaphore
    armed = []
    plain_start = gevent.timeout.Timeout.start

    def counted_start(self, *args, **kwargs):
        if _from_channels(_WRITERS):
            armed.append(self)
        return plain_start(self, *args, **kwargs)
    monkeypatch.setattr(gevent.timeout.Timeout, "start", counted_start)
    c = Client(port)
    jr = joined(c, "cost:write")            # the 101 response and the join's reply
    for i in range(3):                      # replies written by the socket process
        ref = c.push("cost:write", "echo", {"i": i}, join_ref=jr)
        assert c.reply(ref)[4] == {"status": "ok", "response": {"echoed": {"i": i}}}
    assert armed == []
    monkeypatch.undo()
    gc.collect()
    open_ws = [o for o in gc.get_objects() if type(o) is WebSocket and not o.closed]
    assert len(open_ws) == 1
    held = gc.get_referents(open_ws[0])
    assert [o for o in held if isinstance(o, Semaphore)] == []
    assert [o for o in held if type(o) is list] == []   # no empty message lists either
    c.close()
    eventually(lambda: not _sockets())


# -- a readiness turn that drained the socket does not ask it again -----------------------

class _CountingSocket:
    """The OS socket under a WebSocket, counting its ``recv`` calls."""

    def __init__(self, raw):
        self.raw = raw
        self.recvs = 0

    def recv(self, size):
        self.recvs += 1
        return self.raw.recv(size)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def test_a_turn_that_reads_a_short_chunk_makes_one_recv():
    server_side, client_side = gevent.socket.socketpair()
    handshake = Handshake("/socket/websocket", "dGhlIHNhbXBsZSBub25jZQ==", (), None, None)
    ws = WebSocket(server_side, _ServerConnection(), handshake, None,
                   max_message_size=1 << 20, idle_timeout=None, close_timeout=1.0)
    counting = ws._raw = _CountingSocket(server_side._sock)
    try:
        client_side.sendall(masked_frame(1, b"one") + masked_frame(1, b"two"))
        gevent.socket.wait_read(server_side.fileno(), timeout=5)
        assert ws.receive_ready() == ["one", "two"]
        assert counting.recvs == 1
        client_side.sendall(masked_frame(1, b"three"))
        gevent.socket.wait_read(server_side.fileno(), timeout=5)
        assert ws.receive_ready() == ["three"]
        assert counting.recvs == 2
        client_side.close()                  # EOF is seen on the next turn
        gevent.socket.wait_read(server_side.fileno(), timeout=5)
        with pytest.raises(Exception) as exc:
            ws.receive_ready()
        assert type(exc.value).__name__ == "ConnectionClosed"
        assert ws.close_code == 1006
    finally:
        ws.abort()
        client_side.close()


# -- records that every connection would make alike are shared ----------------------------

def test_joins_share_the_intercepts_of_their_class_and_sockets_their_idle_wait(port):
    clients = [Client(port) for _ in range(2)]
    for c in clients:
        joined(c, "cost:shared")
    subs = subscribers(PUBSUB, "cost:shared")
    assert len(subs) == 2
    (_, first), (_, second) = subs
    assert first.intercepts == frozenset({"kept"})
    assert first.intercepts is second.intercepts
    # a connection's direct way in is its outlet, not a bound method made for it
    assert not isinstance(first.serializer.direct, types.MethodType)
    eventually(lambda: len(_sockets()) == 2)
    a, b = (get_state(pid) for pid in _sockets())
    assert a.wait is b.wait
    for c in clients:
        c.close()
    eventually(lambda: not _sockets())
