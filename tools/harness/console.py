"""The child side of a :class:`~tools.harness.procs.LineProc`: commands in
lines on stdin, one answer line each on stdout.

The benchmark servers and nodes (``tools.bench._chan_server``,
``_chan_floor``, ``_presence_node``) each had this loop; :func:`serve`
is it once.  ``rss`` (resident set size after a full collection, the
figure every memory benchmark reads) is always understood.
"""
from __future__ import annotations

import gc
import sys
from typing import Callable, Dict, Optional

__all__ = ["out", "rss", "serve"]


def out(line: str) -> None:
    """Write one answer line and flush it (the driver is waiting on it)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def rss() -> int:
    """Resident set size in bytes, after a full collection."""
    import psutil
    gc.collect()
    return psutil.Process().memory_info().rss


def serve(commands: Dict[str, Callable[..., Optional[str]]]) -> None:
    """Answer commands from stdin until it closes: ``name arg...`` calls
    ``commands[name](*args)`` (the words as strings) and writes the line
    it returns; ``rss`` answers ``rss BYTES``; anything else ``error ...``.
    Reads through gevent, so only the calling greenlet waits for input."""
    from gevent.fileobject import FileObjectPosix
    table = {"rss": lambda: f"rss {rss()}", **commands}
    for line in FileObjectPosix(0, "r", close=False):
        words = line.split()
        if not words:
            continue
        fn = table.get(words[0])
        answer = fn(*words[1:]) if fn is not None else f"error unknown command {words[0]!r}"
        if answer is not None:
            out(answer)
