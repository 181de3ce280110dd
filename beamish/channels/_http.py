"""A small HTTP/1.1 server for WebSocket endpoints and static files.

h11 parses requests on connections accepted by ``gevent.server.StreamServer``.
A ``GET <mount>/websocket`` request of a :class:`WebSocketRoute` is upgraded
(see ``_transport.py``) and handed to the route's handler; other paths are
served from a :class:`StaticFiles` directory, or get 404.

Deciding an upgrade, in order (Phoenix's answers, except where noted):

1. not GET → 400;
2. not a valid opening handshake → 400 (426 for a WebSocket version other
   than 13), never 500; checked before any user code runs, where Phoenix
   runs ``connect`` first;
3. with ``check_origin`` on (the default), an ``Origin`` header that is
   neither the server's own origin nor in ``allowed_origins`` → 403 with an
   empty body (see :func:`origin_allowed`; a request without ``Origin``,
   i.e. not from a browser, passes, as in Phoenix);
4. the route's ``connect(info)``: ``True`` accepts, ``False`` → 403 with an
   empty body, an ``int`` → that status, an exception → 500 (logged);
5. 101, then ``handler(ws, info)`` runs in the connection's greenlet,
   once the HTTP state (h11's connection and request) is dropped.  When it
   returns the WebSocket is closed with 1000 if still open; if it raises,
   with 1011.  A handler that arranged for readiness to drive the reads
   (:meth:`WebSocket.watch`, as the Endpoint's sockets do) may return at
   once: the connection then lives on without a greenlet of the server
   until it closes, and :meth:`HTTPServer.stop` still closes it with 1012.

Plain HTTP connections are kept alive between requests; request heads are
limited in size (``max_header_size``, 431 past it) and time
(``request_timeout``).  A request with both ``Content-Length`` and
``Transfer-Encoding`` is answered 400 and its connection closed, as RFC 9112
section 6.1 allows and Cowboy does: the two framings can disagree between a
proxy and us, and whatever follows could be a smuggled request.  The listening socket is bound when the server is
made, so :attr:`HTTPServer.port` is known at once (port 0 picks a free one),
and may set ``SO_REUSEPORT`` so that several worker processes share a port.
"""
from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
import socket as _stdsocket
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple,
                    Union)
from urllib.parse import parse_qsl, unquote

import gevent
import gevent.socket
import h11
from gevent.pool import Pool
from gevent.server import StreamServer

from ._transport import (CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, CLOSE_SERVICE_RESTART,
                         DEFAULT_CLOSE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE,
                         DEFAULT_SEND_TIMEOUT, PHOENIX_SUBPROTOCOL, Headers, WebSocket,
                         parse_handshake, request_headers)
from ._transport_errors import ConnectionClosed, HandshakeError

__all__ = ["HTTPServer", "WebSocketRoute", "HTTPRoute", "RequestInfo", "StaticFiles",
           "ServerStatistics", "origin_allowed"]

log = logging.getLogger(__name__)

_RECV_SIZE = 64 * 1024
_MAX_DISCARDED_BODY = 64 * 1024   # request bodies we read and drop to keep a connection
_FILE_CHUNK = 256 * 1024
_TEXT_TYPES = ("application/javascript", "application/json", "image/svg+xml")



@dataclass(frozen=True)
class RequestInfo:
    """What a ``connect`` callable and a WebSocket handler learn of the request.

    ``query`` holds the query parameters (the last value of a repeated
    name wins, as in Plug); ``headers`` are ``(lower-case name, value)``
    pairs; ``peer`` is the client's address; ``auth_token`` is the decoded
    Phoenix bearer token or ``None``.  ``assigns`` is a dict that
    ``connect`` may fill (a user id, say) for the handler to read.
    """

    path: str
    query: Dict[str, str]
    query_string: str
    headers: Tuple[Tuple[str, str], ...]
    peer: Tuple[Any, ...]
    auth_token: Optional[str] = None
    subprotocols: Tuple[str, ...] = ()
    assigns: Dict[str, Any] = field(default_factory=dict)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name`` (any case), or ``default``."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), default)


