"""A deliberately naive subscription server: Phoenix.PubSub.Local's monitor
leak (phoenix_pubsub issue #23, fixed in March 2016), rebuilt on purpose.

Do not copy this.  It is here so that ``beamish observer`` has a real leak
to find.  The server keeps ``topic -> subscribers`` and ``pid -> topics``
like the original, and, like the original, calls ``monitor(pid)`` on
*every* subscribe, keeps no ref and never demonitors: a long-lived
process that hops between topics leaves one more monitor on the server
with every hop.  Nothing breaks and every broadcast is still delivered
correctly; the server just grows, monitor by monitor, until the
subscriber (or the server) dies.  The fix, which beamish's PubSub shards
follow, is one monitor per subscriber pid, released on its last
unsubscribe.

The API mirrors :mod:`beamish.pubsub` for a server registered as
:data:`NAME`: :func:`subscribe` and :func:`unsubscribe` act for the
calling process, :func:`broadcast` delivers ``message`` to each
subscriber of ``topic``.
"""
from __future__ import annotations

from typing import Any

from beamish import Down, GenServer, call, cast, monitor, send
from beamish import self as self_pid

__all__ = ["NAME", "NaiveSubscriptions", "subscribe", "unsubscribe", "broadcast"]

#: The server's registered name, as the observer shows it.
NAME = "naive_subscriptions"


class NaiveSubscriptions(GenServer):
    """Subscriptions with a monitor per subscribe that is never released."""

    def init(self) -> None:
        self.topics: dict = {}    # topic -> set of pids
        self.pids: dict = {}      # pid -> set of topics

    def handle_call(self, request: Any, from_: tuple) -> Any:
        match request:
            case ("subscribe", pid, topic):
                monitor(pid)      # THE BUG: one more monitor per subscribe, ref dropped
                self.topics.setdefault(topic, set()).add(pid)
                self.pids.setdefault(pid, set()).add(topic)
                return "ok"
            case ("unsubscribe", pid, topic):
                # Forgets the subscription but not the monitor (no demonitor:
                # the ref was never kept, so it could not be released anyway).
                self._forget(pid, topic)
                return "ok"
            case "stats":
                return {"topics": len(self.topics), "pids": len(self.pids)}
        raise ValueError(f"{NAME}: unknown request {request!r}")

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("broadcast", topic, message):
                for pid in self.topics.get(topic, ()):
                    send(pid, message)

    def handle_info(self, msg: Any) -> None:
        # A dead subscriber sends one DOWN per leaked monitor; the first
        # cleans up, the rest find nothing left to do.
        if isinstance(msg, Down):
            for topic in list(self.pids.get(msg.pid, ())):
                self._forget(msg.pid, topic)
            return None
        return super().handle_info(msg)

    def _forget(self, pid: Any, topic: str) -> None:
        subs = self.topics.get(topic)
        if subs is not None:
            subs.discard(pid)
            if not subs:
                del self.topics[topic]
        mine = self.pids.get(pid)
        if mine is not None:
            mine.discard(topic)
            if not mine:
                del self.pids[pid]


def subscribe(topic: str) -> None:
    """Subscribe the caller to ``topic`` (and leak one monitor)."""
    call(NAME, ("subscribe", self_pid(), topic))


def unsubscribe(topic: str) -> None:
    """Unsubscribe the caller from ``topic`` (the monitor stays)."""
    call(NAME, ("unsubscribe", self_pid(), topic))


def broadcast(topic: str, message: Any) -> None:
    """Send ``message`` to every subscriber of ``topic``."""
    cast(NAME, ("broadcast", topic, message))
