"""Tracker: shard processes that own a presence State and replicate it.

Phoenix.Tracker on beamish's PubSub.  A tracker named ``name`` has
``pool_size`` shards on every node; a topic belongs to shard
``crc32(topic) % pool_size``, and shard ``i`` of every node replicates
with shard ``i`` of the others over the PubSub topic
``"beamish_presence:<name>:<i>"`` (``cluster_name`` replaces ``name``
there, for several nodes in one OS process), so replication works on any
adapter:
the local one (a single node), Redis (a cluster) or the in-memory one
(fast cluster tests).

Every ``broadcast_period`` a shard heartbeats its delta (or, after
``max_silent_periods`` quiet ticks, an empty heartbeat); marks peers down
after ``down_period`` of silence (their entries are hidden, leaves are
reported) and forgets them after ``permdown_period``; and every
``clock_sample_periods`` ticks asks for a transfer from exactly the peers
whose clocks, as seen in their heartbeats, are maximal.  Healing is
quick: a shard heartbeats every tick while a peer is down, and when a
peer comes (back) up it heartbeats at once and asks that peer for a
transfer; a shard that was itself paused (a stopped OS process) does not
count its own pause as its peers' silence.  A node that
restarts is a new replica (same name, new ``vsn``): its old incarnation's
entries leave and the new ones join.  A tracked process is linked: when it
dies, its entries leave everywhere.

``handle_diff(topic, joins, leaves)`` is called in the shard with
``[(key, meta), ...]`` lists: for every change it sees (local or merged)
when ``diff_window`` is 0, or else once per topic per window.  A window
coalesces the topic's changes: each changed entry appears once, as a join
if it is visible at the window's end and as a leave if not (see
``_diffs.py`` for why a client syncing such diffs ends where it would
have with one diff per change).  On a busy topic that turns n joins into
one diff instead of n, each of them sent to every member.  Each topic
has its own window, from its first change: ``diff_window``, growing with
the topic's size when ``diff_rate`` is set, and cut short when a big
topic goes quiet (see :meth:`TrackerShard._due`), so that a big room's
diffs cost the node a bounded number of deliveries a second and its
members still hear of the last join of a burst about ``diff_window``
after it.
"""
from __future__ import annotations

import base64
import itertools
import logging
import os
import random
import struct
import time
import zlib
from typing import Any, Callable, Optional

import gevent

from ..lowlevel import current_process, instance_table, put_instance, register_term as register
from ..lowlevel import tags
from ..core import (BadArg, ExitMsg, cancel_timer, link, make_ref, node as _node, process_flag,
                    self as _self, send_after, unlink)
from ..otp import ChildSpec, GenServer, Supervisor, call, start_server
from ..pubsub import broadcast_from, direct_broadcast, node_name as _ps_node_name, subscribe
from . import _clock, _delta_generation as _gens, _state as S
from ._diffs import DiffBuffer
from ._errors import AlreadyTracked, NoPresence
from ._records import Delta, Entry, Extract, Replica, ReplicaStatus, new_replica

log = logging.getLogger(__name__)

__all__ = ["Tracker", "track", "untrack", "update", "list_", "list_view", "get_by_key",
           "replicas", "purge", "trackers"]

for _cls in (Replica, Entry, Delta, Extract):
    register(_cls, f"beamish.presence.{_cls.__name__}")

#: The running trackers by name, a live read-only view of the named
#: instances of kind ``"tracker"``: ``{"shards": [TrackerShard or None],
#: "pool_size": n, "class": "Presence"}``, owned by the tracker's
#: supervisor process, so a tracker that ends however it ends (even
#: killed) leaves nothing behind.  Each shard fills its slot when it starts.
_trackers = instance_table("tracker")


_ref_counter = itertools.count(int.from_bytes(os.urandom(2), "big"))


def _phx_ref() -> str:
    """16 url-safe chars from 12 bytes: ns time, a node hash, a counter."""
    raw = struct.pack(">QHH", time.time_ns() & 0xFFFFFFFFFFFFFFFF,
                      zlib.crc32(_node().encode()) & 0xFFFF, next(_ref_counter) & 0xFFFF)
    return base64.urlsafe_b64encode(raw).decode()


