"""WebSocket connections: wsproto's state machine driven over a gevent socket.

Theory of operation
-------------------
wsproto is sans-IO: it turns bytes into events and events into bytes.  A
:class:`WebSocket` owns one connected gevent socket and one wsproto
connection, and does the I/O around them:

* **Handshake.**  The HTTP server has already parsed the upgrade request
  with h11; :func:`parse_handshake` validates it once (stricter than
  wsproto: the ``Sec-WebSocket-Key`` must be 16 bytes of base64) into a
  small :class:`Handshake`, and :meth:`WebSocket.accept` picks a
  subprotocol, writes the ``101`` response itself (a few header lines and
  the ``Sec-WebSocket-Accept`` digest; wsproto's handshake machinery would
  re-parse the request through a second h11 connection, about 80 µs a
  join) and drives a bare wsproto ``Connection`` for the frames.  Nothing
  of the HTTP request (h11's connection or request objects) is kept.  The
  Phoenix client offers ``phoenix`` and ``base64url.bearer.phx.<token>``;
  the server echoes ``phoenix`` and the token is exposed as
  :attr:`Handshake.auth_token`.
* **Receiving.**  ``receive()`` reads at most 64 KiB per ``recv``.  A
  :class:`_FrameGuard` reads each frame header before wsproto sees the
  frame, which is where the limits are enforced: a data frame whose length
  (added to the fragments of its message so far) passes
  ``max_message_size`` is refused with 1009 as soon as its header is in,
  without waiting for the payload (as Cowboy does), and every frame, control
  frames and continuation fragments included, takes a token from the
  ``max_rate`` bucket, refused with 1008 when it is empty.  wsproto is then
  fed whole frames, at most ``_TURN_FRAMES`` of them (and ``_TURN_BYTES``
  read) per turn before the connection yields to the hub, so one client
  sending as fast as it can never holds up the others.  wsproto unmasks and
  emits the payload in pieces as it arrives; the pieces are assembled here.
  Pings are answered with pongs at once; pongs are dropped.  Instead of a
  greenlet blocked in ``receive()``, the owner may have readiness drive
  the reads (:meth:`WebSocket.watch`): the hub's io watcher on the socket
  calls it back when input comes, and :meth:`WebSocket.receive_ready`
  reads what is there without blocking, one such turn at a time, with
  the same limits.  An idle connection then holds no greenlet at all.
* **Sending.**  Server frames are unmasked, so the bytes of a frame are the
  same for every recipient.  :func:`encode_frame` builds them once and
  :meth:`WebSocket.send_frame` writes them as they are: a broadcast to N
  sockets costs one encode and N ``sendall`` calls.  Data frames bypass
  wsproto's writer (which copies the payload twice per call); control
  frames go through it.  A write with nothing ahead of it is first offered
  to the kernel without blocking, and when the kernel takes it whole (the
  usual case) that is all it costs: no timer, no lock.  Otherwise a lock
  (made on the first such write) keeps concurrent senders from
  interleaving the bytes of two frames.  :meth:`WebSocket.try_send_frame` is the
  non-blocking way in, for a broadcaster writing to many connections from
  its own greenlet: when no write is under way or queued it hands the
  frame to the kernel at once; what the kernel does not take stays in the
  connection's out-queue, and the next blocking write (or
  :meth:`WebSocket.flush`) sends it first, so frames never interleave and
  leave in the order they were accepted.  Every write (the 101 response, data frames,
  pongs, Close frames) must be done within ``send_timeout`` (Ranch's
  ``send_timeout``, 30 s by default), lock wait included; a peer that does
  not read for that long is dropped (1006), so no greenlet waits on a dead
  peer for ever.
* **Closing.**  Whoever closes first sends a Close frame; the other side
  echoes it; then the server closes TCP (RFC 6455 section 7.1.1).  After
  sending a Close we shut down our write side and keep reading (the
  receiving greenlet through wsproto, else :meth:`WebSocket._drain` through
  the guard's header scan alone) until the peer's Close, EOF,
  ``close_timeout`` or a byte budget, so that the peer reads our close code
  before a TCP reset can destroy it.  An idle peer (nothing received for
  ``idle_timeout`` seconds) is closed with 1001, an oversized message with
  1009, a peer over ``max_rate`` with 1008, a protocol violation with the
  code wsproto names (1002, or 1007 for bad UTF-8); a TCP connection that
  just ends or resets, or a peer that does not read within
  ``send_timeout``, is 1006.  Every one of these surfaces as one
  exception, :class:`ConnectionClosed`, from ``receive`` and the senders.

Cost, measured on a 2-core machine (CPython 3.11, wsproto 1.3.2): one
masked binary frame sent over loopback by a client in another process is
received in about 2.3 ms for 1 MiB and 36 ms for 8 MiB of wall time (the
transfer included).  wsproto's unmasking (``bytes.translate`` on strided
slices, in C) and parsing cost about 1.4 ms of CPU per MiB, 11 ms for 8 MiB
fed in one piece.  Because input is handled 64 KiB at a time and
``receive`` yields to the hub after every 256 KiB, other greenlets saw no
hub stall above the machine's idle jitter (3 to 6 ms, against 8 ms idle)
while an 8 MiB frame arrived.  Many small frames cost per frame instead
(about 9 µs each in wsproto, 80 ms for 64 KiB of one-byte fragments),
hence the bound on frames per turn as well as on bytes.  So CPU is not what bounds message size;
memory is: each connection may hold ``max_message_size`` of a message being
assembled (twice, during the final join).  The default limit is therefore
1 MiB, plenty for channel traffic; raise it per server for uploads.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from collections import deque
from dataclasses import dataclass
from socket import SHUT_WR
from typing import Any, Callable, Deque, Iterable, List, Optional, Sequence, Tuple, Union

import gevent
import gevent.socket
from gevent import get_hub
import h11
from gevent.lock import Semaphore
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from ._transport_errors import ConnectionClosed, HandshakeError

__all__ = [
    "WebSocket", "Handshake", "parse_handshake", "encode_frame",
    "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_IDLE_TIMEOUT", "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_SEND_TIMEOUT", "PHOENIX_SUBPROTOCOL", "PHOENIX_TOKEN_PREFIX",
    "CLOSE_NORMAL", "CLOSE_GOING_AWAY", "CLOSE_PROTOCOL_ERROR", "CLOSE_ABNORMAL",
    "CLOSE_POLICY_VIOLATION", "CLOSE_TOO_BIG", "CLOSE_INTERNAL_ERROR", "CLOSE_SERVICE_RESTART",
]

DEFAULT_MAX_MESSAGE_SIZE = 1 << 20
"""Largest incoming message (after reassembly of fragments), in bytes."""
DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds without incoming bytes before the server closes (Phoenix's 60 s)."""
DEFAULT_CLOSE_TIMEOUT = 1.0
"""Seconds to wait for the peer's Close reply before dropping TCP."""
DEFAULT_SEND_TIMEOUT = 30.0
"""Seconds one write may take before the peer is dropped (Ranch's 30 s)."""

