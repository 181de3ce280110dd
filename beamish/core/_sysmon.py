"""Long-schedule detection, like BEAM's ``system_monitor(long_schedule)``.

gevent is cooperative: a process that computes without yielding holds the
hub, and every other process waits.  The system monitor finds such
processes at no cost to the hot path:

* a repeating hub timer stamps the time every ``threshold / 4``;
* a native thread (not a greenlet, even under monkey patching) wakes every
  ``threshold / 4``; when the stamp is older than ``threshold`` it samples
  the main thread's current frame and walks it to the process running it;
* when the hub runs again, the timer measures how long it was held and
  logs one warning naming the pid, its initial call and where it was.

gevent's own ``monitor_thread`` does the sampling with a greenlet switch
tracer, which costs every switch; this does not.

An episode caught importing modules (the sampled stack runs in Python's
import machinery) is logged at DEBUG, not as a warning: a module is
imported once, mostly as the node boots (``beamish run`` imports the
application, then the tree's processes import what they use lazily), and a
warning for a one-off cost would only teach people to ignore the warning.
``on_event`` still gets it, with ``importing=True``.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from gevent import get_hub
from gevent.monkey import get_original

from ._ids import Pid

log = logging.getLogger(__name__)

__all__ = ["LongSchedule", "start_system_monitor", "stop_system_monitor", "long_schedules"]

_start_new_thread = get_original("_thread", "start_new_thread")
_native_sleep = get_original("time", "sleep")
_get_ident = get_original("_thread", "get_ident")


@dataclass(frozen=True)
class LongSchedule:
    """One episode of a process holding the hub longer than the threshold."""

    pid: Optional[Pid]
    initial_call: str
    where: str
    seconds: float
    #: The hub was held while importing modules (a one-off cost).
    importing: bool = False


class _Monitor:
    def __init__(self, threshold: float, on_event: Optional[Callable[[LongSchedule], None]]) -> None:
        self.threshold = threshold
        self.on_event = on_event
        self.stamp = time.monotonic()
        self.suspect: Optional[tuple] = None   # (pid, initial_call, where, importing)
        self.running = True
        self.count = 0
        self.main_ident = _get_ident()
        period = max(threshold / 4, 0.005)
        self.period = period
        self.timer = get_hub().loop.timer(period, period, ref=False)
        self.timer.start(self._tick)
        _start_new_thread(self._watch, ())

    def _tick(self) -> None:
        now = time.monotonic()
        held = now - self.stamp
        self.stamp = now
        suspect = self.suspect
        if suspect is not None:
            self.suspect = None
            pid, initial_call, where, importing = suspect
            event = LongSchedule(pid, initial_call, where, held, importing)
            if importing:
                log.debug("long_schedule while importing modules: %r (%s) held the hub for "
                          "%.0f ms at %s", pid, initial_call, held * 1000, where,
                          extra={"beamish_pid": repr(pid)})
            else:
                self.count += 1
                log.warning("long_schedule: %r (%s) held the hub for %.0f ms at %s",
                            pid, initial_call, held * 1000, where,
                            extra={"beamish_pid": repr(pid)})
            if self.on_event is not None:
                self.on_event(event)

    def _watch(self) -> None:
        while self.running:
            _native_sleep(self.period)
            if self.suspect is None and time.monotonic() - self.stamp > self.threshold:
                frame = sys._current_frames().get(self.main_ident)
                self.suspect = _who(frame)

    def stop(self) -> None:
        self.running = False
        self.timer.close()


def _who(frame: Any) -> tuple:
    from ._process import _run
    from ._runtime import initial_call_of
    where = "?"
    if frame is not None:
        where = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}:{frame.f_lineno}"
    f = frame
    run_code = _run.__code__
    importing = False
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            importing = True
        if f.f_code is run_code:
            proc = f.f_locals.get("proc")
            if proc is not None:
                return (proc.pid, initial_call_of(proc), where, importing)
        f = f.f_back
    return (None, "main or a plain greenlet", where, importing)


_monitor: Optional[_Monitor] = None


def start_system_monitor(long_schedule: float = 0.1,
                         on_event: Optional[Callable[[LongSchedule], None]] = None) -> None:
    """Report processes that hold the hub longer than ``long_schedule`` s.

    Each episode is logged as a warning (pid, initial call, where), or at
    DEBUG if it was caught importing modules, and, if given, passed to
    ``on_event`` from the hub.  Calling it again replaces
    the running monitor.
    """
    global _monitor
    stop_system_monitor()
    _monitor = _Monitor(long_schedule, on_event)


def stop_system_monitor() -> None:
    """Stop the system monitor if it runs."""
    global _monitor
    if _monitor is not None:
        _monitor.stop()
        _monitor = None


def long_schedules() -> int:
    """How many long schedules the running monitor has warned of (those
    caught importing modules are not counted)."""
    return 0 if _monitor is None else _monitor.count
