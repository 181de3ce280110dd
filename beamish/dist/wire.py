"""The frames nodes exchange: authenticated, bounded, in the term codec.

A frame is ``mac + payload``.  ``payload`` is the term codec's encoding of
``(VERSION, sender_node, sender_creation, target_node_or_None, ops)``
where ``ops`` is a list of operations, each itself encoded on its own
(the sender encodes an operation where it is made, so a term that cannot
cross nodes fails in the caller).  ``mac`` is the 32-byte HMAC-SHA256 of
``payload`` under the cluster's shared secret (Erlang's cookie): a node
drops any frame whose mac does not verify, before decoding a byte of it.

Decoding is bounded twice: the frame by ``max_size`` before the mac is
checked, and every term by the codec's depth limit.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any, Optional

from ..lowlevel import CodecError, decode_term, encode_term

__all__ = ["VERSION", "MAC_SIZE", "BadFrame", "seal", "open_frame", "encode_op", "decode_op"]

VERSION = 1
MAC_SIZE = 32


class BadFrame(CodecError):
    """A frame that is not from this cluster (its mac does not verify) or
    is not a frame at all."""


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def encode_op(op: tuple) -> bytes:
    """One operation's bytes (raises ``CodecError`` for what cannot cross)."""
    return encode_term(op)


def decode_op(data: bytes) -> Any:
    """An operation from its bytes (``CodecError`` for anything else)."""
    return decode_term(data)


def seal(secret: bytes, node: str, creation: int, target: Optional[str], ops: list) -> bytes:
    """The frame carrying ``ops`` (encoded operations) from ``node``."""
    payload = encode_term((VERSION, node, creation, target, ops))
    return _mac(secret, payload) + payload


def open_frame(secret: bytes, frame: Any, max_size: int) -> tuple:
    """``(node, creation, target, ops)`` of a frame made with ``secret``.

    Raises:
        BadFrame: the frame is too long, its mac does not verify under
            ``secret``, or it is not a frame of this version.
    """
    if frame.__class__ is not bytes or len(frame) <= MAC_SIZE:
        raise BadFrame("not a frame")
    if len(frame) > max_size:
        raise BadFrame(f"frame of {len(frame)} bytes exceeds {max_size}")
    mac, payload = frame[:MAC_SIZE], frame[MAC_SIZE:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise BadFrame("bad mac: not signed with this cluster's secret")
    try:
        vsn, node, creation, target, ops = decode_term(payload, max_size=max_size)
    except (CodecError, TypeError, ValueError) as e:
        raise BadFrame(f"undecodable frame: {e}") from None
    if vsn != VERSION or not isinstance(node, str) or not isinstance(ops, list):
        raise BadFrame(f"unknown frame version {vsn!r}")
    return node, creation, target, ops
