"""Channels: one process per joined topic, linked to its socket.

Subclass :class:`Channel` and route topics to it from a
:class:`~beamish.channels.Socket`.  Callbacks and what they return:

``join(topic, payload)``
    ``None`` or ``("ok", response)`` accepts; ``("error", response)``
    refuses (the channel is not kept).  An exception replies
    ``{"reason": "join crashed"}``.
``handle_in(event, payload, ref)``
    ``None``: no reply; ``("ok", response)`` / ``("error", response)`` /
    ``(status, response)``: reply; ``Stop(reason, reply=(status, resp))``
    stops, replying first.  An event the channel does not handle crashes it
    (``phx_error``, as a missing Phoenix clause does) unless ``handle_in``
    is written to answer everything.
``handle_out(event, payload)``
    for the events listed in ``intercept``: called instead of the fastlane;
    ``self.push(event, payload)`` to pass one on.
``handle_info(msg)``
    any other message; ``Stop`` ends the channel.
``terminate(reason)``
    on leave, stop, and when the socket goes away.

Inside a channel: ``self.topic``, ``self.assigns`` (the socket's, copied
at join; the channel may change its own), ``self.push``,
``self.broadcast``, ``self.broadcast_from``, ``self.socket_pid``, and
``self.pid``, the channel process's own pid (as a GenServer's).

A normal end (leave, ``Stop("normal" | "shutdown" | ("shutdown", _))``)
closes the channel on the client with ``phx_close``; any other end is a
crash and the client gets ``phx_error`` (and rejoins).

The channel process is a behaviour process (:mod:`beamish.otp.behaviour`),
as Phoenix's channel server is a GenServer: it starts with an acknowledged
``join``, follows the base's terminate rules and crash report, answers
``get_state``/``get_status`` (its state is the channel instance), and
shows ``module:Class.join`` as its initial call and its topic as its label.
After ``hibernate_after`` seconds without a message (15 by default, as
Phoenix's channels; None: never) it hibernates until the next one.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from ..core import ExitMsg, send, set_label
from ..lowlevel import current_process, is_clean_exit, tags
from ..otp import Stop
from ..otp.behaviour import Behaviour, InitIgnored, Loop, start_behaviour
from ..pubsub import (Broadcast, Fastlane, broadcast as _ps_broadcast,
                      broadcast_from as _ps_broadcast_from, subscribe as _ps_subscribe)

log = logging.getLogger(__name__)

__all__ = ["Channel", "Stop"]

_IN = tags.IN
_LEAVE = tags.LEAVE
_PUSH = tags.PUSH
_REPLY = tags.REPLY
_LEFT = Stop("normal")


class Channel:
    """Base class of channels; see the module docstring."""

    #: Events that go through ``handle_out`` instead of the fastlane.
    intercept: tuple = ()
    #: Seconds without a message after which the channel process hibernates
    #: (gives its greenlet back until the next one); None: never.
    hibernate_after: Optional[float] = 15.0

    # runtime fields (set by the channel process before ``join``)
    topic: str
    assigns: dict
    socket_pid: Any
    pid: Any
    join_ref: Optional[str]
    pubsub: str

    def join(self, topic: str, payload: Any) -> Any:
        return None

    def handle_in(self, event: str, payload: Any, ref: Optional[str]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not handle {event!r}")

    def handle_out(self, event: str, payload: Any) -> Any:
        self.push(event, payload)

    def handle_info(self, msg: Any) -> Any:
        log.warning("channel %s %r got an unexpected message %r", self.topic,
                    current_process().pid, msg)

    def terminate(self, reason: Any) -> None:
        pass

    # ---------------------------------------------------------- helpers
    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this channel's client only."""
        send(self.socket_pid, (_PUSH, self.join_ref, self.topic, event, payload))

    def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every client joined to this topic, on every node."""
        _ps_broadcast(self.pubsub, self.topic, Broadcast(self.topic, event, payload), "fastlane")

    def broadcast_from(self, event: str, payload: Any) -> None:
        """As :meth:`broadcast`, but not to this channel's own client."""
        _ps_broadcast_from(self.pubsub, current_process().pid, self.topic,
                           Broadcast(self.topic, event, payload), "fastlane")


def _reply_shape(res: Any) -> Optional[tuple]:
    if res is None:
        return None
    if isinstance(res, tuple) and len(res) == 2 and isinstance(res[0], str):
        return (res[0], res[1] if res[1] is not None else {})
    if isinstance(res, str):
        return (res, {})
    raise TypeError(f"a channel reply must be (status, response) or None, got {res!r}")