#: The most entries a shard handles (merges, reports, hands to handle_diff)
#: without letting the other greenlets of the node run: a few milliseconds.
SLICE = 2000


#: The entries from which a topic's cached view is carried forward by its
#: diffs rather than rebuilt at the next read after each (see list_view):
#: below, a rebuild costs little and gives the first reader after a
#: window the topic as it is then, its own join included.
CARRY = 64


def _pause() -> None:
    """Let the rest of the node run between two slices of work, timers and
    I/O included: ``gevent.sleep(0)`` would only let the greenlets that
    are ready already run, and a 1 ms timer would still wait for the end."""
    gevent.sleep(0.0001)


def _slices(items: list) -> Any:
    """``items`` in slices of :data:`SLICE`, pausing (:func:`_pause`) between."""
    for i in range(0, len(items), SLICE):
        if i:
            _pause()
        yield items[i:i + SLICE]


def shard_for(topic: str, pool_size: int) -> int:
    return zlib.crc32(topic.encode() if isinstance(topic, str) else repr(topic).encode()) % pool_size


_TICK = tags.TICK
_FLUSH_DIFFS = tags.FLUSH_DIFFS
#: A big topic's bucket of deliveries for early diffs holds this many
#: times its size (see TrackerShard._due).
_BUCKET = 3.0
#: A topic whose window ends this soon after a flush is flushed with it,
#: rather than by a timer of its own a moment later.
_EARLY = 0.002


