"""Presence: Phoenix.Tracker's replicated presence CRDT, in pure Python.

This package holds, for now, the pure part: the delta CRDT that tracker
shards replicate (``_state``), the vector clocks and dot clouds it counts
with (``_clock``) and the delta generations that make catch-up transfers
cheap (``_delta_generation``).  Nothing here does I/O or touches gevent; a
shard process owns one :class:`State`, calls these functions and sends
the :class:`Delta`/:class:`Extract` values they return.

A minimal round trip between two replicas::

    a, b = State(new_replica("a@host")), State(new_replica("b@host"))
    replica_up(a, b.replica); replica_up(b, a.replica)
    join(a, pid, "room:1", "user42", {"status": "online"})
    _, delta = reset_delta(a)
    _, joins, leaves = merge(b, delta)   # joins == the entry a tracked
"""
from ._clock import (append_clock as append_clock, clockset_replicas as clockset_replicas,
                     combine_clocks as combine_clocks, dominates as dominates,
                     dominates_or_equal as dominates_or_equal, lowerbound as lowerbound,
                     replicas_to_ask as replicas_to_ask, upperbound as upperbound)
from ._delta_generation import (DEFAULT_MAX_SIZES as DEFAULT_MAX_SIZES,
                                delta_size as delta_size, merge_deltas as merge_deltas)
from ._delta_generation import extract as extract_transfer
from ._delta_generation import push as push_generation
from ._delta_generation import remove_down_replicas as remove_down_generations
from ._errors import (AlreadyTracked as AlreadyTracked, NoPresence as NoPresence,
                      PresenceError as PresenceError)
from ._records import (Delta as Delta, Entry as Entry, Extract as Extract, Replica as Replica,
                       ReplicaStatus as ReplicaStatus, Tag as Tag, new_replica as new_replica)
from ._presence import Presence as Presence, group as group, list_presence as list_presence
from ._tracker import Tracker as Tracker, get_by_key as tracker_get_by_key, list_ as tracker_list
from ._tracker import purge as purge, replicas as replicas, track as track
from ._tracker import untrack as untrack, update as update_presence
from ._state import (Diff as Diff, Payload as Payload, State as State, clocks as clocks,
                     compact as compact, copy as copy, extract as extract,
                     get_by_key as get_by_key, get_by_pid as get_by_pid,
                     get_by_replica as get_by_replica, get_by_topic as get_by_topic,
                     get_local as get_local, has_delta as has_delta, join as join,
                     leave as leave, leave_pid as leave_pid, merge as merge,
                     online_list as online_list, remove_down_replicas as remove_down_replicas,
                     replica_down as replica_down, replica_up as replica_up,
                     reset_delta as reset_delta, update as update)

__all__ = [
    # processes and API
    "Tracker", "Presence", "track", "untrack", "update_presence", "tracker_list",
    "tracker_get_by_key", "list_presence", "group", "replicas", "purge",
    # records and errors
    "Replica", "new_replica", "Tag", "Entry", "ReplicaStatus", "Delta", "Extract", "Payload",
    "Diff", "PresenceError", "AlreadyTracked", "NoPresence",
    # state
    "State", "join", "leave", "leave_pid", "update", "merge", "extract", "reset_delta",
    "has_delta", "clocks", "compact", "copy", "replica_up", "replica_down",
    "remove_down_replicas", "get_by_topic", "get_by_key", "get_by_pid", "get_local",
    "get_by_replica", "online_list",
    # delta generations
    "DEFAULT_MAX_SIZES", "delta_size", "merge_deltas", "push_generation",
    "remove_down_generations", "extract_transfer",
    # clocks
    "dominates", "dominates_or_equal", "upperbound", "lowerbound", "combine_clocks",
    "append_clock", "clockset_replicas", "replicas_to_ask",
]
