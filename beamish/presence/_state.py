"""The presence CRDT: one replica's state, its local operations and merge.

Pure data and functions: no I/O, no timers, no processes.  A tracker shard
owns one :class:`State` and calls these functions; they tell it which
entries became visible (joins) or invisible (leaves) so it can emit diffs.
"""
from __future__ import annotations

# Theory of operation
# ===================
#
# The state is an add-wins observed-remove set of entries (topic, pid, key,
# meta).  Every event of a replica gets the next number of that replica's
# counter, a *dot* (replica, n); a join's dot becomes the entry's *tag*,
# unique in the cluster.  Only the owner (the replica that joined an entry)
# ever removes it.  The causal context (``context`` clock plus ``clouds`` of
# non-contiguous dots, see _clock.py) records every dot seen; a dot seen
# but absent from ``values`` is an entry known to be removed, which is why
# a replayed old delta or extract can never bring it back.
#
# Merging a remote payload (a Delta or an Extract) does two things:
#   joins:  remote entries whose dot we have not seen, from replicas we know
#           (in our context), are added;
#   leaves: our entries owned by *another* replica whose dot the remote has
#           seen but no longer holds are removed.  Our own entries are never
#           removed by a merge (the remote cannot know better than us).
# then the contexts are unioned (restricted to replicas we know) and
# compacted.  A remove only deletes dots the remover had seen, so an add it
# had not seen survives: add wins.  Unions of dot sets and maxima of clocks
# are commutative, associative and idempotent, so any delivery order,
# duplication or loss converges once transfers fill the gaps.
#
# ``values`` is keyed by tag, not by (topic, pid, key): when a remote
# owner's leave and its later re-join of the same key arrive out of order,
# both dots are briefly live here, and keeping both is what keeps merging
# order-independent.  The owner itself holds at most one entry per (topic,
# pid, key) (join enforces it); ``topics`` and ``pids`` index tags.
#
# Memory: a room-scale node holds hundreds of thousands of entries, so an
# entry costs what it must and no more (well under 1 KB with its meta).
# ``pids`` maps a pid to its one tag (the common case: one presence per
# process and shard) and only to a dict of tags when it has several; the
# own entry of a (topic, pid, key) is found through it rather than in a
# third index.  Topic strings are interned, and entries merged from a peer
# share this state's Replica object and interned key strings instead of
# the copies that decoding made for every entry.
#
# Entries of a replica marked down stay stored but are hidden from lookups,
# and every function reports joins/leaves of *visible* entries only, so the
# running sum of reported diffs always equals the visible list.
#
# Mutability: a State is changed in place.  Every operation mutates the
# state it is given and returns that same object first, (state, joins,
# leaves) in Elixir's shape; take copy() before if you need the old one.
# A shard owns exactly one state and Python has no cheap persistent maps,
# so copying on every heartbeat would cost O(size) for nothing.  Payloads
# are the opposite: merge() only reads its remote argument, and a Delta is
# never changed once reset_delta() has handed it out, so one delta object
# may be sent to many peers and kept in delta generations.

from sys import intern as _intern
from typing import Any, Generator, Hashable, Iterable, Mapping, Union

from . import _clock
from ._errors import AlreadyTracked, NoPresence
from ._records import Delta, Entry, Extract, Replica, ReplicaStatus, Tag

__all__ = [
    "State", "Diff", "Payload", "join", "leave", "leave_pid", "update", "merge", "merge_slices",
    "extract",
    "reset_delta", "has_delta", "clocks", "compact", "copy", "replica_up", "replica_down",
    "remove_down_replicas", "get_by_topic", "get_by_key", "get_by_pid", "get_local",
    "get_by_replica", "online_list",
]

Diff = tuple["State", list[Entry], list[Entry]]
"""What a changing operation returns: the (same, mutated) state, the entries
that became visible and the entries that stopped being visible."""

Payload = Union[Delta, Extract]
"""What :func:`merge` accepts from a peer."""

_UP, _DOWN = ReplicaStatus.UP, ReplicaStatus.DOWN


