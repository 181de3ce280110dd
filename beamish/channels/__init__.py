"""Phoenix Channels for beamish: the wire protocol and signed tokens.

This package speaks the protocol of Phoenix Channels (V2, as the ``phoenix``
JS client does) so that browser clients written for Phoenix can talk to a
beamish server.  The pure (sans-IO) part: message records, serializers
that turn them into WebSocket frames and back, version negotiation, and
``Phoenix.Token``-style signed tokens.  The processes: an :class:`Endpoint`
(HTTP, WebSocket upgrade, static files), a :class:`Socket` process per
connection and a :class:`Channel` process per joined topic.
"""
from ._errors import ExpiredToken as ExpiredToken
from ._errors import InvalidToken as InvalidToken
from ._errors import ProtocolError as ProtocolError
from ._errors import TokenError as TokenError
from ._message import HEARTBEAT as HEARTBEAT
from ._message import PHOENIX_TOPIC as PHOENIX_TOPIC
from ._message import PHX_CLOSE as PHX_CLOSE
from ._message import PHX_ERROR as PHX_ERROR
from ._message import PHX_JOIN as PHX_JOIN
from ._message import PHX_LEAVE as PHX_LEAVE
from ._message import PHX_REPLY as PHX_REPLY
from ._message import RESERVED_EVENTS as RESERVED_EVENTS
from ._message import Broadcast as Broadcast
from ._message import Message as Message
from ._message import Payload as Payload
from ._message import Reply as Reply
from ._serializer import VSN_JSON as VSN_JSON
from ._serializer import VSN_MSGPACK as VSN_MSGPACK
from ._serializer import Frame as Frame
from ._serializer import MsgpackSerializer as MsgpackSerializer
from ._serializer import Opcode as Opcode
from ._serializer import Serializer as Serializer
from ._serializer import V2JSONSerializer as V2JSONSerializer
from ._serializer import opcode_of as opcode_of
from ._serializer import serializer_for_vsn as serializer_for_vsn
from ._token import sign as sign
from ._token import verify as verify
from ._channel import Channel as Channel
from ._endpoint import Endpoint as Endpoint
from ._endpoint import broadcast as broadcast
from ._endpoint import disconnect as disconnect
from ._socket import Socket as Socket
from ._transport_errors import ConnectionClosed as ConnectionClosed

from ..core._codec import register as _register

_register(Broadcast, "beamish.channels.Broadcast")

__all__ = [
    # messages
    "Message", "Reply", "Broadcast", "Payload",
    "PHX_JOIN", "PHX_LEAVE", "PHX_REPLY", "PHX_ERROR", "PHX_CLOSE", "HEARTBEAT",
    "PHOENIX_TOPIC", "RESERVED_EVENTS",
    # serializers
    "Serializer", "V2JSONSerializer", "MsgpackSerializer", "Frame", "Opcode", "opcode_of",
    "serializer_for_vsn", "VSN_JSON", "VSN_MSGPACK",
    # tokens
    "sign", "verify",
    # processes
    "Endpoint", "Socket", "Channel", "broadcast", "disconnect",
    # errors
    "ProtocolError", "TokenError", "InvalidToken", "ExpiredToken", "ConnectionClosed",
]
