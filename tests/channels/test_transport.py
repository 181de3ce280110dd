"""The WebSocket transport: handshakes, messages, limits, timeouts and every way to close.

Each test runs a real server (a bare StreamServer that parses the upgrade
with h11 and calls ``WebSocket.accept``, so these tests do not depend on
``_http``) and real clients on loopback sockets, all in this process.
"""
import base64
import os
import time
import tracemalloc

import gevent
import gevent.queue
import h11
import pytest
from gevent.pool import Pool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from gevent.server import StreamServer
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, TextMessage

from beamish.channels._transport import (DEFAULT_MAX_MESSAGE_SIZE, WebSocket, encode_frame,
                                         parse_handshake)
from beamish.channels._transport_errors import ConnectionClosed, HandshakeError

from tools.harness.client import Close, PongFrame, WSClient
from tools.harness.fixtures import hub_errors  # noqa: F401
from tools.harness.wire import masked_frame

pytestmark = [pytest.mark.timeout(20), pytest.mark.usefixtures("hub_errors")]


class Served:
    """A WebSocket server for one test; the handler's ending goes to ``ended``."""

    def __init__(self, handler, **options):
        self.handler = handler
        self.options = options
        self.sockets = []
        self.ended = gevent.queue.Queue()
        self.server = StreamServer(("127.0.0.1", 0), self._handle, spawn=Pool())
        self.server.start()
        self.port = self.server.address[1]

    def _handle(self, sock, peer):
        conn = h11.Connection(h11.SERVER)
        request = None
        while not isinstance(request, h11.Request):
            request = conn.next_event()
            if request is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
        assert isinstance(conn.next_event(), h11.EndOfMessage)
        ws = WebSocket.accept(sock, request, trailing_data=conn.trailing_data[0], **self.options)
        self.sockets.append(ws)
        try:
            self.handler(ws)
            self.ended.put("returned")
        except ConnectionClosed as exc:
            self.ended.put(exc)
        finally:
            ws.abort()

    def outcome(self, timeout=5):
        return self.ended.get(timeout=timeout)

    def stop(self):
        self.server.stop(timeout=1)


@pytest.fixture
def serve():
    servers = []

    def start(handler, **options):
        served = Served(handler, **options)
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.stop()


def echo(ws):
    while True:
        ws.send(ws.receive())


def idle(ws):
    while True:
        ws.receive()


# -- the opening handshake (pure) ---------------------------------------------------------

def request(method=b"GET", key=b"dGhlIHNhbXBsZSBub25jZQ==", version=b"13", **extra):
    headers = [(b"host", b"x"), (b"upgrade", b"websocket"), (b"connection", b"keep-alive, Upgrade"),
               (b"sec-websocket-key", key), (b"sec-websocket-version", version)]
    headers = [(k, v) for k, v in headers if v is not None]
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]
    return h11.Request(method=method, target=b"/socket/websocket?vsn=2.0.0", headers=headers)


def btoa(token):
    return base64.b64encode(token.encode("latin-1")).decode().rstrip("=")


def test_parse_handshake_extracts_subprotocols_and_the_phoenix_token():
    hs = parse_handshake(request(sec_websocket_protocol="phoenix, base64url.bearer.phx." + btoa("SFMyNTY.g2g")))
    assert hs.subprotocols == ("phoenix", "base64url.bearer.phx." + btoa("SFMyNTY.g2g"))
    assert hs.auth_token == "SFMyNTY.g2g"
    assert hs.target == "/socket/websocket?vsn=2.0.0"


def test_parse_handshake_without_a_token_has_none():
    assert parse_handshake(request()).auth_token is None
    assert parse_handshake(request()).subprotocols == ()


@pytest.mark.parametrize("key", [b"bad", b"!!!!!!!!!!!!!!!!!!!!!!!!", base64.b64encode(b"x" * 15),
                                 base64.b64encode(b"x" * 17), b""])
def test_a_key_that_is_not_16_bytes_of_base64_is_a_400(key):
    with pytest.raises(HandshakeError) as info:
        parse_handshake(request(key=key))
    assert info.value.status_code == 400


@pytest.mark.parametrize("changes", [dict(method=b"POST"), dict(version=None), dict(key=None)])
def test_other_defects_are_400(changes):
    with pytest.raises(HandshakeError) as info:
        parse_handshake(request(**changes))
    assert info.value.status_code == 400


def test_a_missing_upgrade_header_is_a_400():
    req = h11.Request(method=b"GET", target=b"/", headers=[(b"host", b"x")])
    with pytest.raises(HandshakeError) as info:
        parse_handshake(req)
    assert info.value.status_code == 400


def test_an_unsupported_version_is_a_426_naming_13():
    with pytest.raises(HandshakeError) as info:
        parse_handshake(request(version=b"8"))
    assert info.value.status_code == 426
    assert info.value.headers == (("Sec-WebSocket-Version", "13"),)


