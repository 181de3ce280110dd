"""The control endpoint: a node's Unix socket for observers.

``beamish run`` starts one on every node (``--no-control`` opts out).  It is
four kinds of process:

* the listener (registered as ``beamish.control``) owns the socket and
  accepts connections;
* the sampler (see :mod:`._stats`) records load, memory and traffic;
* one process per connection: the handshake (see :mod:`._wire`), then one
  request at a time.  A connection's walk over the process table is sliced
  (:mod:`._slicer`), so serving a 100k-process list holds the hub for about
  two milliseconds at a time, never for the whole walk;
* the relay (registered as ``beamish.observer``), which answers the same
  requests for observers on other machines.

Other nodes.  An observer sees only the sockets of its own host.  To watch
a node elsewhere it connects to a local node that runs distribution
(``beamish.dist``) and sends ``{"op": "attach", "node": NAME}``; from then
on that connection's requests are relayed, as remote calls, to the relay
of ``NAME``, and its encoded replies come back unchanged.  The cookie
guards the local socket and the cluster secret (distribution's signed
frames) the hop between nodes.  A reply larger than one distribution
frame (``Dist``'s ``max_frame``, 16 MiB by default: a process list of
some tens of thousands of processes) is refused with an error saying so.

The sampler, the relay and the connections are linked to the listener, so stopping
the listener (``stop_control_endpoint``, or its supervisor's shutdown)
stops them all and removes the socket.  ``beamish run`` starts it under a
supervisor of its own (:func:`control_endpoint_spec`), so a crash restarts
it, and a node whose endpoint gives up keeps running its application.

Running out of file descriptors (or kernel memory) is weathered, not
fatal: the listener backs off (10 ms doubling to 1 s) while ``accept``
fails with EMFILE, ENFILE, ENOBUFS or ENOMEM, logs once per such episode
and once when it accepts again, and the sampler skips the samples it cannot
take, so ``beamish observer`` can attach again once descriptors free up.

What serving costs the node (2-core machine shared with other work,
CPython 3.11): ``node_info`` 0.1-0.2 ms; the process list about 15 us of
node time per process (``process_info`` is most of it): 170 ms for 10k
processes, 1.4 s for 100k, in ~2 ms slices (the longest 6-13 ms, garbage
collection included), while other processes kept running (a 1 ms timer
saw p99 gaps of 3-12 ms).  The UI and ``--check`` stretch their refresh so
the list never costs a node more than 5% of its time.
"""
from __future__ import annotations

import atexit
import errno
import logging
import os
import secrets
import socket as _stdsocket
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import gevent
import msgpack
from gevent import socket as gsocket

from ..lowlevel import (CodecError, current_process, decode_term as decode, encode_term as encode,
                        take_first)
from ..core import (ANY, Pid, Ref, demonitor, exit, make_ref, monitor, node, receive, send,
                    spawn_link, spawn_opt, unlink, whereis)
from ..dist import NotDistributed, is_alive as distributed, nodes, stats as dist_stats
from ..otp import CallExit, CallTimeout, ChildSpec, GenServer, NoReply, call, reply as reply_to
from ._collect import (iter_rows, kill, node_info, parse_pid, process_detail, sockets,
                       supervision_tree)
from ._errors import EndpointError, ObserverProtocolError
from ._footprint import StateSizer
from ._leaks import Sample, Thresholds, find_suspects
from ._paths import node_label, read_cookie, runtime_dir, socket_path
from ._records import COLUMNS
from ._slicer import DEFAULT_BUDGET, Slicer
from ._stats import DEFAULT_INTERVAL, NodeStats, sampler_main
from ._tables import DEFAULT_TOP, collect_tables
from ._wire import (HELLO_MAX, PROTOCOL_VERSION, REQUEST_MAX, FrameReader, frame,
                    frame_header, hello_matches)

log = logging.getLogger(__name__)

__all__ = ["start_control_endpoint", "stop_control_endpoint", "control_endpoint_spec",
           "answer", "REGISTERED_NAME", "RELAY_NAME"]

REGISTERED_NAME = "beamish.control"
#: The local name of the relay that answers observers of other nodes.
RELAY_NAME = "beamish.observer"
#: Seconds a relayed request may take (the list of 100k processes takes ~1.5 s).
RELAY_TIMEOUT = 30.0
#: Bytes of a distribution frame kept for its envelope around a relayed reply.
RELAY_MARGIN = 64 << 10
#: Seconds a new connection has to complete the handshake.
HANDSHAKE_TIMEOUT = 5.0
#: accept() errors that mean "out of resources for now": back off and retry.
ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_BACKOFF_MIN = 0.01
_BACKOFF_MAX = 1.0
_RECV = 65536


