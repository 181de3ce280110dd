"""The node's sampler: load, memory, process count and traffic over time.

One process per control endpoint wakes every ``interval`` seconds and
records a :class:`~._records.HistoryPoint`:

* hub latency: how late a 1 ms timer fires: what a process waiting for a
  timeout or a socket waits on top, i.e. the node's run-queue delay;
* RSS and CPU from psutil;
* message rate: how fast the live processes' reductions grow.  beamish
  counts a reduction per message received (and per wake-up), so this is
  close to messages received per second.  The core keeps no node-wide
  counter, so processes that end between two samples take their count
  with them: under heavy churn the rate is an underestimate.

Summing reductions reads the runtime's process table directly (the one
place the observer does; ``process_info`` for every process once a second
would cost far more than it tells).  The walk is sliced like a request.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Optional

import gevent
import psutil

from ..lowlevel import runtime_view
from ..core import process_count
from ._records import HistoryPoint
from ._slicer import Slicer

log = logging.getLogger(__name__)

__all__ = ["NodeStats", "sampler_main", "DEFAULT_INTERVAL", "HISTORY"]

DEFAULT_INTERVAL = 1.0
#: Samples kept (five minutes at the default interval).
HISTORY = 300
_PROBE = 0.001
#: Shortest window a CPU figure is measured over: psutil's CPU times tick in
#: 10 ms steps, so a 1 ms window (the first sample, taken as the endpoint
#: starts) reads as several hundred percent of a single-threaded process.
_CPU_WINDOW_MIN = 0.1


def _live_reductions() -> int:
    total = 0
    slicer = Slicer()
    procs = runtime_view().processes()
    for i in range(0, len(procs), 4096):
        total += sum(p.reds for p in procs[i:i + 4096])
        slicer.tick()
    return total


def _run_queue() -> int:
    callbacks = getattr(gevent.get_hub().loop, "_callbacks", None)
    try:
        return len(callbacks)  # type: ignore[arg-type]
    except TypeError:
        return 0


class NodeStats:
    """The sampler's latest figures and history (read by connections)."""

    def __init__(self, keep: int = HISTORY) -> None:
        self.history: deque = deque(maxlen=keep)
        self.os_process = psutil.Process(os.getpid())
        self.os_process.cpu_percent(None)   # the first call only sets the baseline
        self._cpu_since = time.monotonic()
        self.message_rate = 0.0
        self.hub_latency_ms = 0.0
        self.cpu_percent = 0.0
        self._last: Optional[tuple] = None   # (monotonic time, live reductions)

    def probe_latency(self) -> float:
        """Measure the hub's run-queue delay now, in ms."""
        t0 = time.perf_counter()
        gevent.sleep(_PROBE)
        self.hub_latency_ms = max(0.0, (time.perf_counter() - t0 - _PROBE) * 1000)
        return self.hub_latency_ms

    def sample(self) -> HistoryPoint:
        """Take one sample (call from a process: it yields to the hub)."""
        latency = self.probe_latency()
        now = time.monotonic()
        reds = _live_reductions()
        if self._last is not None:
            dt = now - self._last[0]
            if dt > 0:
                self.message_rate = max(0.0, (reds - self._last[1]) / dt)
        self._last = (now, reds)
        # Too soon after the baseline, keep the last figure and the baseline:
        # the next sample then measures over the longer window.
        if now - self._cpu_since >= _CPU_WINDOW_MIN:
            self.cpu_percent = self.os_process.cpu_percent(None)
            self._cpu_since = now
        point = HistoryPoint(t=time.time(), process_count=process_count(), rss=self.rss(),
                             cpu_percent=self.cpu_percent, message_rate=self.message_rate,
                             hub_latency_ms=latency)
        self.history.append(point)
        return point

    def rss(self) -> int:
        return self.os_process.memory_info().rss

    def uptime(self) -> float:
        return time.time() - self.os_process.create_time()

    @staticmethod
    def run_queue() -> int:
        """Callbacks waiting for the hub right now (process wake-ups among them)."""
        return _run_queue()


def sampler_main(stats: NodeStats, interval: float = DEFAULT_INTERVAL) -> None:
    """Body of the sampler process: sample every ``interval`` s, for ever.

    psutil reads ``/proc`` files, so a node out of file descriptors cannot
    take a sample: the sampler skips it (one log line per such episode)
    and tries again at the next tick rather than ending."""
    failing = False
    while True:
        try:
            stats.sample()
        except (OSError, psutil.Error) as e:
            if not failing:
                log.warning("observer sampler: cannot take a sample (%s); skipping samples "
                            "until it can", e)
            failing = True
        else:
            if failing:
                log.info("observer sampler: sampling again")
            failing = False
        gevent.sleep(interval)