class State:
    """One replica's view of the presences of the whole cluster.

    ``context``/``clouds`` are the causal context; ``values`` maps tags to
    entries; ``replicas`` holds the status of every known peer (the own
    replica is implicit and always up; the context knows exactly the own
    replica and the peers in ``replicas``); ``delta`` accumulates the own
    events since the last :func:`reset_delta`.
    """

    __slots__ = ("replica", "context", "clouds", "values", "topics", "pids", "replicas",
                 "delta")

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.context: dict[Replica, int] = {replica: 0}
        self.clouds: dict[Replica, set[int]] = {}
        self.values: dict[Tag, Entry] = {}
        self.topics: dict[Any, dict[Tag, None]] = {}
        self.pids: dict[Hashable, Union[Tag, dict[Tag, None]]] = {}
        self.replicas: dict[Replica, ReplicaStatus] = {}
        self.delta = _fresh_delta(replica, 0)

    def __repr__(self) -> str:
        return (f"State(replica={self.replica!r}, values={len(self.values)}, "
                f"context={self.context!r})")

    @property
    def owned(self) -> dict[tuple[Any, Hashable, Any], Tag]:
        """The own entries' tags by (topic, pid, key), built on demand."""
        me = self.replica
        return {(e.topic, e.pid, e.key): t for t, e in self.values.items() if t[0] == me}


def _fresh_delta(replica: Replica, n: int) -> Delta:
    return Delta({}, {}, {replica: n}, {replica: n})


# ---------------------------------------------------------------- storage

def _insert(state: State, entry: Entry) -> None:
    tag = entry.tag
    state.values[tag] = entry
    state.topics.setdefault(entry.topic, {})[tag] = None
    pids, pid = state.pids, entry.pid
    had = pids.get(pid)
    if had is None:
        pids[pid] = tag
    elif had.__class__ is dict:
        had[tag] = None
    else:
        pids[pid] = {had: None, tag: None}


def _delete(state: State, tag: Tag) -> Entry:
    entry = state.values.pop(tag)
    tags = state.topics[entry.topic]
    del tags[tag]
    if not tags:
        del state.topics[entry.topic]
    pids, pid = state.pids, entry.pid
    had = pids[pid]
    if had.__class__ is dict:
        del had[tag]
        if len(had) == 1:
            pids[pid] = next(iter(had))
    else:
        del pids[pid]
    return entry


def _pid_tags(state: State, pid: Hashable) -> Iterable[Tag]:
    had = state.pids.get(pid)
    if had is None:
        return ()
    return had if had.__class__ is dict else (had,)


def _own_tag(state: State, pid: Hashable, topic: Any, key: Any) -> Tag | None:
    """The tag of this replica's entry for (pid, topic, key), if any."""
    me, values = state.replica, state.values
    for tag in _pid_tags(state, pid):
        if tag[0] == me:
            e = values[tag]
            if e.topic == topic and e.key == key:
                return tag
    return None


def _canonical(entry: Entry, replica: Replica) -> Entry:
    """``entry`` (from a peer) sharing this state's ``replica`` object and
    interned topic and key strings, so that a million decoded entries do
    not each carry their own copies."""
    topic, key = entry.topic, entry.key
    if topic.__class__ is str:
        topic = _intern(topic)
    if key.__class__ is str:
        key = _intern(key)
    if replica is entry.tag[0] and topic is entry.topic and key is entry.key:
        return entry
    return Entry(topic, entry.pid, key, entry.meta, (replica, entry.tag[1]))


def _visible(state: State, replica: Replica) -> bool:
    return replica == state.replica or state.replicas.get(replica) is _UP


def _bump(state: State) -> int:
    """Take the next own dot: it is seen at once and recorded in the delta."""
    me = state.replica
    n = state.context[me] + 1
    state.context[me] = n
    delta = state.delta
    _clock.add_dot(delta.clouds, (me, n))
    delta.end[me] = n
    return n


# ---------------------------------------------------------------- local operations

def join(state: State, pid: Hashable, topic: Any, key: Any, meta: Mapping[str, Any]) -> Diff:
    """Track ``pid`` in ``topic`` under ``key`` with (a copy of) ``meta``.

    Uses one dot.  Returns ``(state, [entry], [])``.

    Raises:
        AlreadyTracked: this replica already tracks (pid, topic, key).
    """
    if _own_tag(state, pid, topic, key) is not None:
        raise AlreadyTracked(pid, topic, key)
    if topic.__class__ is str:
        topic = _intern(topic)   # one string per topic, not one per presence
    tag = (state.replica, _bump(state))
    entry = Entry(topic, pid, key, dict(meta), tag)
    _insert(state, entry)
    state.delta.values[tag] = entry
    return state, [entry], []


def leave(state: State, pid: Hashable, topic: Any, key: Any) -> Diff:
    """Untrack one of this replica's entries; returns ``(state, [], [entry])``.

    The removed tag goes into the delta's clouds without a value (that is
    how peers learn of the removal) and one dot is used.  Leaving what this
    replica does not track is harmless: ``(state, [], [])``, no dot used,
    even if another replica tracks the same (pid, topic, key).
    """
    tag = _own_tag(state, pid, topic, key)
    if tag is None:
        return state, [], []
    entry = _delete(state, tag)
    state.delta.values.pop(tag, None)
    _clock.add_dot(state.delta.clouds, tag)
    _bump(state)
    return state, [], [entry]


