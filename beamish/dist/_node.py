"""The node agent: connections to the other nodes, routing, liveness.

Theory of operation
-------------------
One :class:`Node` per OS process (the core has one remote router).  It
rides on a running PubSub: frames for node ``N`` are published on topic
``beamish.dist:N`` with ``direct_broadcast``, and what every node must see
(heartbeats, global names, groups) on ``beamish.dist``.  The agent process
subscribes to both and handles what arrives, one frame at a time.

Outbound, whatever process sends (``send``, ``monitor``, a link's exit
signal from ``_terminate``) encodes its operation itself and hands it to
the writer process, which never blocks its callers; the writer publishes
runs of operations for the same node as one frame.  One writer, and the
engine delivering one publisher's frames in order (one Redis channel, one
relay connection), keep every sender -> receiver pair in order, signals
included: a process's last message arrives before the DOWN of its end.

Connections.  A node is *up* for this node from a handshake until it is
*down*: silent (no frame) for ``down_period``, back with another creation
(restarted), or telling us it dropped us.  Each side keeps an epoch per
peer, new after every down; a side that sees a peer that is not up sends
``hello(epoch)``, the other side answers ``welcome(epoch)``.  A hello with
a new epoch from a peer that is up means the peer dropped the connection
(it was stopped past the down period, say): this side drops it too, then
takes the new one.  So both sides see ``nodedown`` then ``nodeup`` and no
state of the old connection survives on either side.  Operations other
than the handshake from a node that is not up are dropped.

Down means: every local monitor of its processes gets ``DOWN`` with
``"noconnection"``, every local link to them an exit signal
``"noconnection"``, monitors it held here are removed, its global names
and group members are dropped, and ``nodedown`` goes to node watchers.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

from ..core import (BadArg, Down, Pid, Ref, exit as _exit, make_ref, node as _node,
                    node_creation, receive, self as _self, send, spawn_link, whereis)
from ..lowlevel import (CodecError, current_process, deliver, demonitor_as, lookup,
                        monitor_as, register_term, remote_down, remote_exit, remote_link,
                        remote_unlink, runtime_view, set_remote_router)
from ..pubsub import broadcast_from, direct_broadcast, node_name, subscribe
from ._errors import DistError, NotDistributed
from ._global import OPS as _GLOBAL_OPS, Names
from ._pg import OPS as _PG_OPS, Groups
from .wire import BadFrame, decode_op, encode_op, open_frame, seal

log = logging.getLogger(__name__)

__all__ = ["Node", "RemoteException", "current", "TOPIC"]

#: The topic every node hears; ``TOPIC + ":" + node`` is one node's own.
TOPIC = "beamish.dist"
#: Operations the writer puts in one frame at most.
BATCH = 256


@register_term
@dataclass(frozen=True)
class RemoteException:
    """An exception that ended a process, as another node reports it in a
    ``DOWN`` or exit signal (exceptions do not cross nodes themselves):
    its class's qualified name and its message."""

    type: str
    message: str


def _portable_reason(reason: Any) -> Any:
    """``reason`` if the codec carries it, else a :class:`RemoteException`
    (an exception) or its repr."""
    try:
        encode_op(reason)
        return reason
    except CodecError:
        if isinstance(reason, BaseException):
            cls = type(reason)
            return RemoteException(f"{cls.__module__}.{cls.__qualname__}", str(reason))
        return repr(reason)


class _Peer:
    """What this node knows of another node."""

    __slots__ = ("name", "creation", "up", "last_seen", "epoch", "their_epoch", "hello_at")

    def __init__(self, name: str, creation: int) -> None:
        self.name = name
        self.creation = creation
        self.up = False
        self.last_seen = time.monotonic()
        self.epoch = int.from_bytes(os.urandom(6), "big")
        self.their_epoch: Optional[int] = None
        self.hello_at = 0.0


_current: Optional["Node"] = None


def current() -> "Node":
    """The running node agent.  Raises :class:`NotDistributed` if none."""
    if _current is None:
        raise NotDistributed("distribution is not started on this node (start beamish.dist.Dist)")
    return _current


