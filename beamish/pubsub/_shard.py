"""Subscription shards: one table and one monitor per subscriber pid.

Theory of operation
-------------------
A PubSub has ``pool_size`` shards; a subscriber belongs to shard
``pid.id % pool_size``.  Each shard has a :class:`Table` (plain dicts, read
and written directly by the subscribing and broadcasting processes, as
Phoenix reads and writes ETS from the caller) and a shard process that
owns the table's monitors and cleans up after subscribers that die.

``subscribe`` is O(1) whatever the topic's size: one dict insert in the
topic's subscriber dict, one in the pid's topic count, and, only for the
pid's first subscription in this shard, one monitor owned by the shard
process.  ``unsubscribe`` of the pid's last topic releases that monitor.
So a shard holds exactly one monitor per subscribed pid however many
topics it joins and leaves: the monitor-ref leak of Phoenix.PubSub (a
monitor per subscribe, never released) cannot happen.

The table outlives its shard process: a restarted shard takes the same
table over and monitors its pids again, so subscriptions survive a shard
crash.
"""
from __future__ import annotations

from typing import Any

from ..core import Down, Pid
from ..lowlevel import current_process, demonitor_as, lookup, monitor_as
from ..otp import GenServer

__all__ = ["Table", "Multi", "Shard"]


class Multi(list):
    """The metadata list of a pid subscribed more than once to a topic."""

    __slots__ = ()


class Table:
    """One shard's subscriptions (private to the pubsub package)."""

    __slots__ = ("topics", "pids", "refs", "owner")

    def __init__(self) -> None:
        self.topics: dict = {}   # topic -> {pid: metadata or Multi}
        self.pids: dict = {}     # pid -> {topic: count}
        self.refs: dict = {}     # pid -> the shard's one monitor ref
        self.owner: Any = None   # the shard process record

    def subscribe(self, pid: Pid, topic: str, metadata: Any) -> None:
        subs = self.topics.get(topic)
        if subs is None:
            subs = self.topics[topic] = {}
        if pid in subs:
            old = subs[pid]
            if old.__class__ is Multi:
                old.append(metadata)
            else:
                subs[pid] = Multi((old, metadata))
        else:
            subs[pid] = metadata
        counts = self.pids.get(pid)
        if counts is None:
            counts = self.pids[pid] = {}
            if self.owner is not None:
                self.refs[pid] = monitor_as(self.owner, pid)
        counts[topic] = counts.get(topic, 0) + 1

    def unsubscribe(self, pid: Pid, topic: str) -> None:
        counts = self.pids.get(pid)
        if counts is None or topic not in counts:
            return
        del counts[topic]
        subs = self.topics[topic]
        del subs[pid]
        if not subs:
            del self.topics[topic]
        if not counts:
            del self.pids[pid]
            ref = self.refs.pop(pid, None)
            if ref is not None and self.owner is not None:
                demonitor_as(self.owner, ref)

    def drop(self, pid: Pid) -> None:
        """Forget every subscription of ``pid`` (it is dead)."""
        counts = self.pids.pop(pid, None)
        self.refs.pop(pid, None)
        if not counts:
            return
        topics = self.topics
        for topic in counts:
            subs = topics[topic]
            del subs[pid]
            if not subs:
                del topics[topic]

    def subscribers(self, topic: str) -> list:
        """``[(pid, metadata), ...]`` for ``topic`` (a pid subscribed twice
        appears twice)."""
        out = []
        for pid, meta in self.topics.get(topic, {}).items():
            if meta.__class__ is Multi:
                out.extend((pid, m) for m in meta)
            else:
                out.append((pid, meta))
        return out


class Shard(GenServer):
    """The process that owns one table's monitors and reaps dead subscribers."""

    restart = "permanent"

    def init(self, table: Table) -> None:
        me = current_process()
        self.table = table
        table.owner = me
        # A restart takes the table over: one fresh monitor per pid.
        refs = table.refs
        refs.clear()
        for pid in list(table.pids):
            if lookup(pid) is None:
                table.drop(pid)
            else:
                refs[pid] = monitor_as(me, pid)

    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is Down:
            table = self.table
            if table.refs.get(msg.pid) == msg.ref:
                table.drop(msg.pid)
            return None
        return super().handle_info(msg)

    def handle_call(self, request: Any, from_: tuple) -> Any:
        if request == "stats":
            t = self.table
            return {"topics": len(t.topics), "pids": len(t.pids), "monitors": len(t.refs)}
        raise ValueError(f"unknown request {request!r}")

    def terminate(self, reason: Any) -> None:
        if self.table.owner is current_process():
            self.table.owner = None


def shard_of(pid: Pid, pool_size: int) -> int:
    """The shard index a subscriber belongs to (by its pid's number)."""
    return pid.id % pool_size