def leave_pid(state: State, pid: Hashable) -> Diff:
    """Untrack every entry of ``pid`` owned by this replica (the pid exited).

    One dot per entry; returns ``(state, [], leaves)``.
    """
    mine = [state.values[t] for t in _pid_tags(state, pid) if t[0] == state.replica]
    leaves: list[Entry] = []
    for e in mine:
        leaves += leave(state, e.pid, e.topic, e.key)[2]
    return state, [], leaves


def update(state: State, pid: Hashable, topic: Any, key: Any, meta: Mapping[str, Any]) -> Diff:
    """Replace the meta of an own entry: a leave then a join (two dots).

    Returns ``(state, [new_entry], [old_entry])``; the new entry has a new tag.

    Raises:
        NoPresence: this replica does not track (pid, topic, key).
    """
    if _own_tag(state, pid, topic, key) is None:
        raise NoPresence(pid, topic, key)
    _, _, left = leave(state, pid, topic, key)
    _, joined, _ = join(state, pid, topic, key, meta)
    return state, joined, left


def reset_delta(state: State) -> tuple[State, Delta]:
    """Hand out the delta accumulated so far and start a new, empty one.

    The new delta's range starts at the current own clock.  The returned
    delta is never touched again by this module.
    """
    delta = state.delta
    state.delta = _fresh_delta(state.replica, state.context[state.replica])
    return state, delta


def has_delta(state: State) -> bool:
    """Whether the current delta holds any dot (so a heartbeat must carry it)."""
    return any(state.delta.clouds.values())


def clocks(state: State) -> tuple[Replica, dict[Replica, int]]:
    """``(own replica, context)``, leaving out replicas marked down: what a
    heartbeat announces and a transfer request sends."""
    if _DOWN not in state.replicas.values():
        return state.replica, dict(state.context)
    return state.replica, {r: n for r, n in state.context.items()
                           if state.replicas.get(r) is not _DOWN}


def compact(state: State) -> State:
    """Fold cloud dots that extend the context into it (see _clock.compact)."""
    _clock.compact(state.context, state.clouds, state.context)
    return state


def copy(state: State) -> State:
    """An independent copy of ``state`` (entries and metas are shared)."""
    new = State.__new__(State)
    new.replica = state.replica
    new.context = dict(state.context)
    new.clouds = {r: set(d) for r, d in state.clouds.items()}
    new.values = dict(state.values)
    new.topics = {k: dict(v) for k, v in state.topics.items()}
    new.pids = {k: dict(v) if v.__class__ is dict else v for k, v in state.pids.items()}
    new.replicas = dict(state.replicas)
    d = state.delta
    new.delta = Delta(dict(d.values), {r: set(s) for r, s in d.clouds.items()},
                      dict(d.start), dict(d.end))
    return new


# ---------------------------------------------------------------- merge and extract

#: How many entries :func:`merge_slices` handles between two yields: a few
#: milliseconds of work.
MERGE_SLICE = 2000


def merge(local: State, remote: Payload) -> Diff:
    """Merge a peer's delta or extract into ``local`` (in place).

    Returns ``(local, joins, leaves)`` with the visible entries added and
    removed.  ``remote`` is only read.  Merging the same payload again
    changes nothing and reports nothing.
    """
    steps = merge_slices(local, remote)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def merge_slices(local: State, remote: Payload,
                 size: int = MERGE_SLICE) -> Generator[None, None, Diff]:
    """:func:`merge` as a generator that pauses every ``size`` entries.

    Merging a full transfer of a big cluster touches every entry: tens of
    thousands, far too long to run without letting anything else run.  The
    caller resumes the generator until it stops; its ``StopIteration``
    value is merge's ``(local, joins, leaves)``.  Between two slices the
    state is partly merged: its entries are correct entries, but the
    caller must not change ``local`` (nor merge anything else into it)
    before the generator is done, or the result is undefined.
    """
    seen_here, ctx, clouds = _clock.seen, local.context, local.clouds
    canonical = {r: r for r in ctx}   # this state's own Replica objects
    joins: list[Entry] = []
    budget = size
    for tag, entry in remote.values.items():
        replica = canonical.get(tag[0])
        if replica is not None and not seen_here(ctx, clouds, tag):
            entry = _canonical(entry, replica)
            _insert(local, entry)
            if _visible(local, replica):
                joins.append(entry)
        budget -= 1
        if not budget:
            yield
            budget = size

    if isinstance(remote, Delta):
        # Only dots the delta covers can be removals: check just those.
        candidates: Iterable[Tag] = [(r, n) for r, ns in remote.clouds.items()
                                     if r != local.replica for n in ns]
        remote_seen = lambda tag: True  # noqa: E731  (every candidate is in the clouds)
    else:
        candidates = [t for t in local.values if t[0] != local.replica]
        remote_seen = lambda tag: _clock.seen(remote.context, remote.clouds, tag)  # noqa: E731
    leaves: list[Entry] = []
    values, remote_values = local.values, remote.values
    for tag in candidates:
        if tag in values and tag not in remote_values and remote_seen(tag):
            entry = _delete(local, tag)
            if _visible(local, tag[0]):
                leaves.append(entry)
        budget -= 1
        if not budget:
            yield
            budget = size

    for r, ns in remote.clouds.items():
        if r in ctx:
            if r in clouds:
                clouds[r] |= ns
            else:
                clouds[r] = set(ns)
    if isinstance(remote, Extract):
        for r, n in remote.context.items():
            if n > ctx.get(r, n):
                ctx[r] = n
    _clock.compact(ctx, clouds, ctx)
    return local, joins, leaves