class Node:
    """This node's distribution: the remote router, the peers, the tables.

    Its methods run in whichever process calls them (the router's in the
    sender's, the frame handlers in the agent's); none of them blocks.
    """

    def __init__(self, pubsub: str, secret: bytes, heartbeat: float, down_period: float,
                 max_frame: int) -> None:
        self.pubsub = pubsub
        self.name = _node()
        self.creation = node_creation()
        self.secret = secret
        self.heartbeat = heartbeat
        self.down_period = down_period
        self.max_frame = max_frame
        self.peers: dict = {}
        self.agent: Any = None          # the agent's Process record
        self.writer: Any = None         # the writer's Process record
        #: agent monitor ref -> what it stands for: ("mon", node, watcher, ref),
        #: ("name", name), ("member", pid) or ("watcher", pid).
        self.watch: dict = {}
        #: node -> {remote monitor ref: agent monitor ref}
        self.served: dict = {}
        #: monitor_node: node -> {watcher pid: count}; monitor_nodes: {pid: count}
        self.node_watchers: dict = {}
        self.all_watchers: dict = {}
        self.watcher_refs: dict = {}    # watcher pid -> agent monitor ref
        # Statistics, for tests and the benchmark.
        self.bad_frames = 0
        self.dropped = 0
        self.frames_in = 0
        self.frames_out = 0
        self._last_bad_log = 0.0
        self.names = Names(self)
        self.groups = Groups(self)

    # ------------------------------------------------------------ outbound
    def _out(self, node: Optional[str], op: tuple) -> None:
        """Queue ``op`` for ``node`` (None: every node) to the writer."""
        data = encode_op(op)
        w = self.writer
        if w is not None and w.alive:
            deliver(w, (node, data))

    def _peer_for(self, node: str, creation: Optional[int]) -> Optional[_Peer]:
        """The up peer ``node`` whose incarnation is ``creation`` (any, for None)."""
        peer = self.peers.get(node)
        if peer is None or not peer.up:
            return None
        if creation is not None and creation != peer.creation:
            return None
        return peer

    # ------------------------------------------------- the remote router
    def send(self, dest: Any, msg: Any) -> None:
        if dest.__class__ is tuple:
            node, target, creation = dest[1], dest[0], None
        else:
            node, target, creation = dest.node, dest, dest.creation
        if self._peer_for(node, creation) is None:
            self.dropped += 1      # at most once: a node that is down loses it
            return
        self._out(node, ("m", target, msg))

    def monitor(self, watcher: Pid, ref: Ref, target: Any) -> None:
        if target.__class__ is tuple:
            node, creation, what = target[1], None, target[0]
        else:
            node, creation, what = target.node, target.creation, target
        peer = self.peers.get(node)
        if peer is None or not peer.up:
            remote_down(watcher, ref, "noconnection")
        elif creation is not None and creation != peer.creation:
            remote_down(watcher, ref, "noproc")      # a pid of an old incarnation
        else:
            self._out(node, ("mon", watcher, ref, what))

    def demonitor(self, watcher: Pid, ref: Ref, target: Any) -> None:
        node = target[1] if target.__class__ is tuple else target.node
        if self._peer_for(node, None) is not None:
            self._out(node, ("demon", ref))

    def link(self, from_: Pid, to: Pid) -> None:
        peer = self.peers.get(to.node)
        if peer is None or not peer.up:
            remote_exit(from_, to, "noconnection", True)
        elif to.creation != peer.creation:
            remote_exit(from_, to, "noproc", True)
        else:
            self._out(to.node, ("link", from_, to))

    def unlink(self, from_: Pid, to: Pid) -> None:
        if self._peer_for(to.node, to.creation) is not None:
            self._out(to.node, ("unlink", from_, to))

    def exit(self, from_: Pid, to: Pid, reason: Any, via_link: bool) -> None:
        if self._peer_for(to.node, to.creation) is not None:
            self._out(to.node, ("exit", from_, to, _portable_reason(reason), via_link))

    # ------------------------------------------------------------- inbound
    def on_frame(self, frame: bytes) -> None:
        try:
            src, creation, target, ops = open_frame(self.secret, frame, self.max_frame)
        except BadFrame as e:
            self._bad_frame(e)
            return
        if src == self.name or (target is not None and target != self.name):
            return
        self.frames_in += 1
        peer = self.peers.get(src)
        if peer is not None and peer.creation != creation:
            if peer.up:
                log.warning("dist: node %s restarted (new creation); its old pids are dead",
                            src)
                self.node_down(src)
            peer = None
        if peer is None:
            peer = self.peers[src] = _Peer(src, creation)
        peer.last_seen = time.monotonic()
        for data in ops:
            try:
                op = decode_op(data)
                handler = _HANDSHAKE.get(op[0])
                if handler is not None:
                    handler(self, peer, op)
                elif peer.up:
                    handler = _OPS.get(op[0])
                    if handler is not None:
                        handler(self, peer, op)
            except (CodecError, TypeError, ValueError, IndexError, AttributeError) as e:
                self._bad_frame(e)

    def _bad_frame(self, error: Exception) -> None:
        """Count and log a dropped frame, at most one log line a second
        (whoever can publish on the engine could otherwise flood the log)."""
        self.bad_frames += 1
        now = time.monotonic()
        if now - self._last_bad_log > 1.0:
            self._last_bad_log = now
            log.warning("dist: dropped a frame (%s); %d dropped so far", error, self.bad_frames)

    # -- handshake
    def _hb(self, peer: _Peer, op: tuple) -> None:
        now = time.monotonic()
        if not peer.up and now - peer.hello_at >= self.heartbeat:
            peer.hello_at = now
            self._out(peer.name, ("hello", peer.epoch))

    def _hello(self, peer: _Peer, op: tuple) -> None:
        epoch = op[1]
        if peer.up and peer.their_epoch != epoch:
            self.node_down(peer.name)       # it dropped us: drop the old connection too
        if not peer.up:
            peer.their_epoch = epoch
            self._out(peer.name, ("welcome", peer.epoch))
            self.node_up(peer)
        else:
            self._out(peer.name, ("welcome", peer.epoch))

    def _welcome(self, peer: _Peer, op: tuple) -> None:
        epoch = op[1]
        if peer.up and peer.their_epoch != epoch:
            self.node_down(peer.name)
        if not peer.up:
            peer.their_epoch = epoch
            self.node_up(peer)

    # -- processes
    def _m(self, peer: _Peer, op: tuple) -> None:
        target, msg = op[1], op[2]
        if target.__class__ is str:
            target = whereis(target)
            if target is None:
                return                  # Erlang: a remote send to no name is dropped
        send(target, msg)

    def _mon(self, peer: _Peer, op: tuple) -> None:
        _, watcher, ref, what = op
        pid = whereis(what) if what.__class__ is str else what
        proc = lookup(pid) if pid is not None else None
        if proc is None or not proc.alive:
            self._out(peer.name, ("down", watcher, ref, "noproc"))
            return
        mref = monitor_as(self.agent, pid)
        self.watch[mref] = ("mon", peer.name, watcher, ref)
        self.served.setdefault(peer.name, {})[ref] = mref

    def _demon(self, peer: _Peer, op: tuple) -> None:
        mref = self.served.get(peer.name, {}).pop(op[1], None)
        if mref is not None:
            self.watch.pop(mref, None)
            demonitor_as(self.agent, mref)

    def _down(self, peer: _Peer, op: tuple) -> None:
        _, watcher, ref, reason = op
        remote_down(watcher, ref, reason)

    def _link(self, peer: _Peer, op: tuple) -> None:
        _, from_, to = op
        if not remote_link(to, from_):
            self._out(peer.name, ("exit", to, from_, "noproc", True))

    def _unlink(self, peer: _Peer, op: tuple) -> None:
        remote_unlink(op[2], op[1])

    def _exit(self, peer: _Peer, op: tuple) -> None:
        _, from_, to, reason, via_link = op
        remote_exit(to, from_, reason, via_link)

    # ----------------------------------------------------- agent's events
    def on_down(self, msg: Down) -> None:
        """A DOWN of one of the agent's own monitors."""
        what = self.watch.pop(msg.ref, None)
        if what is None:
            return
        kind = what[0]
        if kind == "mon":
            _, node, watcher, ref = what
            served = self.served.get(node)
            if served is not None:
                served.pop(ref, None)
            if self._peer_for(node, None) is not None:
                self._out(node, ("down", watcher, ref, _portable_reason(msg.reason)))
        elif kind == "name":
            self.names.owner_down(what[1], msg.pid)
        elif kind == "member":
            self.groups.member_down(msg.pid)
        elif kind == "watcher":
            self._drop_watcher(msg.pid)

    def tick(self) -> None:
        """Every heartbeat: say we are alive, drop peers silent too long."""
        self._out(None, ("hb",))
        now = time.monotonic()
        for peer in list(self.peers.values()):
            if peer.up and now - peer.last_seen > self.down_period:
                log.warning("dist: node %s is down (silent for %.1f s)", peer.name,
                            now - peer.last_seen)
                self.node_down(peer.name)

    def node_up(self, peer: _Peer) -> None:
        peer.up = True
        log.info("dist: node %s is up", peer.name)
        self.names.sync_to(peer.name)
        self.groups.sync_to(peer.name)
        for pid in list(self.all_watchers):
            send(pid, ("nodeup", peer.name))

    def node_down(self, node: str) -> None:
        """Drop the connection to ``node``: see the module docstring."""
        peer = self.peers.get(node)
        if peer is None or not peer.up:
            return
        peer.up = False
        peer.their_epoch = None
        peer.epoch = int.from_bytes(os.urandom(6), "big")
        for mref in self.served.pop(node, {}).values():
            self.watch.pop(mref, None)
            demonitor_as(self.agent, mref)
        for proc in runtime_view().processes():
            monitors, links = proc.monitors, proc.links
            if monitors:
                gone = [ref for ref, key in monitors.items()
                        if (key[1] if key.__class__ is tuple else
                            getattr(key, "node", None)) == node]
                for ref in gone:
                    remote_down(proc.pid, ref, "noconnection")
            if links:
                for other in [p for p in links if p.node == node]:
                    remote_exit(proc.pid, other, "noconnection", True)
        self.names.node_down(node)
        self.groups.node_down(node)
        for pid, count in self.node_watchers.pop(node, {}).items():
            for _ in range(count):
                send(pid, ("nodedown", node))
        for pid in list(self.all_watchers):
            send(pid, ("nodedown", node))

    def stop(self) -> None:
        """Distribution ends: every connection goes down."""
        for node in [p.name for p in self.peers.values() if p.up]:
            self.node_down(node)

    # -------------------------------------------------------- node watching
    def _watch_process(self, pid: Pid) -> None:
        if pid not in self.watcher_refs:
            mref = monitor_as(self.agent, pid)
            self.watcher_refs[pid] = mref
            self.watch[mref] = ("watcher", pid)

    def _drop_watcher(self, pid: Pid) -> None:
        self.watcher_refs.pop(pid, None)
        self.all_watchers.pop(pid, None)
        for watchers in self.node_watchers.values():
            watchers.pop(pid, None)

    def monitor_node(self, pid: Pid, node: str, flag: bool) -> None:
        if not flag:
            watchers = self.node_watchers.get(node)
            if watchers:
                watchers.pop(pid, None)
            return
        if self._peer_for(node, None) is None:
            send(pid, ("nodedown", node))
            return
        watchers = self.node_watchers.setdefault(node, {})
        watchers[pid] = watchers.get(pid, 0) + 1
        self._watch_process(pid)

    def monitor_nodes(self, pid: Pid, flag: bool) -> None:
        if flag:
            self.all_watchers[pid] = True
            self._watch_process(pid)
        else:
            self.all_watchers.pop(pid, None)