def test_a_malformed_bearer_token_is_a_400():
    with pytest.raises(HandshakeError):
        parse_handshake(request(sec_websocket_protocol="phoenix, base64url.bearer.phx.a*b"))


# -- frames out (pure) --------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("kind", [str, bytes])
def test_encode_frame_is_read_back_by_a_wsproto_client(size, kind):
    message = "a" * size if kind is str else os.urandom(size)
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(encode_frame(message))
    events = list(client.events())
    assert len(events) == 1 and events[0].message_finished
    assert isinstance(events[0], TextMessage if kind is str else BytesMessage)
    assert events[0].data == message


# -- handshake over a socket --------------------------------------------------------------

def test_the_server_echoes_phoenix_and_exposes_the_token(serve):
    served = serve(idle)
    client = WSClient.connect(served.port, subprotocols=["phoenix", "base64url.bearer.phx." + btoa("tok")])
    assert client.subprotocol == "phoenix"
    gevent.sleep(0.01)
    ws = served.sockets[0]
    assert ws.subprotocol == "phoenix"
    assert ws.auth_token == "tok"
    client.shutdown()


def test_no_subprotocol_is_selected_when_none_is_acceptable(serve):
    served = serve(idle)
    client = WSClient.connect(served.port, subprotocols=["mqtt"])
    assert client.subprotocol is None
    client.shutdown()


def test_frames_sent_right_behind_the_handshake_are_not_lost(serve):
    served = serve(echo)
    sock = gevent.socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(b"GET /socket/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n" + masked_frame(1, b"early"))
    data = b""
    with gevent.Timeout(5):
        while not data.endswith(b"\x81\x05early"):
            data += sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 101 ")
    sock.close()


# -- messages -----------------------------------------------------------------------------

@pytest.mark.parametrize("message", ["hello", "", "Zoë ☃ 😀", b"\x00\x01\xff", b"", b"x" * 100_000])
def test_text_and_binary_messages_echo_with_their_type(serve, message):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send(message)
    got = client.receive()
    assert got == message and type(got) is type(message)
    client.shutdown()


def test_a_fragmented_message_is_delivered_whole(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(1, "Zo".encode(), fin=False) + masked_frame(0x9, b"mid")
                    + masked_frame(0, "ë".encode()[:1], fin=False)
                    + masked_frame(0, "ë".encode()[1:] + b"!", fin=True))
    assert client.receive() == PongFrame(b"mid")  # a ping between fragments is answered
    assert client.receive() == "Zoë!"
    client.shutdown()


def test_messages_sent_back_to_back_arrive_in_order(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(b"".join(masked_frame(1, str(i).encode()) for i in range(100)))
    assert [client.receive() for _ in range(100)] == [str(i) for i in range(100)]
    client.shutdown()


def test_a_ping_is_answered_with_a_pong_carrying_its_payload(serve):
    served = serve(idle)
    client = WSClient.connect(served.port)
    client.ping(b"are you there")
    assert client.receive() == PongFrame(b"are you there")
    client.shutdown()


def test_a_server_ping_is_answered_and_the_pong_is_not_a_message(serve):
    def pinger(ws):
        ws.ping(b"p")
        ws.send(ws.receive())

    served = serve(pinger)
    client = WSClient.connect(served.port)
    client.send("after")  # the client's pong arrived before this, and was dropped
    assert client.receive() == "after"
    client.shutdown()


def test_one_encoded_frame_can_be_sent_to_many_sockets(serve):
    served = serve(idle)
    clients = [WSClient.connect(served.port) for _ in range(3)]
    gevent.sleep(0.02)
    frame = encode_frame('[null,null,"room:lobby","new_msg",{"body":"hi"}]')
    for ws in served.sockets:
        ws.send_frame(frame)
    assert [c.receive() for c in clients] == ['[null,null,"room:lobby","new_msg",{"body":"hi"}]'] * 3
    for c in clients:
        c.shutdown()


def test_concurrent_senders_never_interleave_frames(serve):
    served = serve(idle)
    client = WSClient.connect(served.port)
    gevent.sleep(0.02)
    ws = served.sockets[0]
    payloads = [bytes([i]) * 300_000 for i in range(8)]  # bigger than the socket buffers
    senders = [gevent.spawn(ws.send_bytes, p) for p in payloads]
    got = [client.receive() for _ in payloads]
    gevent.joinall(senders, raise_error=True)
    assert sorted(got) == sorted(payloads)
    client.shutdown()


def test_only_one_greenlet_may_receive(serve):
    errors = []

    def two_readers(ws):
        g = gevent.spawn(ws.receive)
        gevent.sleep(0.01)
        try:
            ws.receive()
        except RuntimeError as exc:
            errors.append(exc)
        g.kill()

    served = serve(two_readers)
    client = WSClient.connect(served.port)
    assert served.outcome() == "returned"
    assert len(errors) == 1
    client.shutdown()


# -- closing ------------------------------------------------------------------------------

@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "going"), (4001, "custom reason")])
def test_a_client_close_is_echoed_and_the_handler_sees_its_code(serve, code, reason):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.close(code, reason)
    assert client.receive() == Close(code, reason)
    assert client.wait_eof()  # the server closes TCP first
    exc = served.outcome()
    assert (exc.code, exc.reason) == (code, reason)


