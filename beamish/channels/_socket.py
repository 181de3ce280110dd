"""Sockets: one process per WebSocket connection, multiplexing its channels.

Subclass :class:`Socket` to authenticate connections and route topics::

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel)]

        def connect(self, params, connect_info):
            user = verify(SECRET, "user", params.get("token", ""), max_age=86400)
            return {"user": user}          # the socket's assigns; False refuses (403)

        def id(self, assigns):
            return f"users_socket:{assigns['user']}"

Theory of operation
-------------------
The connection's greenlet reads frames (through wsproto) and forwards them
to the socket process; the socket process owns everything else: decoding,
routing to channel processes, heartbeats, replies and pushes, and writing.
Channel processes are linked to it and send it their replies and pushes,
so a channel's frames leave in the order it made them.  Broadcasts come as
already-encoded frames straight from the PubSub (fastlane) and are written
as they are: channel processes are not woken for them.

Writes are bounded: a frame that cannot be written within
``send_timeout`` (a client that stopped reading, its TCP window full) and
a mailbox backlog past ``max_backlog`` both disconnect the client, with a
log line; neither lets memory grow without bound or holds anyone else up.
(The Endpoint's own ``send_timeout`` bounds every write of the transport,
pongs and Close frames included; the socket's may be shorter.)
Malformed frames close the connection with 1007 (Phoenix drops the
connection too); a client over the message rate limit, counted by the
transport frame by frame as they are parsed, is closed with 1008; the idle
timeout closes with 1001.  Close codes other than 1000 make the
``phoenix`` client reconnect.  The socket process yields to the hub every
``_TURN`` messages, so a backlog of them does not hold up other clients.
"""
from __future__ import annotations

import fnmatch
import logging
import time
from typing import Any, Optional

import gevent

from ..core import (ANY, Down, ExitMsg, demonitor, exit, make_ref, monitor, process_flag, receive,
                    send, spawn_link)
from ..lowlevel import current_process
from ..pubsub import FASTLANE_TAG, subscribe as _ps_subscribe
from ._channel import channel_main
from ._errors import ProtocolError
from ._message import (HEARTBEAT, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE,
                       Message, Reply)
from ._transport import encode_frame
from ._transport_errors import ConnectionClosed

log = logging.getLogger(__name__)

__all__ = ["Socket", "WireSerializer"]

CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013

_TURN = 64              # messages handled between two yields to the hub
_YIELD_SLEEP = 0.00001  # a timed sleep: the hub polls sockets and timers before we resume


class Socket:
    """Base class of sockets; see the module docstring."""

    #: ``[(topic_pattern, ChannelClass), ...]``; ``*`` matches a suffix.
    channels: list = []
    max_channels: int = 100
    #: Incoming frames allowed per second (a token bucket of this size),
    #: counted by the transport as they are parsed, fragments and pings
    #: included; past it the client is closed with 1008.
    max_rate: float = 200.0
    idle_timeout: float = 60.0
    send_timeout: float = 5.0
    #: Queued outgoing messages past which a client is a slow reader.
    max_backlog: int = 10_000

    def connect(self, params: dict, connect_info: dict) -> Any:
        """Accept (True or an assigns dict) or refuse (False → HTTP 403)."""
        return True

    def id(self, assigns: dict) -> Optional[str]:
        """A name for all sockets of one user: broadcasting ``"disconnect"``
        to it (``Endpoint.disconnect(id)``) closes them all."""
        return None

    @classmethod
    def route(cls, topic: str) -> Optional[type]:
        for pattern, channel in cls.channels:
            if pattern.endswith("*") and topic.startswith(pattern[:-1]) or pattern == topic:
                return channel
            if "*" in pattern[:-1] and fnmatch.fnmatchcase(topic, pattern):
                return channel
        return None


