"""The host relay's framing, without I/O.

Theory of operation
-------------------
The workers of one host (``beamish run MODULE --workers N``) exchange
PubSub broadcasts through a relay in the master process, over a Unix domain
socket.  Everything on that socket is a frame::

    +----------------+------+---------------------------+
    | length: >I     | kind | body (length - 1 bytes)   |
    +----------------+------+---------------------------+

=====  ==============  ====================================================
kind   direction       body
=====  ==============  ====================================================
``H``  worker → relay  hello: ``>B`` version, ``>B`` n, n bytes of channel,
                       then the node name (UTF-8)
``W``  relay → worker  welcome: ``>B`` version
``B``  both ways       broadcast: one term in beamish's codec (msgpack)
``D``  both ways       direct: ``>B`` n, n bytes of the target node name,
                       then one term in beamish's codec
=====  ==============  ====================================================

A worker sends ``H`` first and waits for ``W``.  The relay forwards a ``B``
frame, **byte for byte**, to every other worker that said hello on the same
channel, and a ``D`` frame to the one worker of that name; it reads the
routing header only and never decodes a term, so its cost per broadcast is
a few slices and one write per peer.  The term is
``(sender, topic, message, dispatcher, from_)``.

:class:`FrameReader` takes bytes and returns whole frames (header included,
so the relay can forward them as they are); the helpers build and parse
frames.  A bad frame raises :class:`FrameError`.
"""
from __future__ import annotations

import struct
from typing import Optional, Tuple

__all__ = ["VERSION", "MAX_FRAME", "HELLO", "WELCOME", "BROADCAST", "DIRECT", "FrameError",
           "FrameReader", "hello", "parse_hello", "welcome", "broadcast", "direct",
           "kind_of", "body_of", "target_of", "expect_version"]

VERSION = 1
#: The largest frame either side accepts (a broadcast is one frame).
MAX_FRAME = 64 << 20

HELLO = ord("H")
WELCOME = ord("W")
BROADCAST = ord("B")
DIRECT = ord("D")

_HEADER = struct.Struct(">I")
_HEADER_KIND = struct.Struct(">IB")


class FrameError(ValueError):
    """Bytes on a relay socket that are not a valid frame."""


def _frame(kind: int, body: bytes) -> bytes:
    return _HEADER_KIND.pack(len(body) + 1, kind) + body


def _name(value: str, what: str) -> bytes:
    raw = value.encode()
    if not 0 < len(raw) < 256:
        raise FrameError(f"{what} {value!r} must be 1 to 255 bytes of UTF-8")
    return raw


def hello(channel: str, node: str) -> bytes:
    """The frame a worker opens its connection with."""
    return _frame(HELLO, bytes((VERSION,)) + bytes((len(_name(channel, "channel")),))
                  + channel.encode() + _name(node, "node name"))


def parse_hello(frame: bytes) -> Tuple[int, str, str]:
    """``(version, channel, node)`` of a hello frame.

    Raises:
        FrameError: not a hello, or a malformed one.
    """
    if len(frame) < 8 or frame[4] != HELLO:
        raise FrameError(f"expected a hello frame, got {bytes(frame[:16])!r}")
    version, n = frame[5], frame[6]
    channel, node = frame[7:7 + n], frame[7 + n:]
    if len(channel) != n or not n or not node:
        raise FrameError(f"malformed hello frame {bytes(frame[:64])!r}")
    try:
        return version, bytes(channel).decode(), bytes(node).decode()
    except UnicodeDecodeError:
        raise FrameError(f"hello frame with a non-UTF-8 name: {bytes(frame[:64])!r}") from None


def welcome() -> bytes:
    """The relay's answer to a hello."""
    return _frame(WELCOME, bytes((VERSION,)))


def broadcast(term: bytes) -> bytes:
    """A broadcast frame carrying ``term`` (already encoded)."""
    return _HEADER_KIND.pack(len(term) + 1, BROADCAST) + term


def direct(node: str, term: bytes) -> bytes:
    """A frame for the worker named ``node`` only."""
    raw = _name(node, "node name")
    return _HEADER_KIND.pack(len(term) + 2 + len(raw), DIRECT) + bytes((len(raw),)) + raw + term


def kind_of(frame: bytes) -> int:
    """The kind byte of a whole frame."""
    return frame[4]


def target_of(frame: bytes) -> str:
    """The target node of a direct frame.

    Raises:
        FrameError: the name is truncated or not UTF-8.
    """
    n = frame[5] if len(frame) > 5 else 0
    raw = frame[6:6 + n]
    if not n or len(raw) != n:
        raise FrameError(f"malformed direct frame {bytes(frame[:64])!r}")
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        raise FrameError(f"direct frame with a non-UTF-8 target {bytes(raw)!r}") from None


def body_of(frame: bytes) -> memoryview:
    """The encoded term of a broadcast or direct frame (no copy).

    Raises:
        FrameError: a direct frame whose target header is truncated.
    """
    view = memoryview(frame)
    if frame[4] == DIRECT:
        start = 6 + (frame[5] if len(frame) > 5 else 0)
        if start > len(frame):
            raise FrameError(f"malformed direct frame {bytes(frame[:64])!r}")
        return view[start:]
    return view[5:]


class FrameReader:
    """Reassemble whole frames (header included) from bytes as they arrive.

    ``feed(data)`` returns the frames that ``data`` completes, possibly
    none.  A length of 0 or above ``max_size`` raises :class:`FrameError` as
    soon as the header is seen, before the body is buffered.
    """

    __slots__ = ("max_size", "_buf", "_need")

    def __init__(self, max_size: int = MAX_FRAME) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._need = 0   # bytes _buf must hold before parsing again

    def feed(self, data: bytes) -> list:
        if self._buf:
            # A large frame arrives in many reads: append (amortised O(1))
            # and copy once, when it is complete.
            self._buf += data
            if len(self._buf) < self._need:
                return []
            buf: bytes = bytes(self._buf)
            self._buf = bytearray()
        else:
            buf = data
        frames = []
        pos, end = 0, len(buf)
        unpack = _HEADER.unpack_from
        need = 4
        while end - pos >= 4:
            (n,) = unpack(buf, pos)
            if n == 0 or n > self.max_size:
                raise FrameError(f"frame length {n} is outside 1..{self.max_size}")
            stop = pos + 4 + n
            if stop > end:
                need = 4 + n
                break
            frames.append(buf[pos:stop])
            pos = stop
        if pos < end:
            self._buf = bytearray(memoryview(buf)[pos:])
            self._need = need
        return frames

    @property
    def pending(self) -> int:
        """Bytes buffered towards the next, incomplete frame."""
        return len(self._buf)


def expect_version(version: int) -> Optional[str]:
    """Why ``version`` cannot be spoken here (None when it can)."""
    if version != VERSION:
        return f"relay protocol version {version}, this side speaks {VERSION}"
    return None
