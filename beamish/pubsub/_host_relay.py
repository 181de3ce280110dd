"""The host relay: the master side of the host adapter.

One :class:`HostRelay` GenServer owns a listening Unix domain socket; an
acceptor process hands each connection to the relay, which links one
connection process to itself per worker.  A connection process reads the
worker's hello, then routes every frame the worker sends: broadcasts to
every other worker of the same channel, direct frames to the one worker of
that name.  Frames are forwarded byte for byte (see :mod:`._host_wire`):
the relay decodes no term.

Each connection has its own writer process, so a worker that stops reading
never stalls the others: once more than ``max_pending`` bytes wait for it,
the relay closes its connection (its link reconnects; what it missed is
lost, at most once, as a Redis server does with a slow subscriber).  A
connection that crashes is logged and closed; the relay carries on.
"""
from __future__ import annotations

import errno
import logging
import os
import socket as _stdsocket
from dataclasses import dataclass
from typing import Any, Optional

import gevent
from gevent import socket as gsocket

from ..core import (ANY, BadArg, ExitMsg, exit, monitor, process_flag, receive, self as self_pid,
                    send, spawn_link, unlink)
from ..lowlevel import tags
from ..otp import ChildSpec, GenServer, Stop, call
from . import _host_wire as wire
from ._host import HANDSHAKE_TIMEOUT, MAX_PENDING, Outbox, shutdown

log = logging.getLogger(__name__)

__all__ = ["HostRelay", "RelayStats", "relay_statistics"]

_RECV = 256 << 10
# sockaddr_un.sun_path is 108 bytes on Linux, including the final NUL.
_SUN_PATH_MAX = 107


@dataclass(frozen=True)
class RelayStats:
    """What a relay has seen since it started."""

    peers: dict            # channel -> sorted node names connected now
    frames_in: int         # broadcast and direct frames received from workers
    frames_out: int        # frames queued to workers
    undeliverable: int     # direct frames to a node that is not connected
    slow_closed: int       # connections closed for not reading


class _Peer:
    __slots__ = ("channel", "node", "out", "closing")

    def __init__(self, channel: str, node: str, out: Outbox) -> None:
        self.channel, self.node, self.out, self.closing = channel, node, out, False


