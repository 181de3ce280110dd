"""The messages of the Phoenix Channels protocol, as plain values.

A frame on the wire carries five fields, ``[join_ref, ref, topic, event,
payload]``; these records name them.  They are frozen and slotted: cheap to
make (one per frame on the hot path), safe to share between processes, and
compared by value in tests.

* :class:`Message`: a frame with a user or reserved event.  What a client
  sends (``phx_join``, ``heartbeat``, ``new_msg``...) and what a channel
  pushes to its client (``presence_state``, ``phx_close``...).
* :class:`Reply`: the answer to the client message whose ``ref`` it echoes;
  sent as the ``phx_reply`` event with payload ``{"status", "response"}``.
* :class:`Broadcast`: an event for every subscriber of a topic; sent with a
  null ``join_ref`` and ``ref``, encoded once for all of them (fastlane).
  It is PubSub's record (:class:`beamish.pubsub.Broadcast`, which presence
  sends too), re-exported by :mod:`beamish.channels`.

A payload is a JSON object (a ``dict`` with ``str`` keys) or raw ``bytes``
(bytes-like values are accepted when encoding); a frame whose payload is
bytes travels as a binary WebSocket frame.  Refs are opaque strings chosen
by the client: never assume they are numeric, start at "1" or increase.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

__all__ = [
    "Message", "Reply", "Payload",
    "PHX_JOIN", "PHX_LEAVE", "PHX_REPLY", "PHX_ERROR", "PHX_CLOSE", "HEARTBEAT",
    "PHOENIX_TOPIC", "RESERVED_EVENTS",
]

#: A message payload: a JSON object, or raw bytes for a binary frame.
Payload = Union[Dict[str, Any], bytes]

PHX_JOIN = "phx_join"
"""Client asks to join a topic; its ``ref`` becomes the channel's join_ref."""
PHX_LEAVE = "phx_leave"
"""Client leaves a topic; the server replies ok, then sends ``phx_close``."""
PHX_REPLY = "phx_reply"
"""Server answers a client message; payload ``{"status", "response"}``."""
PHX_ERROR = "phx_error"
"""Server reports that the channel crashed; the client will rejoin."""
PHX_CLOSE = "phx_close"
"""Server reports that the channel ended normally."""
HEARTBEAT = "heartbeat"
"""Client keep-alive, sent on :data:`PHOENIX_TOPIC` and always answered ok."""
PHOENIX_TOPIC = "phoenix"
"""The reserved topic of heartbeats; no channel may be joined on it."""

#: The events a channel's own code must not send or handle as user events.
RESERVED_EVENTS = frozenset({PHX_JOIN, PHX_LEAVE, PHX_REPLY, PHX_ERROR, PHX_CLOSE, HEARTBEAT})


@dataclass(frozen=True, slots=True)
class Message:
    """One frame with an event: decoded from a client, or pushed to one.

    ``join_ref`` is the ``ref`` of the ``phx_join`` that created the channel
    instance (``None`` for heartbeats and broadcasts); ``ref`` identifies the
    message so a reply can echo it (``None`` for server pushes).

    Example: the join the JS client sends first,
    ``Message("6", "6", "room:lobby", "phx_join", {"nick": "carol"})``.
    """

    join_ref: Optional[str]
    ref: Optional[str]
    topic: str
    event: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class Reply:
    """The server's answer to the client message whose ``ref`` it echoes.

    ``status`` is usually ``"ok"`` or ``"error"``, but any string is legal:
    the JS client matches ``push.receive(status)`` by name.  ``response`` is
    the object (or bytes) the client's callback receives.

    Example: ``Reply(None, "13", "phoenix", "ok", {})`` answers a heartbeat.
    """

    join_ref: Optional[str]
    ref: Optional[str]
    topic: str
    status: str
    response: Payload


