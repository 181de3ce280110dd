"""Dispatchers: how a broadcast reaches the subscribers of one shard.

A dispatcher is ``fn(groups, from_pid, message)`` where ``groups`` is a
list with, for each shard holding subscribers of the topic, that shard's
``{pid: metadata or Multi}`` dict.  Dispatchers are named, so a broadcast can say on every node which
one to use (``register_dispatcher``).

The names are node-wide and static: a dispatcher is code, registered at
import (or when an application starts) and shared by every PubSub, not
state of one running instance.  So they live in a plain table here, owned
by no process, rather than among the runtime's named instances (which go
when their owner ends).

``fastlane`` implements Phoenix's fastlane: a subscriber whose metadata is
a :class:`Fastlane` record asks for the broadcast *encoded* and sent
straight to its connection process.  The message must have an ``event``
attribute and the serializer a ``fastlane(message)`` method; each
serializer encodes the broadcast once, and every connection using it gets
the same frame object as ``("socket_push", frame)``.  Events the
subscriber intercepts go to the subscriber itself, unencoded.

A serializer may also carry ``direct``: None, or ``direct(frame) -> bool``,
a way to the subscriber's connection that does not go through its
process (the channels' sockets write with a non-blocking send).  It is
offered the frame only when that process's mailbox is empty, so nothing
sent to the process earlier can be overtaken; True means the frame is
taken care of and the process is not sent it (nor woken, if it
hibernates); False, that it goes to the process as usual.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from ..core import BadArg, Pid
from ._shard import Multi

__all__ = ["Fastlane", "FASTLANE_TAG", "register_dispatcher", "dispatcher"]

FASTLANE_TAG = "socket_push"


@dataclass(frozen=True, slots=True)
class Fastlane:
    """Subscription metadata: deliver encoded frames to ``pid`` (the
    connection) with ``serializer``, except for ``intercepts`` events."""

    pid: Pid
    serializer: Any
    intercepts: frozenset = frozenset()


def _send_all(groups: list, from_: Any, message: Any) -> None:
    """The default dispatcher: ``send`` to each subscription (the send is
    inlined: this loop is the broadcast hot path)."""
    wake = _wake
    for subs in groups:
        for pid, meta in subs.items():
            if pid is from_:
                continue
            p = pid._proc
            if p is None:
                continue
            q = p.mq
            if q is None:
                q = p.mq = deque()
            if meta.__class__ is Multi:
                for _ in meta:
                    q.append(message)
            else:
                q.append(message)
            if p.parked == 1:
                p.parked = 2
                wake(p.g.switch)


def _fastlane(groups: list, from_: Any, message: Any) -> None:
    from ..lowlevel import deliver
    event = getattr(message, "event", None)
    cache: dict = {}
    for subs in groups:
        for pid, meta in subs.items():
            if pid is from_:
                continue
            metas = meta if meta.__class__ is Multi else (meta,)
            for m in metas:
                if m.__class__ is Fastlane and event not in m.intercepts:
                    ser = m.serializer
                    frame = cache.get(ser)
                    if frame is None:
                        frame = cache[ser] = (FASTLANE_TAG, ser.fastlane(message))
                    target = m.pid._proc
                    if target is not None:
                        direct = getattr(ser, "direct", None)
                        if direct is None or target.mq or not direct(frame[1]):
                            deliver(target, frame)
                else:
                    p = pid._proc
                    if p is not None:
                        deliver(p, message)


#: Dispatcher name -> function, for every PubSub of the node (see above).
_dispatchers: dict = {}


def register_dispatcher(name: str, fn: Callable[[list, Any, Any], None]) -> None:
    """Make ``fn`` available to broadcasts as ``dispatcher=name`` (register it
    under the same name on every node of a cluster)."""
    _dispatchers[name] = fn


def dispatcher(name: str) -> Callable:
    try:
        return _dispatchers[name]
    except KeyError:
        raise BadArg(f"unknown dispatcher {name!r}") from None


def _bind() -> None:
    global _wake
    from ..lowlevel import run_callback
    _wake = run_callback


_wake: Callable = None  # type: ignore[assignment]
_bind()
_dispatchers["default"] = _send_all
_dispatchers["fastlane"] = _fastlane
