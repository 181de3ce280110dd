"""Rooms: the last messages of one chat room, one GenServer per room.

Rooms start on demand under the room DynamicSupervisor and are found by
name through the Registry.  A room subscribes to its own topic, so it
records every ``new_msg`` broadcast to it, from this node or any other.

Rooms are cheap to make and anyone may name one, so they are bounded:

* A room stops (a normal exit; its child spec is ``transient``, so it is
  not restarted) once it has had no channel joined on this node and
  nothing posted to it for ``settings.room_idle`` seconds.  Its history
  goes with it.
* Rooms are started by one process, the :class:`RoomStarter`, which lets
  each user start at most ``settings.rooms_per_user`` rooms a minute; the
  supervisor holds at most ``settings.max_rooms`` rooms at once.

A join racing a room that is stopping is safe: the room takes its name
out of the Registry before it exits, so a lookup either finds a room that
will serve the join or finds none and starts a fresh one; a join call
that reaches the old room too late gets its exit and :func:`join` tries
again.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

from beamish import (BeamishError, CallExit, DynamicSupervisor, GenServer, Pid, Registry,
                     Stop, SupervisorError, call, cancel_timer, demonitor, monitor, send_after,
                     set_label)
from beamish.channels import Broadcast
from beamish.pubsub import subscribe

from . import settings

#: How many times :func:`join` looks a room up again after the room it
#: found ended under it (each retry follows an exit, so it is rare).
JOIN_ATTEMPTS = 3


class RoomRefused(BeamishError):
    """A join that may not start its room; ``str(e)`` is the reason for the client."""


def _name(room: str):
    return ("via", Registry, (settings.ROOMS, room))


class Room(GenServer):
    """One room: its history, and who is in it, to know when to stop."""

    restart = "transient"

    def init(self, room: str) -> None:
        set_label(room)   # the observer and crash reports show which room this is
        self.room = room
        self.messages: deque = deque(maxlen=settings.history)
        self.members: dict = {}       # monitor ref -> joined channel pid
        self.quiet_since = time.monotonic()
        self.timer = None
        subscribe(settings.PUBSUB, f"room:{room}")
        self._arm()

    def handle_call(self, request, from_):
        if isinstance(request, tuple) and request[0] == "join":
            channel = request[1]
            self.members[monitor(channel)] = channel
            return list(self.messages)
        raise ValueError(request)

    def handle_info(self, msg):
        if isinstance(msg, Broadcast):
            if msg.event == "new_msg":
                self.messages.append(msg.payload)
                self.quiet_since = time.monotonic()
            return None   # presence diffs and other room events are not history
        if isinstance(msg, tuple) and msg and msg[0] == "DOWN" and msg[1] in self.members:
            del self.members[msg[1]]
            if not self.members:
                self.quiet_since = time.monotonic()
                self._arm()
            return None
        if msg == "idle?":
            return self._idle_check()
        return super().handle_info(msg)

    def terminate(self, reason) -> None:
        if self.timer is not None:
            cancel_timer(self.timer)
        for ref in self.members:
            demonitor(ref)

    def _arm(self) -> None:
        """Check for idleness when the quiet period would end (one timer at a time)."""
        if self.timer is None:
            due = self.quiet_since + settings.room_idle - time.monotonic()
            self.timer = send_after(max(due, 0.0), self.pid, "idle?")

    def _idle_check(self):
        self.timer = None
        if self.members:
            return None   # re-armed when the last member leaves
        if time.monotonic() - self.quiet_since < settings.room_idle:
            self._arm()   # a message came meanwhile
            return None
        # Give up the name first: from here on a join starts a new room
        # rather than calling this one.
        Registry.unregister(settings.ROOMS, self.room)
        return Stop("normal")


class RoomStarter(GenServer):
    """Starts rooms, one at a time, within the per-user and node-wide bounds.

    It counts, per user, the rooms started in the last minute; serving one
    start at a time makes the check and the count one step.
    """

    def init(self) -> None:
        self.started: dict = {}        # user -> their start times within the window
        self.swept = time.monotonic()

    def handle_call(self, request, from_):
        _, room, user = request
        pid = Registry.whereis_name((settings.ROOMS, room))
        if pid is not None:
            return ("ok", pid)
        now = time.monotonic()
        self._sweep(now)
        recent = self._recent(user, now)
        if len(recent) >= settings.rooms_per_user:
            return ("error", f"you may start at most {settings.rooms_per_user} rooms "
                             f"a minute; join an existing room or try again later")
        spec = {"id": room, "start": Room.start_link, "args": (room,),
                "kwargs": {"name": _name(room)}, "restart": "transient"}
        try:
            pid = DynamicSupervisor.start_child(settings.ROOM_SUP, spec)
        except SupervisorError as e:
            if e.reason == "max_children":
                return ("error", f"{settings.max_rooms} rooms are open, the most this "
                                 f"server allows; join an existing room")
            if isinstance(e.reason, tuple) and e.reason[0] == "already_started" \
                    and isinstance(e.reason[1], Pid):
                return ("ok", e.reason[1])   # restarted by the supervisor meanwhile
            raise
        recent.append(now)
        self.started[user] = recent
        return ("ok", pid)

    def _recent(self, user: Any, now: float) -> deque:
        """``user``'s start times within the window."""
        recent = self.started.pop(user, None) or deque()
        while recent and recent[0] <= now - settings.ROOM_WINDOW:
            recent.popleft()
        if recent:
            self.started[user] = recent
        return recent

    def _sweep(self, now: float) -> None:
        """Forget users with no start in the window (at most once a window),
        so that the table holds only recent starters."""
        if now - self.swept >= settings.ROOM_WINDOW:
            self.swept = now
            for user in list(self.started):
                self._recent(user, now)


def join(room: str, user: Any, channel: Any) -> list:
    """Enter ``room`` as ``channel`` (a pid the room watches), starting the
    room if it is not running; returns its last messages.

    Raises:
        RoomRefused: the room is not running and ``user`` may not start it.
    """
    for _ in range(JOIN_ATTEMPTS):
        pid = Registry.whereis_name((settings.ROOMS, room))
        if pid is None:
            status, value = call(settings.ROOM_STARTER, ("start", room, user))
            if status != "ok":
                raise RoomRefused(value)
            pid = value
        try:
            return call(pid, ("join", channel))
        except CallExit as e:
            if e.reason not in ("noproc", "normal"):
                raise
            # the room stopped as we reached it: look again
    raise RoomRefused("the room is restarting; try again")
