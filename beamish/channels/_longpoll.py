"""The LongPoll transport: Phoenix's HTTP fallback for clients that cannot
use WebSockets (proxies that block upgrades, some mobile networks).

The official ``phoenix`` client speaks it at ``<socket path>/longpoll``:

* ``GET`` without a session token opens a session: the user's
  ``Socket.connect`` runs as for a WebSocket, and the answer carries the
  signed session token the client sends back with every later request
  (the ``token`` query parameter, or the ``x-phoenix-longpoll-token``
  header), with ``status`` 410 ("no session yet, here is one").
* ``GET`` with the token is a poll: answered at once with the frames the
  session buffered (``status`` 200), or held until one arrives or
  ``window`` seconds pass (``status`` 204, poll again).
* ``POST`` with the token carries messages: one per line when the
  content type is ``application/x-ndjson`` (the client batches up to 100),
  a line that is not a JSON array being the base64 of a binary message;
  any other content type is one text message.  It is answered once the
  socket process has handled them (``status`` 200).

As Phoenix's, every answer is HTTP 200 with a JSON body whose ``status``
is what the client reacts to: 200 messages, 204 nothing new, 410 the
session is gone (a token of a session that ended, of a server that
restarted, or tampered with: the client reconnects and rejoins), 403
refused (origin check, ``connect``, an unknown ``vsn``: the client gives
up), 408 the socket process did not handle a POST within ``window``.
Requests Phoenix refuses through Plug get a real HTTP status: 400 for a
bad body (a line neither JSON nor base64, a message that does not decode:
the session then ends, as a WebSocket closed with 1007), 413 for a body
past the Endpoint's ``max_frame_size``, 429 for more messages a second
than the socket's ``max_rate`` (the session ends, as with 1008).

Theory of operation
-------------------
A session is a :class:`LongPollSession` standing in for the WebSocket of
an ordinary socket process (see ``_socket.py``): the same Socket and
Channel code runs on both transports and a channel cannot tell them apart.
The socket process "writes" a frame by handing the session its WebSocket
frame bytes, which the session buffers as they are; broadcasts come as
the fastlane frame that every subscriber of the same serializer shares, so
a broadcast is still encoded once.  A poll's answer is built from the
buffer: a text frame's payload is the V2 JSON text, which goes into the
body's ``messages`` array as a JSON string (escaped, not re-encoded).
Only the JSON serializer is offered (``vsn`` 2.0.x), as in Phoenix:
LongPoll carries text.

A session ends with its socket process (and so with its channels): when
no poll came for ``1.5 * window`` seconds (the client is gone; one
sweeper greenlet per transport checks), when the socket closes
(``disconnect``, a malformed message, a slow client whose buffer passed
``Socket.max_backlog``), or when the Endpoint stops.  The session token is
``beamish.channels.sign``-ed with a secret made when the Endpoint starts,
so tokens of an earlier run are refused (410) and the client starts over.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl

import gevent
from gevent.event import AsyncResult, Event

from ..core import send, spawn
from ..lowlevel import tags
from ..otp import get_state
from ._errors import TokenError
from ._http import RequestInfo, origin_allowed
from ._serializer import V2JSONSerializer, serializer_for_vsn
from ._token import sign, verify
from ._transport_errors import ConnectionClosed

log = logging.getLogger(__name__)

__all__ = ["LongPoll", "LongPollSession", "DEFAULT_WINDOW", "MAX_BATCH"]

DEFAULT_WINDOW = 10.0
"""Seconds a poll is held (Phoenix's ``window_ms``); a session without a
poll for 1.5 times this long ends."""
MAX_BATCH = 100
"""Messages taken from one POST (the client's ``MAX_LONGPOLL_BATCH_SIZE``,
Phoenix's ``@max_poll_batch_size``)."""
TOKEN_MAX_AGE = 1_209_600
"""Seconds a session token verifies (two weeks, Phoenix's default)."""

_SALT = "beamish longpoll session"
_FRAME = tags.FRAME
_CLOSED = tags.CLOSED
_CLOSE_GOING_AWAY = 1001
_CLOSE_INVALID_DATA = 1007
_CLOSE_POLICY = 1008
_CLOSE_SERVICE_RESTART = 1012
_CONTROL = re.compile(rb"[\x00-\x1f]")
_JSON_HEADERS = (("content-type", "application/json; charset=utf-8"),
                 ("cache-control", "no-store"), ("access-control-allow-origin", "*"))

Response = Tuple[int, Sequence[Tuple[str, str]], bytes]


class LongPollSession:
    """One LongPoll client as its socket process sees it: the WebSocket's
    ``send_frame``/``close``/``abort``/``closed``, with frames buffered
    for the next poll instead of written."""

    __slots__ = ("sid", "pid", "frames", "waiter", "last_poll", "polls", "code", "reason",
                 "max_buffer", "rate", "tokens", "stamp", "_owner")

    #: The transport ends quiet sessions itself (no poll for a while), so
    #: the socket process runs no idle timer of its own.
    watches_idle = True

    def __init__(self, owner: "LongPoll", sid: str, max_buffer: int, rate: Optional[float]) -> None:
        self._owner = owner
        self.sid = sid
        self.pid: Any = None
        self.frames: List[bytes] = []
        self.waiter: Optional[Event] = None     # the poll held now, if any
        self.last_poll = time.monotonic()
        self.polls = 0                          # polls being answered now
        self.code: Optional[int] = None
        self.reason = ""
        self.max_buffer = max_buffer
        self.rate = rate                        # messages a second, None: no limit
        self.tokens = float(rate or 0)
        self.stamp = time.monotonic()

    # -- what the socket process calls --

    @property
    def closed(self) -> bool:
        return self.code is not None

    def send_frame(self, frame: bytes) -> None:
        """Buffer one WebSocket frame (as :func:`encode_frame` made it) and
        wake the poll held now, if any."""
        if self.code is not None:
            raise ConnectionClosed(self.code, self.reason)
        frames = self.frames
        frames.append(frame)
        if len(frames) > self.max_buffer:
            log.warning("longpoll session %r: %d frames not polled: disconnecting",
                        self.pid, len(frames))
            self._finish(_CLOSE_POLICY, "client not polling")
            raise ConnectionClosed(self.code, self.reason)   # type: ignore[arg-type]
        self._wake()

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._finish(code, reason)

    def abort(self) -> None:
        self._finish(1006, "")

    # -- the rest --

    def take_rate(self, count: int) -> bool:
        """Take ``count`` messages from the rate bucket; False when past it."""
        rate = self.rate
        if rate is None:
            return True
        now = time.monotonic()
        self.tokens = min(rate, self.tokens + (now - self.stamp) * rate) - count
        self.stamp = now
        return self.tokens >= 0

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.set()

    def _finish(self, code: int, reason: str) -> None:
        if self.code is not None:
            return
        self.code = code
        self.reason = reason
        self._owner.sessions.pop(self.sid, None)
        self._wake()

    def __repr__(self) -> str:
        state = "open" if self.code is None else f"closed {self.code}"
        return f"<LongPollSession {self.pid!r} {state} {len(self.frames)} buffered>"


class LongPoll:
    """The LongPoll transport of one socket mount: its HTTP handler
    (:meth:`handle`) and its sessions.

    ``connect(info)`` runs the socket's ``connect`` (True accepts, filling
    ``info.assigns``) and ``start(session, info)`` spawns the socket
    process for an accepted one and returns its pid; both come from the
    Endpoint.  ``check_origin`` and ``allowed_origins`` are the Endpoint's,
    as for WebSocket upgrades.
    """

    def __init__(self, mount: str, *, connect: Callable[[RequestInfo], bool],
                 start: Callable[[LongPollSession, RequestInfo], Any],
                 window: float = DEFAULT_WINDOW, max_rate: Optional[float] = None,
                 max_backlog: int = 10_000, check_origin: bool = True,
                 allowed_origins: Sequence[str] = ()) -> None:
        self.path = mount.rstrip("/") + "/longpoll"
        self.connect = connect
        self.start = start
        self.window = window
        self.max_rate = max_rate
        self.max_backlog = max_backlog
        self.check_origin = check_origin
        self.allowed_origins = tuple(allowed_origins)
        self.sessions: Dict[str, LongPollSession] = {}
        self._secret = secrets.token_bytes(32)
        self._sweeper: Optional[gevent.Greenlet] = None
        self._stopped = False

    # -- life cycle --

    def stop(self) -> None:
        """End every session (its held poll answers 410, its socket process
        ends) and refuse new ones."""
        self._stopped = True
        for session in list(self.sessions.values()):
            session._finish(_CLOSE_SERVICE_RESTART, "server shutting down")
            send(session.pid, (_CLOSED, _CLOSE_SERVICE_RESTART))
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.kill(block=False)

    def _sweep(self) -> None:
        """End the sessions not polled for ``1.5 * window``; runs while
        there are sessions."""
        quiet = self.window * 1.5
        while self.sessions:
            gevent.sleep(max(0.05, min(1.0, self.window / 4)))
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if session.polls == 0 and now - session.last_poll > quiet:
                    log.info("longpoll session %r: no poll for %.1f s: closing", session.pid,
                             now - session.last_poll)
                    session._finish(_CLOSE_GOING_AWAY, "no poll")
                    send(session.pid, (_CLOSED, _CLOSE_GOING_AWAY))
        self._sweeper = None

    # -- requests --

    def handle(self, method: str, info: RequestInfo, body: bytes) -> Response:
        """Answer one request to ``<mount>/longpoll`` (see the module docstring)."""
        origin = info.header("origin")
        if (self.check_origin and origin is not None
                and not origin_allowed(origin, info.header("host"), self.allowed_origins)):
            log.info("LongPoll request from %s refused: origin %r is not allowed", info.peer,
                     origin)
            return _status(403)
        if method == "OPTIONS":
            return 200, (("access-control-allow-origin", "*"),
                         ("access-control-allow-headers",
                          info.header("access-control-request-headers", "")),
                         ("access-control-allow-methods", "get, post, options"),
                         ("access-control-max-age", "3600")), b""
        if method not in ("GET", "POST"):
            return 400, (("access-control-allow-origin", "*"),), b""
        pairs = parse_qsl(info.query_string, keep_blank_values=True)
        token = info.header("x-phoenix-longpoll-token")
        if token is None:
            # the client appends its session token after the socket's params
            # and ``vsn``; a ``token`` among those params is the socket's own
            after = max((i for i, (k, _) in enumerate(pairs) if k == "vsn"), default=-1)
            mine = [i for i, (k, _) in enumerate(pairs) if k == "token" and i > after]
            if mine:
                token = pairs[mine[-1]][1]
                pairs = [p for i, p in enumerate(pairs) if i not in mine]
        if method == "GET" and not token:
            return self._open(info, pairs)
        session = self._resume(token)
        if session is None:
            return _status(410)
        if method == "GET":
            return self._poll(session, token)
        return self._publish(session, info, body)

    def _resume(self, token: Optional[str]) -> Optional[LongPollSession]:
        if not token:
            return None
        try:
            data = verify(self._secret, _SALT, token, max_age=TOKEN_MAX_AGE)
        except TokenError:
            return None
        session = self.sessions.get(data) if isinstance(data, str) else None
        return session if session is not None and session.code is None else None

    def _open(self, info: RequestInfo, pairs: List[Tuple[str, str]]) -> Response:
        if self._stopped:
            return _status(410)
        query = dict(pairs)
        if not isinstance(serializer_for_vsn(query.get("vsn")), V2JSONSerializer):
            return _status(403)   # LongPoll carries text: JSON only
        sinfo = RequestInfo(path=info.path, query=query, query_string=info.query_string,
                            headers=info.headers, peer=info.peer,
                            auth_token=info.header("x-phoenix-authtoken"))
        if not self.connect(sinfo):
            return _status(403)
        sid = secrets.token_urlsafe(16)
        session = LongPollSession(self, sid, self.max_backlog, self.max_rate)
        self.sessions[sid] = session
        session.pid = self.start(session, sinfo)
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep)
        return _status(410, sign(self._secret, _SALT, sid), ())

    def _poll(self, session: LongPollSession, token: str) -> Response:
        session.polls += 1
        try:
            if not session.frames and session.code is None:
                previous = session.waiter
                waiter = session.waiter = Event()
                if previous is not None:
                    previous.set()    # a newer poll takes over: the older answers 204
                waiter.wait(self.window)
                if session.waiter is waiter:
                    session.waiter = None
            frames, session.frames = session.frames, []
        finally:
            session.polls -= 1
            session.last_poll = time.monotonic()
        if frames:
            return _status(200, token, frames)
        if session.code is not None:
            return _status(410)
        return _status(204, token, ())

    def _publish(self, session: LongPollSession, info: RequestInfo, body: bytes) -> Response:
        if (info.header("content-type") or "").split(";")[0].strip() == "application/x-ndjson":
            lines = [line for line in body.replace(b"\r\n", b"\n").split(b"\n")]
            if len(lines) > MAX_BATCH:
                log.warning("longpoll session %r: %d messages in one POST, %d taken",
                            session.pid, len(lines), MAX_BATCH)
                lines = lines[:MAX_BATCH]
        else:
            lines = [body]
        messages: List[Any] = []
        for line in lines:
            try:
                if line[:1] == b"[":
                    messages.append(line.decode())
                else:
                    messages.append(base64.b64decode(line, validate=True))
            except (UnicodeDecodeError, binascii.Error, ValueError):
                return _status(400, http=400)
        if not session.take_rate(len(messages)):
            log.warning("longpoll session %r exceeded its rate limit: closed", session.pid)
            session._finish(_CLOSE_POLICY, "rate limit exceeded")
            send(session.pid, (_CLOSED, _CLOSE_POLICY))
            return _status(429, http=429)
        handled = _deliver(session.pid, messages, self.window)
        if session.code == _CLOSE_INVALID_DATA:
            return _status(400, http=400)
        if session.code is not None:
            return _status(410)
        return _status(200 if handled else 408)


def _deliver(pid: Any, messages: List[Any], timeout: float) -> bool:
    """Send ``messages`` to socket process ``pid`` as frames and wait, up to
    ``timeout`` seconds, until it has handled them (a system request queued
    behind them comes back); False if it did not."""
    done = AsyncResult()

    def deliver() -> None:
        for m in messages:
            send(pid, (_FRAME, m))
        try:
            get_state(pid, timeout=timeout)
            done.set(True)
        except Exception:  # noqa: BLE001 - it ended or timed out: not handled
            done.set(False)

    spawn(deliver)
    return bool(done.wait(timeout + 1.0))


def _escaped(frame: bytes) -> Optional[bytes]:
    """The payload of a text WebSocket frame as the inside of a JSON string
    (None for a binary frame, which LongPoll cannot carry)."""
    if frame[0] & 0x0F != 1:
        return None
    n = frame[1] & 0x7F
    payload = frame[2 + (2 if n == 126 else 8 if n == 127 else 0):]
    if _CONTROL.search(payload) is not None:
        return json.dumps(payload.decode(), ensure_ascii=False).encode()[1:-1]
    return payload.replace(b"\\", b"\\\\").replace(b'"', b'\\"')


def _status(status: int, token: Optional[str] = None, frames: Optional[Sequence[bytes]] = None,
            http: int = 200) -> Response:
    """A LongPoll answer: ``{"status": ...}``, with the token and messages
    when given."""
    if frames is None:
        return http, _JSON_HEADERS, b'{"status":%d}' % status
    parts = []
    for frame in frames:
        text = _escaped(frame)
        if text is None:
            log.warning("longpoll: a binary frame cannot be sent over LongPoll: dropped")
            continue
        parts.append(text)
    messages = b'["' + b'","'.join(parts) + b'"]' if parts else b"[]"
    return http, _JSON_HEADERS, (b'{"status":%d,"token":%s,"messages":%s}'
                                 % (status, json.dumps(token).encode(), messages))