class TrackerShard(GenServer):
    """One shard: its State, timers and replication (see module docstring)."""

    def init(self, name: str, index: int, pubsub: str, opts: dict) -> None:
        process_flag("trap_exit", True)
        self.name, self.index, self.pubsub = name, index, pubsub
        self.topic = f"beamish_presence:{opts['cluster_name'] or name}:{index}"
        self.node = _ps_node_name(pubsub)
        self.state = S.State(new_replica(self.node))
        self.opts = opts
        self.handle_diff: Optional[Callable] = opts.get("handle_diff")
        self.peers: dict = {}          # node name -> [Replica, last heard (monotonic)]
        self.pending: list = []        # clockset of heartbeats since the last check
        self.generations: list = []
        self.silent = opts["max_silent_periods"]   # so the first tick heartbeats
        self.ticks = 0
        self.last_tick = time.monotonic()
        self.pids: dict = {}           # pid -> number of entries (for unlink)
        self.window: float = opts.get("diff_window", 0.0)
        self.diff_rate: float = opts.get("diff_rate", 0.0)
        self.max_window: float = opts.get("max_diff_window", 0.0)
        self.unsent = DiffBuffer()     # changes waiting for their topic's window to end
        self.flush_timer: Any = None   # the one timer for the next window's end
        self.flush_at = 0.0            # ... and when that is (monotonic)
        self.budgets: dict = {}        # topic -> (deliveries left, when) (see _due)
        self.views: dict = {}          # topic -> [view of its list, advance] (see list_view)
        self._pid = current_process().pid
        subscribe(pubsub, self.topic)
        _trackers[name]["shards"][index] = self
        first = opts["broadcast_period"] * random.uniform(0, 0.25)
        send_after(first, _self(), _TICK)

    # ------------------------------------------------------------ local ops
    def handle_call(self, request: Any, from_: tuple) -> Any:
        op = request[0]
        if op == "track":
            _, pid, topic, key, meta = request
            ref = _phx_ref()
            meta = dict(meta, phx_ref=ref)
            try:
                _, joins, leaves = S.join(self.state, pid, topic, key, meta)
            except AlreadyTracked:
                return ("error", ("already_tracked", pid, topic, key))
            self._linked(pid, +1)
            self._report(joins, leaves)
            return ("ok", ref)
        if op == "untrack":
            _, pid, topic, key = request
            if topic is None:
                _, joins, leaves = S.leave_pid(self.state, pid)
                self._linked(pid, -len(leaves))
            else:
                _, joins, leaves = S.leave(self.state, pid, topic, key)
                self._linked(pid, -len(leaves))
            self._report(joins, leaves)
            return ("ok", None)
        if op == "update":
            _, pid, topic, key, meta_or_fn = request
            old = S.get_local(self.state, pid, topic, key)
            if old is None:
                return ("error", "nopresence")
            meta = meta_or_fn(dict(old.meta)) if callable(meta_or_fn) else dict(meta_or_fn)
            ref = _phx_ref()
            meta.update(phx_ref=ref, phx_ref_prev=old.meta.get("phx_ref"))
            _, joins, leaves = S.update(self.state, pid, topic, key, meta)
            self._report(joins, leaves)
            return ("ok", ref)
        if op == "replicas":
            return {n: ("up" if self.state.replicas.get(r) is ReplicaStatus.UP else "down")
                    for n, (r, _) in self.peers.items()}
        if op == "purge":
            return self._purge(request[1])
        if op == "state":
            return self.state
        raise ValueError(f"unknown tracker request {request!r}")

    def _linked(self, pid: Any, delta: int) -> None:
        n = self.pids.get(pid, 0) + delta
        if n > 0:
            if pid not in self.pids:
                link(pid)
            self.pids[pid] = n
        elif pid in self.pids:
            del self.pids[pid]
            unlink(pid)

    def _report(self, joins: list, leaves: list) -> None:
        """Account for visible changes: hand them to ``handle_diff`` now
        (``diff_window`` 0) or when their topic is due (see
        :meth:`_due`), and drop the cached views of their topics
        then (see :func:`list_view`).  A big merge's thousands of changes
        are taken a slice at a time, so that the node keeps running."""
        if not (joins or leaves):
            return
        views = self.views
        if views and (self.window <= 0 or self.handle_diff is None):
            for topic in {e.topic for e in joins} | {e.topic for e in leaves}:
                views.pop(topic, None)
        if self.handle_diff is None:
            return
        now = time.monotonic()
        new: list = []
        for part in _slices(leaves):
            new += self.unsent.add((), part, now)
        for part in _slices(joins):
            new += self.unsent.add(part, (), now)
        if self.window <= 0:
            self._flush_diffs()
        elif new:
            self._arm_flush(min(self._due(t, now) for t in new))

    def _window_of(self, n: int) -> float:
        """The longest a change of a topic of ``n`` presences waits while
        the topic stays busy: ``n / diff_rate``, at least ``diff_window``
        and at most ``max_diff_window`` (``diff_window`` if no rate)."""
        window = self.window
        if self.diff_rate > 0:
            window = max(window, min(n / self.diff_rate, self.max_window))
        return window

    def _tokens(self, topic: Any, n: int, now: float) -> float:
        """The deliveries ``topic`` may spend on an early diff now: its
        bucket refills at twice the rate its windows spend, 2n a window
        (twice ``diff_rate``, or more for a topic whose window is capped),
        up to :data:`_BUCKET` n (full when it has no record: the topic was
        quiet long enough)."""
        record = self.budgets.get(topic)
        if record is None:
            return _BUCKET * n
        tokens, stamp = record
        return min(_BUCKET * n, tokens + 2.0 * n / self._window_of(n) * (now - stamp))

    def _due(self, topic: Any, now: float) -> float:
        """When ``topic``'s pending changes are to be handed on.

        Every diff of a topic goes to each of its n members, so a fixed
        window costs ``n / window`` deliveries a second, which grows with
        the room until fanning diffs out is all the node does (a room of
        10,000 at 25 ms: 400,000 a second).  So a topic's changes wait:

        * at most its window (:meth:`_window_of`) from the first one:
          while changes keep coming a big topic sends ``diff_rate``
          deliveries a second, whatever the join rate, and a small one
          keeps ``diff_window``;
        * or, once no change came for ``diff_window`` (the burst is over:
          the last joiner's peers should not wait a whole long window),
          only until its bucket holds n deliveries (:meth:`_tokens`).
          Every diff spends n and the bucket refills at 2n a window, up
          to 3n: a busy topic's windows spend half of what refills, so
          the bucket still holds n for the quiet diff at the burst's end
          after an early diff on a pause within the burst, and a
          topic whose changes trickle in just slower than ``diff_window``
          (or whose burst pauses) costs at most twice what its windows
          would.

        ``n`` is the topic's presences as this shard holds them (every
        node's), read in O(1): a bound on the members a diff reaches here.
        """
        since, latest = self.unsent.since[topic], self.unsent.latest[topic]
        n = len(self.state.topics.get(topic, ()))
        due = since + self._window_of(n)
        if self.diff_rate > 0 and due > since + self.window:
            short = self._tokens(topic, n, now) - n
            early = latest + self.window
            if short < 0:
                early = max(early, now - short * self._window_of(n) / (2.0 * n))
            due = min(due, early)
        return due

    def _spend(self, topic: Any, now: float) -> None:
        """A diff of ``topic`` goes out now: its n deliveries leave the
        bucket (of a topic big enough to have one, see :meth:`_due`)."""
        n = len(self.state.topics.get(topic, ()))
        if self.diff_rate > 0 and self._window_of(n) > self.window:
            self.budgets[topic] = (self._tokens(topic, n, now) - n, now)

    def _arm_flush(self, due: float) -> None:
        """Make the next window's end come at ``due`` at the latest: one
        timer at a time, moved earlier when a topic due sooner appears."""
        if self.flush_timer is not None:
            if self.flush_at <= due:
                return
            cancel_timer(self.flush_timer)
        self.flush_at = due
        self.flush_timer = send_after(max(0.0, due - time.monotonic()), _self(), _FLUSH_DIFFS)

    def _flush_diffs(self, every: bool = True) -> None:
        """One ``handle_diff`` per changed topic that is due (:meth:`_due`;
        all of them if ``every``), or, for a change bigger than a slice,
        one per slice (see DiffBuffer.take_slices), yielding (see _pause)
        between slices; then the timer for the next topic due."""
        ready = None
        now = time.monotonic()
        if not every:
            def ready(topic: Any) -> bool:
                return self._due(topic, now) <= now + _EARLY
        last = None
        for i, (topic, joins, leaves) in enumerate(self.unsent.take_slices(SLICE, ready)):
            if i:
                _pause()
            if topic != last and self.window > 0:
                self._spend(topic, now)
                last = topic
            self._advance_view(topic, joins, leaves)
            self._call_handle_diff(topic, joins, leaves)
        if self.unsent and self.window > 0:
            now = time.monotonic()
            self._arm_flush(min(self._due(t, now) for t in self.unsent.topics))

    def _forget_budgets(self, now: float) -> None:
        """Drop the buckets that are full again (no record means full), so
        that the quiet topics of a long-running node keep none."""
        for topic, (tokens, stamp) in list(self.budgets.items()):
            n = len(self.state.topics.get(topic, ()))
            if n == 0 or tokens + 2.0 * n / self._window_of(n) * (now - stamp) >= _BUCKET * n:
                del self.budgets[topic]

    def _advance_view(self, topic: Any, joins: list, leaves: list) -> None:
        """Bring the cached view of ``topic`` (see :func:`list_view`) up to
        this diff: with the view's ``advance``, in O(changes), on a topic
        of :data:`CARRY` entries or more, or else by dropping it for a
        rebuild at the next read."""
        cached = self.views.get(topic)
        if cached is None:
            return
        view, advance = cached
        if advance is None or len(self.state.topics.get(topic, ())) < CARRY:
            del self.views[topic]
            return
        try:
            cached[0] = advance(view, joins, leaves)
        except Exception as e:  # a view is a cache: rebuild it rather than fail
            log.error("tracker %s: advancing the view of %r failed: %r", self.name, topic, e,
                      exc_info=e)
            del self.views[topic]

    def _call_handle_diff(self, topic: Any, joins: list, leaves: list) -> None:
        try:
            self.handle_diff(topic, joins, leaves)  # type: ignore[misc]
        except Exception as e:  # a diff hook must not take replication down
            log.error("tracker %s: handle_diff failed for %r: %r", self.name, topic, e,
                      exc_info=e)

    # ------------------------------------------------------------ messages
    def handle_info(self, msg: Any) -> Any:
        if msg == _TICK:
            self._tick()
            send_after(self.opts["broadcast_period"], _self(), _TICK)
            return None
        if msg == _FLUSH_DIFFS:
            self.flush_timer = None
            self._flush_diffs(every=False)
            return None
        if msg.__class__ is ExitMsg:
            if msg.pid in self.pids:
                self.pids.pop(msg.pid, None)
                _, joins, leaves = S.leave_pid(self.state, msg.pid)
                self._report(joins, leaves)
            return None
        if isinstance(msg, tuple) and msg:
            kind = msg[0]
            if kind == "heartbeat":
                self._heartbeat(*msg[1:])
            elif kind == "transfer_req":
                self._transfer_req(*msg[1:])
            elif kind == "transfer_ack":
                self._transfer_ack(*msg[1:])
            elif kind == "graceful_permdown":
                self._permdown(msg[1])
            return None
        return super().handle_info(msg)

    def _tick(self) -> None:
        """Heartbeat (see :meth:`_beat`), sample clocks, check liveness.

        A tick more than a period late means this shard itself did not run
        (its OS process stopped, or the node busy): the peers' silence in
        that time is ours, not theirs, so it is taken off their last-heard
        times before judging them, and the shard heartbeats at once, since
        the peers may have marked it down meanwhile.  While a peer is down
        the shard heartbeats every tick, so that both sides of a healed
        partition hear each other within a period.
        """
        opts = self.opts
        now = time.monotonic()
        late = now - self.last_tick - opts["broadcast_period"]
        self.last_tick = now
        paused = late > opts["broadcast_period"]
        if paused:
            for peer in self.peers.values():
                peer[1] = min(now, peer[1] + late)
        if (paused or S.has_delta(self.state) or self.silent >= opts["max_silent_periods"]
                or self._a_peer_is_down()):
            self._beat()
        else:
            self.silent += 1
        self.ticks += 1
        if self.budgets:
            self._forget_budgets(now)
        if self.ticks % opts["clock_sample_periods"] == 0:
            self._request_transfers()
        self._check_liveness()

    def _beat(self) -> None:
        """Publish a heartbeat: the delta since the last one (or nothing)
        with this shard's clock."""
        st = self.state
        if S.has_delta(st):
            _, delta = S.reset_delta(st)
            S.compact(st)
            self._publish(("heartbeat", st.replica, delta, S.clocks(st)[1]))
            self.generations = _gens.push(self.generations, delta, self.opts["max_delta_sizes"])
        else:
            self._publish(("heartbeat", st.replica, None, S.clocks(st)[1]))
        self.silent = 0

    def _a_peer_is_down(self) -> bool:
        replicas = self.state.replicas
        return any(replicas.get(r) is not ReplicaStatus.UP for r, _ in self.peers.values())

    def _publish(self, msg: tuple) -> None:
        broadcast_from(self.pubsub, current_process().pid, self.topic, msg)

    def _known(self, replica: Replica) -> bool:
        """Learn or refresh a peer from a message it sent; True if usable."""
        if replica.name == self.node:
            return False
        now = time.monotonic()
        peer = self.peers.get(replica.name)
        if peer is not None and peer[0] != replica:
            old = peer[0]
            if old.vsn > replica.vsn:
                return False  # a message from an incarnation already replaced
            log.info("tracker %s: %s restarted (vsn %d -> %d)", self.name, replica.name,
                     old.vsn, replica.vsn)
            self._drop_replica(old)
            peer = None
        if peer is None:
            self.peers[replica.name] = [replica, now]
        else:
            peer[1] = now
        if self.state.replicas.get(replica) is not ReplicaStatus.UP:
            _, joins, leaves = S.replica_up(self.state, replica)
            self._report(joins, leaves)
            self._came_up(replica)
        return True

    def _came_up(self, replica: Replica) -> None:
        """A peer is new or back from down: heartbeat at once, so that it
        hears from us now rather than within ``max_silent_periods``, and
        ask it at once for what we missed of it (a transfer), rather than
        at the next clock sample."""
        self._beat()
        own = S.clocks(self.state)
        direct_broadcast(self.pubsub, replica.name, self.topic,
                         ("transfer_req", make_ref(), own[0], own[1]))

    def _heartbeat(self, replica: Replica, delta: Optional[Delta], clock: dict) -> None:
        if not self._known(replica):
            return
        if delta is not None:
            joins, leaves = self._merge(delta)
            self._report(joins, leaves)
            self.generations = _gens.push(self.generations, delta, self.opts["max_delta_sizes"])
        self.pending = _clock.append_clock(self.pending, (replica, clock))

    def _merge(self, payload: Any) -> tuple[list, list]:
        """Merge a peer's payload, a slice at a time, letting every other
        greenlet run between slices (see _pause): a transfer of 100k entries would
        otherwise hold the whole node (and its heartbeats) for seconds.
        The shard itself handles no message until the merge is done, so
        the merge stays atomic for everything that goes through it."""
        steps = S.merge_slices(self.state, payload, SLICE)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value[1], done.value[2]
            _pause()

    def _request_transfers(self) -> None:
        own = S.clocks(self.state)
        for replica in _clock.replicas_to_ask(self.pending, own):
            if self.state.replicas.get(replica) is ReplicaStatus.UP:
                direct_broadcast(self.pubsub, replica.name, self.topic,
                                 ("transfer_req", make_ref(), own[0], own[1]))
        self.pending = []

    def _transfer_req(self, ref: Any, replica: Replica, context: dict) -> None:
        if not self._known(replica):
            return
        payload = _gens.extract(self.state, self.generations, replica, context)
        direct_broadcast(self.pubsub, replica.name, self.topic,
                         ("transfer_ack", ref, self.state.replica, payload))

    def _transfer_ack(self, ref: Any, replica: Replica, payload: Any) -> None:
        if not self._known(replica):
            return
        joins, leaves = self._merge(payload)
        # A transfer answer is filtered for us (our own entries left out): it
        # must never become part of a generation we later answer others from.
        self.generations = []
        self._report(joins, leaves)

    def _check_liveness(self) -> None:
        now = time.monotonic()
        for name, (replica, heard) in list(self.peers.items()):
            silent = now - heard
            if silent > self.opts["permdown_period"]:
                log.info("tracker %s: %s permanently down", self.name, name)
                self._drop_replica(replica)
            elif silent > self.opts["down_period"]:
                if self.state.replicas.get(replica) is ReplicaStatus.UP:
                    log.info("tracker %s: %s down after %.1f s of silence", self.name, name,
                             silent)
                    _, joins, leaves = S.replica_down(self.state, replica)
                    self._report(joins, leaves)

    def _drop_replica(self, replica: Replica) -> None:
        """Permdown: forget ``replica`` and everything it owned."""
        if replica.name in self.peers and self.peers[replica.name][0] == replica:
            del self.peers[replica.name]
        _, joins, leaves = S.replica_down(self.state, replica)
        self._report(joins, leaves)
        _, joins, leaves = S.remove_down_replicas(self.state, replica)
        self._report(joins, leaves)
        self.generations = _gens.remove_down_replicas(self.generations, replica)
        self.pending = [(r, c) for r, c in self.pending if r != replica]

    def _permdown(self, replica: Replica) -> None:
        peer = self.peers.get(replica.name)
        if peer is not None and peer[0] == replica:
            self._drop_replica(replica)

    def _purge(self, node_name: str) -> Any:
        peer = self.peers.get(node_name)
        if peer is None:
            gone = {e.replica for e in S.online_list(self.state)
                    if e.replica.name == node_name}
            for r in gone:
                self._drop_replica(r)
            return ("ok", len(gone))
        self._drop_replica(peer[0])
        return ("ok", 1)

    def terminate(self, reason: Any) -> None:
        if self.unsent:
            self._flush_diffs()
        if self.opts.get("permdown_on_shutdown"):
            self._publish(("graceful_permdown", self.state.replica))
        shards = _trackers.get(self.name, {}).get("shards")
        if shards is not None and shards[self.index] is self:
            shards[self.index] = None


