"""The control protocol's framing and handshake, without I/O.

Theory of operation
-------------------
A frame is a 4-byte big-endian length followed by that many bytes of one
term in beamish's codec (msgpack with ext types), except the client's
hello.  The node speaks first:

1. node -> client: ``{"node": name, "challenge": 32 random bytes,
   "version": PROTOCOL_VERSION}``
2. client -> node: the hello, raw bytes and not a term: :data:`HELLO_TAG`
   then ``hmac_sha256(cookie, challenge)`` (see :func:`hello`); the cookie
   itself never crosses the socket, as in Erlang's distribution handshake.
   The node compares bytes and decodes nothing an unauthenticated peer
   sends, so no decoder bug is reachable without the cookie.
3. node -> client: ``{"ok": True}``, or ``{"ok": False, "error": ...}`` and
   the node closes the connection.

After that the client sends requests (``{"op": NAME, ...}``) and the node
answers each, in order, with ``{"ok": True, ...}`` or ``{"ok": False,
"error": message}``.  The process list may be large (hundreds of
megabytes would be a bug; tens are normal at 100k processes), so a reader
is told the largest frame it accepts: small before the handshake, larger
after.

Everything here is pure: :class:`FrameReader` takes bytes and returns
payloads, and never touches a socket.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Iterator, Optional

from ._errors import ObserverProtocolError

__all__ = ["PROTOCOL_VERSION", "HELLO_MAX", "REQUEST_MAX", "REPLY_MAX", "HELLO_TAG",
           "frame_header", "frame", "FrameReader", "digest", "hello", "hello_matches"]

#: 2: the client's hello is raw bytes (1 sent it as a term).
PROTOCOL_VERSION = 2
#: What a client's hello starts with (the digest follows).
HELLO_TAG = b"beamish-hello\x00"
#: Largest frame a node reads before the peer has proved it knows the cookie.
HELLO_MAX = 4096
#: Largest request frame a node reads after the handshake.
REQUEST_MAX = 1 << 20
#: Largest reply frame a client reads.
REPLY_MAX = 1 << 30

_HEADER = struct.Struct(">I")


def frame_header(length: int) -> bytes:
    """The 4-byte header of a frame whose payload is ``length`` bytes."""
    return _HEADER.pack(length)


def frame(payload: bytes) -> bytes:
    """One frame carrying ``payload``."""
    return _HEADER.pack(len(payload)) + payload


def digest(cookie: str, challenge: bytes) -> bytes:
    """The handshake answer proving knowledge of ``cookie``."""
    return hmac.new(cookie.encode(), challenge, hashlib.sha256).digest()


def hello(cookie: str, challenge: bytes) -> bytes:
    """The payload of a client's hello: :data:`HELLO_TAG` and the digest."""
    return HELLO_TAG + digest(cookie, challenge)


def hello_matches(payload: bytes, cookie: str, challenge: bytes) -> bool:
    """Whether ``payload`` is the hello of a peer that knows ``cookie``
    (compared in constant time; nothing in it is decoded)."""
    return hmac.compare_digest(bytes(payload), hello(cookie, challenge))


class FrameReader:
    """Reassemble frames from bytes as they arrive.

    ``feed(data)`` returns the payloads completed by ``data`` (possibly
    none).  A frame longer than ``max_size`` raises :class:`ObserverProtocolError`
    as soon as its header is seen, before its body is buffered.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._need: Optional[int] = None

    def feed(self, data: bytes) -> list:
        self._buf += data
        return list(self._frames())

    def _frames(self) -> Iterator[bytes]:
        buf = self._buf
        while True:
            if self._need is None:
                if len(buf) < 4:
                    return
                (n,) = _HEADER.unpack_from(buf)
                if n > self.max_size:
                    raise ObserverProtocolError(f"frame of {n} bytes exceeds the limit of "
                                        f"{self.max_size}")
                del buf[:4]
                self._need = n
            if len(buf) < self._need:
                return
            n = self._need
            payload = bytes(buf[:n])
            del buf[:n]
            self._need = None
            yield payload

    @property
    def pending(self) -> int:
        """Bytes buffered towards the next, incomplete frame."""
        return len(self._buf)