def start_channel(cls: type, topic: str, payload: Any, join_ref: Optional[str], socket_pid: Any,
                  assigns: dict, pubsub: str, wire: Any) -> tuple:
    """Start a channel process of ``cls`` for ``topic``, linked to the
    calling socket process, and wait for its ``join``.

    Returns ``(pid, response)`` when it joined, ``(None, response)`` when
    ``join`` refused or crashed (``{"reason": "join crashed"}``).

    Raises:
        StartError: the process died before answering (an ``exit`` in
            ``join``, or a kill).
    """
    return start_behaviour(_CHANNEL, cls, (topic, payload, join_ref, socket_pid, assigns, pubsub,
                                           wire), link=True, trap_exit=True,
                           hibernate_after=cls.hibernate_after)


#: ``cls -> (cls.intercept, frozenset of it)``: one frozenset per channel
#: class rather than one per join, remade if ``intercept`` is reassigned.
_INTERCEPTS: dict = {}


def _intercepted(cls: type) -> frozenset:
    """The events ``cls`` intercepts, as the frozenset its subscriptions carry."""
    events = cls.intercept
    known = _INTERCEPTS.get(cls)
    if known is None or known[0] is not events:
        known = _INTERCEPTS[cls] = (events, frozenset(events))
    return known[1]


class _ChannelBehaviour(Behaviour):
    """The channel behaviour: a client's events (``handle_in``), its leave,
    intercepted broadcasts (``handle_out``) and other messages
    (``handle_info``); the socket process is the parent."""

    name = "channel"
    entry = "join"

    def init(self, loop: Loop, args: tuple, kwargs: dict) -> Any:
        topic, payload, join_ref, socket_pid, assigns, pubsub, wire = args
        ch = loop.obj
        ch.topic, ch.assigns, ch.socket_pid = topic, dict(assigns), socket_pid
        ch.join_ref, ch.pubsub, ch.pid = join_ref, pubsub, loop.me.pid
        set_label(topic)
        try:
            res = ch.join(topic, payload)
            if isinstance(res, tuple) and res and res[0] == "error":
                raise InitIgnored(_reply_shape(res)[1])
            reply = _reply_shape(res) if res is not None else ("ok", {})
        except InitIgnored:
            raise
        except Exception as e:
            log.error("channel %s join crashed: %r", topic, e, exc_info=e)
            raise InitIgnored({"reason": "join crashed"}) from None
        _ps_subscribe(pubsub, topic, Fastlane(socket_pid, wire, _intercepted(type(ch))))
        return reply[1]

    def dispatch(self, loop: Loop, msg: Any) -> Any:
        ch = loop.obj
        cls = msg.__class__
        if cls is tuple and msg:
            tag = msg[0]
            if tag == _IN and len(msg) == 4:
                _, event, payload, ref = msg
                res = ch.handle_in(event, payload, ref)
                if isinstance(res, Stop):
                    # Phoenix replies first, then stops.
                    if res.has_reply:
                        _send_reply(ch, ref, _reply_shape(res.reply))
                    return res
                shaped = _reply_shape(res)
                if shaped is not None:
                    _send_reply(ch, ref, shaped)
                return None
            if tag == _LEAVE and len(msg) == 2:
                _send_reply(ch, msg[1], ("ok", {}))
                return _LEFT
        elif cls is Broadcast:
            # only intercepted events (or non-fastlane deliveries) land here
            if msg.event in type(ch).intercept:
                return _stop_only(ch.handle_out(msg.event, msg.payload))
            ch.push(msg.event, msg.payload)
            return None
        elif cls is ExitMsg and not is_clean_exit(msg.reason) \
                and not (msg.reason.__class__ is str and msg.reason == "normal"):
            # a linked process (a tracker) died; the socket's own exit is
            # the parent's, which the base handles
            return Stop(msg.reason)
        return _stop_only(ch.handle_info(msg))


def _stop_only(res: Any) -> Any:
    """A channel callback's result matters only when it is a ``Stop``."""
    return res if isinstance(res, Stop) else None


_CHANNEL = _ChannelBehaviour()


def _send_reply(ch: Channel, ref: Optional[str], shaped: tuple) -> None:
    send(ch.socket_pid, (_REPLY, ch.join_ref, ref, ch.topic, shaped[0], shaped[1]))
