"""The host adapter: the worker processes of one machine form a PubSub
cluster through a relay in their master process, with nothing installed.

``beamish run MODULE --workers N`` starts a :class:`~._host_relay.HostRelay`
on a Unix domain socket in a private directory (mode 0700) and tells its
workers where, in ``$BEAMISH_HOST_CLUSTER``; :func:`~._default.default_adapter`
then picks this adapter.  The wire format is in :mod:`._host_wire`.

A broadcast is encoded once (beamish's codec: pids, refs and tuples
survive) and written as one frame to the relay, which copies it to every
other worker of the same channel (the PubSub name); ``direct_broadcast``
goes to one worker.  Each worker's link process dispatches what arrives to
its own subscribers.

Delivery across workers is **at most once**, as with Redis: a broadcast made
while the link is down, or while more than ``max_pending`` bytes wait to be
written, is dropped (counted in ``dropped``, and logged); a worker whose
link is down misses what the others broadcast until it is back.  Local
subscribers are served throughout.  Frames from one worker reach each other
worker in the order they were sent.  A frame that is not a beamish term is
counted in ``undecodable``, logged at most once a second, and dropped.

The link is a supervised process that never lets a relay hiccup end the
worker: on any error it logs, backs off (0.05 s doubling to
``reconnect_max``) and connects again; its state is ``adapter.connected``.
"""
from __future__ import annotations

import logging
import os
import socket as _stdsocket
import time
from typing import Any, Optional

import gevent
from gevent import socket as gsocket

from ..core import BadArg, exit, node as _node, receive, send, spawn_link, unlink
from ..lowlevel import CodecError, decode_term as decode, encode_term as encode
from ..otp import ChildSpec
from . import _host_wire as wire

log = logging.getLogger(__name__)

__all__ = ["HostAdapter", "HOST_CLUSTER_ENV"]

#: The environment variable a worker master sets to its relay's socket path.
HOST_CLUSTER_ENV = "BEAMISH_HOST_CLUSTER"
#: Seconds either side waits for the other's first frame.
HANDSHAKE_TIMEOUT = 5.0
#: Bytes queued to one connection's writer beyond which frames are dropped
#: (worker side) or the connection is closed (relay side).
MAX_PENDING = 64 << 20
_RECV = 256 << 10
_BATCH = 1 << 20


class Outbox:
    """The send side of one relay connection: frames queued to its writer
    process, which batches them into as few writes as it can."""

    __slots__ = ("sock", "writer", "pending", "max_pending")

    def __init__(self, sock: Any, max_pending: int) -> None:
        self.sock = sock
        self.pending = 0          # bytes queued and not yet written
        self.max_pending = max_pending
        self.writer = spawn_link(_writer_main, self)

    def put(self, frame: bytes) -> bool:
        """Queue ``frame``; False (nothing queued) when over ``max_pending``."""
        n = len(frame)
        if self.pending + n > self.max_pending:
            return False
        self.pending += n
        send(self.writer, frame)
        return True

    def close(self) -> None:
        """Stop the writer (unlinked first: the caller is not signalled)."""
        unlink(self.writer)
        exit(self.writer, "kill")
        shutdown(self.sock)


def shutdown(sock: Any) -> None:
    """Wake the socket's reader with end-of-stream (it may be blocked in recv)."""
    try:
        sock.shutdown(_stdsocket.SHUT_RDWR)
    except OSError:
        pass


def _writer_main(out: Outbox) -> None:
    sock = out.sock
    while True:
        frame = receive()
        batch, size = [frame], len(frame)
        while size < _BATCH:
            more = receive(timeout=0, default=None)
            if more is None:
                break
            batch.append(more)
            size += len(more)
        try:
            sock.sendall(frame if len(batch) == 1 else b"".join(batch))
        except OSError:
            shutdown(sock)   # the reader sees the end and cleans up
            return
        out.pending -= size


