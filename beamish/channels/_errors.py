"""The errors of the channels wire layer, in one place.

Two families, one class each for callers to catch:

* :class:`ProtocolError`: a frame that breaks the Phoenix Channels wire
  protocol.  Decoding raises nothing else for any input a peer can send, so a
  transport can treat it as "drop this connection".
* :class:`TokenError`: a token that :func:`~beamish.channels.verify` refuses,
  split into :class:`InvalidToken` (forged, tampered, malformed, signed with
  another secret or salt) and :class:`ExpiredToken` (authentic but too old).
"""
from __future__ import annotations

from ..core import BeamishError

__all__ = ["ProtocolError", "TokenError", "InvalidToken", "ExpiredToken"]


class ProtocolError(BeamishError, ValueError):
    """A frame that breaks the wire protocol.

    Raised by a serializer's ``decode`` for malformed input (not JSON, not a
    5-element array, wrong field types, a truncated or inconsistent binary
    header, invalid UTF-8...), and by its encoders for values the protocol
    cannot carry (a payload that is neither an object nor bytes, a value JSON
    cannot represent, a binary-frame field longer than 255 bytes).  The
    message says what was wrong; it never quotes the payload, which may hold
    secrets.
    """


class TokenError(BeamishError):
    """Base class of the reasons a signed token is refused."""


class InvalidToken(TokenError):
    """The token is malformed or its signature does not match.

    Also what a token signed with another secret or salt looks like: the
    two cases cannot be told apart, by design.
    """


class ExpiredToken(TokenError):
    """The token is authentic but older than the ``max_age`` allowed."""
