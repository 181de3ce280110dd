"""Introspection: ``processes()`` and ``process_info()``.

Everything returned is a typed record built from the runtime's tables; a
mailbox's contents are only copied out when asked for (``messages=True``).
"""
from __future__ import annotations

import os
import sys
import traceback
from itertools import islice
from typing import Any, Optional

from greenlet import getcurrent

from ._ids import Pid
from ._process import _monitor_key
from ._records import MonitorInfo, ProcessInfo
from ._runtime import NO_EXIT as _NO_EXIT
from ._runtime import RUNTIME, Process, initial_call_of, lookup as _lookup

_procs = RUNTIME.procs

__all__ = ["processes", "process_info", "process_count"]

_CORE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Bytes an idle pooled greenlet costs beyond its Python objects: the
#: touched page of its private frame stack (CPython 3.11 gives each greenlet
#: its own 16 KiB chunk) and the C stack slice greenlet saves on switch-out.
#: Measured by tools/bench (idle process memory minus the records counted
#: here) on CPython 3.11 / greenlet 3.x, x86_64.
GREENLET_OVERHEAD = 5900

_MESSAGE_SAMPLE = 1000


def processes() -> list:
    """The pids of all live processes of this node, oldest first."""
    return [p.pid for p in _procs.values()]


def process_count() -> int:
    """How many processes are alive on this node."""
    return len(_procs)


def _frames(proc: Process):
    g = proc.g
    if g is None:
        return None
    if g is getcurrent():
        return sys._getframe(2)
    return g.gr_frame


_in_core: dict = {}   # code object -> defined in beamish/core?


def _user_frame(frame: Any) -> Any:
    f = frame
    while f is not None:
        code = f.f_code
        core = _in_core.get(code)
        if core is None:
            core = _in_core[code] = os.path.dirname(code.co_filename) == _CORE_DIR
        if not core:
            return f
        f = f.f_back
    return None


def _describe(frame: Any) -> str:
    mod = frame.f_globals.get("__name__", "?")
    return f"{mod}:{frame.f_code.co_qualname}"


def _status(proc: Process) -> str:
    if proc.exit_ is not _NO_EXIT:
        return "exiting"
    if proc.parked == 3:
        return "hibernating"
    g = proc.g
    if g is getcurrent():
        return "running"
    if proc.parked == 1:
        return "waiting"
    if proc.parked == 2:
        return "runnable"
    if g is None or getattr(g, "_bproc", None) is not proc:
        return "runnable"   # spawned, not started yet
    return "waiting"        # suspended in gevent (I/O, sleep, a lock)


def _memory(proc: Process, frame: Any) -> int:
    size = sys.getsizeof(proc) + sys.getsizeof(proc.pid)
    q = proc.mq
    if q is not None:
        size += sys.getsizeof(q)
        n = len(q)
        if n:
            sample = sum(sys.getsizeof(m) for m in islice(q, _MESSAGE_SAMPLE))
            size += sample if n <= _MESSAGE_SAMPLE else sample * n // _MESSAGE_SAMPLE
    for table in (proc.links, proc.monitors, proc.monitored_by, proc.tags):
        if table is not None:
            size += sys.getsizeof(table)
    if not proc.adopted and proc.g is not None:   # a hibernating one has none
        size += GREENLET_OVERHEAD
        f = frame
        while f is not None:
            size += sys.getsizeof(f)
            f = f.f_back
    return size


def process_info(pid: Pid, *, messages: bool = False, stack: bool = False) -> Optional[ProcessInfo]:
    """A :class:`ProcessInfo` for a live local process, or None if it is dead.

    ``messages=True`` also copies out the queued messages; ``stack=True``
    adds the formatted frames where the process is suspended.
    """
    proc = _lookup(pid)
    if proc is None or not proc.alive:
        return None
    frame = _frames(proc)
    if proc.g is not None and getattr(proc.g, "_bproc", None) is not proc:
        frame = None  # not started yet: the greenlet's frames are the pool's
    user = _user_frame(frame) if frame is not None else None
    monitors = tuple(MonitorInfo(ref, _monitor_key(entry))
                     for ref, entry in (proc.monitors or {}).items())
    return ProcessInfo(
        pid=proc.pid,
        status=_status(proc),
        registered_name=proc.name,
        initial_call=initial_call_of(proc),
        current_function=_describe(user) if user is not None else None,
        message_queue_len=len(proc.mq) if proc.mq else 0,
        memory=_memory(proc, frame if not proc.adopted else None),
        reductions=proc.reds,
        links=tuple(sorted(proc.links)) if proc.links else (),
        monitors=monitors,
        monitored_by=tuple(sorted((proc.monitored_by or {}).values())),
        trap_exit=proc.trap,
        messages=tuple(proc.mq) if (messages and proc.mq) else (() if messages else None),
        stack=tuple(traceback.format_stack(frame)) if (stack and frame is not None) else None,
        label=proc.label,
    )
