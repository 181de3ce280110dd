"""The Endpoint: an HTTP server with WebSocket sockets, static files and
HTTP handlers, run as a GenServer in a supervision tree.

::

    Endpoint.child_spec(host="127.0.0.1", port=4000, pubsub="chat",
                        sockets={"/socket": UserSocket}, static="apps/chat/static",
                        handlers={"/api/token": token_handler})

A client connects to ``ws://host:port/socket/websocket?vsn=2.0.0&...``;
``vsn`` selects the serializer (``2.0.0`` JSON, ``2.0.0-msgpack``), an
unknown or missing ``vsn`` and a refused ``connect`` get HTTP 403.  On
shutdown every WebSocket is closed with 1012 (service restart) so that
clients reconnect.

The limits, as Phoenix, Cowboy and Ranch set them: ``check_origin``
(default on) answers 403 to an upgrade whose ``Origin`` is neither the
Endpoint's own (the request's ``Host``) nor in ``allowed_origins``
(``"https://app.example.com"``, or ``"//*.example.com"`` for any scheme,
port and subdomain); ``check_origin=False`` turns it off with a warning.
``max_frame_size`` (1 MiB) bounds an incoming message, 1009 past it, as
soon as a frame header announces more.  ``send_timeout`` (30 s, Ranch's
default) bounds every write to a client; one that does not read for that
long is dropped.  Each socket class's ``max_rate`` limits the frames a
client sends per second, 1008 past it.

``longpoll=True`` (or a dict of options: ``{"window": 10.0}``) also serves
every socket over the LongPoll transport at ``<mount>/longpoll``, the
official client's fallback where websockets are blocked (see
``_longpoll.py``): the same Socket and Channel code, the same ``vsn``
negotiation (JSON only), ``connect``, origin check and limits
(``max_frame_size`` bounds a POST body, ``max_rate`` the messages a
second, ``max_backlog`` the frames buffered for the next poll).
"""
from __future__ import annotations

import errno
import logging
import time
from typing import Any, Optional

from ..core import process_flag, spawn
from ..lowlevel import current_process, put_instance
from ..otp import ChildSpec, GenServer, Stop
from ..pubsub import Broadcast, broadcast as _ps_broadcast
from ._http import HTTPRoute, HTTPServer, RequestInfo, WebSocketRoute
from ._longpoll import LongPoll
from ._log import elapsed, filtered
from ._serializer import serializer_for_vsn
from ._socket import Socket, socket_main, watch
from ._transport import DEFAULT_SEND_TIMEOUT

log = logging.getLogger(__name__)

__all__ = ["Endpoint", "broadcast", "disconnect"]

#: The kind of the named instance each running Endpoint puts (the Endpoint
#: itself, owned by its process) under its registered name, or its pid.
KIND = "endpoint"


