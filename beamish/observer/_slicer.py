"""Doing long work on the hub in short slices.

gevent is cooperative: a request that walks 100k processes in one go would
hold the hub for a second, and every process of the node would wait.  A
:class:`Slicer` is ticked once per unit of work and yields to the hub
(``gevent.sleep(0)``) whenever the current slice has run for ``budget``
seconds, so the longest hold stays near the budget whatever the node's
size.  It also measures what the work cost, which the endpoint reports.

It yields with a tiny timed sleep, not ``gevent.sleep(0)``: ``sleep(0)``
only queues a callback, and gevent runs callbacks queued while it runs
callbacks before it polls timers and sockets again, so a loop of
``sleep(0)`` starved a 1 ms timer for ~180 ms in our measurements.  A
timed sleep makes the hub go round its loop (timers, I/O, then us).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import gevent

__all__ = ["Slicer", "SliceCost", "DEFAULT_BUDGET"]

#: Default longest time a request holds the hub in one go, in seconds.
DEFAULT_BUDGET = 0.002
#: The sleep that yields a full turn of the hub's loop (see above).
YIELD_SLEEP = 0.00001

_clock = time.perf_counter


@dataclass(frozen=True)
class SliceCost:
    """What one sliced job cost the node."""

    busy_ms: float      # time spent working (holding the hub), in total
    max_hold_ms: float  # the longest single hold
    slices: int         # how many holds (yields + 1)
    elapsed_ms: float   # wall time from start to finish, yields included

    def to_wire(self) -> dict:
        return {"busy_ms": self.busy_ms, "max_hold_ms": self.max_hold_ms,
                "slices": self.slices, "elapsed_ms": self.elapsed_ms}

    @classmethod
    def from_wire(cls, d: dict) -> "SliceCost":
        return cls(d["busy_ms"], d["max_hold_ms"], d["slices"], d["elapsed_ms"])


class Slicer:
    """Tick it per unit of work; it yields to the hub every ``budget`` s."""

    __slots__ = ("budget", "_began", "_start", "_busy", "_max", "_slices")

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._began = self._start = _clock()
        self._busy = 0.0
        self._max = 0.0
        self._slices = 1

    def tick(self) -> None:
        """Yield to the hub if this slice has used its budget."""
        now = _clock()
        held = now - self._start
        if held >= self.budget:
            self._account(held)
            self._slices += 1
            gevent.sleep(YIELD_SLEEP)
            self._start = _clock()

    def _account(self, held: float) -> None:
        self._busy += held
        if held > self._max:
            self._max = held

    def finish(self) -> SliceCost:
        """Close the last slice and report the cost."""
        now = _clock()
        self._account(now - self._start)
        self._start = now
        return SliceCost(busy_ms=self._busy * 1000, max_hold_ms=self._max * 1000,
                         slices=self._slices, elapsed_ms=(now - self._began) * 1000)