@dataclass
class _Context:
    cookie: str
    path: str
    roots: Callable[[], list]
    budget: float
    stats: NodeStats = field(default_factory=NodeStats)
    inode: int = 0
    sizer: StateSizer = field(default_factory=StateSizer)
    sockets_seen: dict = field(default_factory=dict)    # socket inode -> first seen

    def remove_socket(self) -> None:
        """Unlink the socket if it is still ours (not a successor node's).
        Also registered with atexit: a node that exits without stopping its
        endpoint (a root supervisor giving up) leaves no stale socket."""
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass


def _roots_of(roots: Union[None, Sequence[Pid], Callable[[], list]]) -> Callable[[], list]:
    if roots is None:
        return list
    if callable(roots):
        return roots
    return lambda: list(roots)


def _bind(path: str) -> Any:
    """A listening socket at ``path``, replacing a stale one (a node killed
    without cleanup) but never a live node's."""
    if os.path.exists(path):
        probe = gsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: stale
        else:
            raise EndpointError(f"a live node already listens on {path}; "
                                f"give this node another --name")
        finally:
            probe.close()
    sock = gsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
    try:
        old = os.umask(0o177)   # the socket file is born 0600
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise EndpointError(f"cannot listen on {path}: {e}") from None
    return sock


def start_control_endpoint(*, roots: Union[None, Sequence[Pid], Callable[[], list]] = None,
                           path: Optional[str] = None, cookie: Optional[str] = None,
                           link: bool = False, sample_interval: float = DEFAULT_INTERVAL,
                           budget: float = DEFAULT_BUDGET) -> Pid:
    """Start this node's control endpoint; returns the listener's pid.

    ``roots`` names the root supervisors the tree request walks (a list, or
    a callable returning one, read at each request).  ``path`` defaults to
    the node's socket in the runtime directory (see :mod:`._paths`) and
    ``cookie`` to the user's cookie (created if missing).  ``budget`` is the
    longest time, in seconds, a request holds the hub in one go.

    Raises:
        EndpointError: a live node already listens at the path, or the
            socket cannot be made.
        CookieError: the cookie file is unusable.
    """
    if cookie is None:
        cookie = read_cookie(create=True)
    if path is None:
        path = socket_path(node_label(node()), runtime_dir(create=True))
    ctx = _Context(cookie=cookie, path=path, roots=_roots_of(roots), budget=budget)
    # The listener binds the socket itself and acks (as proc_lib's
    # init_ack): a process killed before it first runs never runs its body,
    # so a socket handed to it could never be cleaned up by it.
    me = current_process()
    ack = make_ref()
    holder = whereis(REGISTERED_NAME)
    if holder is not None:
        raise EndpointError(f"this node already runs a control endpoint ({holder!r})")
    pid, ref = spawn_opt(_listener_main, (ctx, me.pid, ack, sample_interval), link=link,
                         monitor=True, name=REGISTERED_NAME)
    msg = receive((ack, ANY), ("DOWN", ref, ANY, ANY, ANY))
    demonitor(ref, flush=True)
    if msg[0] == "DOWN":
        raise EndpointError(f"the control endpoint died starting: {msg.reason!r}")
    if isinstance(msg[1], BaseException):
        if link:
            take_first(me, ("EXIT", pid, ANY))
        raise msg[1]
    log.info("control endpoint of node %s listening on %s", node(), path)
    return pid


def control_endpoint_spec(**opts: Any) -> ChildSpec:
    """A supervisor child that runs this node's control endpoint, started
    with ``opts`` (see :func:`start_control_endpoint`) and linked to its
    supervisor."""
    return ChildSpec(id="control_endpoint", start=start_control_endpoint,
                     kwargs={**opts, "link": True}, shutdown=2000)


def stop_control_endpoint(pid: Pid) -> None:
    """Stop the endpoint ``pid`` and wait until its socket is gone (unlinks
    it from the caller first, so the caller is not signalled)."""
    me = current_process()
    ref = monitor(pid)
    unlink(pid)
    take_first(me, ("EXIT", pid, ANY))
    exit(pid, "shutdown")
    receive(("DOWN", ref, ANY, ANY, ANY))
    demonitor(ref, flush=True)