def test_a_close_without_a_code_is_1005(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(0x8, b""))
    assert served.outcome().code == 1005
    client.shutdown()


def test_messages_before_the_peer_close_are_still_received(serve):
    got = []

    def collect(ws):
        gevent.sleep(0.05)  # let the messages and the close arrive together
        while True:
            got.append(ws.receive())

    served = serve(collect)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(1, b"one") + masked_frame(2, b"two")
                    + masked_frame(0x8, (4000).to_bytes(2, "big")))
    assert served.outcome().code == 4000
    assert got == ["one", b"two"]
    client.shutdown()


@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "bye"), (4002, "kicked")])
def test_a_server_close_reaches_the_client_with_its_code(serve, code, reason):
    def closer(ws):
        ws.close(code, reason)
        ws.receive()

    served = serve(closer)
    client = WSClient.connect(served.port)
    assert client.receive() == Close(code, reason)
    exc = served.outcome()
    assert (exc.code, exc.reason) == (code, reason)
    assert client.wait_eof()


def test_close_from_another_greenlet_wakes_the_receiver(serve):
    served = serve(idle)
    client = WSClient.connect(served.port)
    gevent.sleep(0.02)
    ws = served.sockets[0]
    ws.close(1012, "restart")
    assert ws.closed
    assert client.receive() == Close(1012, "restart")  # the client echoes it
    exc = served.outcome()
    assert (exc.code, exc.reason) == (1012, "restart")
    with pytest.raises(ConnectionClosed):
        ws.send_text("too late")
    ws.close()  # idempotent


def test_a_peer_that_never_answers_our_close_is_dropped_after_close_timeout(serve):
    served = serve(idle, close_timeout=0.2)
    client = WSClient.connect(served.port)
    gevent.sleep(0.02)
    started = time.monotonic()
    served.sockets[0].close(4003)  # the client never reads, so never echoes
    assert served.outcome().code == 4003
    assert 0.15 < time.monotonic() - started < 2
    client.shutdown()


def test_close_without_a_receiver_waits_at_most_close_timeout(serve):
    def closer(ws):
        gevent.sleep(0.05)  # after the client's connect() returned: it will not read again
        started = time.monotonic()
        ws.close(4004)
        return ws.close_code, time.monotonic() - started

    results = []
    served = serve(lambda ws: results.append(closer(ws)), close_timeout=0.2)
    client = WSClient.connect(served.port)  # never answers
    assert served.outcome() == "returned"
    code, waited = results[0]
    assert code == 4004 and 0.15 < waited < 2
    client.shutdown()


def test_sending_on_a_closed_socket_raises_connection_closed(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.close(1000)
    client.receive()
    served.outcome()
    ws = served.sockets[0]
    for send in (ws.send_text, ws.send_bytes, ws.send):
        with pytest.raises(ConnectionClosed):
            send("x" if send is not ws.send_bytes else b"x")
    with pytest.raises(ConnectionClosed):
        ws.receive()


# -- limits -------------------------------------------------------------------------------

def test_the_default_limit_is_one_mib():
    assert DEFAULT_MAX_MESSAGE_SIZE == 1 << 20


@pytest.mark.parametrize("message", [b"x" * 1024, "é" * 512])  # 1024 bytes, even in UTF-8
def test_a_message_of_exactly_the_limit_is_accepted(serve, message):
    served = serve(echo, max_message_size=1024)
    client = WSClient.connect(served.port)
    client.send(message)
    assert client.receive() == message
    client.shutdown()


@pytest.mark.parametrize("message", [b"x" * 1025, "é" * 513])  # 513 characters, 1026 bytes
def test_a_message_over_the_limit_closes_with_1009(serve, message):
    served = serve(echo, max_message_size=1024)
    client = WSClient.connect(served.port)
    client.send(message)
    assert client.receive() == Close(1009, "message exceeds 1024 bytes")
    assert served.outcome().code == 1009


def test_fragments_count_towards_the_limit_together(serve):
    served = serve(echo, max_message_size=1024)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(2, b"a" * 400, fin=False) + masked_frame(0, b"b" * 400, fin=False)
                    + masked_frame(0, b"c" * 400, fin=True))
    assert client.receive().code == 1009
    assert served.outcome().code == 1009