class WireSerializer:
    """A serializer whose fastlane yields finished WebSocket frame bytes, so
    a broadcast is encoded once per serializer, frame header included."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def fastlane(self, message: Any) -> bytes:
        return encode_frame(self.inner.fastlane(message))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WireSerializer) and other.inner == self.inner

    def __hash__(self) -> int:
        return hash(("wire", self.inner))


class _State:
    __slots__ = ("ws", "ser", "wire", "socket", "assigns", "pubsub", "channels", "by_pid",
                 "last_in")

    def __init__(self, ws: Any, ser: Any, socket: Socket, assigns: dict, pubsub: str) -> None:
        self.ws = ws
        self.ser = ser
        self.wire = WireSerializer(ser)
        self.socket = socket
        self.assigns = assigns
        self.pubsub = pubsub
        self.channels: dict = {}   # topic -> (pid, join_ref)
        self.by_pid: dict = {}     # pid -> topic
        self.last_in = time.monotonic()


def reader(ws: Any, socket_pid: Any) -> None:
    """Runs in the connection's greenlet: forward frames to the socket process."""
    try:
        while True:
            send(socket_pid, ("$in", ws.receive()))
    except ConnectionClosed as e:
        if e.code == CLOSE_POLICY and e.reason == "rate limit exceeded":
            log.warning("socket %r exceeded its rate limit: closed with 1008", socket_pid)
        elif e.reason == "send timeout":
            log.warning("socket %r: client did not read within the send timeout: dropped",
                        socket_pid)
        send(socket_pid, ("$closed", e.code))
    except Exception as e:  # noqa: BLE001 - the socket process decides what it means
        send(socket_pid, ("$closed", 1011))
        log.debug("socket reader ended: %r", e)


def socket_main(socket: Socket, ws: Any, ser: Any, assigns: dict, pubsub: str) -> None:
    """The socket process."""
    process_flag("trap_exit", True)
    st = _State(ws, ser, socket, assigns, pubsub)
    sid = socket.id(assigns)
    if sid:
        _ps_subscribe(pubsub, sid)
    idle = socket.idle_timeout
    _serve(st, ws, ser, socket, idle)
    # Channels see the socket go as Phoenix's do: {shutdown, closed}.
    exit(("shutdown", "closed"))


def _serve(st: _State, ws: Any, ser: Any, socket: Socket, idle: float) -> None:
    turn = 0
    try:
        while True:
            turn += 1
            if turn >= _TURN:  # a backlog must not keep the hub from other clients
                turn = 0
                gevent.sleep(_YIELD_SLEEP)
            msg = receive(timeout=idle, default=None)
            if msg is None:
                if time.monotonic() - st.last_in >= idle:
                    log.info("socket %r idle for %.0f s: closing", current_process().pid, idle)
                    _close(st, CLOSE_GOING_AWAY, "idle timeout")
                    return
                continue
            cls = msg.__class__
            if cls is tuple:
                tag = msg[0]
                if tag == "$in":
                    st.last_in = time.monotonic()
                    if not _incoming(st, msg[1]):
                        return
                elif tag == FASTLANE_TAG:
                    if not _write(st, msg[1]):
                        return
                elif tag == "$push":
                    _, join_ref, topic, event, payload = msg
                    if st.channels.get(topic, (None, None))[1] == join_ref:
                        if not _write(st, encode_frame(
                                ser.encode_push(Message(join_ref, None, topic, event, payload)))):
                            return
                elif tag == "$reply":
                    _, join_ref, ref, topic, status, response = msg
                    if not _send_reply(st, join_ref, ref, topic, status, response):
                        return
                elif tag == "$closed":
                    return
            elif cls is ExitMsg:
                if not _channel_exited(st, msg.pid, msg.reason):
                    return
            elif msg == "disconnect":
                _close(st, CLOSE_GOING_AWAY, "disconnected")
                return
    finally:
        if not ws.closed:
            ws.abort()


def _close(st: _State, code: int, reason: str) -> None:
    try:
        st.ws.close(code, reason)
    except Exception:  # closing a broken connection: nothing more to do
        st.ws.abort()


def _write(st: _State, frame: bytes) -> bool:
    """Write one frame; False (and the connection dropped) for a slow or gone
    client."""
    me = current_process()
    if me.mq is not None and len(me.mq) > st.socket.max_backlog:
        log.warning("socket %r: %d messages backed up, client not reading: disconnecting",
                    me.pid, len(me.mq))
        st.ws.abort()
        return False
    try:
        with gevent.Timeout(st.socket.send_timeout):
            st.ws.send_frame(frame)
        return True
    except gevent.Timeout:
        log.warning("socket %r: client did not read for %.0f s: disconnecting", me.pid,
                    st.socket.send_timeout)
        st.ws.abort()
        return False
    except ConnectionClosed:
        return False