def _listener_main(ctx: _Context, parent: Pid, ack: Ref, interval: float) -> None:
    try:
        sock = _bind(ctx.path)
    except EndpointError as e:
        unlink(parent)   # end quietly: the caller gets the error itself
        send(parent, (ack, e))
        return
    ctx.inode = os.stat(ctx.path).st_ino
    atexit.register(ctx.remove_socket)
    try:
        send(parent, (ack, "ok"))
        spawn_link(sampler_main, ctx.stats, interval)
        _Relay.start_link(ctx, name=RELAY_NAME)
        while True:
            spawn_link(_connection_main, _accept(sock, ctx), ctx)
    finally:
        sock.close()
        ctx.remove_socket()
        atexit.unregister(ctx.remove_socket)


def _accept(sock: Any, ctx: _Context) -> Any:
    """The next connection, waiting out a shortage of descriptors or memory
    (backing off, one log line when it starts and one when it ends); other
    errors propagate."""
    delay = 0.0
    while True:
        try:
            conn, _ = sock.accept()
        except OSError as e:
            if e.errno not in ACCEPT_RETRY_ERRNOS:
                raise
            if not delay:
                log.error("control endpoint %s: cannot accept connections (%s); retrying "
                          "with backoff until resources free up", ctx.path, e)
            delay = min(max(delay * 2, _BACKOFF_MIN), _BACKOFF_MAX)
            gevent.sleep(delay)
            continue
        if delay:
            log.warning("control endpoint %s: accepting connections again", ctx.path)
        return conn


# ------------------------------------------------------------ connections
class _Conn:
    """A connection's socket with frame reassembly."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.reader = FrameReader(HELLO_MAX)
        self.ready: list = []

    def recv_raw(self) -> Optional[bytes]:
        """The next frame's payload, undecoded, or None at end of stream."""
        while not self.ready:
            data = self.sock.recv(_RECV)
            if not data:
                return None
            self.ready.extend(self.reader.feed(data))
        return self.ready.pop(0)

    def recv(self) -> Any:
        """The next decoded message, or None at end of stream (only after
        the handshake: what an unauthenticated peer sends is never decoded)."""
        payload = self.recv_raw()
        return None if payload is None else decode(payload, max_size=REQUEST_MAX)

    def send(self, term: Any) -> None:
        self.sock.sendall(frame(encode(term)))

    def peer(self) -> str:
        try:
            creds = self.sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_PEERCRED,
                                         struct.calcsize("3i"))
            pid, uid, _ = struct.unpack("3i", creds)
            return f"os pid {pid}, uid {uid}"
        except (OSError, AttributeError):
            return "unknown peer"


def _connection_main(sock: Any, ctx: _Context) -> None:
    conn = _Conn(sock)
    try:
        if _handshake(conn, ctx):
            _serve(conn, ctx)
    except (OSError, ObserverProtocolError, CodecError) as e:
        log.debug("control connection ended: %r", e)
    except Exception:
        log.exception("control connection %r crashed", current_process().pid)
    finally:
        sock.close()


def _handshake(conn: _Conn, ctx: _Context) -> bool:
    challenge = secrets.token_bytes(32)
    conn.sock.settimeout(HANDSHAKE_TIMEOUT)
    conn.send({"node": node(), "challenge": challenge, "version": PROTOCOL_VERSION})
    try:
        hello = conn.recv_raw()
    except _stdsocket.timeout:
        log.warning("control endpoint %s: no handshake within %s s from %s; closing",
                    ctx.path, HANDSHAKE_TIMEOUT, conn.peer())
        return False
    if hello is None:
        return False   # a liveness probe: connected and left
    if not hello_matches(hello, ctx.cookie, challenge):
        log.warning("control endpoint %s: refused a connection with a wrong cookie (%s)",
                    ctx.path, conn.peer())
        conn.send({"ok": False, "error": "wrong cookie"})
        return False
    conn.sock.settimeout(None)
    conn.reader.max_size = REQUEST_MAX
    conn.send({"ok": True, "node": node()})
    return True


