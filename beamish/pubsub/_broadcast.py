"""Broadcast: the "event on a topic" record that PubSub carries for
channels and presence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..lowlevel import register_term

__all__ = ["Broadcast"]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An event for every subscriber of ``topic``: ``event`` with ``payload``
    (a JSON object or bytes, for a channel client).

    Channels send it to their sockets (on the wire it is a message with
    null ``join_ref`` and ``ref``; a serializer's ``fastlane`` encodes it
    once so the same frame can be written to every subscribed socket), and
    presence broadcasts its ``presence_diff`` events as one.  It is
    registered with the term codec, so it crosses nodes as itself.
    """

    topic: str
    event: str
    payload: Any


register_term(Broadcast, "beamish.channels.Broadcast")