class Endpoint(GenServer):
    """Serves sockets, static files and handlers; see the module docstring."""

    shutdown = 10_000

    def init(self, *, pubsub: str, sockets: dict, host: str = "127.0.0.1", port: int = 4000,
             static: Any = None, handlers: Optional[dict] = None,
             check_origin: bool = True, allowed_origins: Optional[list] = None,
             max_frame_size: int = 1 << 20, send_timeout: Optional[float] = DEFAULT_SEND_TIMEOUT,
             reuse_port: bool = False, name: Optional[str] = None,
             on_ready: Any = None, longpoll: Any = False) -> None:
        # Trap exits so that a supervisor's shutdown runs terminate: the
        # listening socket closes and every client gets 1012 (reconnect).
        process_flag("trap_exit", True)
        # ``name=`` of start_link/child_spec is the registered name (the
        # ``name`` here is only for logs, given to start_server directly).
        # The named instance goes when this process ends, however it ends.
        me = current_process()
        put_instance(KIND, me.name if me.name is not None else me.pid, self)
        self.pubsub = pubsub
        self.name = name if name is not None else (me.name or "endpoint")
        routes = [WebSocketRoute(mount, self._handler(sock_cls), connect=self._connect(sock_cls),
                                 max_rate=sock_cls.max_rate)
                  for mount, sock_cls in sockets.items()]
        lp_opts = longpoll if isinstance(longpoll, dict) else {}
        self.longpolls = [
            LongPoll(mount, connect=self._connect(sock_cls, "longpoll"), start=self._start,
                     max_rate=sock_cls.max_rate, max_backlog=sock_cls.max_backlog,
                     check_origin=check_origin, allowed_origins=allowed_origins or (),
                     **lp_opts)
            for mount, sock_cls in sockets.items()] if longpoll else []
        try:
            self.server = HTTPServer((host, port), routes=routes, static=static,
                                     handlers=handlers, check_origin=check_origin,
                                     allowed_origins=allowed_origins,
                                     reuse_port=reuse_port, max_message_size=max_frame_size,
                                     idle_timeout=None, send_timeout=send_timeout,
                                     http_routes=[HTTPRoute(lp.path, lp.handle, max_frame_size)
                                                  for lp in self.longpolls])
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            # A user's mistake, not a crash: one line, and the start fails
            # with the OSError as its reason (``beamish run`` names the port).
            log.error("endpoint %s: %s:%d is in use (another process listens on it)",
                      self.name, host, port)
            return Stop(e)
        self.server.start()
        log.info("endpoint %s listening on http://%s:%d", self.name, host, self.server.port)
        if on_ready is not None:
            on_ready(self.server.port)

    @classmethod
    def child_spec(cls, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("endpoint", opts.get("name", "endpoint")), start=cls.start_link,
                         kwargs=opts, shutdown=cls.shutdown)

    def handle_call(self, request: Any, from_: tuple) -> Any:
        if request == "port":
            return self.server.port
        if request == "statistics":
            return self.server.statistics()
        raise ValueError(f"unknown request {request!r}")

    def terminate(self, reason: Any) -> None:
        for lp in self.longpolls:   # held polls answer 410 (reconnect) at once
            lp.stop()
        self.server.stop(timeout=5.0)

    # ---------------------------------------------------------- sockets
    def _connect(self, sock_cls: type, transport: str = "websocket"):
        def connect(info: RequestInfo) -> Any:
            ser = serializer_for_vsn(info.query.get("vsn"))
            if ser is None:
                return False
            params = {k: v for k, v in info.query.items() if k != "vsn"}
            socket = sock_cls()
            # Phoenix 1.8 puts the client's authToken (sent as a subprotocol)
            # in connect_info, not among the params.
            connect_info = {"peer": info.peer, "headers": dict(info.headers),
                            "auth_token": info.auth_token}
            started = time.perf_counter()
            try:
                verdict = socket.connect(params, connect_info)
            except Exception as e:
                log.warning("%s.connect refused a connection with an error: %r",
                            sock_cls.__name__, e)
                return False
            refused = verdict is False or verdict is None
            if log.isEnabledFor(logging.INFO):
                log.info("%s %s in %s\n  Transport: %s\n  Serializer: %s\n"
                         "  Parameters: %s",
                         "REFUSED CONNECTION TO" if refused else "CONNECTED TO",
                         sock_cls.__qualname__, elapsed(started), transport, type(ser).__name__,
                         filtered(info.query))
            if refused:
                return False
            info.assigns.update({"$socket": socket, "$ser": ser,
                                 "assigns": verdict if isinstance(verdict, dict) else {}})
            return True
        return connect

    def _start(self, session: Any, info: RequestInfo) -> Any:
        """Spawn the socket process of an accepted LongPoll session."""
        return spawn(socket_main, info.assigns["$socket"], session, info.assigns["$ser"],
                     info.assigns["assigns"], self.pubsub)

    def _handler(self, sock_cls: type):
        pubsub = self.pubsub

        def handle(ws: Any, info: RequestInfo) -> None:
            socket: Socket = info.assigns["$socket"]
            pid = spawn(socket_main, socket, ws, info.assigns["$ser"], info.assigns["assigns"],
                        pubsub)
            # the socket process reads on readiness: this greenlet is done
            watch(ws, pid)
        return handle


def broadcast(pubsub: str, topic: str, event: str, payload: Any) -> None:
    """Broadcast ``event`` to every client joined to ``topic`` (all nodes),
    encoded once per serializer (fastlane)."""
    _ps_broadcast(pubsub, topic, Broadcast(topic, event, payload), "fastlane")


def disconnect(pubsub: str, socket_id: str) -> None:
    """Close every socket whose ``Socket.id`` is ``socket_id`` (all nodes),
    with 1001 so that their clients reconnect (and authenticate again)."""
    _ps_broadcast(pubsub, socket_id, "disconnect")
