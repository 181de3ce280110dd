"""Signed, expiring tokens, in the manner of ``Phoenix.Token``.

A token lets a server hand data to a client (a user id, typically) and take
it back later, for example as the ``token`` param of a socket connect,
knowing the client could neither forge nor alter it.  It is *signed*, not
encrypted: anyone holding it can read the data.

Format: ``"v1." + payload + "." + signature``, where ``payload`` is the
url-safe base64 (unpadded) of the compact JSON array ``[signed_at_ms,
data]`` and ``signature`` is the url-safe base64 of HMAC-SHA256 over
``"v1." + payload``.  The MAC key is derived from ``secret`` and ``salt``
with PBKDF2-HMAC-SHA256 (1000 iterations, 32 bytes, the parameters of
Plug's ``KeyGenerator``), cached, so one secret serves many purposes: a
token signed for salt "user socket" is refused for salt "password reset".

Data is JSON rather than msgpack: tokens cross language boundaries (a
browser, another service) where every stdlib reads JSON; they carry small
values (ids, short maps) where msgpack's compactness buys little; and the
data round trip is the familiar JSON one (tuples come back as lists).
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from typing import Any, Optional, Union

from ._errors import ExpiredToken, InvalidToken

__all__ = ["sign", "verify"]

_VERSION = "v1."
_ITERATIONS = 1000
_KEY_LENGTH = 32

Secret = Union[str, bytes]


def _as_bytes(value: Secret, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"{what} must be str or bytes, got {type(value).__name__}")


@functools.lru_cache(maxsize=256)
def _derive_key(secret: bytes, salt: bytes) -> bytes:
    # About a millisecond per (secret, salt); the cache makes it once each.
    return hashlib.pbkdf2_hmac("sha256", secret, salt, _ITERATIONS, _KEY_LENGTH)


def _key(secret: Secret, salt: Secret) -> bytes:
    secret_bytes = _as_bytes(secret, "secret")
    if not secret_bytes:
        raise ValueError("secret must not be empty")
    return _derive_key(secret_bytes, _as_bytes(salt, "salt"))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(key: bytes, signing_input: bytes) -> str:
    return _b64(hmac.new(key, signing_input, hashlib.sha256).digest())


def sign(secret: Secret, salt: Secret, data: Any, *, signed_at: Optional[float] = None) -> str:
    """Sign ``data`` into a url-safe token that :func:`verify` accepts.

    ``secret`` should be at least 32 random bytes (an application's secret
    key); ``salt`` names the purpose of the token.  ``signed_at`` is the
    signing time in seconds since the epoch (default now), for tests.

    Raises:
        TypeError: ``data`` is not JSON-serializable, or secret/salt are
            neither str nor bytes.
        ValueError: ``data`` holds NaN or infinity, or the secret is empty.

    Example::

        >>> token = sign("s3cret" * 6, "user socket", {"user_id": 42})
        >>> verify("s3cret" * 6, "user socket", token)
        {'user_id': 42}
    """
    key = _key(secret, salt)
    signed_at_ms = int((time.time() if signed_at is None else signed_at) * 1000)
    body = json.dumps([signed_at_ms, data], separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    signing_input = _VERSION + _b64(body.encode("utf-8"))
    return signing_input + "." + _mac(key, signing_input.encode("ascii"))


def verify(secret: Secret, salt: Secret, token: str, *, max_age: float = 86400) -> Any:
    """Return the data of a token made by :func:`sign` with the same secret and salt.

    ``max_age`` is in seconds (default one day); a token older than that is
    refused, and ``math.inf`` accepts any age.  The signature is checked, in
    constant time, before anything else, so only an authentic token can be
    reported as expired.

    Raises:
        InvalidToken: the token is not a string, is malformed, or its
            signature does not match (tampered, or another secret or salt).
        ExpiredToken: the token is authentic but older than ``max_age``.
    """
    key = _key(secret, salt)
    if type(token) is not str:
        raise InvalidToken(f"token must be a string, got {type(token).__name__}")
    if not token.isascii() or not token.startswith(_VERSION) or token.count(".") != 2:
        raise InvalidToken("token is malformed")
    signing_input, _, signature = token.rpartition(".")
    expected = _mac(key, signing_input.encode("ascii"))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise InvalidToken("token signature does not match")
    encoded = signing_input[len(_VERSION):]
    try:
        signed_at_ms, data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError, TypeError):
        # Only a token this module did not make (with this key) gets here.
        raise InvalidToken("token payload is malformed") from None
    if type(signed_at_ms) is not int:
        raise InvalidToken("token payload is malformed")
    age = time.time() - signed_at_ms / 1000
    if age > max_age:
        raise ExpiredToken(f"token expired: signed {age:.0f} s ago, max_age is {max_age} s")
    return data