def test_messages_completed_before_an_oversized_one_are_still_received(serve):
    got = []

    def collect(ws):
        while True:
            got.append(ws.receive())

    served = serve(collect, max_message_size=1024, close_timeout=0.2)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(1, b"ok") + masked_frame(2, b"x" * 2000))
    assert served.outcome().code == 1009
    assert got == ["ok"]
    assert client.receive().code == 1009


def test_a_huge_frame_is_refused_early_and_others_are_still_served(serve):
    served = serve(echo, max_message_size=64 * 1024)
    big = WSClient.connect(served.port)
    other = WSClient.connect(served.port)
    frame = masked_frame(2, os.urandom(8 << 20))

    def push():
        try:
            big.send_raw(frame)
        except OSError:
            pass  # the server stopped reading: expected

    tracemalloc.start()
    try:
        pusher = gevent.spawn(push)
        started = time.monotonic()
        assert served.outcome().code == 1009
        assert time.monotonic() - started < 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20  # never near the 8 MiB the client pushed
    other.send("still here")
    assert other.receive() == "still here"
    assert big.receive() == Close(1009, "message exceeds 65536 bytes")
    pusher.join(timeout=5)
    big.shutdown()
    other.shutdown()


def test_a_fast_sender_does_not_keep_the_hub_from_others(serve):
    served = serve(echo, max_message_size=16 << 20)
    client = WSClient.connect(served.port)
    gaps = []

    def ticker():
        last = time.perf_counter()
        while True:
            gevent.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    frame = masked_frame(2, b"z" * (8 << 20))
    tick = gevent.spawn(ticker)
    client.send_raw(frame)
    assert len(client.receive(timeout=10)) == 8 << 20
    tick.kill()
    assert max(gaps) < 0.25  # generous: a shared CI core; measured ~5 ms here
    client.shutdown()


# -- errors, timeouts and dropped connections ---------------------------------------------

def test_an_unmasked_client_frame_is_a_protocol_error_1002(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(b"\x81\x02hi")
    assert client.receive().code == 1002
    assert served.outcome().code == 1002


def test_invalid_utf8_in_a_text_message_is_1007(serve):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(1, b"\xff\xfe"))
    assert client.receive().code == 1007
    assert served.outcome().code == 1007


def test_an_idle_connection_is_closed_with_1001(serve):
    served = serve(echo, idle_timeout=0.3)
    client = WSClient.connect(served.port)
    started = time.monotonic()
    assert client.receive() == Close(1001, "idle timeout")
    assert 0.25 < time.monotonic() - started < 3
    exc = served.outcome()
    assert (exc.code, exc.reason) == (1001, "idle timeout")


def test_traffic_keeps_a_connection_from_idling_out(serve):
    served = serve(echo, idle_timeout=0.3)
    client = WSClient.connect(served.port)
    for i in range(6):
        gevent.sleep(0.1)
        client.send(str(i))
        assert client.receive() == str(i)
    client.shutdown()


@pytest.mark.parametrize("how", ["reset", "fin"])
def test_a_client_that_vanishes_mid_frame_ends_the_handler_with_1006(serve, how):
    served = serve(echo)
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(2, b"x" * 1000)[:500])
    gevent.sleep(0.02)
    client.abort() if how == "reset" else client.shutdown()
    exc = served.outcome()
    assert (exc.code, exc.reason) == (1006, "")
    assert served.sockets[0].close_code == 1006


def test_sending_to_a_vanished_client_raises_connection_closed(serve):
    served = serve(idle)
    client = WSClient.connect(served.port)
    gevent.sleep(0.02)
    ws = served.sockets[0]
    client.abort()
    gevent.sleep(0.05)
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(100):  # the first writes may still land in the kernel buffer
            ws.send_bytes(b"x" * 65536)
    assert info.value.code == 1006


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300), masked=st.booleans())
def test_any_bytes_from_a_client_end_only_in_connection_closed(serve, garbage, masked):
    if not hasattr(serve, "served"):
        serve.served = serve(echo, max_message_size=200, close_timeout=0.05)
    served = serve.served
    client = WSClient.connect(served.port)
    client.send_raw(masked_frame(2, garbage) + garbage if masked else garbage)
    gevent.sleep(0.005)
    client.abort()
    assert isinstance(served.outcome(), ConnectionClosed)


def test_a_large_text_framed_again_is_the_same_frame_not_a_new_copy():
    from beamish.channels._transport import LARGE_TEXT
    big = "x" * LARGE_TEXT
    first = encode_frame(big)
    assert first[:2] == b"\x81\x7f" and first.endswith(b"x" * 100)
    assert encode_frame(big) is first                 # the same str: no copy made
    other = "x" * LARGE_TEXT                          # equal, but another message
    assert encode_frame(other) == first and encode_frame(other) is not first
    assert encode_frame("hi") == b"\x81\x02hi"