class HostAdapter:
    """PubSub adapter for one worker of a host cluster.

    ``path`` is the relay's socket (default: ``$BEAMISH_HOST_CLUSTER``).
    Every worker must use the same ``channel`` (default: the PubSub name)
    and a distinct ``node_name`` (default: the beamish node's).

    Raises:
        BadArg: no path given and ``$BEAMISH_HOST_CLUSTER`` is not set.
    """

    def __init__(self, path: Optional[str] = None, *, node_name: Optional[str] = None,
                 channel: Optional[str] = None, reconnect_max: float = 1.0,
                 max_pending: int = MAX_PENDING) -> None:
        path = path or os.environ.get(HOST_CLUSTER_ENV)
        if not path:
            raise BadArg(f"HostAdapter needs the relay's socket path (or ${HOST_CLUSTER_ENV}, "
                         f"which `beamish run --workers N` sets)")
        self.path = path
        self.node_name = node_name or _node()
        self.channel = channel or ""
        self.reconnect_max = reconnect_max
        self.max_pending = max_pending
        self.connected = False
        self.dropped = 0          # broadcasts not sent (link down, or too much queued)
        self.sent = 0
        self.received = 0
        self.undecodable = 0      # frames from the relay that were not beamish terms
        self._last_undecodable_log = 0.0
        self._out: Optional[Outbox] = None
        self._last_drop_log = 0.0

    # ------------------------------------------------------------ adapter
    def child_specs(self, pubsub: Any) -> list:
        if not self.channel:
            self.channel = pubsub.name
        wire.hello(self.channel, self.node_name)   # fail now on names the wire cannot carry
        return [ChildSpec(id=("host_link", pubsub.name), start=spawn_link,
                          args=(_link_main, self, pubsub), shutdown=1000)]

    def broadcast(self, topic: str, message: Any, dispatcher: str, from_: Any) -> None:
        term = encode((self.node_name, topic, message, dispatcher, from_))
        self._put(wire.broadcast(term))

    def direct_broadcast(self, node: str, topic: str, message: Any, dispatcher: str,
                         from_: Any) -> None:
        term = encode((self.node_name, topic, message, dispatcher, from_))
        self._put(wire.direct(node, term))

    def _put(self, frame: bytes) -> None:
        out = self._out
        if out is not None and out.put(frame):
            self.sent += 1
            return
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log > 1.0:
            self._last_drop_log = now
            why = "the relay link is down" if out is None else \
                f"more than {self.max_pending} bytes wait to be written"
            log.warning("pubsub %s: broadcast to other workers dropped, %s; %d dropped so far",
                        self.channel, why, self.dropped)

    # ------------------------------------------------------------ receiving
    def _deliver(self, pubsub: Any, frame: bytes) -> None:
        kind = wire.kind_of(frame)
        if kind != wire.BROADCAST and kind != wire.DIRECT:
            self._undecodable(f"a frame of kind {chr(kind)!r}")
            return
        try:
            sender, topic, message, dispatcher, from_ = decode(wire.body_of(frame),
                                                               max_size=wire.MAX_FRAME)
        except (CodecError, wire.FrameError, ValueError, TypeError) as e:
            self._undecodable(e)
            return
        self.received += 1
        pubsub.local_dispatch(topic, from_, message, dispatcher)

    def _undecodable(self, why: Any) -> None:
        """Count a frame that is not a broadcast, logging at most once a
        second (a misbehaving worker could otherwise flood the log)."""
        self.undecodable += 1
        now = time.monotonic()
        if now - self._last_undecodable_log > 1.0:
            self._last_undecodable_log = now
            log.error("pubsub %s: ignoring an undecodable relay frame (%s); %d ignored so far",
                      self.channel, why, self.undecodable)


def _link_main(adapter: HostAdapter, pubsub: Any) -> None:
    """The link process: connect, say hello, dispatch, reconnect with backoff."""
    backoff = 0.05
    failures = 0
    while True:
        sock = out = None
        try:
            sock = gsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
            sock.settimeout(HANDSHAKE_TIMEOUT)
            sock.connect(adapter.path)
            sock.sendall(wire.hello(adapter.channel, adapter.node_name))
            reader = wire.FrameReader()
            frames = _welcome(sock, reader)
            sock.settimeout(None)
            out = Outbox(sock, adapter.max_pending)
            adapter._out, adapter.connected = out, True
            log.info("pubsub %s: joined the host relay %s as node %s", adapter.channel,
                     adapter.path, adapter.node_name)
            backoff, failures = 0.05, 0
            while True:
                for frame in frames:
                    adapter._deliver(pubsub, frame)
                data = sock.recv(_RECV)
                if not data:
                    raise ConnectionError("the relay closed the connection")
                frames = reader.feed(data)
        except (OSError, wire.FrameError) as e:
            failures += 1
            if adapter.connected:
                log.warning("pubsub %s: lost the host relay (%s); reconnecting", adapter.channel,
                            e)
            elif failures == 1 or failures % 20 == 0:
                log.warning("pubsub %s: cannot join the host relay %s (%s); retrying",
                            adapter.channel, adapter.path, e)
        finally:
            adapter._out, adapter.connected = None, False
            if out is not None:
                out.close()
            if sock is not None:
                sock.close()
        gevent.sleep(backoff)
        backoff = min(backoff * 2, adapter.reconnect_max)


def _welcome(sock: Any, reader: wire.FrameReader) -> list:
    """Wait for the relay's welcome; returns the frames that came after it."""
    frames: list = []
    while not frames:
        data = sock.recv(_RECV)
        if not data:
            raise ConnectionError("the relay closed the connection during the handshake")
        frames = reader.feed(data)
    first = frames[0]
    if wire.kind_of(first) != wire.WELCOME or len(first) != 6:
        raise wire.FrameError(f"expected the relay's welcome, got {bytes(first[:16])!r}")
    problem = wire.expect_version(first[5])
    if problem:
        raise wire.FrameError(problem)
    return frames[1:]