class Tracker(Supervisor):
    """The supervisor of one tracker's shards on this node."""

    @classmethod
    def start_link(cls, name: str, *, pubsub: str, **opts: Any) -> Any:  # type: ignore[override]
        return start_server(cls, (name, pubsub), opts, name=f"tracker:{name}", link=True)

    @classmethod
    def start(cls, name: str, *, pubsub: str, **opts: Any) -> Any:  # type: ignore[override]
        return start_server(cls, (name, pubsub), opts, name=f"tracker:{name}", link=False)

    @classmethod
    def child_spec(cls, name: str, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("tracker", name), start=cls.start_link, args=(name,), kwargs=opts,
                         type="supervisor", shutdown="infinity")

    def init(self, name: str, pubsub: str, *, pool_size: int = 1,  # type: ignore[override]
             broadcast_period: float = 1.5, max_silent_periods: int = 10,
             down_period: Optional[float] = None, permdown_period: float = 1200.0,
             clock_sample_periods: int = 2, max_delta_sizes: tuple = (100, 1000, 10_000),
             handle_diff: Optional[Callable] = None, permdown_on_shutdown: bool = False,
             cluster_name: Optional[str] = None, diff_window: float = 0.0,
             diff_rate: float = 0.0, max_diff_window: float = 0.0) -> Any:
        if down_period is None:
            down_period = broadcast_period * max_silent_periods * 2
        if down_period < 2 * broadcast_period:
            raise BadArg("down_period must be at least twice broadcast_period")
        if permdown_period <= down_period:
            raise BadArg("permdown_period must exceed down_period")
        if diff_window < 0 or diff_rate < 0 or max_diff_window < 0:
            raise BadArg("diff_window, diff_rate and max_diff_window must not be negative")
        opts = dict(broadcast_period=broadcast_period, max_silent_periods=max_silent_periods,
                    down_period=down_period, permdown_period=permdown_period,
                    clock_sample_periods=clock_sample_periods,
                    max_delta_sizes=tuple(max_delta_sizes), handle_diff=handle_diff,
                    permdown_on_shutdown=permdown_on_shutdown, cluster_name=cluster_name,
                    diff_window=diff_window, diff_rate=diff_rate,
                    max_diff_window=max_diff_window)
        put_instance("tracker", name, {"shards": [None] * pool_size, "pool_size": pool_size,
                                       "class": type(self).__name__})
        children = [ChildSpec(id=("shard", i), start=TrackerShard.start_link,
                              args=(name, i, pubsub, opts)) for i in range(pool_size)]
        return self.supervise(children, strategy="one_for_one", max_restarts=10, max_seconds=5)


