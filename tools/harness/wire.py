"""WebSocket and Phoenix wire formats, pure: no sockets, no gevent.

* **HTTP upgrade**: :func:`upgrade_request` builds the opening handshake;
  :func:`parse_upgrade_response` reads the answer's status once its head
  is complete (the ``Sec-WebSocket-Accept`` digest is not checked: the
  servers are ours, on loopback).
* **Frames** (RFC 6455): :func:`client_frame` masks (section 5.3) with a
  given key, by default four zero bytes, which every server must accept and
  which makes masking the identity (cheap for load clients); ``key=None``
  draws a random key, as a browser does.  :func:`server_frame` is the
  unmasked kind.  :class:`FrameReader` yields ``(opcode, payload)`` for each
  complete frame of a byte stream, from a server, or (``masked=True``) from
  a client.
* **Messages**: Phoenix V2 JSON (:class:`phx`, ``[join_ref, ref, topic,
  event, payload]``) and Engine.IO 4 / Socket.IO 5 (:class:`eio`).
"""
from __future__ import annotations

import base64
import json
import os
import struct
from typing import Iterator, List, Optional, Tuple

from .procs import HarnessError

__all__ = ["OP_CONT", "OP_TEXT", "OP_BINARY", "OP_CLOSE", "OP_PING", "OP_PONG", "ZERO_KEY",
           "WireError", "upgrade_request", "parse_upgrade_response", "client_frame",
           "masked_frame", "server_frame", "FrameReader", "phx", "eio"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
ZERO_KEY = b"\0\0\0\0"
_u16 = struct.Struct("!H").unpack_from
_u64 = struct.Struct("!Q").unpack_from


class WireError(HarnessError):
    """Bytes this client (or floor server) cannot read."""


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
def _head(first: int, mask_bit: int, n: int) -> bytes:
    if n < 126:
        return struct.pack("!BB", first, mask_bit | n)
    if n < 65536:
        return struct.pack("!BBH", first, mask_bit | 126, n)
    return struct.pack("!BBQ", first, mask_bit | 127, n)


def _xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n or key == ZERO_KEY:
        return bytes(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def client_frame(payload: bytes, opcode: int = OP_TEXT, *, fin: bool = True,
                 key: Optional[bytes] = ZERO_KEY) -> bytes:
    """One masked client frame; ``key=None`` draws a random masking key."""
    key = os.urandom(4) if key is None else key
    return _head((0x80 if fin else 0) | opcode, 0x80, len(payload)) + key + _xor(payload, key)


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame with a random key, as a browser sends it."""
    return client_frame(payload, opcode, fin=fin, key=None)


def server_frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True) -> bytes:
    """One unmasked (server) frame."""
    return _head((0x80 if fin else 0) | opcode, 0, len(payload)) + payload


class FrameReader:
    """Frames out of a byte stream, as they complete.

    ``masked=False`` reads a server's frames (a masked one is an error),
    ``masked=True`` a client's (each must be masked; it is unmasked).
    Fragmented messages are reassembled; control frames come out as they
    arrive (RFC 6455 allows them between fragments).
    """

    __slots__ = ("buf", "parts", "part_op", "masked")

    def __init__(self, initial: bytes = b"", masked: bool = False) -> None:
        self.buf = initial
        self.parts: Optional[List[bytes]] = None
        self.part_op = 0
        self.masked = masked

    def feed(self, data: bytes) -> Iterator[Tuple[int, bytes]]:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if bool(b1 & 0x80) != self.masked:
                raise WireError("masked server frame" if not self.masked else "unmasked client frame")
            n, head = b1 & 0x7F, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = _u16(buf, pos + 2)[0], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = _u64(buf, pos + 2)[0], 10
            key = b""
            if self.masked:
                key, head = bytes(buf[pos + head:pos + head + 4]), head + 4
            if end - pos < head + n:
                break
            payload = bytes(buf[pos + head:pos + head + n])
            if key:
                payload = _xor(payload, key)
            pos += head + n
            op = b0 & 0x0F
            if op >= 8 or (b0 & 0x80 and op):     # a control frame, or a whole message
                yield op, payload
            elif op:                              # the first fragment
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
def _json(msg) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


class phx:
    """Phoenix V2 JSON frames as a client sends and recognises them."""

    HEARTBEAT_REPLY_PREFIX = b'[null,"'
    BROADCAST_PREFIX = b'[null,null,'

    @staticmethod
    def push(topic: str, join_ref: Optional[str], ref: Optional[str], event: str,
             payload: dict) -> bytes:
        return client_frame(_json([join_ref, ref, topic, event, payload]))

    @staticmethod
    def join(topic: str, join_ref: str, payload: Optional[dict] = None) -> bytes:
        return phx.push(topic, join_ref, join_ref, "phx_join", payload or {})

    @staticmethod
    def leave(topic: str, join_ref: str, ref: str) -> bytes:
        return phx.push(topic, join_ref, ref, "phx_leave", {})

    @staticmethod
    def heartbeat(ref: int) -> bytes:
        return client_frame(b'[null,"%d","phoenix","heartbeat",{}]' % ref)

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
        body = _json([event, data])
        return client_frame(b"42" + (b"%d" % ack if ack is not None else b"") + body)

    @staticmethod
    def _digits(payload: bytes) -> int:
        i = 2
        while i < len(payload) and 48 <= payload[i] <= 57:
            i += 1
        return i

    @staticmethod
    def ack_id(payload: bytes) -> Optional[int]:
        """The ack id of a ``43<id>[...]`` packet, else ``None``."""
        if not payload.startswith(b"43"):
            return None
        i = eio._digits(payload)
        return int(payload[2:i]) if i > 2 else None

    @staticmethod
    def ack_data(payload: bytes):
        return json.loads(payload[eio._digits(payload):])