PHOENIX_SUBPROTOCOL = "phoenix"
PHOENIX_TOKEN_PREFIX = "base64url.bearer.phx."

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_ABNORMAL = 1006
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012

_RECV_SIZE = 64 * 1024
_TURN_BYTES = 256 * 1024   # bytes read between two yields to the hub
_TURN_FRAMES = 64          # frames handed to wsproto between two yields to the hub
_YIELD_SLEEP = 0.00001     # a timed sleep: the hub polls sockets and timers before we resume
_DRAIN_MIN = 256 * 1024    # bytes we read at least while waiting for a Close reply

_head_short = struct.Struct("!BB").pack
_head_16 = struct.Struct("!BBH").pack
_head_64 = struct.Struct("!BBQ").pack

Data = Union[str, bytes]


# -- the opening handshake (pure) ---------------------------------------------------------

@dataclass(frozen=True)
class Handshake:
    """A validated WebSocket upgrade request.

    ``subprotocols`` are the values the client offered, in its order.
    ``auth_token`` is the Phoenix bearer token carried as the subprotocol
    ``base64url.bearer.phx.<token>``, decoded (the JS client encodes it with
    ``btoa``: standard base64, ``=`` stripped, so decoding as Latin-1 gives
    back exactly the string it was given), or ``None`` when not offered.
    ``origin`` and ``host`` are those headers' values, or ``None``.
    """

    target: str
    key: str
    subprotocols: Tuple[str, ...]
    auth_token: Optional[str]
    origin: Optional[str]
    host: Optional[str] = None


#: Request headers as ``(lower-case name, value)`` strings (Latin-1 decoded).
Headers = Tuple[Tuple[str, str], ...]


def request_headers(request: h11.Request) -> Headers:
    """The headers of ``request``, decoded once, for everything that reads
    them (the handshake, the origin check, :class:`RequestInfo`)."""
    return tuple([(name.lower().decode("latin-1"), value.decode("latin-1"))
                  for name, value in request.headers.raw_items()])