# ------------------------------------------------------------------ API
def _info(tracker: str) -> dict:
    info = _trackers.get(tracker)
    if info is None:
        raise BadArg(f"no tracker named {tracker!r} is running")
    return info


def _shard_pid(tracker: str, topic: Any) -> Any:
    info = _info(tracker)
    shard = info["shards"][shard_for(topic, info["pool_size"])]
    if shard is None:
        raise BadArg(f"tracker {tracker!r}: shard for {topic!r} is restarting")
    return shard._pid


def track(tracker: str, pid: Any, topic: str, key: Any, meta: dict) -> str:
    """Track ``pid`` in ``topic`` under ``key``; returns the meta's ``phx_ref``.

    Raises:
        AlreadyTracked: (pid, topic, key) is tracked already.
    """
    status, value = call(_shard_pid(tracker, topic), ("track", pid, topic, key, meta))
    if status != "ok":
        raise AlreadyTracked(pid, topic, key)
    return value


def untrack(tracker: str, pid: Any, topic: Optional[str] = None, key: Any = None) -> None:
    """Stop tracking (pid, topic, key), or everything of ``pid`` when no topic
    is given.  Untracking what is not tracked is harmless."""
    if topic is not None:
        call(_shard_pid(tracker, topic), ("untrack", pid, topic, key))
        return
    for shard in _info(tracker)["shards"]:
        if shard is not None:
            call(shard._pid, ("untrack", pid, None, None))