Handler = Callable[[WebSocket, RequestInfo], Any]
#: A plain HTTP handler: ``fn(method, info) -> (status, content_type, body)``.
HTTPHandler = Callable[[str, RequestInfo], Tuple[int, str, bytes]]
Connect = Callable[[RequestInfo], Union[bool, int]]


@dataclass(frozen=True)
class WebSocketRoute:
    """A WebSocket endpoint: ``GET <mount>/websocket`` upgrades to ``handler``.

    ``connect`` decides before the upgrade (see the module doc); ``None``
    accepts every valid handshake.  ``subprotocols`` are those the server
    may select, first offered by the client wins.  ``max_rate`` is how many
    frames a second a client may send (``None``: no limit; see
    :class:`~._transport.WebSocket`).
    """

    mount: str
    handler: Handler
    connect: Optional[Connect] = None
    subprotocols: Tuple[str, ...] = (PHOENIX_SUBPROTOCOL,)
    max_rate: Optional[float] = None

    @property
    def path(self) -> str:
        return self.mount.rstrip("/") + "/websocket"


@dataclass(frozen=True)
class HTTPRoute:
    """A plain HTTP endpoint at ``path`` that reads request bodies (the
    LongPoll transport): ``handler(method, info, body)`` returns ``(status,
    headers, body)``, headers as ``(name, value)`` strings.  A body past
    ``max_body`` bytes is answered 413 and the connection closed, without
    calling the handler."""

    path: str
    handler: Callable[[str, "RequestInfo", bytes], Tuple[int, Sequence[Tuple[str, str]], bytes]]
    max_body: int = 1 << 20


class StaticFiles:
    """Files under ``directory``, served at URL paths below ``prefix``.

    A URL path is percent-decoded and split on ``/``; a ``..`` segment, a
    backslash or NUL, or a path whose real location (symlinks resolved) is
    outside the directory is refused as not found.  A directory serves its
    ``index`` file.  Content types come from :mod:`mimetypes`, with
    ``charset=utf-8`` for text.
    """

    def __init__(self, directory: Union[str, "os.PathLike[str]"], prefix: str = "/",
                 index: str = "index.html") -> None:
        self.root = os.path.realpath(directory)
        if not os.path.isdir(self.root):
            raise ValueError(f"static directory {self.root!r} does not exist")
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.index = index

    def resolve(self, path: str) -> Optional[str]:
        """The file that URL path ``path`` names, or ``None`` (pure lookup)."""
        if not (path + "/").startswith(self.prefix):
            return None
        rel = unquote(path[len(self.prefix):])
        if "\x00" in rel or "\\" in rel:
            return None
        parts = [p for p in rel.split("/") if p and p != "."]
        if ".." in parts:
            return None
        real = os.path.realpath(os.path.join(self.root, *parts))
        if real != self.root and not real.startswith(self.root + os.sep):
            return None
        if os.path.isdir(real):
            real = os.path.join(real, self.index)
        return real if os.path.isfile(real) else None

    @staticmethod
    def content_type(path: str) -> str:
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in _TEXT_TYPES:
            kind += "; charset=utf-8"
        return kind


@dataclass(frozen=True)
class ServerStatistics:
    """``connections``: open TCP connections (plain HTTP and WebSocket);
    ``websockets``: those upgraded to WebSocket."""

    connections: int
    websockets: int


