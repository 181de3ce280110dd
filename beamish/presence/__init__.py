"""Presence: Phoenix.Tracker and Phoenix.Presence on beamish.

A :class:`Tracker` is a supervisor of tracker shards: each shard tracks
which processes are present under which key in which topic on this node,
and replicates that to the shards of every other node over PubSub, as a
delta CRDT (:mod:`beamish.presence.crdt`), so every node sees every
presence; a node that goes away takes its presences with it.
:class:`Presence` is a Tracker that broadcasts the changes of a topic as
coalesced ``presence_diff`` events for channel clients, as Phoenix's does.

The functions here take the tracker's name: :func:`track`,
:func:`untrack`, :func:`update`, :func:`list_tracked` (Phoenix's
``list``) and :func:`get_by_key` as Phoenix.Tracker's; :func:`list_presence` and :func:`group` give a topic's
presences grouped by key with their ``metas``, as Phoenix.Presence's.
"""
from ._errors import AlreadyTracked, NoPresence, PresenceError
from ._presence import DIFF_WINDOW, Presence, group, list_presence
from ._tracker import Tracker, get_by_key, purge, replicas, track, trackers, untrack, update
from ._tracker import list_ as list_tracked

__all__ = [
    "AlreadyTracked", "DIFF_WINDOW", "NoPresence", "Presence", "PresenceError", "Tracker",
    "get_by_key", "group", "list_presence", "list_tracked", "purge", "replicas", "track",
    "trackers", "untrack", "update",
]