def _serve(conn: _Conn, ctx: _Context) -> None:
    """Answer requests in order.  After ``attach`` to another node, every
    request is relayed to that node (see :func:`_relay`)."""
    remote: Optional[str] = None
    while True:
        req = conn.recv()
        if req is None:
            return
        if isinstance(req, dict) and req.get("op") == "attach":
            remote, reply = _attach(req.get("node"), remote)
        elif remote is None:
            reply = answer(ctx, req, conn.peer)
        else:
            reply = _relay(remote, req)
        _send_reply(conn, reply)


def _send_reply(conn: _Conn, reply: Any) -> None:
    if isinstance(reply, _Encoded):
        conn.sock.sendall(frame_header(reply.size()))
        for chunk in reply.chunks:
            conn.sock.sendall(chunk)
    else:
        conn.send(reply)


class _Encoded:
    """A reply already encoded, in pieces sent one after the other (the
    process list is packed while walking, and never joined locally)."""

    __slots__ = ("chunks",)

    def __init__(self, *chunks: Any) -> None:
        self.chunks = chunks

    def size(self) -> int:
        return sum(len(c) for c in self.chunks)

    def join(self) -> bytes:
        return b"".join(self.chunks)


def answer(ctx: _Context, req: Any, who: Callable[[], str]) -> Any:
    """The reply to one request: a map, or an :class:`_Encoded` one.  ``who``
    says who asks (for the log of a kill).  Unknown requests and failures
    are error replies, never exceptions."""
    op = req.get("op") if isinstance(req, dict) else None
    handler = _HANDLERS.get(op) if isinstance(op, str) else None
    if handler is None:
        return {"ok": False, "error": f"unknown request {op!r}"}
    try:
        return handler(ctx, req, who)
    except Exception as e:
        log.exception("control request %r failed", op)
        return {"ok": False, "error": f"{op} failed: {e!r}"}


def _op_node_info(ctx: _Context, req: dict, who: Callable) -> dict:
    info = node_info(ctx.stats, history=bool(req.get("history")))
    return {"ok": True, "info": info.to_wire()}


def _op_processes(ctx: _Context, req: dict, who: Callable) -> _Encoded:
    # Packed row by row into one buffer while walking, so neither the walk
    # nor the encoding holds the hub for long, and the reply is never
    # built as one huge Python structure.
    slicer = Slicer(ctx.budget)
    body = msgpack.Packer(use_bin_type=True, strict_types=True, autoreset=False)
    n = 0
    for row in iter_rows(slicer, ctx.sizer):
        body.pack(list(row))
        n += 1
    cost = slicer.finish()
    head = msgpack.Packer(use_bin_type=True, strict_types=True, autoreset=False)
    head.pack_map_header(4)
    for key, value in (("ok", True), ("columns", list(COLUMNS)), ("cost", cost.to_wire())):
        head.pack(key)
        head.pack(value)
    head.pack("rows")
    head.pack_array_header(n)
    return _Encoded(head.bytes(), body.getbuffer())


def _op_process(ctx: _Context, req: dict, who: Callable) -> dict:
    pid = parse_pid(req.get("pid"))
    detail = process_detail(pid, req.get("messages", 20)) if pid is not None else None
    if detail is None:
        return {"ok": False, "error": f"no such process {req.get('pid')!r}"}
    return {"ok": True, "process": detail.to_wire()}


def _op_tree(ctx: _Context, req: dict, who: Callable) -> dict:
    return {"ok": True, "roots": [t.to_wire() for t in supervision_tree(ctx.roots)]}


def _op_kill(ctx: _Context, req: dict, who: Callable) -> dict:
    pid = parse_pid(req.get("pid"))
    if pid is None:
        return {"ok": False, "error": f"not a pid of this node: {req.get('pid')!r}"}
    log.warning("control endpoint: killing %r at an observer's request (%s)", pid, who())
    return {"ok": True, "killed": kill(pid)}


def _op_leaks(ctx: _Context, req: dict, who: Callable) -> dict:
    """Leak flags the node can raise alone: duplicate monitors now, and a
    process count growing while traffic is flat in the sampler's history."""
    slicer = Slicer(ctx.budget)
    procs = {row.pid: row for row in iter_rows(slicer) if row.dup_monitors}
    history = list(ctx.stats.history)
    samples = [Sample(h.t, h.process_count, h.message_rate) for h in history]
    if samples:
        last = samples[-1]
        samples[-1] = Sample(last.t, last.process_count, last.message_rate, procs)
    else:
        samples = [Sample(0.0, 0, 0.0, procs)]
    suspects = find_suspects(samples, Thresholds())
    return {"ok": True, "suspects": [s.to_wire() for s in suspects],
            "cost": slicer.finish().to_wire()}


