"""The Phoenix Channels wire protocol, for code that speaks it directly:
reserved events and topics, WebSocket frames and opcodes, and the
serializer chosen for a client's ``vsn``.

Applications rarely need this module (a :class:`~beamish.channels.Channel`
sees decoded messages); test clients, proxies and tools do.  Nothing here
does I/O.
"""
from ._message import (HEARTBEAT, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE,
                       PHX_REPLY, RESERVED_EVENTS)
from ._serializer import VSN_JSON, VSN_MSGPACK, Frame, Opcode, opcode_of, serializer_for_vsn

__all__ = [
    "Frame", "HEARTBEAT", "Opcode", "PHOENIX_TOPIC", "PHX_CLOSE", "PHX_ERROR", "PHX_JOIN",
    "PHX_LEAVE", "PHX_REPLY", "RESERVED_EVENTS", "VSN_JSON", "VSN_MSGPACK", "opcode_of",
    "serializer_for_vsn",
]