class _Routes:
    """The relay's table: who is connected on which channel, and counters.
    Shared by the connection processes (one hub, one thread: no locks)."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.channels: dict = {}
        self.frames_in = self.frames_out = self.undeliverable = self.slow_closed = 0

    def join(self, channel: str, node: str, out: Outbox) -> _Peer:
        group = self.channels.setdefault(channel, {})
        old = group.get(node)
        if old is not None:
            log.warning("host relay: node %s joined channel %s again; closing its older "
                        "connection", node, channel)
            old.closing = True
            shutdown(old.out.sock)
        peer = group[node] = _Peer(channel, node, out)
        return peer

    def leave(self, peer: _Peer) -> None:
        group = self.channels.get(peer.channel)
        if group is not None and group.get(peer.node) is peer:
            del group[peer.node]
            if not group:
                del self.channels[peer.channel]

    def route(self, peer: _Peer, frame: bytes) -> None:
        self.frames_in += 1
        kind = frame[4]
        group = self.channels.get(peer.channel, {})
        if kind == wire.BROADCAST:
            for other in group.values():
                if other is not peer and not other.closing:
                    self._put(other, frame)
        elif kind == wire.DIRECT:
            target = group.get(wire.target_of(frame))
            if target is None or target.closing:
                self.undeliverable += 1
            elif target is not peer:
                self._put(target, frame)
        else:
            raise wire.FrameError(f"node {peer.node} sent a frame of kind {chr(kind)!r}")

    def _put(self, peer: _Peer, frame: bytes) -> None:
        if peer.out.put(frame):
            self.frames_out += 1
            return
        log.warning("host relay: node %s (channel %s) is not reading: more than %d bytes wait "
                    "for it; closing its connection", peer.node, peer.channel, self.max_pending)
        self.slow_closed += 1
        peer.closing = True
        shutdown(peer.out.sock)


class HostRelay(GenServer):
    """The relay of a host cluster, listening on the Unix socket ``path``.

    ``path``'s directory should be private to the user (mode 0700); the
    socket itself is created mode 0600.  A stale socket file (a relay killed
    without cleanup) is replaced; a live relay's is not.

    Raises (from ``start_link``, as a StartError):
        BadArg: the path is too long for a Unix socket, a live relay
            listens there, or it cannot be bound.
    """

    @classmethod
    def child_spec(cls, path: str, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("host_relay", path), start=cls.start_link, args=(path,),
                         kwargs=opts, shutdown=2000)

    def init(self, path: str, max_pending: int = MAX_PENDING) -> None:  # type: ignore[override]
        process_flag("trap_exit", True)
        self.path = path
        self.routes = _Routes(max_pending)
        self.sock = _bind(path)
        self.inode = os.stat(path).st_ino
        self.acceptor = spawn_link(_accept_main, self.sock, self_pid())
        self.connections: set = set()
        log.info("host relay listening on %s", path)

    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is tuple and len(msg) == 2 and msg[0] == tags.ACCEPTED:
            self.connections.add(spawn_link(_connection_main, msg[1], self.routes))
            return None
        if msg.__class__ is ExitMsg:
            if msg.pid == self.acceptor:
                return Stop(("acceptor_exited", msg.reason))
            self.connections.discard(msg.pid)
            if msg.reason not in ("normal", "shutdown"):
                log.error("host relay: connection process %r crashed: %r", msg.pid, msg.reason)
            return None
        return super().handle_info(msg)

    def handle_call(self, request: Any, from_: Any) -> Any:
        if request == "statistics":
            r = self.routes
            return RelayStats({c: sorted(g) for c, g in r.channels.items()}, r.frames_in,
                              r.frames_out, r.undeliverable, r.slow_closed)
        raise ValueError(f"unknown request {request!r}")

    def terminate(self, reason: Any) -> None:
        # The acceptor first, so that closing the socket under it raises
        # nothing; then every connection (a "normal" stop would not reach
        # them through their links), each closing its socket as it ends.
        pids = [self.acceptor, *self.connections]
        refs = [monitor(pid) for pid in pids]
        for pid in pids:
            unlink(pid)
            exit(pid, "kill" if pid == self.acceptor else "shutdown")
        for ref in refs:
            receive(("DOWN", ref, ANY, ANY, ANY))
        self.sock.close()
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except OSError:
            pass


def relay_statistics(relay: Any) -> RelayStats:
    """A :class:`RelayStats` snapshot of the relay ``relay`` (pid or name)."""
    return call(relay, "statistics")


def _bind(path: str) -> Any:
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        raise BadArg(f"relay socket path {path!r} is longer than a Unix socket allows "
                     f"({_SUN_PATH_MAX} bytes)")
    if os.path.exists(path):
        probe = gsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)   # nobody listens: a stale socket
        else:
            raise BadArg(f"a live relay already listens on {path}")
        finally:
            probe.close()
    sock = gsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
    old = os.umask(0o177)     # the socket file is born 0600
    try:
        sock.bind(path)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise BadArg(f"cannot listen on {path}: {e}") from None
    finally:
        os.umask(old)
    return sock


def _accept_main(sock: Any, relay: Any) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError as e:
            if e.errno == errno.EBADF:
                raise
            # Out of descriptors or memory: the workers already connected
            # are served meanwhile, and the next accept may succeed.
            log.error("host relay: cannot accept a connection (%s); retrying", e)
            gevent.sleep(0.1)
            continue
        send(relay, (tags.ACCEPTED, conn))


def _connection_main(sock: Any, routes: _Routes) -> None:
    peer: Optional[_Peer] = None
    out: Optional[Outbox] = None
    node = "?"
    try:
        sock.settimeout(HANDSHAKE_TIMEOUT)
        reader = wire.FrameReader()
        frames: list = []
        while not frames:
            data = sock.recv(_RECV)
            if not data:
                return   # connected and left (a liveness probe)
            frames = reader.feed(data)
        version, channel, node = wire.parse_hello(frames[0])
        problem = wire.expect_version(version)
        if problem:
            log.error("host relay: refusing node %s: %s", node, problem)
            return
        sock.settimeout(None)
        out = Outbox(sock, routes.max_pending)
        out.put(wire.welcome())
        peer = routes.join(channel, node, out)
        log.info("host relay: node %s joined channel %s", node, channel)
        frames = frames[1:]
        while True:
            for frame in frames:
                routes.route(peer, frame)
            data = sock.recv(_RECV)
            if not data:
                break
            frames = reader.feed(data)
    except (OSError, wire.FrameError) as e:
        if peer is None or not peer.closing:   # else the reason is logged already
            log.warning("host relay: connection of node %s ended: %s", node, e)
    finally:
        if peer is not None:
            routes.leave(peer)
            log.info("host relay: node %s left channel %s", peer.node, peer.channel)
        if out is not None:
            out.close()
        sock.close()