def _tokens(value: str) -> List[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _decode_token(encoded: str) -> str:
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise HandshakeError("malformed Phoenix bearer token in Sec-WebSocket-Protocol") from None
    return raw.decode("latin-1")


def parse_handshake(request: h11.Request, headers: Optional[Headers] = None) -> Handshake:
    """Validate the opening handshake of RFC 6455 section 4.2.1.

    Pure: no I/O.  ``headers`` are the request's headers as
    :func:`request_headers` decoded them, when the caller already has them
    (they are then not walked again).  Checks the method (GET), HTTP/1.1, ``Upgrade:
    websocket``, ``Connection: upgrade``, ``Sec-WebSocket-Version: 13`` and a
    ``Sec-WebSocket-Key`` that is the base64 of 16 bytes, and extracts the
    offered subprotocols and the Phoenix bearer token.

    Also checks what wsproto's own handshake would: a ``Host`` that decodes
    (as IDNA) and an ASCII target.

    Raises:
        HandshakeError: with status 400 for any defect, or 426 (and a
            ``Sec-WebSocket-Version: 13`` header) for a version other than 13.
    """
    if request.method != b"GET":
        raise HandshakeError(f"WebSocket upgrade needs GET, not {request.method.decode()}")
    if request.http_version != b"1.1":
        raise HandshakeError("WebSocket upgrade needs HTTP/1.1")
    upgrade: List[str] = []
    connection: List[str] = []
    protocols: List[str] = []
    keys: List[str] = []
    version: Optional[str] = None
    origin: Optional[str] = None
    host: Optional[str] = None
    for name, value in request_headers(request) if headers is None else headers:
        if name == "host":
            host = value
        elif name == "upgrade":
            upgrade += _tokens(value)
        elif name == "connection":
            connection += _tokens(value)
        elif name == "sec-websocket-key":
            keys.append(value)
        elif name == "sec-websocket-version":
            version = value.strip()
        elif name == "sec-websocket-protocol":
            protocols += _tokens(value)
        elif name == "origin":
            origin = value
    if "websocket" not in (t.lower() for t in upgrade):
        raise HandshakeError("missing 'Upgrade: websocket' header")
    if "upgrade" not in (t.lower() for t in connection):
        raise HandshakeError("missing 'Connection: Upgrade' header")
    if version != "13":
        if version is None:
            raise HandshakeError("missing Sec-WebSocket-Version header")
        raise HandshakeError("unsupported WebSocket version", 426,
                             [("Sec-WebSocket-Version", "13")])
    if len(keys) != 1:
        raise HandshakeError("need exactly one Sec-WebSocket-Key header")
    try:
        if len(base64.b64decode(keys[0], validate=True)) != 16:
            raise ValueError
    except (binascii.Error, ValueError):
        raise HandshakeError("Sec-WebSocket-Key is not the base64 of 16 bytes") from None
    if host is None:
        raise HandshakeError("missing Host header")
    try:
        host.encode("latin-1").decode("idna")
        target = request.target.decode("ascii")
    except ValueError:  # UnicodeError is a ValueError
        raise HandshakeError("bad upgrade request: undecodable Host or target") from None
    token = None
    for p in protocols:
        if p.startswith(PHOENIX_TOKEN_PREFIX):
            token = _decode_token(p[len(PHOENIX_TOKEN_PREFIX):])
    return Handshake(target, keys[0], tuple(protocols), token, origin, host)


_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_response(handshake: Handshake, subprotocol: Optional[str]) -> bytes:
    """The bytes of the ``101 Switching Protocols`` answer to ``handshake``
    (RFC 6455 section 4.2.2), selecting ``subprotocol`` (or none)."""
    digest = hashlib.sha1(handshake.key.encode("ascii") + _ACCEPT_GUID).digest()
    lines = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
             b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + base64.b64encode(digest)]
    if subprotocol is not None:
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n"



# -- frame headers in (pure) --------------------------------------------------------------

Refusal = Tuple[int, str]


