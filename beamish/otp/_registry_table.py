"""The tables behind a :class:`~beamish.Registry`: pure data, no processes.

Theory of operation
-------------------
A registry keeps two kinds of table, plain dicts that any greenlet reads
and writes directly (gevent never preempts a greenlet inside a dict
operation, so no lock is needed):

* the **key table** maps a key to its entries.  In a unique registry the
  entry is one ``(pid, value)`` tuple, returned as is by lookups.  In a
  duplicate registry it is ``{pid: [value, ...]}``: one process may register
  the same key several times, and unregistering a key drops all of the
  caller's entries under it in one step, whatever the number of other
  processes sharing the key.
* the **owner tables**, one per partition, map each owner pid to the keys
  it holds and how many times: ``{pid: {key: n}}``.  An owner belongs to
  partition ``pid.id % partitions``.

Writes report one thing the process layer needs: whether the *set of
owners* of a partition changed (a pid's first key, a pid's last key gone).
Those are the only moments when the partition's process must take or drop
its single monitor on that owner; registering a second key costs no
message at all.

Nothing here knows whether a pid is alive: that is the caller's concern.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..core import Pid

__all__ = ["RegistryTable", "Entry"]

#: One registration, as lookups return it.
Entry = tuple[Pid, Any]


class RegistryTable:
    """Keys and owners of one registry (see the module docstring)."""

    __slots__ = ("unique", "partitions", "keys", "owners", "size")

    def __init__(self, unique: bool, partitions: int) -> None:
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be a positive int, got {partitions!r}")
        self.unique = unique
        self.partitions = partitions
        #: key -> (pid, value) if unique, else key -> {pid: [value, ...]}
        self.keys: dict[Any, Any] = {}
        #: per partition: owner pid -> {key: number of entries}
        self.owners: list[dict[Pid, dict[Any, int]]] = [{} for _ in range(partitions)]
        #: number of entries in the whole table
        self.size = 0

    def partition_of(self, pid: Pid) -> int:
        """The partition index that owns ``pid``'s entries."""
        return pid.id % self.partitions

    # ---------------------------------------------------------------- writes
    def add(self, key: Any, pid: Pid, value: Any) -> bool:
        """Add the entry ``(pid, value)`` under ``key``.

        In a unique table the caller must have made sure the key is free.
        Returns True when this is ``pid``'s first key (its partition must
        start watching it).
        """
        if self.unique:
            self.keys[key] = (pid, value)
        else:
            entries = self.keys.get(key)
            if entries is None:
                self.keys[key] = {pid: [value]}
            else:
                values = entries.get(pid)
                if values is None:
                    entries[pid] = [value]
                else:
                    values.append(value)
        self.size += 1
        owners = self.owners[pid.id % self.partitions]
        held = owners.get(pid)
        if held is None:
            owners[pid] = {key: 1}
            return True
        held[key] = held.get(key, 0) + 1
        return False

    def remove(self, key: Any, pid: Pid) -> Optional[bool]:
        """Drop all of ``pid``'s entries under ``key``.

        Returns None if it had none, else True when that was its last key
        (its partition may stop watching it) and False otherwise.
        """
        owners = self.owners[pid.id % self.partitions]
        held = owners.get(pid)
        if held is None:
            return None
        n = held.pop(key, 0)
        if not n:
            return None
        self._drop(key, pid)
        self.size -= n
        if held:
            return False
        del owners[pid]
        return True

    def purge(self, pid: Pid) -> int:
        """Drop every entry of ``pid`` (it ended); returns how many."""
        held = self.owners[pid.id % self.partitions].pop(pid, None)
        if not held:
            return 0
        n = 0
        for key, count in held.items():
            self._drop(key, pid)
            n += count
        self.size -= n
        return n

    def replace_value(self, key: Any, pid: Pid, fn: Callable[[Any], Any]) -> Optional[tuple[Any, Any]]:
        """Unique tables: set ``pid``'s value under ``key`` to ``fn(old)``.

        Returns ``(new, old)``, or None if ``pid`` does not hold ``key``.
        """
        entry = self.keys.get(key)
        if entry is None or entry[0] != pid:
            return None
        old = entry[1]
        new = fn(old)
        self.keys[key] = (pid, new)
        return new, old

    def clear(self) -> None:
        """Forget everything (the registry stopped)."""
        self.keys.clear()
        for owners in self.owners:
            owners.clear()
        self.size = 0

    def _drop(self, key: Any, pid: Pid) -> None:
        if self.unique:
            entry = self.keys.get(key)
            if entry is not None and entry[0] == pid:
                del self.keys[key]
            return
        entries = self.keys.get(key)
        if entries is not None and entries.pop(pid, None) is not None and not entries:
            del self.keys[key]

    # ----------------------------------------------------------------- reads
    def holder(self, key: Any) -> Optional[Entry]:
        """Unique tables: the ``(pid, value)`` entry of ``key``, or None."""
        return self.keys.get(key)

    def lookup(self, key: Any) -> list[Entry]:
        """All ``(pid, value)`` entries under ``key``, oldest owner first."""
        entries = self.keys.get(key)
        if entries is None:
            return []
        if self.unique:
            return [entries]
        return [(pid, v) for pid, values in entries.items() for v in values]

    def values(self, key: Any, pid: Pid) -> list[Any]:
        """The values ``pid`` registered under ``key``."""
        entries = self.keys.get(key)
        if entries is None:
            return []
        if self.unique:
            return [entries[1]] if entries[0] == pid else []
        return list(entries.get(pid, ()))

    def keys_of(self, pid: Pid) -> list[Any]:
        """The keys ``pid`` holds, once per entry."""
        held = self.owners[pid.id % self.partitions].get(pid)
        if not held:
            return []
        if self.unique:
            return list(held)
        return [key for key, n in held.items() for _ in range(n)]

    def holds(self, pid: Pid) -> bool:
        """True if ``pid`` has at least one entry."""
        return pid in self.owners[pid.id % self.partitions]
