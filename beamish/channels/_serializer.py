"""Serializers: Phoenix Channels messages to and from WebSocket frames.

Theory of operation
-------------------
A serializer is pure: it turns :class:`Message`, :class:`Reply` and
:class:`Broadcast` values into frames and frames back into messages, and
never touches a socket.  A *frame* is what one WebSocket message carries,
typed the way wsproto types it: a ``str`` is sent as a text frame (opcode 1)
and ``bytes`` as a binary frame (opcode 2).  Decoding takes the opcode
explicitly and dispatches on it strictly: JSON text sent with the binary
opcode is an error, as it is for Phoenix.

Two serializers ship, chosen per connection by the ``vsn`` query parameter
(see :func:`serializer_for_vsn`):

``vsn=2.0.0`` (any ``2.0.x``): :class:`V2JSONSerializer`
    Phoenix's V2 format, the one the ``phoenix`` JS client speaks.  A text
    frame is the JSON array ``[join_ref, ref, topic, event, payload]``.  A
    message whose payload is bytes travels in the binary format instead: a
    kind byte (0 push, 1 reply, 2 broadcast), one length byte per string
    field, the UTF-8 fields, then the payload as the rest of the frame.

``vsn=2.0.0-msgpack``: :class:`MsgpackSerializer`
    The same five-element array packed with msgpack, always in binary frames.
    Payloads may hold bytes anywhere (msgpack's bin type), so there is no
    separate binary format.  The version is a semver pre-release of 2.0.0 so
    that a server without msgpack support (Phoenix's ``~> 2.0.0``) refuses it
    with 403 instead of speaking JSON to a client that sends msgpack.

A *frozen* payload (a dict whose type has a true ``frozen_payload``
class attribute, such as a Presence's shared topic listing) promises it is
never changed once built: its encoding is cached per topic (the last
frozen payload pushed on it, by identity) and spliced into each pushed
frame, so that the many joiners of a busy topic that are all pushed the
same listing cost one encode of it, not one each.

Every malformed input raises :class:`~beamish.channels.ProtocolError` and
nothing else.  The server side of a serializer is the :class:`Serializer`
protocol; both implementations also offer ``client_encode`` and
``client_decode``, the client's half, for test clients and round trips.
"""
from __future__ import annotations

import enum
import json
import math
import re
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Optional, Protocol, Union,
                    runtime_checkable)

import msgpack

from ._errors import ProtocolError
from ._message import PHX_REPLY, Message, Reply

if TYPE_CHECKING:   # for annotations only: the record is PubSub's (pure, as this module)
    from ..pubsub import Broadcast

__all__ = [
    "Frame", "Opcode", "opcode_of", "Serializer", "V2JSONSerializer", "MsgpackSerializer",
    "serializer_for_vsn", "VSN_JSON", "VSN_MSGPACK",
]

#: One WebSocket message: ``str`` for a text frame, ``bytes`` for binary.
Frame = Union[str, bytes]

VSN_JSON = "2.0.0"
"""The ``vsn`` the JS client sends; selects :class:`V2JSONSerializer`."""
VSN_MSGPACK = "2.0.0-msgpack"
"""The ``vsn`` that selects :class:`MsgpackSerializer`."""


class Opcode(enum.IntEnum):
    """The WebSocket data opcodes (RFC 6455), equal to wsproto's."""

    TEXT = 1
    BINARY = 2


def opcode_of(frame: Frame) -> Opcode:
    """The opcode a frame must be sent with: TEXT for ``str``, else BINARY."""
    return Opcode.TEXT if isinstance(frame, str) else Opcode.BINARY