class _FrameGuard:
    """Reads the frame headers of the incoming byte stream ahead of wsproto.

    wsproto keeps reading a frame's payload whatever its header announced,
    and parses all the frames it is given in one go.  The guard looks at
    each header first, so that a frame can be refused before its payload is
    read (a length past ``max_message_size``: 1009) or as soon as it comes
    (past the ``max_rate`` token bucket: 1008), and so that the caller can
    hand wsproto a bounded number of frames at a time.  Only lengths,
    opcodes and the FIN bit are read; everything else wsproto checks.
    """

    __slots__ = ("_max", "_rate", "_tokens", "_stamp", "_head", "_skip", "_message",
                 "peer_closed")

    def __init__(self, max_message_size: int, max_rate: Optional[float]) -> None:
        self._max = max_message_size
        self._rate = max_rate                 # frames per second, None: no limit
        self._tokens = float(max_rate or 0)   # the bucket holds one second's worth
        self._stamp = time.monotonic()
        self._head = b""                      # the start of a header split across reads
        self._skip = 0                        # payload bytes of the current frame still to come
        self._message = 0                     # bytes of the fragmented message so far
        self.peer_closed = False
        """True once the header of the peer's Close frame has been read."""

    def scan(self, data: bytes, frames: int = 1 << 62,
             enforce: bool = True) -> Tuple[int, int, int, Optional[Refusal]]:
        """Walk ``data``, the next bytes of the stream, through at most
        ``frames`` frame headers.

        Returns ``(feed, end, count, refusal)``: ``data[:end]`` has been
        read (the rest is for the next call), ``data[:feed]`` may be given to
        wsproto, ``count`` headers were read; ``refusal`` is ``None`` or the
        close code and reason for the frame starting at ``feed``, which is
        then not to be fed (``end`` is past its header and its payload is
        skipped by later calls).  With ``enforce`` false nothing is refused
        and no token is taken (reading on while closing).
        """
        pos = 0
        size = len(data)
        count = 0
        rate = self._rate if enforce else None
        if rate is not None:
            now = time.monotonic()
            self._tokens = min(rate, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                self._skip -= step
                pos += step
                continue
            if count >= frames:
                break
            start = pos
            held = len(self._head)
            buf = self._head + data[pos:pos + 14] if held else data[pos:pos + 14]
            if len(buf) < 2:
                self._head = buf
                pos = size
                break
            b0 = buf[0]
            b1 = buf[1]
            n = b1 & 0x7F
            extra = 2 if n == 126 else 8 if n == 127 else 0
            need = 2 + extra + (4 if b1 & 0x80 else 0)
            if len(buf) < need:  # 14 bytes cover any header: the rest of data is in buf
                self._head = buf
                pos = size
                break
            pos += need - held
            self._head = b""
            length = int.from_bytes(buf[2:2 + extra], "big") if extra else n
            opcode = b0 & 0x0F
            refusal: Optional[Refusal] = None
            if opcode < 8:  # a data frame or a continuation fragment
                total = length + (self._message if opcode == 0 else 0)
                if total > self._max and enforce:
                    refusal = (CLOSE_TOO_BIG, f"message exceeds {self._max} bytes")
                self._message = 0 if b0 & 0x80 else total
            elif opcode == 8:
                self.peer_closed = True
            if rate is not None and refusal is None:
                if self._tokens < 1.0:
                    refusal = (CLOSE_POLICY_VIOLATION, "rate limit exceeded")
                else:
                    self._tokens -= 1.0
            self._skip = length
            if refusal is not None:
                return start, pos, count, refusal
            count += 1
        return pos, pos, count, None


# -- frames out (pure) --------------------------------------------------------------------

#: The last large text message framed and its frame (see :func:`encode_frame`).
_last_large: Tuple[Any, bytes] = (None, b"")
LARGE_TEXT = 65536


def encode_frame(message: Data) -> bytes:
    """The wire bytes of one unmasked server frame carrying ``message``.

    ``str`` becomes a text frame (UTF-8), anything else (``bytes``,
    ``bytearray``, ``memoryview``) a binary frame.  Encode a broadcast once
    and pass the result to :meth:`WebSocket.send_frame` of every recipient.

    The frame of the last text message of :data:`LARGE_TEXT` characters or
    more is kept with the message: framing the very same ``str`` object
    again returns the same bytes without copying it twice more.  (A busy
    room's joiners are each pushed one shared ``presence_state`` text of
    about a megabyte; the message is held, so its identity is not reused.)

    >>> encode_frame("hi")
    b'\\x81\\x02hi'
    """
    global _last_large
    if isinstance(message, str):
        if len(message) >= LARGE_TEXT:
            if _last_large[0] is message:
                return _last_large[1]
            frame = _frame(0x81, message.encode())
            _last_large = (message, frame)
            return frame
        payload: bytes = message.encode()
        first = 0x81
    else:
        payload = message  # type: ignore[assignment]
        first = 0x82
    return _frame(first, payload)


def _frame(first: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return _head_short(first, n) + payload
    if n < 65536:
        return _head_16(first, 126, n) + payload
    return _head_64(first, 127, n) + payload


# -- the connection -----------------------------------------------------------------------

_NO_EVENTS: Tuple = ()


class _ServerConnection(Connection):
    """wsproto's server-side connection without an event queue of its own.

    wsproto queues an event outside its frame parser only when given
    ``receive_data(None)``, which :class:`WebSocket` never does (it handles
    EOF itself), so the queue would stay an empty deque (760 B per
    connection).  Every connection shares one empty tuple instead: the
    events are still read the same way, and a ``receive_data(None)`` would
    fail loudly rather than queue anything.
    """

    def __init__(self) -> None:
        super().__init__(ConnectionType.SERVER)
        self._events = _NO_EVENTS  # type: ignore[assignment]


class WebSocket:
    """A server-side WebSocket connection over a connected gevent socket.

    Make one with :meth:`accept`.  One greenlet at a time may call
    :meth:`receive` (or :meth:`receive_ready`, when :meth:`watch` drives
    the reads); any greenlet may send or close.  Every method that
    finds the connection closed raises :class:`ConnectionClosed`, except
    :meth:`close` and :meth:`abort`, which are idempotent.

    Sends block until the kernel has taken the bytes, up to
    ``send_timeout`` for a peer that stops reading (then the connection is
    dropped with 1006).  A caller fanning out to many sockets should
    therefore send from each socket's own greenlet, not from the
    broadcaster's.
    """

    __slots__ = ("_sock", "_conn", "_wlock", "_outq", "_writing", "_max", "_close_timeout", "_send_timeout",
                 "_guard", "_rest", "_turn_frames", "_turn_bytes", "_pending", "_parts",
                 "_size", "_reader", "_closing", "_sent_close", "_code", "_reason",
                 "_timer", "_raw", "_watcher", "_notify", "on_finish", "subprotocol",
                 "handshake")

    def __init__(self, sock: gevent.socket.socket, conn: Connection, handshake: Handshake,
                 subprotocol: Optional[str], *, max_message_size: int,
                 idle_timeout: Optional[float], close_timeout: float,
                 send_timeout: Optional[float] = DEFAULT_SEND_TIMEOUT,
                 max_rate: Optional[float] = None) -> None:
        self._sock = sock
        self._conn = conn
        # made on the first write that cannot be done at once (most writes
        # are: see _write), so an idle connection holds no lock
        self._wlock: Optional[Semaphore] = None
        # accepted bytes the kernel has not taken yet; None while there are none
        # (most connections never have any, and an empty deque costs 760 B)
        self._outq: Optional[Deque[bytes]] = None
        self._writing = 0                         # greenlets in _write (holding or awaiting the lock)
        self._max = max_message_size
        self._close_timeout = close_timeout
        self._send_timeout = send_timeout
        self._guard = _FrameGuard(max_message_size, max_rate)
        self._rest = b""                          # bytes read but not yet scanned
        self._turn_frames = 0                     # frames handled since the last yield
        self._turn_bytes = 0                      # bytes read since the last yield
        # whole messages not yet returned, and the pieces of the message being
        # assembled: lists made when there is something to hold (None: empty)
        self._pending: Optional[List[Data]] = None
        self._parts: Optional[List[Data]] = None
        self._size = 0                            # bytes in _parts
        self._reader: Optional[object] = None     # greenlet inside receive()
        self._closing = False                     # a Close frame was sent
        self._sent_close: Tuple[int, str] = (CLOSE_NORMAL, "")
        self._code: Optional[int] = None          # set once the TCP socket is closed
        self._reason = ""
        self._timer: Optional[gevent.Greenlet] = None
        self._raw = sock._sock                    # the OS socket (non-blocking) under gevent's
        self._watcher: Any = None                 # the hub's read watcher, once watch() is used
        self._notify: Optional[Callable[[], None]] = None
        self.on_finish: Optional[Callable[["WebSocket"], None]] = None
        """Called with the connection once it is closed (TCP released)."""
        self.subprotocol = subprotocol
        """The subprotocol the server selected, or ``None``."""
        self.handshake = handshake
        """The validated upgrade request."""
        sock.settimeout(idle_timeout)

    @classmethod
    def accept(cls, sock: gevent.socket.socket, request: Union[h11.Request, Handshake], *,
               trailing_data: bytes = b"",
               subprotocols: Sequence[str] = (PHOENIX_SUBPROTOCOL,),
               max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
               idle_timeout: Optional[float] = DEFAULT_IDLE_TIMEOUT,
               close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
               send_timeout: Optional[float] = DEFAULT_SEND_TIMEOUT,
               max_rate: Optional[float] = None) -> "WebSocket":
        """Complete the opening handshake of ``request`` and return the connection.

        ``request`` is the upgrade request as h11 parsed it from ``sock``,
        or the :class:`Handshake` :func:`parse_handshake` already made of it
        (then it is not parsed again); ``trailing_data`` is whatever the
        client sent after it (h11's ``trailing_data``), processed as the
        first frames.  Neither the request nor anything of h11 is kept.
        The selected subprotocol is the first one the client offered that
        is in ``subprotocols`` (none if there is no such one; the upgrade
        still succeeds).

        ``max_message_size`` bounds an incoming message in bytes (1009 past
        it).  ``idle_timeout`` (``None``: never) is how long a
        :meth:`receive` may wait for the next bytes before closing with
        1001; since a connection normally always has a greenlet in
        ``receive``, it is the time since the peer last sent anything.
        ``close_timeout`` is how long to wait for the peer's Close reply.
        ``send_timeout`` (``None``: never) bounds every write, this
        response included; a peer that does not take the bytes in time is
        dropped.  ``max_rate`` (``None``: no limit) is how many frames a
        second the peer may send, a token bucket of that many: one frame
        more and the connection is closed with 1008.

        Raises:
            HandshakeError: the request is not a valid opening handshake;
                nothing was written, so the caller can answer with
                ``status_code``.
            ConnectionClosed: the peer went away while we wrote the response.
        """
        handshake = request if isinstance(request, Handshake) else parse_handshake(request)
        chosen = next((p for p in handshake.subprotocols if p in subprotocols), None)
        self = cls(sock, _ServerConnection(), handshake, chosen,
                   max_message_size=max_message_size, idle_timeout=idle_timeout,
                   close_timeout=close_timeout, send_timeout=send_timeout, max_rate=max_rate)
        if not self._write(accept_response(handshake, chosen)):
            raise ConnectionClosed(CLOSE_ABNORMAL, "connection lost during the handshake")
        self._rest = trailing_data  # the first frames, read with the request
        return self

    @property
    def auth_token(self) -> Optional[str]:
        """The Phoenix bearer token of the handshake, or ``None``."""
        return self.handshake.auth_token

    @property
    def closed(self) -> bool:
        """True once a Close frame was sent or the connection is gone."""
        return self._closing or self._code is not None

    @property
    def close_code(self) -> Optional[int]:
        """The connection's close code once it is closed (see ConnectionClosed)."""
        return self._code

    @property
    def close_reason(self) -> str:
        return self._reason

    # -- receiving --

    def receive(self) -> Data:
        """The next whole message: ``str`` for a text one, ``bytes`` for binary.

        Blocks until one arrives.  Answers pings on the way.

        Raises:
            ConnectionClosed: the connection is closed, whoever closed it and
                however (see the class for the codes).  Messages received
                before the close are returned first.
            RuntimeError: another greenlet is already receiving.
        """
        if self._pending:
            return self._pending.pop(0)
        if self._code is not None:
            raise ConnectionClosed(self._code, self._reason)
        if self._reader is not None:
            if self._closing:  # close() is reading the peer's reply: no more messages
                raise ConnectionClosed(*self._sent_close)
            raise RuntimeError("another greenlet is already receiving on this WebSocket")
        self._reader = gevent.getcurrent()
        try:
            return self._receive()
        finally:
            self._reader = None

    def _receive(self) -> Data:
        recv = self._sock.recv
        while self._code is None:
            if self._turn_frames >= _TURN_FRAMES or self._turn_bytes >= _TURN_BYTES:
                # a fast sender must not keep the hub from the others
                self._turn_frames = self._turn_bytes = 0
                gevent.sleep(_YIELD_SLEEP)
                if self._code is not None:
                    break
            data = self._rest
            if data:
                self._rest = b""
            else:
                try:
                    data = recv(_RECV_SIZE)
                except TimeoutError:
                    if self._closing:
                        self._finish(*self._sent_close)
                    else:
                        self._fail(CLOSE_GOING_AWAY, "idle timeout")
                    break
                except OSError:
                    data = b""
                if not data:
                    if self._code is None:  # not closed by another greenlet: the peer dropped
                        self._finish(*(self._sent_close if self._closing
                                       else (CLOSE_ABNORMAL, "")))
                    break
                self._turn_bytes += len(data)
            self._turn_frames += self._take(data, _TURN_FRAMES - self._turn_frames)
            if self._pending:
                return self._pending.pop(0)
        raise ConnectionClosed(self._code, self._reason)  # type: ignore[arg-type]

    def _take(self, data: bytes, frames: int) -> int:
        """Hand at most ``frames`` frames of ``data`` (the next bytes of the
        stream) to wsproto, keep the rest for later, enforce the limits;
        the number of frame headers read."""
        feed, end, count, refusal = self._guard.scan(data, frames, not self._closing)
        if end < len(data):
            self._rest = data[end:]
        if feed:
            self._conn.receive_data(data if feed == len(data) else data[:feed])
            self._process_events()
        if refusal is not None and not self._closing and self._code is None:
            self._fail(*refusal)
        return count

    # -- receiving driven by readiness --

    def watch(self, notify: Optional[Callable[[], None]] = None) -> None:
        """Call ``notify()`` (from the hub, once) when there is input to
        read: then call :meth:`receive_ready`, and ``watch`` again.

        This is how a connection is read without a greenlet waiting in
        :meth:`receive`: the hub's io watcher on the socket stands in for
        it.  ``notify`` is also called once the connection is closed,
        however it closes.  While a Close we sent awaits its reply, the
        connection reads that reply itself on readiness (the guard's
        header scan only) and then closes TCP.  Bytes already read (with
        the handshake, or past a turn's budget) make ``notify`` come at
        once.  Without ``notify``, the one given before is kept.
        """
        if self._code is not None:
            return
        if notify is not None:
            self._notify = notify
        notify = self._notify
        if notify is None:
            raise RuntimeError("watch() needs a notify callable the first time")
        if self._rest:
            get_hub().loop.run_callback(notify)
            return
        watcher = self._watcher
        if watcher is None:
            watcher = self._watcher = get_hub().loop.io(self._raw.fileno(), 1)
        if not watcher.active:
            watcher.start(self._on_readable)

    @property
    def socket(self) -> gevent.socket.socket:
        """The connection's TCP socket."""
        return self._sock

    @property
    def watched(self) -> bool:
        """True once :meth:`watch` was used: reads are driven by readiness."""
        return self._notify is not None

    def _on_readable(self) -> None:
        """The hub saw input: hand it to the reader, or, while closing with
        no reader, read the peer's Close reply here (without blocking)."""
        watcher = self._watcher
        if watcher is None:  # closed meanwhile
            return
        watcher.stop()
        if not self._closing or self._reader is not None:
            notify = self._notify
            if notify is not None:
                notify()
            return
        budget = max(self._max, _DRAIN_MIN)   # what _drain would read at most
        guard = self._guard
        while True:
            data, self._rest = self._rest, b""
            if not data:
                try:
                    data = self._raw.recv(_RECV_SIZE)
                except BlockingIOError:
                    self._watcher.start(self._on_readable)
                    return
                except OSError:
                    data = b""
                if not data:
                    break
            budget -= len(data)
            guard.scan(data, enforce=False)
            if guard.peer_closed or budget <= 0:
                break
        self._finish(*self._sent_close)

    def receive_ready(self) -> List[Data]:
        """The messages that input already here completes, without blocking.

        Reads for one turn at most (``_TURN_FRAMES`` frames or
        ``_TURN_BYTES`` bytes), and stops after a read that got less than
        it asked for (the kernel had no more; the socket turns readable
        again when more comes); :attr:`buffered` says whether input is
        left over.  Enforces every limit :meth:`receive` does and answers
        pings.

        Raises:
            ConnectionClosed: the connection is closed and every message
                received before that was returned.
            RuntimeError: another greenlet is receiving.
        """
        if self._reader is not None:
            raise RuntimeError("another greenlet is already receiving on this WebSocket")
        self._reader = gevent.getcurrent()
        try:
            frames = size = 0
            drained = False
            while (self._code is None and not drained and frames < _TURN_FRAMES
                   and size < _TURN_BYTES):
                data, self._rest = self._rest, b""
                if not data:
                    try:
                        data = self._raw.recv(_RECV_SIZE)
                    except BlockingIOError:
                        break
                    except OSError:
                        data = b""
                    if not data:
                        if self._code is None:  # the peer dropped, or replied to our Close
                            self._finish(*(self._sent_close if self._closing
                                           else (CLOSE_ABNORMAL, "")))
                        break
                    size += len(data)
                    # a short read took all the kernel had: asking again would
                    # only fail (a syscall and an exception per turn); what
                    # comes later makes the socket readable again
                    drained = len(data) < _RECV_SIZE
                frames += self._take(data, _TURN_FRAMES - frames)
        finally:
            self._reader = None
        pending = self._pending
        if pending:
            self._pending = None
            return pending
        if self._code is not None:
            raise ConnectionClosed(self._code, self._reason)
        return []

    @property
    def buffered(self) -> bool:
        """True when input read but not yet parsed waits (a turn's budget ran out)."""
        return bool(self._rest)

    def _process_events(self) -> None:
        conn = self._conn
        for event in conn.events():
            kind = type(event)
            if kind is TextMessage or kind is BytesMessage:
                if self._closing:
                    continue  # data after our Close: the peer had not seen it yet
                data = event.data
                size = self._size + (len(data) if kind is BytesMessage or data.isascii()
                                     else len(data.encode()))
                if size > self._max:
                    self._fail(CLOSE_TOO_BIG, f"message exceeds {self._max} bytes")
                    return
                if event.message_finished:
                    if self._parts:
                        self._parts.append(data)
                        data = ("" if kind is TextMessage else b"").join(self._parts)
                        self._parts = None
                    self._size = 0
                    if self._pending is None:
                        self._pending = [data]
                    else:
                        self._pending.append(data)
                else:
                    if self._parts is None:
                        self._parts = [data]
                    else:
                        self._parts.append(data)
                    self._size = size
            elif kind is Ping:
                if conn.state is ConnectionState.OPEN:
                    self._write(conn.send(event.response()))
            elif kind is Pong:
                pass
            elif kind is CloseConnection:
                state = conn.state
                if state is ConnectionState.REMOTE_CLOSING:  # the peer closed first: echo
                    self._write(conn.send(event.response()))
                    self._finish(event.code, event.reason or "")
                elif state is ConnectionState.CLOSED:  # reply to our Close, or EOF
                    self._finish(*(self._sent_close if self._closing
                                   else (event.code, event.reason or "")))
                elif self._closing:  # broken frame while closing: just drop TCP
                    self._finish(*self._sent_close)
                else:  # wsproto found a protocol violation (1002 / 1007)
                    self._fail(event.code, event.reason or "protocol error", drain=False)
                return

    # -- sending --

    def send(self, message: Data) -> None:
        """Send a text frame for ``str``, a binary frame otherwise."""
        self.send_frame(encode_frame(message))

    def send_text(self, text: str) -> None:
        """Send ``text`` as one text frame."""
        self.send_frame(encode_frame(text))

    def send_bytes(self, data: bytes) -> None:
        """Send ``data`` as one binary frame."""
        self.send_frame(encode_frame(data))

    def send_frame(self, frame: bytes) -> None:
        """Write a frame made by :func:`encode_frame`, as it is.

        Raises:
            ConnectionClosed: the connection is closed or closing, or the
                write failed or took longer than ``send_timeout`` (the
                connection is then dropped, code 1006).
        """
        if self._closing or self._code is not None:
            raise ConnectionClosed(*self._status())
        if not self._write(frame):
            raise ConnectionClosed(*self._status())

    def try_send_frame(self, frame: bytes) -> Optional[bool]:
        """Write a frame made by :func:`encode_frame` without blocking, if
        nothing is ahead of it.

        Returns ``True`` when the kernel took all of it; ``False`` when it
        took only part or none: the rest is queued in the connection and
        the caller must then see to a :meth:`flush` (which waits, within
        ``send_timeout``); ``None`` when the frame was not taken at all
        (a write is under way or queued, or the connection is closing or
        closed), so the caller keeps it and sends it the blocking way.
        """
        if self._writing or self._outq or self._closing or self._code is not None:
            return None
        try:
            sent = self._raw.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:  # reset by the peer: the connection is gone
            self._finish(CLOSE_ABNORMAL, "")
            return None
        if sent == len(frame):
            return True
        self._outq = deque((frame[sent:],))
        return False

    @property
    def write_pending(self) -> bool:
        """True while bytes accepted by :meth:`try_send_frame` wait to be written."""
        return bool(self._outq)

    def flush(self) -> None:
        """Write whatever :meth:`try_send_frame` queued, blocking (within
        ``send_timeout``) until the kernel has taken it.

        Raises:
            ConnectionClosed: the write failed or timed out (the
                connection is then dropped, code 1006), or the connection
                was already gone.
        """
        if self._code is not None:
            raise ConnectionClosed(*self._status())
        if self._outq and not self._write(b""):
            raise ConnectionClosed(*self._status())

    def ping(self, payload: bytes = b"") -> None:
        """Send a Ping (at most 125 bytes of payload); the pong is not reported."""
        if self._closing or self._code is not None:
            raise ConnectionClosed(*self._status())
        self._write(self._conn.send(Ping(payload)))
        if self._code is not None:
            raise ConnectionClosed(*self._status())

    def _write(self, data: bytes) -> bool:
        """Write what :meth:`try_send_frame` queued, then ``data``, whole,
        within ``send_timeout`` (waiting for the lock included); False, and
        the connection dropped, if it failed.

        When no write is under way or queued, ``data`` is first offered to
        the kernel without blocking: usually it takes all of it, and the
        write is done with no timer and no lock.  What it does not take is
        queued and written as below.

        A write cut short leaves part of a frame on the wire, so the
        connection cannot go on: it is dropped with 1006, which also wakes
        any greenlet blocked on the socket.
        """
        if data and not self._writing and not self._outq:
            try:
                sent = self._raw.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:  # reset by the peer, or closed under us
                self._finish(CLOSE_ABNORMAL, "")
                return False
            if sent == len(data):
                return True
            self._outq = deque((data[sent:],))
            data = b""
        timer = (gevent.Timeout.start_new(self._send_timeout)
                 if self._send_timeout is not None else None)
        self._writing += 1
        try:
            lock = self._wlock
            if lock is None:
                lock = self._wlock = Semaphore()
            with lock:
                outq = self._outq
                while outq:
                    self._sock.sendall(outq[0])
                    outq.popleft()
                self._outq = None
                if data:
                    self._sock.sendall(data)
            return True
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            reason = "send timeout"
        except OSError:
            reason = ""
        finally:
            self._writing -= 1
            if timer is not None:
                timer.close()
        self._finish(CLOSE_ABNORMAL, reason)
        return False

    def _status(self) -> Tuple[int, str]:
        return (self._code, self._reason) if self._code is not None else self._sent_close

    # -- closing --

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Without a greenlet in :meth:`receive` and unwatched, waits (up to
        ``close_timeout``) for the peer's Close reply and closes TCP.  With
        one, or when :meth:`watch` drives the reads (the reply is then read
        on readiness), returns at once: that greenlet reads the reply and gets
        :class:`ConnectionClosed` with ``code``; the connection is dropped
        after ``close_timeout`` if no reply comes.  Does nothing if already
        closed or closing.  Use 1001 or 1012, not 1000, when the client
        should reconnect: ``phoenix`` JS up to 1.8.12 does not reconnect
        after 1000.
        """
        if self._closing or self._code is not None:
            return
        self._send_close(code, reason)
        if self._code is not None:
            return
        if self._reader is None and self._notify is None:
            self._reader = gevent.getcurrent()
            try:
                self._drain()
            finally:
                self._reader = None
            self._finish(code, reason)
        else:
            self._timer = gevent.spawn_later(self._close_timeout, self._finish, code, reason)
            if self._reader is None:   # watched: the reply is read on readiness
                self.watch()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (code 1006)."""
        if self._code is None:
            self._finish(CLOSE_ABNORMAL, "")

    def _send_close(self, code: int, reason: str) -> None:
        self._closing = True
        self._sent_close = (code, reason)
        try:
            data = self._conn.send(CloseConnection(code, reason))
        except LocalProtocolError:  # wsproto is past sending a Close
            return
        if not self._write(data):
            return
        try:
            self._sock.shutdown(SHUT_WR)  # FIN right after our Close frame
        except OSError:
            pass

    def _fail(self, code: int, reason: str, drain: bool = True) -> None:
        """Close from inside receive() because of what we received (or did not).

        Afterwards ``receive`` returns the messages completed before the
        failure, then raises :class:`ConnectionClosed`; its code is 1006
        rather than ``code`` if even our Close frame could not be sent.
        """
        if not self._closing and self._code is None:
            self._send_close(code, reason)
            if drain and self._code is None:
                self._drain()
        self._finish(code, reason)

    def _drain(self) -> None:
        """Read until the peer's Close, EOF, the close timeout or a byte
        budget, so the peer reads our Close frame before our close() turns
        into a TCP reset.  Only frame headers are read (by the guard, which
        refuses nothing now): a peer flooding us meanwhile costs little, and
        the hub is yielded after every read."""
        budget = max(self._max, _DRAIN_MIN)
        guard = self._guard
        data, self._rest = self._rest, b""
        with gevent.Timeout(self._close_timeout, False):
            while True:
                if data:
                    budget -= len(data)
                    guard.scan(data, enforce=False)
                    if guard.peer_closed or budget <= 0:
                        return
                    gevent.sleep(_YIELD_SLEEP)
                if self._code is not None:
                    return
                try:
                    data = self._sock.recv(_RECV_SIZE)
                except OSError:
                    return
                if not data:
                    return

    def _finish(self, code: int, reason: str) -> None:
        """Record the close and release the socket (wakes a blocked reader)."""
        if self._code is not None:
            return
        self._code = int(code)  # wsproto hands out CloseReason members
        self._reason = reason
        self._parts = None
        self._outq = None
        timer, self._timer = self._timer, None
        if timer is not None and timer is not gevent.getcurrent():
            timer.kill(block=False)
        watcher, self._watcher = self._watcher, None
        if watcher is not None:   # before the socket: libev must not watch a closed fd
            watcher.stop()
            watcher.close()
        try:
            self._sock.close()
        except OSError:
            pass
        notify, on_finish = self._notify, self.on_finish
        self._notify = self.on_finish = None
        if notify is not None:
            notify()
        if on_finish is not None:
            on_finish(self)

    def __repr__(self) -> str:
        state = ("open" if not self.closed else "closing" if self._code is None
                 else f"closed {self._code}")
        return f"<WebSocket {self.handshake.target!r} {state}>"
