"""The records of the presence CRDT: replicas, dots, entries, deltas, extracts.

Plain values, so that a shard can hand them to other processes or encode
them for the wire.  :class:`Entry` is frozen; :class:`Delta` and
:class:`Extract` are mutable containers, but the functions of this package
never change one after handing it out (see the theory of operation in
``_state.py``).
"""
from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Hashable, NamedTuple

__all__ = ["Replica", "new_replica", "Tag", "Entry", "ReplicaStatus", "Delta", "Extract"]


class Replica(NamedTuple):
    """One incarnation of one shard: its node name and a per-start version.

    The pair, not the name, identifies a replica inside the CRDT (tags and
    clock keys), so a restarted node is a brand-new replica whose dots can
    never be mistaken for those of its previous life.
    """

    name: str
    vsn: int


_unique = itertools.count()


def new_replica(name: str) -> Replica:
    """A fresh replica identity for a shard (re)starting on node ``name``.

    ``vsn`` is the wall clock in microseconds times 1024 plus a counter, so
    two starts in one OS process never share it, and two incarnations of a
    node are told apart unless they start within the same microsecond.
    """
    return Replica(name, time.time_ns() // 1000 * 1024 + next(_unique) % 1024)


#: A dot: ``(replica, n)``, the ``n``-th event of ``replica``.  The tag of an
#: entry is the dot of the join that created it; no other event has it.
Tag = tuple[Replica, int]


class ReplicaStatus(str, enum.Enum):
    """What a state believes of a peer replica."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Entry:
    """One tracked presence: ``pid`` in ``topic`` under ``key`` with ``meta``.

    ``tag`` is unique in the whole cluster, so entries hash and compare by it
    (equal entries always have equal tags).  Treat ``meta`` as read-only: it
    is shared by every state and delta that holds the entry.
    """

    topic: Any
    pid: Hashable
    key: Any
    meta: dict
    tag: Tag

    def __hash__(self) -> int:
        return hash(self.tag)

    @property
    def replica(self) -> Replica:
        """The replica that owns (created, and alone may remove) the entry."""
        return self.tag[0]


@dataclass(eq=False, slots=True)
class Delta:
    """Changes of a state since a point in time, or a merge of several.

    ``clouds`` holds the dot of every event the delta covers (joins, leaves
    and the tags leaves removed); ``values`` the entries joined in it and
    still present at its end.  A dot in ``clouds`` without a value is
    therefore a removal or a plain clock bump.  The range ``start``/``end``
    is a promise: for every replica ``r`` it names, the delta holds every
    event of ``r`` numbered ``start[r] + 1 .. end[r]``; replicas it does
    not name it promises nothing about.
    """

    values: dict[Tag, Entry] = field(default_factory=dict)
    clouds: dict[Replica, set[int]] = field(default_factory=dict)
    start: dict[Replica, int] = field(default_factory=dict)
    end: dict[Replica, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        dots = sum(len(d) for d in self.clouds.values())
        return (f"Delta(values={len(self.values)}, dots={dots}, "
                f"start={self.start!r}, end={self.end!r})")


@dataclass(eq=False, slots=True)
class Extract:
    """A state's full content as sent to one requester in a transfer.

    It holds only replicas the requester knows and leaves out the
    requester's own entries (only their owner may decide about them).
    Everything seen in ``context``/``clouds`` but absent from ``values``
    was removed.
    """

    replica: Replica
    context: dict[Replica, int]
    clouds: dict[Replica, set[int]]
    values: dict[Tag, Entry]

    def __repr__(self) -> str:
        return (f"Extract(replica={self.replica!r}, values={len(self.values)}, "
                f"context={self.context!r})")
