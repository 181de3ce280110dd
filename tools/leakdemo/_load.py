"""The load of the leak demo: clients that hop topics, and a broadcaster.

Every client is a long-lived process, like a user's socket: it subscribes
once to its own ``user:N`` topic, then hops between ``room:*`` topics at a
steady rate, one unsubscribe and one subscribe per hop.  It does exactly
the same against every *backend* it is given (the naive server, beamish's
PubSub, or both), so both see the same load.  A broadcaster sends a little
news to every room twice a second, so subscribers get traffic.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence

from beamish import GenServer, send_after
from beamish import self as self_pid
from beamish import pubsub

from . import _naive

__all__ = ["Backend", "NaiveBackend", "PubSubBackend", "Hopper", "Broadcaster",
           "room", "user_topic"]


class Backend(Protocol):
    """Where subscriptions go; every call acts for the calling process."""

    label: str

    def subscribe(self, topic: str) -> None: ...
    def unsubscribe(self, topic: str) -> None: ...
    def broadcast(self, topic: str, message: Any) -> None: ...


class NaiveBackend:
    """The naive subscription server (:mod:`._naive`)."""

    label = _naive.NAME

    def subscribe(self, topic: str) -> None:
        _naive.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        _naive.unsubscribe(topic)

    def broadcast(self, topic: str, message: Any) -> None:
        _naive.broadcast(topic, message)


class PubSubBackend:
    """A :class:`beamish.pubsub.PubSub` started under ``name``."""

    def __init__(self, name: str) -> None:
        self.label = name

    def subscribe(self, topic: str) -> None:
        pubsub.subscribe(self.label, topic)

    def unsubscribe(self, topic: str) -> None:
        pubsub.unsubscribe(self.label, topic)

    def broadcast(self, topic: str, message: Any) -> None:
        pubsub.broadcast(self.label, topic, message)


def room(i: int) -> str:
    return f"room:{i}"


def user_topic(i: int) -> str:
    return f"user:{i}"


class Hopper(GenServer):
    """A client that hops between rooms ``rate`` times a second."""

    def init(self, index: int, count: int, backends: Sequence[Backend], rooms: int,
             rate: float) -> None:
        self.backends = list(backends)
        self.rooms = rooms
        self.period = 1.0 / rate
        # Clients walk the rooms with different strides, so rooms fill unevenly.
        self.stride = 1 + index % max(1, rooms - 1)
        self.current = index % rooms
        self.hops = 0
        self.received = 0
        for b in self.backends:
            b.subscribe(user_topic(index))
            b.subscribe(room(self.current))
        # Spread the first hops over one period: clients do not tick in step.
        send_after(self.period * index / max(1, count), self_pid(), "hop")

    def handle_info(self, msg: Any) -> None:
        if msg == "hop":
            nxt = (self.current + self.stride) % self.rooms
            for b in self.backends:
                b.unsubscribe(room(self.current))
                b.subscribe(room(nxt))
            self.current = nxt
            self.hops += 1
            send_after(self.period, self_pid(), "hop")
        elif isinstance(msg, tuple) and msg[:1] == ("news",):
            self.received += 1
        else:
            super().handle_info(msg)

    def handle_call(self, request: Any, from_: tuple) -> Any:
        if request == "stats":
            return {"hops": self.hops, "received": self.received}
        return super().handle_call(request, from_)


class Broadcaster(GenServer):
    """Sends ``("news", topic, n)`` to every room of every backend, twice a second."""

    PERIOD = 0.5

    def init(self, backends: Sequence[Backend], rooms: int) -> None:
        self.backends = list(backends)
        self.rooms = rooms
        self.n = 0
        send_after(self.PERIOD, self_pid(), "tick")

    def handle_info(self, msg: Any) -> None:
        if msg != "tick":
            return super().handle_info(msg)
        self.n += 1
        for b in self.backends:
            for i in range(self.rooms):
                b.broadcast(room(i), ("news", room(i), self.n))
        send_after(self.PERIOD, self_pid(), "tick")
        return None