_HANDSHAKE = {"hb": Node._hb, "hello": Node._hello, "welcome": Node._welcome}
_OPS = {"m": Node._m, "mon": Node._mon, "demon": Node._demon, "down": Node._down,
        "link": Node._link, "unlink": Node._unlink, "exit": Node._exit,
        **_GLOBAL_OPS, **_PG_OPS}


# ----------------------------------------------------------- the processes
def _writer_main(node: Node) -> None:
    """Publish queued operations: runs for one node become one frame."""
    pubsub, me = node.pubsub, _self()
    own = f"{TOPIC}:"
    while True:
        batch = [receive()]
        while len(batch) < BATCH:
            more = receive(timeout=0, default=None)
            if more is None:
                break
            batch.append(more)
        i = 0
        while i < len(batch):
            target = batch[i][0]
            ops = []
            while i < len(batch) and batch[i][0] == target:
                ops.append(batch[i][1])
                i += 1
            frame = seal(node.secret, node.name, node.creation, target, ops)
            node.frames_out += 1
            if target is None:
                broadcast_from(pubsub, me, TOPIC, frame)
            else:
                direct_broadcast(pubsub, target, own + target, frame)


def _agent_main(node: Node, starter: Pid, ack: Ref) -> None:
    global _current
    node.agent = current_process()
    subscribe(node.pubsub, TOPIC)
    subscribe(node.pubsub, f"{TOPIC}:{node.name}")
    node.writer = lookup(spawn_link(_writer_main, node))
    _current = node
    set_remote_router(node)
    send(starter, (ack, "ok"))
    try:
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_tick:
                node.tick()
                next_tick = now + node.heartbeat
            msg = receive(timeout=max(0.0, next_tick - time.monotonic()), default=None)
            if msg is None:
                continue
            if msg.__class__ is bytes:
                node.on_frame(msg)
            elif msg.__class__ is Down:
                node.on_down(msg)
    finally:
        set_remote_router(None)
        _current = None
        node.stop()


def start_link(pubsub: str, secret: Any, heartbeat: float, down_period: float,
               max_frame: int) -> Pid:
    """Start the agent (linked to the caller) once this node's routing is
    in place; see :class:`beamish.dist.Dist`."""
    if _current is not None:
        raise DistError("distribution is already running on this node")
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes) or not secret:
        raise DistError("a cluster secret (non-empty bytes or str) is required")
    if heartbeat <= 0 or down_period <= heartbeat:
        raise BadArg(f"need 0 < heartbeat < down_period, got {heartbeat} and {down_period}")
    if node_name(pubsub) != _node():
        raise DistError(f"PubSub {pubsub!r} speaks for node {node_name(pubsub)!r}, not this "
                        f"node {_node()!r}")
    node = Node(pubsub, secret, heartbeat, down_period, max_frame)
    ack = make_ref()
    pid = spawn_link(_agent_main, node, _self(), ack)
    msg = receive((ack, "ok"), timeout=5.0, default=None)
    if msg is None:
        _exit(pid, "kill")
        raise DistError("the distribution agent did not start")
    return pid
