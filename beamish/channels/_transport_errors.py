"""The errors of the HTTP and WebSocket transport, in one place.

* :class:`ConnectionClosed`: the WebSocket is closed (by the peer, by us, by
  an error or by a dropped TCP connection); carries the close code and
  reason as RFC 6455 defines them.
* :class:`HandshakeError`: an upgrade request that is not a valid WebSocket
  opening handshake; carries the HTTP status to answer with.

Both derive from :class:`TransportError` (a :class:`~beamish.BeamishError`)
so a caller can catch the layer's errors at once.  The wire-protocol errors (bad Phoenix frames) live in
``_errors.py``; this module knows nothing of channels.
"""
from __future__ import annotations

from typing import Sequence, Tuple

from ..core import BeamishError

__all__ = ["TransportError", "ConnectionClosed", "HandshakeError"]


class TransportError(BeamishError):
    """Base class of the transport's errors."""


class ConnectionClosed(TransportError):
    """The WebSocket is closed; no more messages can be received or sent.

    ``code`` is the close code of the connection, as RFC 6455 section 7.1.5
    defines it: the code of the peer's Close frame when the peer closed
    first, the code we sent when we closed first (``close()``, an idle
    timeout: 1001, a message over the size limit: 1009, over the rate
    limit: 1008, a protocol error: 1002 or 1007), 1005 when the peer's Close
    frame had no code, and 1006 when the TCP connection ended without a
    closing handshake (or a write did not finish within ``send_timeout``).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (f": {self.reason}" if self.reason
                                                             else "")


class HandshakeError(TransportError):
    """A request that is not an acceptable WebSocket opening handshake.

    ``status_code`` is the HTTP status to answer with (400, or 426 with a
    ``Sec-WebSocket-Version: 13`` header for an unsupported version, as RFC
    6455 section 4.4 asks); ``headers`` are extra response headers.  The
    message says what was wrong and is safe to send as the response body.
    """

    def __init__(self, message: str, status_code: int = 400,
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = tuple(headers)
