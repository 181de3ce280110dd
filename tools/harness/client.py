"""A WebSocket, HTTP and Phoenix client on gevent sockets, for tests and tools.

Built on wsproto and h11 over ``gevent.socket`` so that, without monkey
patching, they cooperate with a server running in the same process.  They
are deliberately separate from the server code: they frame and mask on
their own (:func:`~tools.harness.wire.masked_frame`) so tests can send what
a real client would, including broken and partial frames.
:class:`PhxClient` speaks Phoenix V2 JSON over :class:`WSClient`.
"""
from __future__ import annotations

import json
import re
import socket as _stdsocket
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import gevent
import gevent.socket
import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,
                            RejectConnection, RejectData, Request, TextMessage)

from .procs import HarnessError
from .wire import masked_frame

__all__ = ["HOST", "Close", "PongFrame", "Response", "Rejected", "WSClient", "HTTPClient",
           "PhxClient", "joined", "http_request", "raw_exchange", "ws_upgrade_headers"]

HOST = "127.0.0.1"
TIMEOUT = 5.0


@dataclass(frozen=True)
class Close:
    """The server's Close frame (or 1006 when TCP ended without one)."""
    code: int
    reason: str = ""


@dataclass(frozen=True)
class PongFrame:
    payload: bytes


@dataclass
class Response:
    status: int
    headers: Dict[str, str]
    body: bytes


class Rejected(HarnessError):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        super().__init__(status, body)
        self.status = status
        self.headers = headers
        self.body = body