@runtime_checkable
class Serializer(Protocol):
    """What the server needs from a wire format.

    Implementations are stateless and shareable between connections.  An
    encoder raises :class:`ProtocolError` for a value the format cannot
    carry; ``decode`` raises it for any malformed frame, and nothing else.
    """

    #: Short name for logs and statistics ("json", "msgpack").
    name: str
    #: The ``vsn`` a client sends to select this serializer.
    vsn: str

    def encode_push(self, message: Message) -> Frame:
        """Encode a message a channel pushes to its client."""
        ...

    def encode_reply(self, reply: Reply) -> Frame:
        """Encode a reply as the ``phx_reply`` event."""
        ...

    def fastlane(self, broadcast: Broadcast) -> Frame:
        """Encode a broadcast once, for every subscriber using this serializer."""
        ...

    def decode(self, data: Union[str, bytes], opcode: int) -> Message:
        """Decode one frame received from a client."""
        ...


# -- shared helpers ---------------------------------------------------------

_BYTES_LIKE = (bytes, bytearray, memoryview)
_PAYLOAD_TYPES = (dict, *_BYTES_LIKE)
_PUSH, _REPLY, _BROADCAST = 0, 1, 2
_KIND_NAMES = {_PUSH: "push", _REPLY: "reply", _BROADCAST: "broadcast"}
_TYPE_NAMES = {
    dict: "object", list: "array", str: "string", int: "number", float: "number",
    bool: "boolean", type(None): "null", bytes: "binary",
}


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _show(text: str) -> str:
    """Quote a peer-supplied string for an error message, cut short."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."


class _Stateless:
    """Instances of a stateless serializer class are all equal.

    So a fastlane cache keyed by serializer encodes once per format, however
    many instances were made.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _bad_payload(payload: object, topic: object, event: object) -> ProtocolError:
    return ProtocolError(
        f"payload of event {event!r} on topic {topic!r} must be an object or bytes, "
        f"got {_type_name(payload)}"
    )


def _message_from_array(value: Any, allow_bytes: bool) -> Message:
    """Check a decoded ``[join_ref, ref, topic, event, payload]`` array."""
    if type(value) is not list:
        raise ProtocolError(
            f"frame must be an array [join_ref, ref, topic, event, payload], got {_type_name(value)}"
        )
    if len(value) < 5:  # longer arrays are accepted, extras ignored, as Phoenix does
        raise ProtocolError(
            f"frame array has {len(value)} elements, expected 5 [join_ref, ref, topic, event, payload]"
        )
    join_ref, ref, topic, event, payload = value[0], value[1], value[2], value[3], value[4]
    if type(topic) is not str:
        raise ProtocolError(f"topic must be a string, got {_type_name(topic)}")
    if type(event) is not str:
        raise ProtocolError(f"event must be a string, got {_type_name(event)} (topic {_show(topic)})")
    if join_ref is not None and type(join_ref) is not str:
        raise ProtocolError(
            f"join_ref must be a string or null, got {_type_name(join_ref)} (topic {_show(topic)})"
        )
    if ref is not None and type(ref) is not str:
        raise ProtocolError(f"ref must be a string or null, got {_type_name(ref)} (topic {_show(topic)})")
    if type(payload) is not dict and not (allow_bytes and type(payload) is bytes):
        wanted = "an object or binary" if allow_bytes else "an object"
        raise ProtocolError(
            f"payload of event {_show(event)} on topic {_show(topic)} must be {wanted}, "
            f"got {_type_name(payload)}"
        )
    return Message(join_ref, ref, topic, event, payload)


def _server_message_from_array(value: Any, allow_bytes: bool) -> Union[Message, Reply]:
    """Like :func:`_message_from_array`, but a ``phx_reply`` becomes a Reply."""
    message = _message_from_array(value, allow_bytes)
    if message.event != PHX_REPLY:
        return message
    payload = message.payload
    status = payload.get("status") if type(payload) is dict else None
    response = payload.get("response") if type(payload) is dict else None
    if type(status) is not str or not (type(response) is dict or (allow_bytes and type(response) is bytes)):
        raise ProtocolError(
            f"phx_reply on topic {_show(message.topic)} must carry "
            '{"status": string, "response": object}'
        )
    return Reply(message.join_ref, message.ref, message.topic, status, response)


