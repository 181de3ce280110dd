"""Named instances: what a running component's name resolves to.

A component started under a name (a PubSub, a Tracker, an Endpoint, a
Registry) keeps here the value its API functions look up by that name:
its tables, its options, its handle.  phoenix_pubsub does the same with
the metadata of an Elixir ``Registry``.

An entry is found by ``(kind, name)``: the kind is a string the component
picks (``"pubsub"``), the name any hashable term.  Every entry is owned by
a process, normally the one that starts the component and puts it, and
the runtime drops the entry when that process ends, however it ends: an
exit signal ``"kill"`` runs no ``terminate``, yet leaves nothing behind,
so a name never resolves to a dead component and can be started again.
A second entry under a taken ``(kind, name)`` is refused
(:class:`InstanceTaken`).

What ownership costs: the runtime's termination of a process does one
dict lookup (:data:`_owned`, empty-checked first) and only a process that
owns entries does more.  Lookups are one dict ``get``; per-message paths
bind the ``get`` of :func:`instance_table`'s live view once.

This module knows processes only by their records; :mod:`beamish.lowlevel`
is its public face (it resolves the calling process as the default owner).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from ._errors import BeamishError, NoProc
from ._ids import Pid
from ._runtime import Process, lookup

__all__ = ["InstanceTaken", "put_instance", "instance", "instance_table", "instances",
           "remove_instance", "instance_entries", "release_owned"]


class InstanceTaken(BeamishError):
    """An entry exists already under this kind and name (a component of
    that name is running)."""

    def __init__(self, kind: str, name: Any, owner: Pid) -> None:
        super().__init__(f"a {kind} named {name!r} is running already (owned by {owner!r})")
        self.kind = kind
        self.name = name
        self.owner = owner


#: kind -> {name: value}.  A kind's dict is made on first use and never
#: dropped, so a view :func:`instance_table` hands out stays live.
_tables: dict = {}
#: kind -> the read-only view of its dict.
_views: dict = {}
#: (kind, name) -> the owning Process record.
_owners: dict = {}
#: owning Process record -> [(kind, name), ...]: what its end drops.
_owned: dict = {}


def _table(kind: str) -> dict:
    table = _tables.get(kind)
    if table is None:
        table = _tables[kind] = {}
        _views[kind] = MappingProxyType(table)
    return table


def put_instance(kind: str, name: Any, value: Any, owner: Pid) -> None:
    """Store ``value`` under ``(kind, name)``, owned by the live local
    process ``owner``: the entry goes when that process ends.

    Raises:
        InstanceTaken: ``(kind, name)`` has an entry already.
        NoProc: ``owner`` is not a live process of this node.
    """
    proc = lookup(owner) if isinstance(owner, Pid) else None
    if proc is None or not proc.alive:
        raise NoProc(owner)
    table = _table(kind)
    key = (kind, name)
    if name in table:
        raise InstanceTaken(kind, name, _owners[key].pid)
    table[name] = value
    _owners[key] = proc
    keys = _owned.get(proc)
    if keys is None:
        _owned[proc] = [key]
    else:
        keys.append(key)


def instance(kind: str, name: Any, default: Any = None) -> Any:
    """The value under ``(kind, name)``, or ``default``."""
    table = _tables.get(kind)
    return default if table is None else table.get(name, default)


def instance_table(kind: str) -> Mapping:
    """A live, read-only ``{name: value}`` view of ``kind``'s entries.

    It follows every put and drop, so a module binds it (or its ``get``)
    once, for per-message paths: a broadcast resolves its PubSub's name
    through it with one dict lookup.
    """
    _table(kind)
    return _views[kind]


def instances(kind: str) -> dict:
    """``{name: value}`` of every entry of ``kind`` (a snapshot)."""
    table = _tables.get(kind)
    return dict(table) if table else {}


def remove_instance(kind: str, name: Any) -> bool:
    """Drop the entry under ``(kind, name)`` before its owner ends; True if
    there was one."""
    key = (kind, name)
    proc = _owners.pop(key, None)
    if proc is None:
        return False
    del _tables[kind][name]
    keys = _owned[proc]
    keys.remove(key)
    if not keys:
        del _owned[proc]
    return True


def instance_entries() -> list:
    """``[(kind, name, owner pid), ...]`` of every entry: the identities a
    leak check compares before and after a test."""
    return [(kind, name, proc.pid) for (kind, name), proc in _owners.items()]


def release_owned(proc: Process) -> None:
    """Drop every entry ``proc`` owns: the runtime calls this when ``proc``
    ends (only if ``proc`` is in :data:`_owned`)."""
    for kind, name in _owned.pop(proc):
        del _owners[(kind, name)]
        del _tables[kind][name]