def update(tracker: str, pid: Any, topic: str, key: Any, meta: Any) -> str:
    """Replace the meta (or apply ``meta(old) -> new``); returns the new
    ``phx_ref``; the new meta carries ``phx_ref_prev``.

    Raises:
        NoPresence: (pid, topic, key) is not tracked here.
    """
    status, value = call(_shard_pid(tracker, topic), ("update", pid, topic, key, meta))
    if status != "ok":
        raise NoPresence(pid, topic, key)
    return value


def list_(tracker: str, topic: str) -> list:
    """``[(key, meta), ...]`` for ``topic`` over replicas not down (read
    directly from the shard's state, as Phoenix reads its table)."""
    info = _info(tracker)
    shard = info["shards"][shard_for(topic, info["pool_size"])]
    if shard is None:
        return []
    return [(e.key, e.meta) for e in S.get_by_topic(shard.state, topic)]


def list_view(tracker: str, topic: str, build: Callable[[list], Any],
              advance: Optional[Callable[[Any, list, list], Any]] = None) -> Any:
    """``build(list_(tracker, topic))``, cached until the topic's next diff,
    or, with ``advance``, kept up to date by it.

    Without a diff window (or a ``handle_diff``) the shard drops a topic's
    view at every visible change of it.  With one, at the window's end,
    when it hands the window's diff of the topic to ``handle_diff``, it
    drops the view, or, given ``advance`` and a topic of :data:`CARRY`
    entries or more, replaces it with ``advance(view, joins, leaves)``
    (the diff's ``[(key, meta), ...]`` lists, which may come in several
    slices for a big change; ``advance`` returns a new view and leaves the
    old one as it was).  So the view may lag the topic by up to a window,
    but every change it misses is in the topic's next diff, which reaches
    whoever subscribed to the topic before reading the view (a diff's
    joins and leaves are idempotent on a client that has them already),
    and all the readers of one window share one view: on a busy topic,
    the n joins of one window cost one listing (and one encode of it),
    not n, and with ``advance`` a window costs what changed in it rather
    than a rebuild of the whole topic.  The value is shared by those
    readers: treat it as read-only.  ``build`` and ``advance`` are keyed
    by nothing but the topic, so one tracker must always pass the same
    ones.
    """
    info = _info(tracker)
    shard = info["shards"][shard_for(topic, info["pool_size"])]
    if shard is None:
        return build([])
    cached = shard.views.get(topic)
    if cached is None:
        view = build([(e.key, e.meta) for e in S.get_by_topic(shard.state, topic)])
        if topic in shard.state.topics:
            shard.views[topic] = [view, advance]
        return view
    return cached[0]