# -- the binary format --------------------------------------------------------

# Field names per kind, in header order.  A client's push has a ref; a
# server's push has none (it never expects a reply).
_CLIENT_PUSH_FIELDS = ("join_ref", "ref", "topic", "event")
_SERVER_PUSH_FIELDS = ("join_ref", "topic", "event")
_REPLY_FIELDS = ("join_ref", "ref", "topic", "status")
_BROADCAST_FIELDS = ("topic", "event")
_NULLABLE = frozenset({"join_ref", "ref"})


def _binary_frame(kind: int, names: tuple[str, ...], values: tuple[Any, ...], payload: Any) -> bytes:
    """Build a binary frame; a ``None`` ref is written as an empty field."""
    parts = []
    for name, value in zip(names, values):
        if type(value) is str:
            try:
                part = value.encode("utf-8")
            except UnicodeEncodeError:
                raise ProtocolError(f"{name} {_show(value)} is not encodable as UTF-8") from None
            if len(part) > 255:
                raise ProtocolError(
                    f"{name} {_show(value)} is {len(part)} bytes in UTF-8; binary frames allow at most 255"
                )
        elif value is None and name in _NULLABLE:
            part = b""
        else:
            raise ProtocolError(f"{name} must be a string, got {_type_name(value)}")
        parts.append(part)
    return b"".join((bytes((kind, *map(len, parts))), *parts, payload))


def _split_binary(data: bytes, kind: int, names: tuple[str, ...]) -> tuple[list[str], bytes]:
    """Read a binary frame's length-prefixed fields; return them and the payload."""
    header = 1 + len(names)
    size = len(data)
    if size < header:
        raise ProtocolError(
            f"binary {_KIND_NAMES[kind]} frame is {size} bytes, shorter than its {header}-byte header"
        )
    fields = []
    start = header
    for index, name in enumerate(names, 1):
        end = start + data[index]
        if end > size:
            raise ProtocolError(
                f"binary {_KIND_NAMES[kind]} frame: {name} length {data[index]} overflows "
                f"the {size}-byte frame"
            )
        try:
            fields.append(data[start:end].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(f"binary {_KIND_NAMES[kind]} frame: {name} is not valid UTF-8") from None
        start = end
    return fields, data[start:]


def _binary_bytes(data: object) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, _BYTES_LIKE):
        return bytes(data)
    raise ProtocolError(f"a binary frame must be bytes, got {type(data).__name__}")


def _binary_kind(data: bytes, accepted: Iterable[int]) -> int:
    if not data:
        raise ProtocolError("binary frame is empty")
    kind = data[0]
    if kind in accepted:
        return kind
    if kind in _KIND_NAMES:
        raise ProtocolError(f"binary frame kind {kind} ({_KIND_NAMES[kind]}) is not valid in this direction")
    hint = " (JSON text sent as a binary frame?)" if kind == ord("[") else ""
    raise ProtocolError(f"binary frame has unknown kind byte {kind}{hint}")


def _check_binary_opcode(opcode: object, serializer: str, allowed: str) -> None:
    if opcode != Opcode.BINARY:
        raise ProtocolError(f"{serializer} frames must use opcode {allowed}, got opcode {opcode!r}")


# -- JSON ---------------------------------------------------------------------


def _not_json(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # "1e999": JSON has no infinity, and re-encoding would fail
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _make_json_chunks() -> Callable[[Any, int], Iterable[str]]:
    # json.dumps(..., separators=...) builds a JSONEncoder and a C encoder on
    # every call: ~3 us for a small frame.  Building CPython's C encoder once
    # and calling it directly costs ~1.1 us.  Compact separators, no ASCII
    # escaping, no NaN/Infinity (not JSON), no circular check (deep or
    # circular values raise RecursionError, which encoders catch).
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        return make(None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    encoder = json.JSONEncoder(  # no C accelerator: same output, slower
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False, default=_not_json
    )
    return lambda value, _level: (encoder.encode(value),)


_json_chunks = _make_json_chunks()
_json_decode = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float).decode
# Lone UTF-16 surrogates, raw or escaped ("\ud800"), decode to a str that can
# never be sent as UTF-8 again; this finds frames that may hold one.
_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


def _json_text(frame: list[Any]) -> str:
    try:
        return "".join(_json_chunks(frame, 0))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"cannot encode event {frame[3]!r} on topic {frame[2]!r} as JSON: {exc}") from exc