def _op_sockets(ctx: _Context, req: dict, who: Callable) -> dict:
    rows = sockets(ctx.stats, ctx.sockets_seen)
    return {"ok": True, "sockets": [list(r) for r in rows]}


def _op_tables(ctx: _Context, req: dict, who: Callable) -> dict:
    """PubSubs (with their ``top`` busiest topics), Registries and Trackers."""
    top = req.get("top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool):
        return {"ok": False, "error": f"top must be an int, got {top!r}"}
    return {"ok": True, "tables": collect_tables(top).to_wire()}


def _op_ping(ctx: _Context, req: dict, who: Callable) -> dict:
    return {"ok": True}


# ------------------------------------------------------- other nodes
def _attach(target: Any, current: Optional[str]) -> tuple:
    """``(node to relay to or None, reply)`` for an ``attach`` request: this
    node itself, or a node distribution connects it to whose relay answers.
    A refused attach leaves the connection as it was."""
    if not isinstance(target, str):
        return current, {"ok": False, "error": f"attach needs a node name, got {target!r}"}
    if target == node():
        return None, {"ok": True, "node": target}
    if not distributed():
        return current, {"ok": False, "error": f"node {node()} does not run distribution "
                                               f"(beamish.dist.Dist), so it reaches no other node"}
    if target not in nodes():
        return current, {"ok": False, "error": f"node {target} is not connected to {node()} "
                                               f"(connected: {', '.join(nodes()) or 'none'})"}
    reply = _relay(target, {"op": "ping"})
    if isinstance(reply, dict):
        return current, reply
    return target, {"ok": True, "node": target}


def _relay(target: str, req: Any) -> Any:
    """Ask ``target``'s relay to answer ``req``: its encoded reply, or an
    error reply if the node or its relay does not answer."""
    try:
        payload = call((RELAY_NAME, target), ("observe", req), RELAY_TIMEOUT)
    except CallExit as e:
        return {"ok": False, "error": f"node {target} did not answer through the cluster "
                                      f"({e.reason}; is its control endpoint running?)"}
    except CallTimeout:
        return {"ok": False, "error": f"node {target} did not answer within {RELAY_TIMEOUT:g} s"}
    if not isinstance(payload, bytes):
        return {"ok": False, "error": f"node {target}'s relay sent {type(payload).__name__}, "
                                      f"not an encoded reply"}
    return _Encoded(payload)


class _Relay(GenServer):
    """Answers the control requests of observers attached through another
    node (registered as :data:`RELAY_NAME`).  Only nodes of the cluster can
    call it: distribution drops frames not signed with the cluster secret.
    Each request runs in a process of its own, so a long process list does
    not hold up the others; the reply is the encoded map, as the endpoint
    would send it, and an error reply if it is larger than distribution
    carries in one frame."""

    def init(self, ctx: _Context) -> None:
        self.ctx = ctx

    def handle_call(self, request: Any, from_: tuple) -> Any:
        if not (isinstance(request, tuple) and len(request) == 2 and request[0] == "observe"):
            return encode({"ok": False, "error": f"not an observer request: {request!r}"[:200]})
        spawn_link(_relay_request, self.ctx, request[1], from_)
        return NoReply()


def _relay_request(ctx: _Context, req: Any, from_: tuple) -> None:
    caller = from_[0]
    reply = answer(ctx, req, lambda: f"an observer on node {getattr(caller, 'node', '?')}")
    payload = reply.join() if isinstance(reply, _Encoded) else encode(reply)
    try:
        limit = dist_stats()["max_frame"] - RELAY_MARGIN
    except NotDistributed:
        return      # distribution stopped meanwhile: the caller is cut off anyway
    if len(payload) > limit:
        payload = encode({"ok": False, "error": f"the reply ({len(payload):,} bytes) is larger "
                                                f"than the cluster carries in one frame "
                                                f"({limit:,}); observe this node from its host"})
    reply_to(from_, payload)


_HANDLERS = {
    "node_info": _op_node_info,
    "processes": _op_processes,
    "process": _op_process,
    "tree": _op_tree,
    "kill": _op_kill,
    "leaks": _op_leaks,
    "sockets": _op_sockets,
    "tables": _op_tables,
    "ping": _op_ping,
}