def extract(state: State, remote_ref: Replica, remote_context: Mapping[Replica, int]) -> Extract:
    """The full state as a transfer for ``remote_ref``, whose clock is
    ``remote_context``: only replicas it knows, none of its own entries."""
    known = remote_context
    return Extract(
        state.replica,
        {r: n for r, n in state.context.items() if r in known},
        {r: set(ns) for r, ns in state.clouds.items() if r in known},
        {t: e for t, e in state.values.items() if t[0] in known and t[0] != remote_ref},
    )


# ---------------------------------------------------------------- replicas

def replica_up(state: State, replica: Replica) -> Diff:
    """Mark a peer up, learning it (clock 0) if it is new.

    Returns ``(state, joins, [])``: its stored entries if it was down.
    Marking the own replica, or one already up, does nothing.
    """
    if replica == state.replica or state.replicas.get(replica) is _UP:
        return state, [], []
    state.context.setdefault(replica, 0)
    state.replicas[replica] = _UP
    return state, get_by_replica(state, replica), []


def replica_down(state: State, replica: Replica) -> Diff:
    """Mark a known peer down: its entries stay but are hidden.

    Returns ``(state, [], leaves)``: its entries if it was up.  Unknown,
    already down or own replica: nothing happens.
    """
    if state.replicas.get(replica) is not _UP:
        return state, [], []
    state.replicas[replica] = _DOWN
    return state, [], get_by_replica(state, replica)


def remove_down_replicas(state: State, replica: Replica) -> Diff:
    """Forget a peer for good (permdown): its entries, clock entry, cloud
    dots and status are deleted, and its data is refused from then on.

    Returns ``(state, [], leaves)``: its entries if it was still up (a
    down replica's leaves were reported when it went down).  Unknown or own
    replica: nothing happens.
    """
    status = state.replicas.pop(replica, None)
    if status is None:
        return state, [], []
    gone = [_delete(state, t) for t in [t for t in state.values if t[0] == replica]]
    state.context.pop(replica, None)
    state.clouds.pop(replica, None)
    return state, [], gone if status is _UP else []


# ---------------------------------------------------------------- lookups

def _hidden(state: State) -> set[Replica]:
    return {r for r, s in state.replicas.items() if s is _DOWN}


def get_by_topic(state: State, topic: Any) -> list[Entry]:
    """The visible entries of ``topic``."""
    tags = state.topics.get(topic)
    if not tags:
        return []
    hidden, values = _hidden(state), state.values
    return [values[t] for t in tags if t[0] not in hidden]


def get_by_key(state: State, topic: Any, key: Any) -> list[Entry]:
    """The visible entries of ``key`` in ``topic`` (one per pid and owner)."""
    return [e for e in get_by_topic(state, topic) if e.key == key]


def get_by_pid(state: State, pid: Hashable) -> list[Entry]:
    """The visible entries of ``pid``, over all topics."""
    hidden, values = _hidden(state), state.values
    return [values[t] for t in _pid_tags(state, pid) if t[0] not in hidden]


def get_local(state: State, pid: Hashable, topic: Any, key: Any) -> Entry | None:
    """This replica's own entry for (pid, topic, key), or ``None``."""
    tag = _own_tag(state, pid, topic, key)
    return None if tag is None else state.values[tag]


def get_by_replica(state: State, replica: Replica) -> list[Entry]:
    """Every stored entry owned by ``replica``, visible or not."""
    return [e for t, e in state.values.items() if t[0] == replica]


def online_list(state: State) -> list[Entry]:
    """Every visible entry."""
    hidden = _hidden(state)
    return [e for t, e in state.values.items() if t[0] not in hidden]
