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
No greenlet waits on a connection's input: the hub's io watcher on the
socket tells the socket process when input has come (a ``_READABLE``
message; see :meth:`WebSocket.watch`), and the socket process reads it
without blocking, one bounded turn at a time (64 frames or 256 KiB, then
it yields), through wsproto.  The socket process owns everything:
reading, decoding, routing to channel processes, heartbeats, replies and
pushes, and writing; so a hibernating idle connection holds no greenlet
at all.
Channel processes are linked to it and send it their replies and pushes,
so a channel's frames leave in the order it made them.  Broadcasts come as
already-encoded frames straight from the PubSub (fastlane) and are written
as they are: channel processes are not woken for them, and neither is the
socket process when it has nothing to do: the broadcaster writes the
frame itself with a non-blocking send (the connection's :class:`_Outlet`)
if the socket process is parked with an empty mailbox and nothing waits
to be written, so an idle (even hibernating) connection costs a broadcast
one ``send``.  Otherwise the frame goes through the socket process's
mailbox as before, behind what is already there; and a frame the kernel
took only part of (or none of: a full TCP window) stays queued in the
connection while the socket process is woken to finish it within
``send_timeout``.  Frames therefore leave in the order they reached the
connection, whichever way they took.

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

The socket process is a behaviour process (:mod:`beamish.otp.behaviour`),
entered with ``enter_loop`` as the endpoint spawns it: the connection's
messages are its dispatch, it answers ``get_state``/``get_status`` (its
state is a ``_State`` record: the Socket instance, assigns, channels), and
shows ``module:Class.connect`` of the user's Socket class as its initial
call and ``Socket.id(assigns)``, when not None, as its label.  After
``hibernate_after`` seconds without a message (15 by default, as
Phoenix's; None: never) it hibernates: it gives its greenlet back until
the next frame, push or broadcast, its idle timeout kept by a timer.
A turn that only answered heartbeats hibernates it again at once (where
Phoenix's stays awake ``hibernate_after`` more): with the client's 30 s
heartbeat and a 15 s idle timer, half of all idle sockets would otherwise
be awake at any moment, each holding a greenlet.
"""
from __future__ import annotations

import fnmatch
import logging
import time
from typing import Any, Optional

import gevent

from ..core import ANY, ExitMsg, exit, process_flag, send, set_label, unlink
from ..lowlevel import current_process, deliver, is_hibernate_unwind, tags, take_first
from ..otp import NoReply, StartError, Stop
from ..otp.behaviour import Behaviour, Loop, enter_loop, serve
from ..pubsub import FASTLANE_TAG, subscribe as _ps_subscribe
from ._channel import start_channel
from ._errors import ProtocolError
from ._log import elapsed, filtered
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

_FRAME = tags.FRAME
_CLOSED = tags.CLOSED
_PUSH = tags.PUSH
_REPLY = tags.REPLY
_IN = tags.IN
_LEAVE = tags.LEAVE
#: Sent to the socket process by its :class:`_Outlet`: finish writing the
#: frame a broadcaster left queued in the connection.
_FLUSH_TAG = "socket_flush"
_FLUSH = (_FLUSH_TAG,)
#: Sent to the socket process from the hub when its connection has input
#: (or has closed): read what is there (see :meth:`WebSocket.watch`).
_READABLE_TAG = "socket_readable"
_READABLE = (_READABLE_TAG,)
#: How a socket process ends: its channels see ``{shutdown, closed}``, as
#: Phoenix's do.
_DONE = Stop(("shutdown", "closed"))

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
    #: Seconds without a message after which the socket process hibernates
    #: (gives its greenlet back until the next one); None: never.
    hibernate_after: Optional[float] = 15.0
    #: Queued outgoing messages past which a client is a slow reader.
    max_backlog: int = 10_000

    def connect(self, params: dict, connect_info: dict) -> Any:
        """Accept (True or an assigns dict) or refuse (False → HTTP 403).

        ``params`` are the query parameters (``vsn`` aside); ``connect_info``
        holds ``peer``, ``headers`` and ``auth_token`` (the official
        client's ``authToken``, carried as a WebSocket subprotocol; None
        without one), as Phoenix 1.8's."""
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

    __slots__ = ("inner", "direct")

    def __init__(self, inner: Any, direct: Any = None) -> None:
        self.inner = inner
        self.direct = direct
        """The fastlane's direct way to one connection (see
        :mod:`beamish.pubsub`'s dispatchers): ``direct(frame) -> bool``,
        or None."""

    def fastlane(self, message: Any) -> bytes:
        return encode_frame(self.inner.fastlane(message))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WireSerializer) and other.inner == self.inner

    def __hash__(self) -> int:
        return hash(("wire", self.inner))


class _Outlet:
    """How a fastlane broadcast is written to a connection without waking
    its socket process.

    The write side of a connection has two users, the socket process and
    the broadcasters (whose dispatch runs in their own greenlets), all on
    the hub's thread.  A broadcaster may write directly only when nothing
    can be ahead of its frame: the socket process is between messages
    (``busy`` false: not handling one, so not about to write) with an
    empty mailbox (the dispatcher checks that), and the connection has no
    write under way or queued (:meth:`WebSocket.try_send_frame` checks
    that).  A frame the kernel did not take whole stays queued in the
    connection and the socket process is sent ``_FLUSH`` to finish it
    under its send timeout and backlog checks.
    """

    __slots__ = ("ws", "pid", "busy")

    def __init__(self, ws: Any, pid: Any) -> None:
        self.ws = ws
        self.pid = pid
        self.busy = False

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now; False if it must go through the mailbox."""
        if self.busy:
            return False
        sent = self.ws.try_send_frame(frame)
        if sent is None:
            return False
        if not sent:
            p = self.pid._proc
            if p is not None:
                deliver(p, _FLUSH)
        return True

    #: The outlet is its connection's ``WireSerializer.direct`` itself (a
    #: bound method kept there would be one more object per connection).
    __call__ = write


class _State:
    """A socket process's state: what ``get_state`` returns for it."""

    __slots__ = ("ws", "ser", "wire", "outlet", "socket", "assigns", "pubsub", "channels",
                 "by_pid", "last_in", "idle", "wait", "turn")

    def __init__(self, ws: Any, ser: Any, socket: Socket, assigns: dict, pubsub: str) -> None:
        self.ws = ws
        self.ser = ser
        # only a transport with a non-blocking send gets direct writes (LongPoll buffers)
        self.outlet = (_Outlet(ws, current_process().pid)
                       if hasattr(ws, "try_send_frame") else None)
        self.wire = WireSerializer(ser, self.outlet)
        self.socket = socket
        self.assigns = assigns
        self.pubsub = pubsub
        self.channels: dict = {}   # topic -> (pid, join_ref)
        self.by_pid: dict = {}     # pid -> topic
        self.last_in = time.monotonic()
        # a transport that ends quiet clients itself (LongPoll: no poll for
        # a while) needs no idle timeout here
        self.idle = None if getattr(ws, "watches_idle", False) else socket.idle_timeout
        self.wait = _wait(self.idle)   # every turn's result: wait for the next
        self.turn = 0

    def __repr__(self) -> str:
        return (f"<{type(self.socket).__qualname__} assigns={self.assigns!r} "
                f"channels={ {t: p for t, (p, _) in self.channels.items()}!r}>")


#: The ``NoReply`` of each idle timeout in use: immutable, so the sockets
#: with one timeout share one (a record less per connection).
_WAITS: dict = {}


def _wait(idle: Optional[float], hibernate: bool = False) -> NoReply:
    wait = _WAITS.get((idle, hibernate))
    if wait is None:
        wait = _WAITS[idle, hibernate] = NoReply(timeout=idle, hibernate=hibernate)
    return wait


#: What :func:`_incoming` and :func:`_readable` return (truthy) when all
#: they handled was heartbeats.
_BEAT = object()


class _Notify:
    """What the hub calls when a connection has input: sends its socket
    process ``_READABLE``.  One small record per connection (a closure
    would be two objects, a function and its cell)."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid

    def __call__(self) -> None:
        p = self.pid._proc
        if p is not None and p.alive:
            deliver(p, _READABLE)


def watch(ws: Any, socket_pid: Any) -> None:
    """Have the connection's input read by the socket process as it comes:
    the hub's io watcher sends it ``_READABLE`` (no greenlet waits on an
    idle connection; see :meth:`WebSocket.watch`)."""
    ws.watch(_Notify(socket_pid))


def _log_closed(pid: Any, e: ConnectionClosed) -> None:
    if e.code == CLOSE_POLICY and e.reason == "rate limit exceeded":
        log.warning("socket %r exceeded its rate limit: closed with 1008", pid)
    elif e.reason == "send timeout":
        log.warning("socket %r: client did not read within the send timeout: dropped", pid)


def _readable(st: "_State") -> bool:
    """Read and handle the frames that came, one turn's worth; False when
    the connection is done."""
    ws = st.ws
    try:
        messages = ws.receive_ready()
    except ConnectionClosed as e:
        _log_closed(current_process().pid, e)
        return False
    beats = False
    if messages:
        st.last_in = time.monotonic()
        beats = True
        for m in messages:
            ok = _incoming(st, m)
            if not ok:
                return False
            if ok is not _BEAT:
                beats = False
    if ws.buffered:  # the turn's budget ran out: let the others run first
        gevent.sleep(_YIELD_SLEEP)
    ws.watch()
    return _BEAT if beats else True


def socket_main(socket: Socket, ws: Any, ser: Any, assigns: dict, pubsub: str) -> None:
    """The socket process: a behaviour process until the connection ends."""
    process_flag("trap_exit", True)
    st = _State(ws, ser, socket, assigns, pubsub)
    sid = socket.id(assigns)
    if sid is not None:
        set_label(sid)
    if sid:
        _ps_subscribe(pubsub, sid)
    enter_loop(_SOCKET, st, timeout=st.idle, hibernate_after=socket.hibernate_after)


class _SocketBehaviour(Behaviour):
    """The socket behaviour: input from the connection, frames from a
    LongPoll session, pushes and replies from channels, fastlane frames, channel exits, ``disconnect``."""

    name = "socket"
    entry = "connect"

    def callback_class(self, obj: Any) -> type:
        return type(obj.socket)

    def run(self, loop: Loop) -> None:
        """Serve; however the process ends (a kill included) the
        connection goes, but not when it only hibernates."""
        ws = loop.obj.ws
        try:
            serve(loop)
        except BaseException as e:
            if not is_hibernate_unwind(e) and not ws.closed:
                ws.abort()
            raise
        if not ws.closed:
            ws.abort()

    def dispatch(self, loop: Loop, msg: Any) -> Any:
        st = loop.obj
        outlet = st.outlet
        if outlet is not None:
            # no direct writes while we handle a message (ours could be due
            # first); left set if we fail, which ends the process anyway
            outlet.busy = True
        st.turn += 1
        if st.turn >= _TURN:  # a backlog must not keep the hub from other clients
            st.turn = 0
            gevent.sleep(_YIELD_SLEEP)
        cls = msg.__class__
        if cls is tuple and msg:
            tag = msg[0]
            if tag == _FRAME:
                st.last_in = time.monotonic()
                ok = _incoming(st, msg[1])
            elif tag == _READABLE_TAG:
                ok = _readable(st)
            elif tag == FASTLANE_TAG:
                ok = _write(st, msg[1])
            elif tag == _FLUSH_TAG:
                ok = _write(st, None)
            elif tag == _PUSH:
                _, join_ref, topic, event, payload = msg
                ok = st.channels.get(topic, (None, None))[1] != join_ref or _write(
                    st, encode_frame(st.ser.encode_push(Message(join_ref, None, topic, event,
                                                                payload))))
            elif tag == _REPLY:
                _, join_ref, ref, topic, status, response = msg
                ok = _send_reply(st, join_ref, ref, topic, status, response)
            elif tag == _CLOSED:
                ok = False
            else:
                ok = True
        elif cls is ExitMsg:
            ok = _channel_exited(st, msg.pid, msg.reason)
        elif msg == "disconnect":
            _close(st, CLOSE_GOING_AWAY, "disconnected")
            ok = False
        else:
            ok = True
        if outlet is not None:
            outlet.busy = False
        if ok is _BEAT and loop.hibernate_after is not None:
            return _wait(st.idle, True)
        return st.wait if ok else _DONE

    def timeout(self, loop: Loop) -> Any:
        st = loop.obj
        if time.monotonic() - st.last_in >= st.idle:
            log.info("socket %r idle for %.0f s: closing", current_process().pid, st.idle)
            _close(st, CLOSE_GOING_AWAY, "idle timeout")
            return _DONE
        return st.wait

    def terminate(self, loop: Loop, reason: Any) -> None:
        ws = loop.obj.ws
        if not ws.closed:
            ws.abort()


_SOCKET = _SocketBehaviour()


def _close(st: _State, code: int, reason: str) -> None:
    try:
        st.ws.close(code, reason)
    except Exception:  # closing a broken connection: nothing more to do
        st.ws.abort()


def _write(st: _State, frame: Optional[bytes]) -> bool:
    """Write one frame (None: only what the fastlane left queued in the
    connection); False (and the connection dropped) for a slow or gone
    client."""
    me = current_process()
    if me.mq is not None and len(me.mq) > st.socket.max_backlog:
        log.warning("socket %r: %d messages backed up, client not reading: disconnecting",
                    me.pid, len(me.mq))
        st.ws.abort()
        return False
    if frame is not None and st.outlet is not None:
        # the usual case, nothing ahead of the frame and room in the kernel:
        # written at once, without arming the send timeout
        sent = st.ws.try_send_frame(frame)
        if sent:
            return True
        if sent is False:
            frame = None   # the kernel took part: the rest is queued, flush it below
    try:
        with gevent.Timeout(st.socket.send_timeout):
            if frame is None:
                st.ws.flush()
            else:
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
        return _send_reply(st, None, m.ref, topic, "ok", {}) and _BEAT
    if event == PHX_JOIN:
        return _join(st, m)
    current = st.channels.get(topic)
    if event == PHX_LEAVE:
        if current is None:
            return _send_reply(st, m.join_ref, m.ref, topic, "ok", {})
        if m.join_ref is not None and m.join_ref != current[1]:
            return True
        send(current[0], (_LEAVE, m.ref))
        return True
    if current is None:
        return _send_reply(st, None, m.ref, topic, "error", {"reason": "unmatched topic"})
    if m.join_ref is not None and m.join_ref != current[1]:
        return True   # a message for a channel instance that is gone
    send(current[0], (_IN, event, m.payload, m.ref))
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
    started = time.perf_counter()
    try:
        pid, response = start_channel(chan_cls, topic, m.payload, join_ref,
                                      current_process().pid, st.assigns, st.pubsub, st.wire)
    except StartError:   # it died before answering (an exit in join, a kill)
        pid, response = None, {"reason": "join crashed"}
    if log.isEnabledFor(logging.INFO):
        log.info("%s %s in %s\n  Parameters: %s", "JOINED" if pid is not None else
                 "REFUSED JOIN", topic, elapsed(started), filtered(m.payload))
    if pid is None:
        ok = _send_reply(st, join_ref, m.ref, topic, "error", response)
    else:
        st.channels[topic] = (pid, join_ref)
        st.by_pid[pid] = topic
        ok = _send_reply(st, join_ref, m.ref, topic, "ok", response)
    if ok and old is not None:
        ok = _control(st, topic, old[1], PHX_CLOSE, {})
    return ok


def _flush_exit(pid: Any) -> None:
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
