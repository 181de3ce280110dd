"""Phoenix Channels for beamish: the wire protocol and signed tokens.

This package speaks the protocol of Phoenix Channels (V2, as the ``phoenix``
JS client does) so that browser clients written for Phoenix can talk to a
beamish server.  The pure (sans-IO) part: message records, serializers
that turn them into WebSocket frames and back, version negotiation, and
``Phoenix.Token``-style signed tokens.  The processes: an :class:`Endpoint`
(HTTP, WebSocket upgrade, static files), a :class:`Socket` process per
connection and a :class:`Channel` process per joined topic.

The wire protocol's constants, frames and version negotiation are in
:mod:`beamish.channels.wire`.
"""
from ..pubsub import Broadcast
from ._channel import Channel
from ._endpoint import Endpoint, broadcast, disconnect
from ._errors import ExpiredToken, InvalidToken, ProtocolError, TokenError
from ._message import Message, Payload, Reply
from ._serializer import MsgpackSerializer, Serializer, V2JSONSerializer
from ._socket import Socket
from ._token import sign, verify
from ._transport_errors import ConnectionClosed

__all__ = [
    # processes
    "Channel", "Endpoint", "Socket", "broadcast", "disconnect",
    # messages and serializers
    "Broadcast", "Message", "MsgpackSerializer", "Payload", "Reply", "Serializer",
    "V2JSONSerializer",
    # tokens
    "sign", "verify",
    # errors
    "ConnectionClosed", "ExpiredToken", "InvalidToken", "ProtocolError", "TokenError",
]
