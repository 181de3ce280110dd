"""The tables view: a node's PubSubs, Registries and Trackers, with sizes.

observer_cli and LiveDashboard show ETS tables; a beamish node's shared
tables are its named components' own, so this view lists each running
PubSub (its topic count and the topics with the most subscribers), each
Registry (its entries) and each Tracker or Presence (its entries and
topics).  The node builds it (:func:`collect_tables`, the control
endpoint's ``tables`` op) from those packages' public listing functions;
the observer rebuilds it from the wire (:meth:`Tables.from_wire`).

Cost on the node: O(1) per Registry and per tracker shard, and one pass
over each PubSub's topics (no subscriber set is walked), with at most
:data:`MAX_TOP` topics per PubSub on the wire.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from ..otp import Registry
from ..presence import trackers
from ..pubsub import instances as pubsubs, topic_counts

__all__ = ["PubSubRow", "RegistryRow", "TrackerRow", "Tables", "collect_tables", "fetch_tables",
           "DEFAULT_TOP", "MAX_TOP"]

#: Topics listed per PubSub unless asked otherwise, and the most ever sent.
DEFAULT_TOP = 10
MAX_TOP = 100


class PubSubRow(NamedTuple):
    """One running PubSub."""

    name: str
    topics: int                  # topics with subscribers on this node
    top: list                    # [(topic, subscriber processes), ...], most first


class RegistryRow(NamedTuple):
    """One running Registry (an anonymous one is named by its pid)."""

    name: str
    keys: str                    # "unique" | "duplicate"
    partitions: int
    size: int                    # entries


class TrackerRow(NamedTuple):
    """One running Tracker (a Presence is one)."""

    name: str
    cls: str                     # its class: "Tracker", "Presence", a subclass's name
    shards: int
    entries: int                 # presences of every replica this node knows
    topics: int


class Tables(NamedTuple):
    """The whole view, each list by name."""

    pubsubs: list
    registries: list
    trackers: list

    def to_wire(self) -> dict:
        return {"pubsubs": [[r.name, r.topics, [list(t) for t in r.top]] for r in self.pubsubs],
                "registries": [list(r) for r in self.registries],
                "trackers": [list(r) for r in self.trackers]}

    @classmethod
    def from_wire(cls, w: dict) -> "Tables":
        return cls([PubSubRow(n, t, [tuple(x) for x in top]) for n, t, top in w["pubsubs"]],
                   [RegistryRow(*r) for r in w["registries"]],
                   [TrackerRow(*r) for r in w["trackers"]])


def _label(term: Any) -> str:
    return term if isinstance(term, str) else repr(term)


def collect_tables(top: int = DEFAULT_TOP) -> Tables:
    """The tables of this node now, with the ``top`` busiest topics of each
    PubSub (clamped to 0..:data:`MAX_TOP`)."""
    top = max(0, min(int(top), MAX_TOP))
    ps = []
    for name in pubsubs():
        count, best = topic_counts(name, top)
        ps.append(PubSubRow(_label(name), count, [(_label(t), n) for t, n in best]))
    regs = [RegistryRow(r.name if r.name is not None else f"(anonymous) {r.pid!r}", r.kind,
                        r.partitions, Registry.count(r)) for r in Registry.running()]
    trk = [TrackerRow(_label(name), t["class"], t["shards"], t["entries"], t["topics"])
           for name, t in sorted(trackers().items(), key=lambda kv: _label(kv[0]))]
    return Tables(ps, regs, trk)


def fetch_tables(source: Any, top: Optional[int] = None) -> Tables:
    """The tables of the node behind an observer's ``source``: its own
    ``tables()`` if it has one (a test's fake), else a ``tables`` request
    on its client (a :class:`~._client.Client`, or the one a
    :class:`~._client.Redialer` holds now)."""
    own = getattr(source, "tables", None)
    if own is not None:
        return own() if top is None else own(top)
    client = getattr(source, "client", source)
    reply = client.request("tables", top=DEFAULT_TOP if top is None else top)
    return Tables.from_wire(reply["tables"])
