"""Leak detectors: pure functions from a series of samples to suspects.

Theory of operation
-------------------
A :class:`Sample` is what an observer saw at one moment: the node's
process count and message rate, and (optionally) the process list as
:class:`~._records.ProcRow` records by pid.  :func:`find_suspects` looks at
a series of samples, oldest first, and returns :class:`Suspect` records,
each with a reason a person can act on.  Three kinds of leak are flagged:

``duplicate_monitors``
    A process holds more than one monitor on the same target: the leak
    Phoenix.PubSub once had (a monitor per subscribe, never released), found
    in seconds with Erlang's observer.  A brief duplicate is legitimate (a
    ``call`` monitors its server while a long-lived monitor exists), so in a
    series the duplicate must be there in each of the last
    ``dup_persist`` samples; a single sample flags it at once.

``monitor_growth``, ``link_growth``, ``mailbox_growth``, ``memory_growth``
    A process's monitor, link or mailbox count, or its memory (its state
    included: a GenServer appending to a list it never trims), grows
    steadily over the window: it rises in most steps, falls in few, and by
    at least a threshold overall (1 MiB for memory).

``process_growth``
    The node's process count grows steadily while traffic (message rate)
    stays flat: processes are being started and not ended, with no more
    work to explain them.

Nothing here does I/O, reads a clock or imports gevent: tests feed
synthetic samples and assert exact suspects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from ._records import ProcRow

__all__ = ["Sample", "Suspect", "Thresholds", "find_suspects", "duplicate_monitors",
           "growing_tables", "process_growth", "DUPLICATE_MONITORS", "MONITOR_GROWTH",
           "LINK_GROWTH", "MAILBOX_GROWTH", "MEMORY_GROWTH", "PROCESS_GROWTH"]

DUPLICATE_MONITORS = "duplicate_monitors"
MONITOR_GROWTH = "monitor_growth"
LINK_GROWTH = "link_growth"
MAILBOX_GROWTH = "mailbox_growth"
MEMORY_GROWTH = "memory_growth"
PROCESS_GROWTH = "process_growth"

#: The per-process growth checks: (kind, ProcRow field, what it is called).
_GROWTHS = ((MONITOR_GROWTH, "monitors", "monitors"),
            (LINK_GROWTH, "links", "links"),
            (MAILBOX_GROWTH, "message_queue_len", "queued messages"),
            (MEMORY_GROWTH, "memory", "memory"))


@dataclass(frozen=True)
class Sample:
    """What an observer saw at time ``t`` (seconds, any epoch)."""

    t: float
    process_count: int
    message_rate: float
    #: The process list by pid; may be empty for node-level samples.
    procs: Mapping[str, ProcRow] = field(default_factory=dict)

    @classmethod
    def of(cls, t: float, process_count: int, message_rate: float,
           rows: Sequence[ProcRow]) -> "Sample":
        """A sample from a process list."""
        return cls(t, process_count, message_rate, {r.pid: r for r in rows})


@dataclass(frozen=True)
class Suspect:
    """A process (or, with ``pid`` None, the node) that looks like a leak."""

    kind: str
    pid: Optional[str]
    name: Optional[str]
    reason: str
    #: The measure behind the flag (duplicates, growth) for ranking.
    value: float

    def describe(self) -> str:
        who = "node" if self.pid is None else (
            f"{self.pid} ({self.name})" if self.name else self.pid)
        return f"{self.kind}: {who}: {self.reason}"

    def to_wire(self) -> list:
        return [self.kind, self.pid, self.name, self.reason, self.value]

    @classmethod
    def from_wire(cls, row: list) -> "Suspect":
        return cls(*row)


@dataclass(frozen=True)
class Thresholds:
    """When a detector raises a flag."""

    #: Samples in a row a duplicate monitor must be seen in (in a series).
    dup_persist: int = 2
    #: Fewest samples a growth check needs.
    min_samples: int = 4
    #: Least overall growth that counts, per ProcRow field.
    min_growth: Mapping[str, int] = field(default_factory=lambda: {
        "monitors": 10, "links": 10, "message_queue_len": 100, "memory": 2**20})
    #: Steadiness: at least this share of steps rise, at most that share fall.
    min_rising: float = 0.5
    max_falling: float = 0.2
    #: Process growth: at least this many more processes, and this share more.
    process_min_growth: int = 50
    process_min_ratio: float = 0.10
    #: Traffic is flat when the late rate is within this share of the early
    #: rate (plus ``rate_floor`` per second, so an idle node is flat too).
    traffic_tolerance: float = 0.25
    rate_floor: float = 1.0


def _steady(values: Sequence[float], least: float, th: Thresholds) -> bool:
    """True if ``values`` grow by at least ``least`` and rise steadily."""
    if len(values) < th.min_samples or values[-1] - values[0] < least:
        return False
    steps = len(values) - 1
    rising = sum(1 for a, b in zip(values, values[1:]) if b > a)
    falling = sum(1 for a, b in zip(values, values[1:]) if b < a)
    return rising >= math.ceil(th.min_rising * steps) and falling <= int(th.max_falling * steps)


def duplicate_monitors(samples: Sequence[Sample], th: Thresholds = Thresholds()) -> list:
    """Processes holding more than one monitor on one target, persistently."""
    if not samples:
        return []
    last = samples[-1]
    recent = samples[-max(1, min(th.dup_persist, len(samples))):]
    out = []
    for pid, row in last.procs.items():
        if row.dup_monitors <= 0:
            continue
        if any(s.procs.get(pid) is None or s.procs[pid].dup_monitors <= 0 for s in recent):
            continue
        first = recent[0].procs[pid].dup_monitors
        # recent[0] is len(recent) - 1 samples before the last: say how long
        # ago in seconds, which reads the same whatever the interval.
        trend = f", up from {first} {last.t - recent[0].t:.1f} s earlier" \
            if row.dup_monitors > first else ""
        out.append(Suspect(
            DUPLICATE_MONITORS, pid, row.name or row.label,
            f"holds {row.monitors} monitors, {row.dup_monitors} of them duplicates; "
            f"the most on one target: {row.dup_target}{trend} (a monitor per request, "
            f"never demonitored?)",
            float(row.dup_monitors)))
    return out


def growing_tables(samples: Sequence[Sample], th: Thresholds = Thresholds()) -> list:
    """Processes whose monitors, links or mailbox grow steadily."""
    if len(samples) < th.min_samples:
        return []
    first, last = samples[0], samples[-1]
    out = []
    for pid, row in last.procs.items():
        start = first.procs.get(pid)
        for kind, column, what in _GROWTHS:
            least = th.min_growth.get(column, 1)
            # Cheap filter first: most processes have not grown at all.
            if getattr(row, column) - (getattr(start, column) if start else 0) < least:
                continue
            series = [getattr(s.procs[pid], column) for s in samples if pid in s.procs]
            if _steady(series, least, th):
                span = samples[-1].t - next(s.t for s in samples if pid in s.procs)
                first_v, last_v = (_amount(column, v) for v in (series[0], series[-1]))
                out.append(Suspect(
                    kind, pid, row.name or row.label,
                    f"{what} grew steadily from {first_v} to {last_v} "
                    f"over {span:.0f} s ({len(series)} samples)",
                    float(series[-1] - series[0])))
    return out


def _amount(column: str, value: int) -> str:
    return f"{value / 2**20:.1f} MiB" if column == "memory" else str(value)


def process_growth(samples: Sequence[Sample], th: Thresholds = Thresholds()) -> list:
    """The node's process count growing steadily while traffic is flat."""
    if len(samples) < th.min_samples:
        return []
    counts = [s.process_count for s in samples]
    least = max(th.process_min_growth, math.ceil(counts[0] * th.process_min_ratio))
    if not _steady(counts, least, th):
        return []
    third = max(1, len(samples) // 3)
    early = sum(s.message_rate for s in samples[:third]) / third
    late = sum(s.message_rate for s in samples[-third:]) / third
    if late > early * (1 + th.traffic_tolerance) + th.rate_floor:
        return []   # more work explains more processes
    span = samples[-1].t - samples[0].t
    return [Suspect(
        PROCESS_GROWTH, None, None,
        f"process count grew steadily from {counts[0]} to {counts[-1]} over {span:.0f} s "
        f"while traffic stayed flat ({early:.0f} -> {late:.0f} reductions/s)",
        float(counts[-1] - counts[0]))]


def find_suspects(samples: Sequence[Sample], th: Thresholds = Thresholds()) -> list:
    """Every detector over ``samples`` (oldest first); suspects ranked by kind
    (duplicate monitors first), then by how bad they are."""
    order = {DUPLICATE_MONITORS: 0, MONITOR_GROWTH: 1, LINK_GROWTH: 2, MAILBOX_GROWTH: 3,
             MEMORY_GROWTH: 4, PROCESS_GROWTH: 5}
    found = duplicate_monitors(samples, th) + growing_tables(samples, th) + \
        process_growth(samples, th)
    return sorted(found, key=lambda s: (order[s.kind], -s.value, s.pid or ""))