def get_by_key(tracker: str, topic: str, key: Any) -> list:
    """``[(pid, meta), ...]`` of ``key`` in ``topic``."""
    info = _info(tracker)
    shard = info["shards"][shard_for(topic, info["pool_size"])]
    if shard is None:
        return []
    return [(e.pid, e.meta) for e in S.get_by_key(shard.state, topic, key)]


def replicas(tracker: str) -> dict:
    """``{node_name: "up" | "down"}`` as shard 0 of this node sees them."""
    shard = _info(tracker)["shards"][0]
    return {} if shard is None else call(shard._pid, ("replicas",))


def purge(tracker: str, node_name: str) -> int:
    """Forget a dead node's replica and its presences by hand (for zombie
    presences that outlived a deploy); returns how many replicas were
    dropped over all shards."""
    total = 0
    for shard in _info(tracker)["shards"]:
        if shard is not None:
            total += call(shard._pid, ("purge", node_name))[1]
    return total


def trackers() -> dict:
    """``{name: {"class", "shards", "entries", "topics"}}`` of every tracker
    (Presences too) running on this node: its class name, shard count, and
    the entries (presences of every replica this node knows) and topics
    its shards hold.  O(shards): read from the shards' states, as
    :func:`list_` reads them."""
    out = {}
    for name, info in list(_trackers.items()):
        shards = [sh for sh in info["shards"] if sh is not None]
        out[name] = {"class": info["class"], "shards": info["pool_size"],
                     "entries": sum(len(sh.state.values) for sh in shards),
                     "topics": sum(len(sh.state.topics) for sh in shards)}
    return out
