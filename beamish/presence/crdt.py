"""The replicated presence CRDT that tracker shards run: Phoenix.Tracker's
``State``, in pure Python.

Nothing here does I/O or touches gevent.  A shard process owns one
:class:`State`, calls these functions and sends the :class:`Delta` and
:class:`Extract` values they return; the vector clocks and dot clouds it
counts with and the delta generations that make catch-up transfers cheap
are here too.  Most applications never need this module (they use
:mod:`beamish.presence`'s ``Tracker`` and ``Presence``); it is public for
tests, tools and other replication schemes.

A minimal round trip between two replicas::

    a, b = State(new_replica("a@host")), State(new_replica("b@host"))
    replica_up(a, b.replica); replica_up(b, a.replica)
    join(a, pid, "room:1", "user42", {"status": "online"})
    _, delta = reset_delta(a)
    _, joins, leaves = merge(b, delta)   # joins == the entry a tracked
"""
from ._clock import (append_clock, clockset_replicas, combine_clocks, dominates,
                     dominates_or_equal, lowerbound, replicas_to_ask, upperbound)
from ._delta_generation import DEFAULT_MAX_SIZES, delta_size, merge_deltas
from ._delta_generation import extract as extract_transfer
from ._delta_generation import push as push_generation
from ._delta_generation import remove_down_replicas as remove_down_generations
from ._records import Delta, Entry, Extract, Replica, ReplicaStatus, Tag, new_replica
from ._state import (Diff, Payload, State, clocks, compact, copy, extract, get_by_key, get_by_pid,
                     get_by_replica, get_by_topic, get_local, has_delta, join, leave, leave_pid,
                     merge, online_list, remove_down_replicas, replica_down, replica_up,
                     reset_delta, update)

__all__ = [
    # records
    "Delta", "Diff", "Entry", "Extract", "Payload", "Replica", "ReplicaStatus", "Tag",
    "new_replica",
    # state
    "State", "clocks", "compact", "copy", "extract", "get_by_key", "get_by_pid",
    "get_by_replica", "get_by_topic", "get_local", "has_delta", "join", "leave", "leave_pid",
    "merge", "online_list", "remove_down_replicas", "replica_down", "replica_up",
    "reset_delta", "update",
    # delta generations
    "DEFAULT_MAX_SIZES", "delta_size", "extract_transfer", "merge_deltas", "push_generation",
    "remove_down_generations",
    # clocks
    "append_clock", "clockset_replicas", "combine_clocks", "dominates", "dominates_or_equal",
    "lowerbound", "replicas_to_ask", "upperbound",
]