def _parse_json_text(data: object) -> Any:
    if type(data) is str:
        text = data
    elif isinstance(data, _BYTES_LIKE):
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"text frame is not valid UTF-8 (at byte {exc.start})") from None
    else:
        raise ProtocolError(f"a text frame must be str or bytes, got {type(data).__name__}")
    try:
        value = _json_decode(text)
    except ValueError as exc:
        raise ProtocolError(f"text frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("text frame is not valid JSON: nested too deeply") from None
    if ("\\u" in text or not text.isascii()) and _SURROGATE.search(text):
        try:  # a paired surrogate escape is fine; only a lone one fails here
            "".join(_json_chunks(value, 0)).encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError("text frame holds a lone UTF-16 surrogate, which is not valid Unicode") from None
        except RecursionError:
            raise ProtocolError("text frame is not valid JSON: nested too deeply") from None
    return value


class _FrozenEncodings:
    """The encoding of the last frozen payload pushed on each topic, and the
    last whole frame made of it.

    Keyed by topic, holding the payload itself (so that its identity
    cannot be reused by another object while cached); a new frozen payload
    on the topic replaces the old one.  At most ``limit`` topics are kept,
    the oldest dropped first.  The frame is kept with the head it was made
    with: clients whose heads are the same (a push has no ref, and clients
    that joined alike share the join_ref) get the same frame object, so a
    room's n joiners of one window cost one splice of the O(n) listing
    into a frame between them, not one each.
    """

    __slots__ = ("encode", "limit", "entries")

    def __init__(self, encode: Callable[[Any, Any, Any], Any], limit: int = 4096) -> None:
        self.encode, self.limit = encode, limit
        self.entries: dict = {}

    def _entry(self, topic: Any, event: Any, payload: Any) -> list:
        """``[payload, encoding, head, frame]`` for ``payload``, the encoding
        made at most once per (topic, payload)."""
        entry = self.entries.get(topic)
        if entry is not None and entry[0] is payload:
            return entry
        entry = [payload, self.encode(topic, event, payload), None, None]
        entries = self.entries
        entries.pop(topic, None)
        if len(entries) >= self.limit:
            del entries[next(iter(entries))]
        entries[topic] = entry
        return entry

    def get(self, topic: Any, event: Any, payload: Any) -> Any:
        """The encoding of ``payload``, made at most once per (topic, payload)."""
        return self._entry(topic, event, payload)[1]

    def frame(self, topic: Any, event: Any, payload: Any, head: Any,
              build: Callable[[Any, Any], Any]) -> Any:
        """``build(head, encoding)``: the whole frame, made again only when
        the payload or the head differs from the last one on ``topic``."""
        entry = self._entry(topic, event, payload)
        if entry[2] != head:
            entry[3] = build(head, entry[1])
            entry[2] = head
        return entry[3]


def _is_frozen(payload: Any) -> bool:
    return getattr(payload.__class__, "frozen_payload", False) is True


def _json_fragment(topic: Any, event: Any, payload: Any) -> str:
    """``,{...}``: the payload's part of a frame.  A frozen payload that
    keeps its members' JSON texts (``json_members(encode)``, as a presence
    listing does from one version to the next) is joined from them, so a
    big payload that changed a little costs that little plus a join."""
    members = getattr(payload, "json_members", None)
    if members is not None:
        try:
            return ",{" + ",".join(members(_json_value)) + "}"
        except (TypeError, ValueError, RecursionError) as exc:
            raise ProtocolError(f"cannot encode event {event!r} on topic {topic!r} as JSON: "
                                f"{exc}") from exc
    head = _json_text([None, None, topic, event])
    return _json_text([None, None, topic, event, payload])[len(head) - 1:-1]   # ",{...}"


def _json_value(value: Any) -> str:
    """One value in the serializer's compact JSON (errors for the caller)."""
    return "".join(_json_chunks(value, 0))


def _splice_json(head: str, fragment: str) -> str:
    """``[join_ref,ref,topic,event`` + ``,{...}`` + ``]``."""
    return head[:-1] + fragment + "]"


_json_frozen = _FrozenEncodings(_json_fragment)


class V2JSONSerializer(_Stateless):
    """Phoenix's V2 JSON serializer, spoken by the ``phoenix`` JS client.

    Text frames are ``[join_ref, ref, topic, event, payload]`` in compact
    JSON (no spaces, non-ASCII kept as is).  A message whose payload (or
    reply response) is bytes is encoded in the binary format instead.

    Decoding is strict where Phoenix is lax: payloads must be objects, and
    NaN, Infinity, out-of-range numbers and lone UTF-16 surrogates (which
    could never be sent on as UTF-8) are refused.  Encoding trusts strings
    from server code: a lone surrogate there is only caught when the
    transport encodes the text frame to UTF-8 (checking every frame here
    would cost an extra encode on the hot path).

    Example::

        >>> V2JSONSerializer().fastlane(Broadcast("room:lobby", "new_msg", {"body": "hi"}))
        '[null,null,"room:lobby","new_msg",{"body":"hi"}]'
    """

    __slots__ = ()
    name = "json"
    vsn = VSN_JSON

    def encode_push(self, message: Message) -> Frame:
        """Encode a server push.

        A binary push has no ref field, so a bytes payload needs ``ref`` None.
        """
        payload = message.payload
        if isinstance(payload, dict):
            if _is_frozen(payload):
                head = _json_text([message.join_ref, message.ref, message.topic, message.event])
                return _json_frozen.frame(message.topic, message.event, payload, head,
                                          _splice_json)
            return _json_text([message.join_ref, message.ref, message.topic, message.event, payload])
        if isinstance(payload, _BYTES_LIKE):
            if message.ref is not None:
                raise ProtocolError(
                    f"a binary push has no ref field; got ref {message.ref!r} for event {message.event!r}"
                )
            return _binary_frame(
                _PUSH, _SERVER_PUSH_FIELDS, (message.join_ref, message.topic, message.event), payload
            )
        raise _bad_payload(payload, message.topic, message.event)

    def encode_reply(self, reply: Reply) -> Frame:
        """Encode ``[join_ref, ref, topic, "phx_reply", {"status", "response"}]``."""
        response = reply.response
        if isinstance(response, dict):
            return _json_text(
                [reply.join_ref, reply.ref, reply.topic, PHX_REPLY, {"status": reply.status, "response": response}]
            )
        if isinstance(response, _BYTES_LIKE):
            return _binary_frame(
                _REPLY, _REPLY_FIELDS, (reply.join_ref, reply.ref, reply.topic, reply.status), response
            )
        raise _bad_payload(response, reply.topic, PHX_REPLY)

    def fastlane(self, broadcast: Broadcast) -> Frame:
        """Encode ``[null, null, topic, event, payload]`` (or a binary broadcast)."""
        payload = broadcast.payload
        if isinstance(payload, dict):
            return _json_text([None, None, broadcast.topic, broadcast.event, payload])
        if isinstance(payload, _BYTES_LIKE):
            return _binary_frame(_BROADCAST, _BROADCAST_FIELDS, (broadcast.topic, broadcast.event), payload)
        raise _bad_payload(payload, broadcast.topic, broadcast.event)

    def decode(self, data: Union[str, bytes], opcode: int) -> Message:
        """Decode a client frame: a JSON array (TEXT) or a binary push (BINARY).

        In a binary push an empty join_ref or ref decodes as ``None``.

        Raises:
            ProtocolError: for any malformed frame, naming what was wrong.
        """
        if opcode == Opcode.TEXT:
            return _message_from_array(_parse_json_text(data), False)
        _check_binary_opcode(opcode, "V2 JSON", "1 (text) or 2 (binary)")
        frame = _binary_bytes(data)
        _binary_kind(frame, (_PUSH,))
        (join_ref, ref, topic, event), payload = _split_binary(frame, _PUSH, _CLIENT_PUSH_FIELDS)
        return Message(join_ref or None, ref or None, topic, event, payload)

    def client_encode(self, message: Message) -> Frame:
        """Encode a message as a client sends it (binary pushes carry a ref)."""
        payload = message.payload
        if isinstance(payload, dict):
            return _json_text([message.join_ref, message.ref, message.topic, message.event, payload])
        if isinstance(payload, _BYTES_LIKE):
            return _binary_frame(
                _PUSH, _CLIENT_PUSH_FIELDS, (message.join_ref, message.ref, message.topic, message.event), payload
            )
        raise _bad_payload(payload, message.topic, message.event)

    def client_decode(self, data: Union[str, bytes], opcode: int) -> Union[Message, Reply]:
        """Decode a frame as a client receives it.

        ``phx_reply`` frames become :class:`Reply`; pushes and broadcasts
        become :class:`Message` (a broadcast has null join_ref and ref).
        """
        if opcode == Opcode.TEXT:
            return _server_message_from_array(_parse_json_text(data), False)
        _check_binary_opcode(opcode, "V2 JSON", "1 (text) or 2 (binary)")
        frame = _binary_bytes(data)
        kind = _binary_kind(frame, (_PUSH, _REPLY, _BROADCAST))
        if kind == _PUSH:
            (join_ref, topic, event), payload = _split_binary(frame, kind, _SERVER_PUSH_FIELDS)
            return Message(join_ref or None, None, topic, event, payload)
        if kind == _REPLY:
            (join_ref, ref, topic, status), payload = _split_binary(frame, kind, _REPLY_FIELDS)
            return Reply(join_ref or None, ref or None, topic, status, payload)
        (topic, event), payload = _split_binary(frame, kind, _BROADCAST_FIELDS)
        return Message(None, None, topic, event, payload)


# -- msgpack ------------------------------------------------------------------


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def _pack(frame: list[Any]) -> bytes:
    # packb (not a shared Packer, ~0.2 us faster) because a Packer's buffer
    # must not be shared between threads.
    try:
        return msgpack.packb(frame)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(
            f"cannot encode event {frame[3]!r} on topic {frame[2]!r} as msgpack: {exc}"
        ) from exc


def _msgpack_fragment(topic: Any, event: Any, payload: Any) -> bytes:
    return _pack([None, None, topic, event, payload])[len(_pack([None, None, topic, event])):]


def _splice_msgpack(head: bytes, fragment: bytes) -> bytes:
    # a msgpack array is its length byte then its packed items, one after another
    return b"\x95" + head[1:] + fragment


_msgpack_frozen = _FrozenEncodings(_msgpack_fragment)


def _unpack(data: object) -> Any:
    frame = _binary_bytes(data)
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except Exception as exc:  # msgpack's errors differ between its C and Python builds
        raise ProtocolError(f"binary frame is not valid msgpack: {exc}") from None


class MsgpackSerializer(_Stateless):
    """The same five-element array as V2, packed with msgpack.

    Frame shape: every frame is binary and is the msgpack array
    ``[join_ref, ref, topic, event, payload]`` (nil for a null ref, str for
    strings); a reply is ``[join_ref, ref, topic, "phx_reply", {"status":
    status, "response": response}]``.  The payload is a map with str keys,
    or a bin; bin values may also appear anywhere inside a map.  Decoding
    refuses non-str map keys and application extension types; msgpack's
    standard timestamp decodes as :class:`msgpack.Timestamp`.  Selected with
    ``vsn=2.0.0-msgpack``.

    Example::

        >>> MsgpackSerializer().fastlane(Broadcast("t", "e", {}))
        b'\\x95\\xc0\\xc0\\xa1t\\xa1e\\x80'
    """

    __slots__ = ()
    name = "msgpack"
    vsn = VSN_MSGPACK

    def encode_push(self, message: Message) -> Frame:
        """Encode a server push."""
        payload = message.payload
        if not isinstance(payload, _PAYLOAD_TYPES):
            raise _bad_payload(payload, message.topic, message.event)
        if _is_frozen(payload):
            head = _pack([message.join_ref, message.ref, message.topic, message.event])
            return _msgpack_frozen.frame(message.topic, message.event, payload, head,
                                         _splice_msgpack)
        return _pack([message.join_ref, message.ref, message.topic, message.event, payload])

    def encode_reply(self, reply: Reply) -> Frame:
        """Encode ``[join_ref, ref, topic, "phx_reply", {"status", "response"}]``."""
        response = reply.response
        if not isinstance(response, _PAYLOAD_TYPES):
            raise _bad_payload(response, reply.topic, PHX_REPLY)
        return _pack(
            [reply.join_ref, reply.ref, reply.topic, PHX_REPLY, {"status": reply.status, "response": response}]
        )

    def fastlane(self, broadcast: Broadcast) -> Frame:
        """Encode ``[nil, nil, topic, event, payload]``."""
        payload = broadcast.payload
        if not isinstance(payload, _PAYLOAD_TYPES):
            raise _bad_payload(payload, broadcast.topic, broadcast.event)
        return _pack([None, None, broadcast.topic, broadcast.event, payload])

    def decode(self, data: Union[str, bytes], opcode: int) -> Message:
        """Decode a client frame (always BINARY).

        Raises:
            ProtocolError: for any malformed frame, naming what was wrong.
        """
        _check_binary_opcode(opcode, "msgpack", "2 (binary)")
        return _message_from_array(_unpack(data), True)

    def client_encode(self, message: Message) -> Frame:
        """Encode a message as a client sends it (same shape as a push)."""
        payload = message.payload
        if not isinstance(payload, _PAYLOAD_TYPES):
            raise _bad_payload(payload, message.topic, message.event)
        return _pack([message.join_ref, message.ref, message.topic, message.event, payload])

    def client_decode(self, data: Union[str, bytes], opcode: int) -> Union[Message, Reply]:
        """Decode a frame as a client receives it; ``phx_reply`` becomes a Reply."""
        _check_binary_opcode(opcode, "msgpack", "2 (binary)")
        return _server_message_from_array(_unpack(data), True)


# -- version negotiation ------------------------------------------------------

_V2_JSON = V2JSONSerializer()
_MSGPACK = MsgpackSerializer()
# Phoenix matches vsn against "~> 2.0.0": any 2.0.x.  Digits are ASCII only.
_VSN = re.compile(r"2\.0\.(?:0|[1-9][0-9]*)(-msgpack)?")


def serializer_for_vsn(vsn: Optional[str]) -> Optional[Serializer]:
    """The serializer for a connection's ``vsn`` query parameter, or None.

    ``"2.0.0"`` (any ``2.0.x``, as Phoenix's ``~> 2.0.0``) selects V2 JSON;
    ``"2.0.0-msgpack"`` (any ``2.0.x-msgpack``) selects msgpack.  An absent
    vsn means V1 to Phoenix, which beamish does not speak: like any unknown
    or malformed vsn it gives None, and the endpoint answers HTTP 403.

    Example::

        >>> serializer_for_vsn("2.0.0")
        V2JSONSerializer()
        >>> serializer_for_vsn(None) is None
        True
    """
    if type(vsn) is not str:
        return None
    match = _VSN.fullmatch(vsn)
    if match is None:
        return None
    return _MSGPACK if match.group(1) else _V2_JSON
