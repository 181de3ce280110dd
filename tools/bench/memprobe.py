"""Where a held client's memory goes: ``tools.bench.chat_lobby`` under tracemalloc.

``beamish run tools.bench.memprobe --port P --secret S`` serves the same
app as ``tools.bench.chat_lobby`` with ``tracemalloc`` on.  ``kill -USR1``
takes the baseline snapshot; every later ``kill -USR1`` writes the
allocations grown since the baseline, by source line, to
``/tmp/memprobe-<pid>.txt`` (divide by the clients opened in between).

A diagnostic, not a benchmark: tracemalloc slows every allocation.
Greenlet stacks saved on switch are counted (greenlet allocates them
through ``PyMem``), attributed to the line that switched; kernel socket
buffers are not (they are not in the process's RSS either).
"""
from __future__ import annotations

import os
import signal
import tracemalloc

import gevent

from .chat_lobby import add_arguments, children as _children

__all__ = ["add_arguments", "children"]

_state: dict = {}


def _dump() -> None:
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    if "base" not in _state:
        _state["base"] = snap
        return
    stats = snap.compare_to(_state["base"], "lineno")
    total = sum(s.size_diff for s in stats)
    with open(f"/tmp/memprobe-{os.getpid()}.txt", "w") as f:
        f.write(f"grown since baseline: {total:,} bytes\n")
        for s in stats[:40]:
            fr = s.traceback[0]
            f.write(f"{s.size_diff:>14,} B {s.count_diff:>9,} blocks  {fr.filename}:{fr.lineno}\n")


def children(config):
    tracemalloc.start(1)
    gevent.signal_handler(signal.SIGUSR1, _dump)
    return _children(config)
