"""The client's wire formats, pure: no sockets, no gevent.

Three layers, each as small as a load client can afford:

* **HTTP upgrade.**  :func:`upgrade_request` builds the opening handshake
  and :func:`parse_upgrade_response` checks the answer's status line (the
  ``Sec-WebSocket-Accept`` digest is not verified: the server is ours and
  on loopback, and skipping a SHA-1 per connection keeps the client cheap).
* **WebSocket frames.**  Client frames must be masked (RFC 6455 5.3); the
  key is four zero bytes, which every server must accept and which makes
  masking the identity, so a frame is a header plus the payload as it is.
  :class:`FrameReader` takes the server's (unmasked) bytes as they arrive
  and yields ``(opcode, payload)`` for each complete frame.
* **Messages.**  Phoenix V2 JSON (``[join_ref, ref, topic, event,
  payload]``) and Engine.IO 4 / Socket.IO 5 packets (``0{...}`` open,
  ``2``/``3`` ping/pong, ``40`` connect, ``42[...]`` event, ``43..`` ack).

Hot paths (one broadcast reaches every client) do no JSON decoding: the
client recognises its frames by prefix and looks for a marker string.
"""
from __future__ import annotations

import base64
import json
import os
import struct
from typing import Iterator, List, Optional, Tuple

__all__ = ["OP_TEXT", "OP_BINARY", "OP_CLOSE", "OP_PING", "OP_PONG",
           "upgrade_request", "parse_upgrade_response", "client_frame", "FrameReader",
           "WireError", "phx", "eio"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

_MASK0 = b"\0\0\0\0"
_h2 = struct.Struct("!BB").pack
_h4 = struct.Struct("!BBH").pack
_h10 = struct.Struct("!BBQ").pack
_u16 = struct.Struct("!H").unpack_from
_u64 = struct.Struct("!Q").unpack_from


class WireError(Exception):
    """The server sent something this client cannot read."""


# ------------------------------------------------------------------ HTTP
def upgrade_request(host: str, port: int, target: str) -> bytes:
    """The opening handshake for ``ws://host:port`` + ``target``."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n").encode()


def parse_upgrade_response(buf: bytes) -> Tuple[Optional[int], bytes]:
    """``(status, rest)`` once ``buf`` holds the whole response head, else
    ``(None, buf)``.  ``rest`` is what followed the head (early frames)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 16384:
            raise WireError("upgrade response head larger than 16 KiB")
        return None, buf
    line = buf[:buf.find(b"\r\n")].split(b" ", 2)
    try:
        status = int(line[1])
    except (IndexError, ValueError):
        raise WireError(f"bad status line {buf[:60]!r}") from None
    return status, buf[end + 4:]


# ---------------------------------------------------------------- frames
def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked (all-zero key) client frame."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return _h2(first, 0x80 | n) + _MASK0 + payload
    if n < 65536:
        return _h4(first, 0x80 | 126, n) + _MASK0 + payload
    return _h10(first, 0x80 | 127, n) + _MASK0 + payload


class FrameReader:
    """Server frames out of a byte stream, as they complete.

    Fragmented messages are reassembled; control frames come out as they
    arrive (RFC 6455 allows them between fragments).
    """

    __slots__ = ("buf", "parts", "part_op")

    def __init__(self, initial: bytes = b"") -> None:
        self.buf = initial
        self.parts: Optional[List[bytes]] = None
        self.part_op = 0

    def feed(self, data: bytes) -> Iterator[Tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise WireError("server frame is masked")
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = _u16(buf, pos + 2)[0], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = _u64(buf, pos + 2)[0], 10
            if end - pos < head + n:
                break
            payload = buf[pos + head:pos + head + n]
            pos += head + n
            op = b0 & 0x0F
            if op >= 8:
                yield op, payload
            elif b0 & 0x80 and op:          # a whole message in one frame
                yield op, payload
            else:                           # fragments
                if op:
                    self.parts, self.part_op = [payload], op
                elif self.parts is not None:
                    self.parts.append(payload)
                    if b0 & 0x80:
                        whole, self.parts = b"".join(self.parts), None
                        yield self.part_op, whole
                else:
                    raise WireError("continuation frame without a first fragment")
        self.buf = buf[pos:] if pos < end else b""


# --------------------------------------------------------------- phoenix
class phx:
    """Phoenix V2 JSON frames as a client sends and recognises them."""

    @staticmethod
    def join(topic: str, join_ref: str, payload: Optional[dict] = None) -> bytes:
        return client_frame(json.dumps([join_ref, join_ref, topic, "phx_join", payload or {}],
                                       separators=(",", ":")).encode())

    @staticmethod
    def leave(topic: str, join_ref: str, ref: str) -> bytes:
        return client_frame(json.dumps([join_ref, ref, topic, "phx_leave", {}],
                                       separators=(",", ":")).encode())

    @staticmethod
    def heartbeat(ref: int) -> bytes:
        return client_frame(b'[null,"%d","phoenix","heartbeat",{}]' % ref)

    @staticmethod
    def push(topic: str, join_ref: str, ref: str, event: str, payload: dict) -> bytes:
        return client_frame(json.dumps([join_ref, ref, topic, event, payload],
                                       separators=(",", ":")).encode())

    HEARTBEAT_REPLY_PREFIX = b'[null,"'
    BROADCAST_PREFIX = b'[null,null,'

    @staticmethod
    def decode(payload: bytes) -> list:
        msg = json.loads(payload)
        if not isinstance(msg, list) or len(msg) < 5:
            raise WireError(f"not a Phoenix V2 frame: {payload[:80]!r}")
        return msg


# -------------------------------------------------------------- engine.io
class eio:
    """Engine.IO 4 packets carrying Socket.IO 5 packets (namespace ``/``)."""

    PONG = client_frame(b"3")
    CONNECT = client_frame(b"40")

    @staticmethod
    def emit(event: str, data, ack: Optional[int] = None) -> bytes:
        body = json.dumps([event, data], separators=(",", ":")).encode()
        return client_frame(b"42" + (b"%d" % ack if ack is not None else b"") + body)

    @staticmethod
    def ack_id(payload: bytes) -> Optional[int]:
        """The ack id of a ``43<id>[...]`` packet, else ``None``."""
        if not payload.startswith(b"43"):
            return None
        i = 2
        while i < len(payload) and 48 <= payload[i] <= 57:
            i += 1
        return int(payload[2:i]) if i > 2 else None

    @staticmethod
    def ack_data(payload: bytes):
        i = 2
        while i < len(payload) and 48 <= payload[i] <= 57:
            i += 1
        return json.loads(payload[i:])
