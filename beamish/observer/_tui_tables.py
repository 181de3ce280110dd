"""The terminal UI's tables view (key ``T``): the node's PubSubs with their
busiest topics, its Registries and its Trackers and Presences, with sizes.
See :mod:`._tables` for what the node reports and what that costs it."""
from __future__ import annotations

from ._tables import DEFAULT_TOP, Tables
from ._tui_screens import _TableScreen

__all__ = ["TablesScreen", "table_rows"]


def table_rows(t: Tables) -> list:
    """The view's rows, ``(kind, name, size, detail)``: each PubSub followed
    by its busiest topics, then the Registries, then the trackers."""
    rows = []
    for p in t.pubsubs:
        rows.append(("PubSub", p.name, f"{p.topics:,} topics",
                     f"busiest {len(p.top)} by subscriber processes" if p.top else ""))
        rows.extend(("  topic", topic, f"{n:,} subscribers", "") for topic, n in p.top)
    rows.extend(("Registry", r.name, f"{r.size:,} entries",
                 f"{r.keys} keys, {r.partitions} partition{'s' if r.partitions != 1 else ''}")
                for r in t.registries)
    rows.extend((r.cls, r.name, f"{r.entries:,} entries",
                 f"{r.topics:,} topics, {r.shards} shard{'s' if r.shards != 1 else ''}")
                for r in t.trackers)
    return rows


class TablesScreen(_TableScreen):
    """PubSub topics and subscriber counts, Registry and Presence sizes
    (observer_cli's and LiveDashboard's ETS view, for beamish's tables)."""

    COLUMNS = (("kind", "kind"), ("name", "name"), ("size", "size"), ("detail", "detail"))

    async def fill(self) -> tuple:
        t = await self.app.fetch_tables()  # type: ignore[attr-defined]
        caption = (f"{len(t.pubsubs)} PubSub(s), {len(t.registries)} Registr"
                   f"{'y' if len(t.registries) == 1 else 'ies'}, {len(t.trackers)} "
                   f"Tracker(s)/Presence(s); up to {DEFAULT_TOP} busiest topics per PubSub")
        return table_rows(t), caption