def _connect(port: int, timeout: float) -> gevent.socket.socket:
    sock = gevent.socket.create_connection((HOST, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


class WSClient:
    """A WebSocket client connection; ``receive`` returns one decoded item."""

    def __init__(self, sock: gevent.socket.socket, ws: WSConnection, accepted: AcceptConnection,
                 leftover: List[object]) -> None:
        self.sock = sock
        self.ws = ws
        self.subprotocol = accepted.subprotocol
        self._items: List[object] = leftover
        self._parts: List[Union[str, bytes]] = []

    @classmethod
    def connect(cls, port: int, target: str = "/socket/websocket?vsn=2.0.0", *,
                subprotocols: Sequence[str] = (), headers: Sequence[Tuple[str, str]] = (),
                timeout: float = TIMEOUT) -> "WSClient":
        sock = _connect(port, timeout)
        ws = WSConnection(ConnectionType.CLIENT)
        sock.sendall(ws.send(Request(host=f"{HOST}:{port}", target=target,
                                     subprotocols=list(subprotocols),
                                     extra_headers=[(k.encode(), v.encode()) for k, v in headers])))
        reject: Optional[RejectConnection] = None
        body = b""
        while True:
            data = sock.recv(65536)
            ws.receive_data(data or None)
            events = list(ws.events())
            for i, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    client = cls(sock, ws, event, [])
                    client._absorb(events[i + 1:])
                    return client
                if isinstance(event, RejectConnection):
                    reject = event
                    if not event.has_body:
                        break
                elif isinstance(event, RejectData):
                    body += event.data
            if reject is not None and (not reject.has_body or ws.state.name == "CLOSED"):
                break
            if not data:
                break
        sock.close()
        if reject is None:
            raise ConnectionError("connection closed during the handshake")
        raise Rejected(reject.status_code,
                       {k.decode().lower(): v.decode() for k, v in reject.headers}, body)

    def _absorb(self, events: Sequence[object]) -> None:
        for event in events:
            if isinstance(event, (TextMessage, BytesMessage)):
                self._parts.append(event.data)
                if event.message_finished:
                    first = self._parts[0]
                    joined = ("" if isinstance(first, str) else b"").join(self._parts)
                    self._items.append(joined if isinstance(joined, str) else bytes(joined))
                    self._parts = []
            elif isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, Pong):
                self._items.append(PongFrame(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if self.ws.state.name == "REMOTE_CLOSING":
                    try:
                        self.sock.sendall(self.ws.send(event.response()))
                    except OSError:
                        pass
                self._items.append(Close(event.code, event.reason or ""))

    def receive(self, timeout: float = TIMEOUT) -> object:
        """The next message (``str``/``bytes``), ``PongFrame`` or ``Close``."""
        with gevent.Timeout(timeout):
            while not self._items:
                try:
                    data = self.sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    if self.ws.state.name == "CLOSED":  # after the Close exchange: EOF
                        return Close(1006, "eof after close")
                    self.ws.receive_data(None)
                else:
                    self.ws.receive_data(data)
                self._absorb(list(self.ws.events()))
            return self._items.pop(0)

    def wait_eof(self, timeout: float = TIMEOUT) -> bool:
        """True once the server has closed TCP (reads and drops anything else)."""
        with gevent.Timeout(timeout, False):
            while True:
                try:
                    if not self.sock.recv(65536):
                        return True
                except OSError:
                    return True
        return False

    def send(self, message: Union[str, bytes]) -> None:
        opcode = 1 if isinstance(message, str) else 2
        payload = message.encode() if isinstance(message, str) else message
        self.sock.sendall(masked_frame(opcode, payload))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ping(self, payload: bytes = b"") -> None:
        self.sock.sendall(masked_frame(0x9, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.sock.sendall(self.ws.send(CloseConnection(code, reason)))

    def abort(self) -> None:
        """Reset the TCP connection (SO_LINGER 0): no Close frame, no FIN."""
        self.sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        self.sock.close()

    def shutdown(self) -> None:
        self.sock.close()


class HTTPClient:
    """A keep-alive HTTP/1.1 client connection."""

    def __init__(self, port: int, timeout: float = TIMEOUT) -> None:
        self.port = port
        self.sock = _connect(port, timeout)
        self.conn = h11.Connection(h11.CLIENT)

    def request(self, method: str, target: str, headers: Sequence[Tuple[str, str]] = (),
                body: bytes = b"") -> Response:
        hdrs = [("host", f"{HOST}:{self.port}")] + list(headers)
        if body:
            hdrs.append(("content-length", str(len(body))))
        data = self.conn.send(h11.Request(method=method, target=target, headers=hdrs))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        self.sock.sendall(data)
        response: Optional[h11.Response] = None
        chunks: List[bytes] = []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
            elif isinstance(event, (h11.Response, h11.InformationalResponse)):
                response = event  # type: ignore[assignment]
                if isinstance(event, h11.InformationalResponse):
                    break
            elif isinstance(event, h11.Data):
                chunks.append(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        assert response is not None
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return Response(response.status_code,
                        {k.decode(): v.decode() for k, v in response.headers}, b"".join(chunks))

    @property
    def server_closed(self) -> bool:
        """True if the server has closed the connection (reads with a short wait)."""
        try:
            with gevent.Timeout(0.5, False):
                return self.sock.recv(1) == b""
        except OSError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def http_request(port: int, method: str, target: str, headers: Sequence[Tuple[str, str]] = (),
                 body: bytes = b"") -> Response:
    """One request on a fresh connection."""
    client = HTTPClient(port)
    try:
        return client.request(method, target, headers, body)
    finally:
        client.close()


def raw_exchange(port: int, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send raw bytes; return the server's first response (or all it sent
    before closing)."""
    sock = _connect(port, timeout)
    try:
        sock.sendall(data)
        out = b""
        with gevent.Timeout(timeout, False):
            while not _complete(out):
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
        return out
    finally:
        sock.close()


def _complete(response: bytes) -> bool:
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return match is not None and len(body) >= int(match.group(1))


def ws_upgrade_headers(key: str = "dGhlIHNhbXBsZSBub25jZQ==", **extra: str) -> List[Tuple[str, str]]:
    """The headers of an opening handshake, for hand-made requests."""
    headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": key,
               "sec-websocket-version": "13"}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return list(headers.items())


class PhxClient:
    """A Phoenix V2 JSON client over :class:`WSClient`; frames it reads but
    was not asked for wait in ``pending`` for a later ``expect``."""

    def __init__(self, port: int, query: str = "vsn=2.0.0&user=alice") -> None:
        self.ws = WSClient.connect(port, f"/socket/websocket?{query}")
        self.ref = 0
        self.pending: list = []

    def push(self, topic: str, event: str, payload, join_ref: Optional[str] = None) -> str:
        self.ref += 1
        ref = str(self.ref)
        self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))
        return ref

    def join(self, topic: str, payload=None) -> str:
        """Send ``phx_join``; its ref is the channel's join_ref, as in the JS client."""
        return self.push(topic, "phx_join", payload or {})

    def recv(self, timeout: float = 3.0):
        if self.pending:
            return self.pending.pop(0)
        item = self.ws.receive(timeout)
        return json.loads(item) if isinstance(item, str) else item

    def expect(self, pred: Callable, timeout: float = 3.0):
        """The first frame matching ``pred`` (others are kept for later)."""
        for i, f in enumerate(self.pending):
            if pred(f):
                return self.pending.pop(i)
        with gevent.Timeout(timeout):
            while True:
                item = self.ws.receive(timeout)
                f = json.loads(item) if isinstance(item, str) else item
                if pred(f):
                    return f
                if isinstance(f, Close):
                    raise AssertionError(f"connection closed ({f}) while waiting")
                self.pending.append(f)

    def reply(self, ref: str, timeout: float = 3.0):
        return self.expect(lambda f: isinstance(f, list) and f[1] == ref and f[3] == "phx_reply",
                           timeout)

    def event(self, event: str, timeout: float = 3.0):
        return self.expect(lambda f: isinstance(f, list) and f[3] == event, timeout)

    def closed(self, timeout: float = 3.0):
        return self.expect(lambda f: isinstance(f, Close), timeout)

    def close(self) -> None:
        try:
            self.ws.close(1000)
            self.ws.wait_eof(2)
        except OSError:
            pass
        self.ws.sock.close()


def joined(client: PhxClient, topic: str, payload=None) -> str:
    """Join ``topic`` and assert the reply is ok; returns the join ref."""
    ref = client.join(topic, payload)
    r = client.reply(ref)
    assert r[4]["status"] == "ok", r
    return ref
