"""A room: the last messages of one chat room, one GenServer per room.

Rooms start on demand under the room DynamicSupervisor and are found by
name through the Registry.  A room subscribes to its own topic, so it
records every ``new_msg`` broadcast to it, from this node or any other.
"""
from __future__ import annotations

from collections import deque

from beamish import DynamicSupervisor, GenServer, Registry, SupervisorError, call
from beamish.channels import Broadcast
from beamish.pubsub import subscribe

from . import settings


def _name(room: str):
    return ("via", Registry, (settings.ROOMS, room))


class Room(GenServer):
    restart = "transient"

    def init(self, room: str) -> None:
        self.room = room
        self.messages: deque = deque(maxlen=settings.history)
        subscribe(settings.PUBSUB, f"room:{room}")

    def handle_call(self, request, from_):
        if request == "history":
            return list(self.messages)
        raise ValueError(request)

    def handle_info(self, msg):
        if isinstance(msg, Broadcast):
            if msg.event == "new_msg":
                self.messages.append(msg.payload)
            return None   # presence diffs and other room events are not history
        return super().handle_info(msg)


def history(room: str) -> list:
    """The room's last messages, starting the room if it is not running."""
    if not Registry.lookup(settings.ROOMS, room):
        spec = {"id": room, "start": Room.start_link, "args": (room,),
                "kwargs": {"name": _name(room)}, "restart": "transient"}
        try:
            DynamicSupervisor.start_child(settings.ROOM_SUP, spec)
        except SupervisorError as e:  # started by another channel meanwhile
            if "already_started" not in repr(e.reason):
                raise
    return call(_name(room), "history")