class _StreamServer(StreamServer):
    """gevent's StreamServer, except that it leaves open the sockets of
    WebSockets whose handler returned after handing the connection to
    readiness-driven reads (:meth:`WebSocket.watch`): they live on with no
    greenlet of the server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed_over: Set[gevent.socket.socket] = set()

    def do_close(self, sock: gevent.socket.socket, *args: Any) -> None:
        if sock in self.handed_over:
            self.handed_over.discard(sock)
        else:
            sock.close()


#: An accepted upgrade: the WebSocket, its route, the request's info, the
#: path and the peer (all the connection keeps of its HTTP request).
_Upgraded = Tuple[WebSocket, WebSocketRoute, RequestInfo, str, Tuple[Any, ...]]


class _Stop(Exception):
    """The connection is to be closed (peer gone, timeout, unrecoverable)."""


class HTTPServer:
    """An HTTP/1.1 server for WebSocket routes and static files.

    ::

        def echo(ws, info):
            while True:
                ws.send(ws.receive())   # ends with ConnectionClosed

        server = HTTPServer(("127.0.0.1", 0), routes=[WebSocketRoute("/socket", echo)])
        server.start()
        print(server.port)
        ...
        server.stop()

    ``listen`` is a ``(host, port)`` pair or an already listening socket.
    ``max_message_size``, ``idle_timeout``, ``close_timeout`` and
    ``send_timeout`` apply to every WebSocket (see
    :class:`~._transport.WebSocket`).  ``check_origin`` (on by default, as
    in Phoenix) refuses upgrades from other sites' pages; ``allowed_origins``
    adds origins to accept besides the server's own (see
    :func:`origin_allowed`); ``check_origin=False`` turns the check off,
    with a warning logged.
    """

    def __init__(self, listen: Union[Tuple[str, int], gevent.socket.socket] = ("127.0.0.1", 0),
                 *, routes: Sequence[WebSocketRoute] = (),
                 static: Union[StaticFiles, str, "os.PathLike[str]", None] = None,
                 check_origin: bool = True,
                 allowed_origins: Optional[Iterable[str]] = None,
                 reuse_port: bool = False, backlog: int = 1024,
                 max_header_size: int = 16 * 1024, request_timeout: float = 30.0,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 idle_timeout: Optional[float] = DEFAULT_IDLE_TIMEOUT,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
                 send_timeout: Optional[float] = DEFAULT_SEND_TIMEOUT,
                 max_connections: Optional[int] = None,
                 handlers: Optional[Dict[str, "HTTPHandler"]] = None,
                 http_routes: Sequence[HTTPRoute] = ()) -> None:
        self.routes = {r.path: r for r in routes}
        self.http_routes = {r.path: r for r in http_routes}
        self._stopping = False
        self.handlers: Dict[str, HTTPHandler] = dict(handlers or {})
        self.static = (static if isinstance(static, StaticFiles) or static is None
                       else StaticFiles(static))
        self.check_origin = check_origin
        self.allowed_origins = tuple(o.lower().rstrip("/") for o in allowed_origins or ())
        if not check_origin:
            log.warning("WebSocket origin check disabled: pages of any site may connect "
                        "with their visitors' cookies")
        self.max_header_size = max_header_size
        self.request_timeout = request_timeout
        self.ws_options: Dict[str, Any] = dict(max_message_size=max_message_size,
                                               idle_timeout=idle_timeout,
                                               close_timeout=close_timeout,
                                               send_timeout=send_timeout)
        self._websockets: Set[WebSocket] = set()
        self._idle: Set[gevent.socket.socket] = set()
        listener = listen if not isinstance(listen, tuple) else _listen(listen, reuse_port,
                                                                         backlog)
        self._server = _StreamServer(listener, self._handle, spawn=Pool(max_connections))

    # -- life cycle --

    @property
    def address(self) -> Tuple[Any, ...]:
        """The bound address, ``(host, port)``."""
        return self._server.socket.getsockname()

    @property
    def port(self) -> int:
        return self.address[1]

    def statistics(self) -> ServerStatistics:
        """How many connections the server holds now."""
        pool = self._server.pool
        watched = sum(1 for ws in self._websockets if ws.watched)
        return ServerStatistics(connections=(len(pool) if pool is not None else 0) + watched,
                                websockets=len(self._websockets))

    def start(self) -> None:
        """Start accepting connections (in the background; returns at once)."""
        self._server.start()

    def serve_forever(self) -> None:
        """Start if needed and block until :meth:`stop` is called."""
        self._server.serve_forever()

    def stop(self, timeout: float = 5.0, close_code: int = CLOSE_SERVICE_RESTART) -> None:
        """Stop accepting, close every WebSocket with ``close_code`` and wait.

        Connections still busy after ``timeout`` seconds are killed.  The
        default code, 1012 ("service restart"), is Phoenix's on drain and
        makes clients reconnect.
        """
        self._stopping = True
        self._server.close()
        for sock in list(self._idle):
            sock.close()
        for ws in list(self._websockets):
            ws.close(close_code, "server shutting down")
        self._server.stop(timeout)

    def __enter__(self) -> "HTTPServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one connection --

    def _handle(self, sock: gevent.socket.socket, peer: Tuple[Any, ...]) -> None:
        upgraded = self._serve_http(sock, peer)
        if upgraded is not None:
            # the HTTP exchange's frames, h11 state and request are gone by now
            self._run_websocket(*upgraded)

    def _serve_http(self, sock: gevent.socket.socket,
                    peer: Tuple[Any, ...]) -> Optional["_Upgraded"]:
        """Answer requests until the connection ends, or is upgraded: then
        the accepted WebSocket, to be run once this HTTP state is dropped."""
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_header_size)
        sock.settimeout(self.request_timeout)
        try:
            while True:
                self._idle.add(sock)
                try:
                    with gevent.Timeout(self.request_timeout, _Stop):
                        event = _next_event(conn, sock, self.max_header_size + 1)
                finally:
                    self._idle.discard(sock)
                if not isinstance(event, h11.Request):
                    return  # the peer closed between requests
                headers = request_headers(event)  # the one walk of h11's headers
                if _ambiguous_framing(headers):
                    _send_error(conn, sock, 400,
                                "both Content-Length and Transfer-Encoding in one request")
                    return
                upgraded = self._dispatch(conn, sock, event, headers, peer)
                if upgraded is True:
                    return None  # a refused or failed upgrade: the connection is done
                if upgraded:
                    return upgraded
                if self._stopping:
                    return  # answered while stopping (a held LongPoll poll): done
                if not _skip_body(conn, sock) or conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            _send_error(conn, sock, exc.error_status_hint, str(exc))
        except (_Stop, OSError):
            pass
        except Exception:  # a bug here, not the client's doing
            log.exception("HTTP connection from %s failed", peer)
            _send_error(conn, sock, 500, "internal server error")
        return None

    def _dispatch(self, conn: h11.Connection, sock: gevent.socket.socket,
                  request: h11.Request, headers: Headers,
                  peer: Tuple[Any, ...]) -> Union[bool, "_Upgraded"]:
        """Answer one request (``headers`` decoded by :func:`request_headers`);
        False to go on with the next one, True when the connection is done,
        or the WebSocket it was upgraded to."""
        path, _, query = request.target.decode("latin-1").partition("?")
        head = request.method == b"HEAD"
        route = self.routes.get(path)
        if route is not None:
            if request.method != b"GET":
                _respond(conn, sock, 400)
                return False
            return self._upgrade(conn, sock, request, headers, route, path, query, peer)
        http_route = self.http_routes.get(path)
        if http_route is not None:
            self._call_route(conn, sock, request, headers, http_route, path, query, peer)
            return False
        handler = self.handlers.get(path)
        if handler is not None:
            self._call_handler(conn, sock, request, headers, handler, path, query, peer, head)
            return False
        if self.static is not None:
            if request.method != b"GET" and not head:
                _respond(conn, sock, 405, [(b"allow", b"GET, HEAD")])
                return False
            found = self.static.resolve(path)
            if found is not None:
                _send_file(conn, sock, found, head)
                return False
        _respond(conn, sock, 404, body=b"not found\n", head=head)
        return False

    def _call_handler(self, conn: h11.Connection, sock: gevent.socket.socket,
                      request: h11.Request, headers: Headers, handler: "HTTPHandler", path: str,
                      query: str, peer: Tuple[Any, ...], head: bool) -> None:
        info = RequestInfo(
            path=path, query=dict(parse_qsl(query, keep_blank_values=True)), query_string=query,
            headers=headers, peer=tuple(peer))
        try:
            status, content_type, body = handler(request.method.decode("latin-1"), info)
        except Exception:
            log.exception("HTTP handler %r for %s crashed", handler, path)
            status, content_type, body = 500, "text/plain; charset=utf-8", b"internal error\n"
        _respond(conn, sock, status, [(b"content-type", content_type.encode("latin-1"))],
                 body=body, head=head, typed=True)

    def _call_route(self, conn: h11.Connection, sock: gevent.socket.socket,
                    request: h11.Request, headers: Headers, route: HTTPRoute, path: str,
                    query: str, peer: Tuple[Any, ...]) -> None:
        body = _read_body(conn, sock, route.max_body)
        if body is None:
            _send_error(conn, sock, 413, f"request body over {route.max_body} bytes")
            raise _Stop
        info = RequestInfo(
            path=path, query=dict(parse_qsl(query, keep_blank_values=True)), query_string=query,
            headers=headers, peer=tuple(peer))
        method = request.method.decode("latin-1")
        try:
            status, headers, out = route.handler(method, info, body)
        except Exception:
            log.exception("HTTP route %r for %s crashed", route.handler, path)
            status, headers, out = 500, (), b"internal error\n"
        typed = any(k.lower() == "content-type" for k, _ in headers)
        _respond(conn, sock, status, [(k.encode("latin-1"), v.encode("latin-1"))
                                      for k, v in headers],
                 body=out, head=method == "HEAD", typed=typed)

    def _upgrade(self, conn: h11.Connection, sock: gevent.socket.socket, request: h11.Request,
                 headers: Headers, route: WebSocketRoute, path: str, query: str,
                 peer: Tuple[Any, ...]) -> Union[bool, "_Upgraded"]:
        """Accept or refuse an upgrade request, parsing its handshake once
        (from ``headers``, decoded once for the handshake, the origin check
        and the :class:`RequestInfo`).

        False when refused (the connection may go on), True when it ended
        during the handshake, else what :meth:`_run_websocket` needs."""
        event = _next_event(conn, sock)
        if not isinstance(event, h11.EndOfMessage):  # an upgrade request has no body
            _send_error(conn, sock, 400, "WebSocket upgrade request with a body")
            raise _Stop
        try:
            handshake = parse_handshake(request, headers)
        except HandshakeError as exc:
            _respond(conn, sock, exc.status_code,
                     [(k.encode(), v.encode()) for k, v in exc.headers],
                     body=str(exc).encode() + b"\n")
            return False
        info = RequestInfo(
            path=path, query=dict(parse_qsl(query, keep_blank_values=True)), query_string=query,
            headers=headers, peer=tuple(peer), auth_token=handshake.auth_token,
            subprotocols=handshake.subprotocols)
        status = self._decide(route, info, handshake.origin, handshake.host)
        if status != 101:
            _respond(conn, sock, status)
            return False
        try:
            ws = WebSocket.accept(sock, handshake, trailing_data=conn.trailing_data[0],
                                  subprotocols=route.subprotocols, max_rate=route.max_rate,
                                  **self.ws_options)
        except ConnectionClosed:
            return True
        return ws, route, info, path, peer

    def _run_websocket(self, ws: WebSocket, route: WebSocketRoute, info: RequestInfo,
                       path: str, peer: Tuple[Any, ...]) -> None:
        """Run the route's handler on an accepted WebSocket, then close it,
        unless the handler returned with the connection watched
        (:meth:`WebSocket.watch`): then it lives on without this greenlet
        until it closes, and stays known to :meth:`stop`."""
        self._websockets.add(ws)
        watched = False
        try:
            route.handler(ws, info)
            watched = ws.watched
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("WebSocket handler %r for %s from %s crashed", route.handler, path, peer)
            ws.close(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            if watched:
                ws.on_finish = self._websockets.discard
                self._server.handed_over.add(ws.socket)
                if ws.close_code is not None:  # it closed before on_finish was set
                    self._websockets.discard(ws)
            else:
                self._websockets.discard(ws)
                ws.close(CLOSE_NORMAL)

    def _decide(self, route: WebSocketRoute, info: RequestInfo, origin: Optional[str],
                host: Optional[str]) -> int:
        """101 to accept, else the status to refuse the upgrade with."""
        if (self.check_origin and origin is not None
                and not origin_allowed(origin, host, self.allowed_origins)):
            log.info("WebSocket upgrade from %s refused: origin %r is not allowed", info.peer,
                     origin)
            return 403
        if route.connect is None:
            return 101
        try:
            verdict = route.connect(info)
        except Exception:
            log.exception("connect %r for %s from %s crashed", route.connect, info.path,
                          info.peer)
            return 500
        if verdict is True:
            return 101
        if verdict is False or verdict is None:
            return 403
        if isinstance(verdict, int) and 400 <= verdict <= 599:
            return verdict
        log.error("connect %r returned %r; expected a bool or an HTTP status", route.connect,
                  verdict)
        return 500


# -- helpers ------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _split_origin(origin: str) -> Optional[Tuple[str, str, Optional[int]]]:
    """``(scheme, host, port)`` of an origin or of an ``allowed_origins``
    entry (``//host`` leaves the scheme empty), lower-cased; ``None`` when it
    is not of that shape (``null``, a path, a bad port)."""
    scheme, sep, authority = origin.strip().lower().rstrip("/").partition("//")
    if not sep or not authority or "/" in authority or "@" in authority:
        return None
    if scheme:
        if not scheme.endswith(":"):
            return None
        scheme = scheme[:-1]
    host, port = _split_authority(authority)
    if host is None:
        return None
    return scheme, host, port


def _split_authority(authority: str) -> Tuple[Optional[str], Optional[int]]:
    """``(host, port)`` of ``host[:port]`` (IPv6 in brackets); ``(None,
    None)`` for a bad port."""
    host, colon, port = authority.rpartition(":")
    if not colon or host.startswith("[") and not host.endswith("]"):
        return authority, None  # no port (or a bare IPv6 literal in brackets)
    if not port.isdigit():
        return None, None
    return host, int(port)


def origin_allowed(origin: str, host: Optional[str], allowed: Sequence[str] = ()) -> bool:
    """Whether a WebSocket upgrade with this ``Origin`` may proceed.

    Allowed are the server's own origin, that is an origin whose host and
    port are those of the request's ``Host`` header (a ``Host`` without a
    port stands for the origin scheme's default port, so that a TLS proxy
    in front, ``Host: example.com`` and ``Origin: https://example.com``,
    passes), and the entries of ``allowed``: ``scheme://host[:port]``
    matches exactly (a missing port is the scheme's default), ``//host``
    matches that host with any scheme and port, and ``//*.example.com``
    any subdomain of ``example.com`` (as in Phoenix's ``check_origin``).
    Phoenix compares with the host the endpoint is configured for; a
    beamish Endpoint has none, so the ``Host`` the browser sent is used:
    a page of another site cannot change it, so the check stops
    cross-site WebSocket hijacking, though not DNS rebinding (list your
    origins and check the Host at a proxy for that).  Anything that is not
    an origin (``null``, from sandboxed frames and files) is refused.
    """
    parsed = _split_origin(origin)
    if parsed is None:
        return False
    scheme, name, port = parsed
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    if host is not None:
        own_name, own_port = _split_authority(host.strip().lower())
        if own_name == name and (own_port or _DEFAULT_PORTS.get(scheme)) == port:
            return True
    for entry in allowed:
        rule = _split_origin(entry)
        if rule is None:
            continue
        rule_scheme, rule_name, rule_port = rule
        if rule_name.startswith("*."):
            if not name.endswith(rule_name[1:]):
                continue
        elif rule_name != name:
            continue
        if not rule_scheme:
            return True
        if rule_scheme == scheme and (rule_port or _DEFAULT_PORTS.get(rule_scheme)) == port:
            return True
    return False


def _ambiguous_framing(headers: Headers) -> bool:
    """True for a request framed by both Content-Length and Transfer-Encoding
    (h11 would quietly follow Transfer-Encoding)."""
    length = chunked = False
    for name, _ in headers:
        if name == "content-length":
            length = True
        elif name == "transfer-encoding":
            chunked = True
    return length and chunked

def _listen(address: Tuple[str, int], reuse_port: bool, backlog: int) -> gevent.socket.socket:
    host = address[0]
    family = _stdsocket.AF_INET6 if ":" in host else _stdsocket.AF_INET
    sock = gevent.socket.socket(family, _stdsocket.SOCK_STREAM)
    try:
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(_stdsocket, "SO_REUSEPORT"):
                raise ValueError("SO_REUSEPORT is not available on this platform")
            sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _next_event(conn: h11.Connection, sock: gevent.socket.socket,
                budget: int = 1 << 62) -> Any:
    """The next h11 event, reading at most ``budget`` bytes for it.

    h11 checks ``max_incomplete_event_size`` only while an event is
    incomplete, so a whole oversized head in one ``recv`` would pass; reading
    no more than the limit plus one byte makes an oversized head always
    incomplete, and h11 then refuses it with 431.
    """
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = sock.recv(max(1, min(_RECV_SIZE, budget)))
        budget -= len(data)
        conn.receive_data(data)


def _read_body(conn: h11.Connection, sock: gevent.socket.socket, limit: int,
               keep: bool = True) -> Optional[bytes]:
    """The request's body (``b""`` unless ``keep``), or None once it passes
    ``limit`` bytes or the request breaks off."""
    parts: List[bytes] = []
    size = 0
    while conn.their_state is h11.SEND_BODY:
        event = _next_event(conn, sock)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > limit:
                return None
            if keep:
                parts.append(event.data)
        elif not isinstance(event, h11.EndOfMessage):
            return None
    return b"".join(parts)


def _skip_body(conn: h11.Connection, sock: gevent.socket.socket) -> bool:
    """Read and drop the rest of the request; False if it is too big to bother."""
    return (_read_body(conn, sock, _MAX_DISCARDED_BODY, keep=False) is not None
            and conn.their_state is h11.DONE)


def _respond(conn: h11.Connection, sock: gevent.socket.socket, status: int,
             headers: Sequence[Tuple[bytes, bytes]] = (), body: bytes = b"",
             close: bool = False, head: bool = False, typed: bool = False) -> None:
    """Send a whole response; ``head`` for a HEAD request (headers only);
    ``typed`` when ``headers`` already carry the content type."""
    fields = [(b"date", email.utils.formatdate(usegmt=True).encode()),
              (b"server", b"beamish"), (b"content-length", b"%d" % len(body))]
    if body and not typed:
        fields.append((b"content-type", b"text/plain; charset=utf-8"))
    if close:
        fields.append((b"connection", b"close"))
    data = conn.send(h11.Response(status_code=status, headers=fields + list(headers))) or b""
    if body and not head:
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    sock.sendall(data)


def _send_error(conn: h11.Connection, sock: gevent.socket.socket, status: int,
                message: str) -> None:
    """Answer a request we cannot go on with, if a response can still be sent."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    try:
        _respond(conn, sock, status, body=message.encode() + b"\n", close=True)
        _linger(sock)
    except (h11.LocalProtocolError, OSError):
        pass


def _linger(sock: gevent.socket.socket, seconds: float = 1.0, limit: int = 256 * 1024) -> None:
    """Half-close and drop what the client still sends, briefly: closing a
    socket with unread input sends a reset, which can destroy the response
    before the client reads it (RFC 9112 section 9.6)."""
    sock.shutdown(_stdsocket.SHUT_WR)
    with gevent.Timeout(seconds, False):
        while limit > 0:
            data = sock.recv(_RECV_SIZE)
            if not data:
                return
            limit -= len(data)


def _send_file(conn: h11.Connection, sock: gevent.socket.socket, path: str,
               head_only: bool) -> None:
    try:
        f = open(path, "rb")
    except OSError:
        _respond(conn, sock, 404, body=b"not found\n", head=head_only)
        return
    with f:
        st = os.fstat(f.fileno())
        headers = [(b"date", email.utils.formatdate(usegmt=True).encode()),
                   (b"server", b"beamish"),
                   (b"content-type", StaticFiles.content_type(path).encode()),
                   (b"content-length", b"%d" % st.st_size),
                   (b"last-modified", email.utils.formatdate(st.st_mtime, usegmt=True).encode())]
        data = conn.send(h11.Response(status_code=200, headers=headers)) or b""
        if not head_only:
            sock.sendall(data)
            data = b""
            sent = 0
            while sent < st.st_size:  # a file that shrinks under us ends the connection
                chunk = f.read(min(_FILE_CHUNK, st.st_size - sent))
                if not chunk:
                    raise _Stop
                sent += len(chunk)
                sock.sendall(conn.send(h11.Data(data=chunk)) or b"")
        sock.sendall(data + (conn.send(h11.EndOfMessage()) or b""))