def _send_reply(st: _State, join_ref: Any, ref: Any, topic: str, status: str,
                response: Any) -> bool:
    try:
        frame = st.ser.encode_reply(Reply(join_ref, ref, topic, status, response))
    except ProtocolError as e:
        log.error("socket %r: cannot encode a reply on %s: %s", current_process().pid, topic, e)
        frame = st.ser.encode_reply(Reply(join_ref, ref, topic, "error",
                                          {"reason": "unencodable reply"}))
    return _write(st, encode_frame(frame))


def _control(st: _State, topic: str, join_ref: Any, event: str, payload: Any) -> bool:
    return _write(st, encode_frame(st.ser.encode_push(Message(join_ref, join_ref, topic, event,
                                                              payload))))


def _incoming(st: _State, data: Any) -> bool:
    """Handle one frame from the client; False when the connection is done."""
    opcode = 1 if isinstance(data, str) else 2
    try:
        m = st.ser.decode(data, opcode)
    except ProtocolError as e:
        log.warning("socket %r: malformed frame, closing with 1007: %s", current_process().pid, e)
        _close(st, CLOSE_INVALID_DATA, "malformed frame")
        return False
    topic, event = m.topic, m.event
    if topic == PHOENIX_TOPIC and event == HEARTBEAT:
        return _send_reply(st, None, m.ref, topic, "ok", {})
    if event == PHX_JOIN:
        return _join(st, m)
    current = st.channels.get(topic)
    if event == PHX_LEAVE:
        if current is None:
            return _send_reply(st, m.join_ref, m.ref, topic, "ok", {})
        if m.join_ref is not None and m.join_ref != current[1]:
            return True
        send(current[0], ("$leave", m.ref))
        return True
    if current is None:
        return _send_reply(st, None, m.ref, topic, "error", {"reason": "unmatched topic"})
    if m.join_ref is not None and m.join_ref != current[1]:
        return True   # a message for a channel instance that is gone
    send(current[0], ("$in", event, m.payload, m.ref))
    return True


def _join(st: _State, m: Message) -> bool:
    topic = m.topic
    chan_cls = st.socket.route(topic)
    if chan_cls is None:
        log.warning("socket %r: join to unmatched topic %r", current_process().pid, topic)
        return _send_reply(st, None, m.ref, topic, "error", {"reason": "unmatched topic"})
    old = st.channels.get(topic)
    if old is None and len(st.channels) >= st.socket.max_channels:
        return _send_reply(st, m.join_ref, m.ref, topic, "error",
                           {"reason": "too many channels joined"})
    if old is not None:
        _drop_channel(st, old[0])
        exit(old[0], ("shutdown", "duplicate_join"))
    join_ref = m.join_ref if m.join_ref is not None else m.ref
    ack = make_ref()
    pid = spawn_link(channel_main, chan_cls, topic, m.payload, join_ref, m.ref,
                     current_process().pid, st.assigns, st.pubsub, st.wire, ack)
    ref = monitor(pid)
    res = receive(("$joined", ack, ANY, ANY), ("DOWN", ref, ANY, ANY, ANY))
    demonitor(ref, flush=True)
    if res.__class__ is Down or res[2] != "ok":
        response = {"reason": "join crashed"} if res.__class__ is Down else res[3]
        status = "error"
        _flush_exit(pid)
        ok = _send_reply(st, join_ref, m.ref, topic, status, response)
    else:
        st.channels[topic] = (pid, join_ref)
        st.by_pid[pid] = topic
        ok = _send_reply(st, join_ref, m.ref, topic, "ok", res[3])
    if ok and old is not None:
        ok = _control(st, topic, old[1], PHX_CLOSE, {})
    return ok


def _flush_exit(pid: Any) -> None:
    from ..core import unlink
    from ..lowlevel import take_first
    unlink(pid)
    take_first(current_process(), ExitMsg(pid, ANY))


def _drop_channel(st: _State, pid: Any) -> Optional[str]:
    topic = st.by_pid.pop(pid, None)
    if topic is not None:
        st.channels.pop(topic, None)
        _flush_exit(pid)
    return topic


def _channel_exited(st: _State, pid: Any, reason: Any) -> bool:
    topic = st.by_pid.pop(pid, None)
    if topic is None:
        return True   # an old instance (duplicate join) or a failed join
    _, join_ref = st.channels.pop(topic)
    clean = (reason.__class__ is str and reason in ("normal", "shutdown")) or (
        isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown")
    if clean:
        return _control(st, topic, join_ref, PHX_CLOSE, {})
    return _control(st, topic, join_ref, PHX_ERROR, {"reason": "channel_crash"})
