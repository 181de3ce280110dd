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
``self.broadcast``, ``self.broadcast_from``, ``self.socket_pid``.

A normal end (leave, ``Stop("normal" | "shutdown" | ("shutdown", _))``)
closes the channel on the client with ``phx_close``; any other end is a
crash and the client gets ``phx_error`` (and rejoins).
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from ..core import Exit, ExitMsg, process_flag, receive, send
from ..lowlevel import current_process, is_clean_exit
from ..otp import Stop
from ..pubsub import (Broadcast, Fastlane, broadcast as _ps_broadcast,
                      broadcast_from as _ps_broadcast_from, subscribe as _ps_subscribe)

log = logging.getLogger(__name__)

__all__ = ["Channel", "Stop"]


class Channel:
    """Base class of channels; see the module docstring."""

    #: Events that go through ``handle_out`` instead of the fastlane.
    intercept: tuple = ()

    # runtime fields (set by the channel process before ``join``)
    topic: str
    assigns: dict
    socket_pid: Any
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
        send(self.socket_pid, ("$push", self.join_ref, self.topic, event, payload))

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


def channel_main(cls: type, topic: str, payload: Any, join_ref: Optional[str], ref: Optional[str],
                 socket_pid: Any, assigns: dict, pubsub: str, wire: Any, ack: Any) -> None:
    """The channel process: join, then serve until stopped or orphaned."""
    process_flag("trap_exit", True)
    ch = cls.__new__(cls)
    ch.topic, ch.assigns, ch.socket_pid = topic, dict(assigns), socket_pid
    ch.join_ref, ch.pubsub = join_ref, pubsub
    try:
        res = ch.join(topic, payload)
        if isinstance(res, tuple) and res and res[0] == "error":
            send(socket_pid, ("$joined", ack, "error", _reply_shape(res)[1]))
            return
        reply = _reply_shape(res) if res is not None else ("ok", {})
    except Exception as e:
        log.error("channel %s join crashed: %r", topic, e, exc_info=e)
        send(socket_pid, ("$joined", ack, "crash", {"reason": "join crashed"}))
        return
    intercepts = frozenset(cls.intercept)
    _ps_subscribe(pubsub, topic, Fastlane(socket_pid, wire, intercepts))
    send(socket_pid, ("$joined", ack, "ok", reply[1]))
    _serve(ch, intercepts)


def _serve(ch: Channel, intercepts: frozenset) -> None:
    socket_pid = ch.socket_pid
    reason: Any = "normal"
    try:
        while True:
            msg = receive()
            cls = msg.__class__
            if cls is tuple and msg and msg[0] == "$in":
                _, event, payload, ref = msg
                res = ch.handle_in(event, payload, ref)
                if isinstance(res, Stop):
                    if res.has_reply:
                        _send_reply(ch, ref, _reply_shape(res.reply))
                    reason = res.reason
                    break
                shaped = _reply_shape(res)
                if shaped is not None:
                    _send_reply(ch, ref, shaped)
            elif cls is tuple and msg and msg[0] == "$leave":
                _send_reply(ch, msg[1], ("ok", {}))
                reason = "normal"
                break
            elif cls is Broadcast:
                # only intercepted events (or non-fastlane deliveries) land here
                if msg.event in intercepts:
                    res = ch.handle_out(msg.event, msg.payload)
                else:
                    ch.push(msg.event, msg.payload)
                    res = None
                if isinstance(res, Stop):
                    reason = res.reason
                    break
            elif cls is ExitMsg and (msg.pid == socket_pid or not is_clean_exit(msg.reason)
                                     and not (msg.reason.__class__ is str
                                              and msg.reason == "normal")):
                # the socket went, or a linked process (a tracker) died
                reason = msg.reason
                break
            else:
                res = ch.handle_info(msg)
                if isinstance(res, Stop):
                    reason = res.reason
                    break
    except Exit:
        raise
    except Exception as e:
        _terminate(ch, e)
        raise
    _terminate(ch, reason)
    if not (reason.__class__ is str and reason == "normal"):
        raise Exit(reason)


def _send_reply(ch: Channel, ref: Optional[str], shaped: tuple) -> None:
    send(ch.socket_pid, ("$reply", ch.join_ref, ref, ch.topic, shaped[0], shaped[1]))


def _terminate(ch: Channel, reason: Any) -> None:
    try:
        ch.terminate(reason)
    except Exception as e:
        log.error("channel %s terminate crashed: %r", ch.topic, e, exc_info=e)
    if not is_clean_exit(reason) and isinstance(reason, BaseException):
        log.error("channel %s %r crashed: %r", ch.topic, current_process().pid, reason,
                  exc_info=(type(reason), reason, reason.__traceback__))
