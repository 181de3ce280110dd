"""Coalescing a topic's presence changes over a short window.

A tracker shard that sends one diff per change makes a busy topic cost
O(n) messages per join, O(n^2) for n joins, since every member gets every
diff.  A :class:`DiffBuffer` collects the visible changes instead and hands
out, per topic, one diff with each changed entry once: as a join if it is
visible at the end of the window, as a leave if it is not.  An update is a
leave of the old entry and a join of the new one, so it stays one of each.

Why the client ends where it would have: the official client's
``Presence.syncDiff`` applies a diff's joins (by ``phx_ref``: a ref it
holds already is kept once, moved after the others) and then its leaves
(by ``phx_ref``: a ref it does not hold is ignored).  Every entry has its
own ``phx_ref``, so the changes of different entries commute, except for
the order metas are appended in, which follows the order of the joins.
So any client whose state matched the server at some moment of the window
(or before it) matches it again after the diff.

That is also why an entry that joins and leaves within one window is still
sent, as a leave, rather than cancelled: a client that joined the topic
midway received a ``presence_state`` listing it, and only that leave takes
it away again.  A leave the client never needed is ignored.

Pure data: no processes, no timers; the shard decides when to take.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional

from ._records import Entry

__all__ = ["DiffBuffer"]


class DiffBuffer:
    """The net visible changes per topic since the topic was last taken,
    and when each topic's oldest and newest untaken changes were added
    (``since`` and ``latest``, in the caller's clock), so that the caller
    can give each topic a window of its own."""

    __slots__ = ("topics", "since", "latest")

    def __init__(self) -> None:
        # topic -> {tag: (entry, visible at its last change)}, in order of change
        self.topics: dict[Any, dict[Any, list]] = {}
        self.since: dict[Any, float] = {}
        self.latest: dict[Any, float] = {}

    def __bool__(self) -> bool:
        return bool(self.topics)

    def add(self, joins: Iterable[Entry], leaves: Iterable[Entry], now: float = 0.0) -> list:
        """Record the entries one operation made visible and invisible, at
        ``now``; returns the topics that had no untaken change before.

        An entry's last change replaces its earlier ones and moves it to
        the end, so joins come out in the order of their last join.
        """
        topics, since, latest = self.topics, self.since, self.latest
        new: list = []
        for entries, visible in ((leaves, False), (joins, True)):
            for e in entries:
                changes = topics.get(e.topic)
                if changes is None:
                    changes = topics[e.topic] = {}
                    since[e.topic] = now
                    new.append(e.topic)
                else:
                    changes.pop(e.tag, None)
                changes[e.tag] = (e, visible)
                latest[e.topic] = now
        return new

    def take(self) -> list[tuple[Any, list, list]]:
        """``[(topic, joins, leaves), ...]`` with ``[(key, meta), ...]``
        lists, for every topic that changed; empties the buffer."""
        return list(self.take_slices(None))

    def take_slices(self, size: Optional[int], ready: Optional[Callable[[Any], bool]] = None
                    ) -> Iterator[tuple[Any, list, list]]:
        """:meth:`take` lazily, in diffs of at most ``size`` changes, of the
        topics for which ``ready(topic)`` is true (all if no ``ready``);
        the others stay for a later take.

        A topic with more changes than ``size`` comes as several diffs:
        all its joins first, in order, then its leaves, the order the
        client applies one diff in (so an update's new meta is in before
        the old one goes).  ``None``: one diff per topic.  The taken topics
        are out of the buffer from the first step on; new changes of them
        start a new window.
        """
        if ready is None:
            taken, self.topics, self.since, self.latest = self.topics, {}, {}, {}
        else:
            topics = self.topics
            taken = {t: changes for t, changes in topics.items() if ready(t)}
            for t in taken:
                del topics[t], self.since[t], self.latest[t]
        for topic, changes in taken.items():
            if size is None or len(changes) <= size:
                yield (topic, [(e.key, e.meta) for e, visible in changes.values() if visible],
                       [(e.key, e.meta) for e, visible in changes.values() if not visible])
                continue
            for want in (True, False):
                part: list = []
                for e, visible in changes.values():
                    if visible is want:
                        part.append((e.key, e.meta))
                        if len(part) == size:
                            yield (topic, part, []) if want else (topic, [], part)
                            part = []
                if part:
                    yield (topic, part, []) if want else (topic, [], part)
