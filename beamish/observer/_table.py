"""The process table's views, without a screen: sort, filter, and the
windowed ranking by growth since the last refresh.

The windowed mode is recon's ``proc_window`` idea (observer_cli users rely
on it): rather than who holds the most reductions or memory *ever*, who
gained the most *since the previous sample*.  A process that did not exist
then counts from zero, as recon counts it.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

from ._records import COLUMNS, ProcRow

__all__ = ["NUMERIC", "TEXT", "sort_rows", "filter_rows", "window", "column_index"]

#: Columns that sort numerically (largest first by default) and can be windowed.
NUMERIC = ("reductions", "message_queue_len", "memory", "links", "monitors", "monitored_by",
           "dup_monitors")
#: Columns that sort as text (smallest first by default).
TEXT = tuple(c for c in COLUMNS if c not in NUMERIC)
_SEARCHED = ("pid", "name", "label", "initial_call", "current_function", "status",
             "dup_target")


def column_index(column: str) -> int:
    """The position of ``column`` in a :class:`ProcRow`.  Raises ValueError."""
    return COLUMNS.index(column)


def _pid_key(pid: str) -> tuple:
    # "<0.57.0>" sorts by its number, not as text ("<0.100.0>" after "<0.99.0>").
    parts = pid.strip("<>").split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (pid,)


def sort_rows(rows: Iterable[ProcRow], column: str, descending: Optional[bool] = None) -> list:
    """Rows ordered by ``column``; numbers largest first and text smallest
    first unless ``descending`` says otherwise.  Ties keep the order given
    (the node lists processes oldest first).  A missing value (a process
    with no name) sorts last either way."""
    i = column_index(column)
    if descending is None:
        descending = column in NUMERIC
    if column == "pid":
        return sorted(rows, key=lambda r: _pid_key(r.pid), reverse=descending)
    present = [r for r in rows if r[i] is not None]
    missing = [r for r in rows if r[i] is None]
    if column in NUMERIC or column == "trap_exit":
        present.sort(key=lambda r: r[i], reverse=descending)
    else:
        present.sort(key=lambda r: str(r[i]).lower(), reverse=descending)
    return present + missing


def filter_rows(rows: Iterable[ProcRow], text: str) -> list:
    """Rows whose pid, name, label, initial call, current function, status or
    duplicate-monitor target contains ``text`` (case-insensitive).  Several
    words must all match; ``dup`` alone keeps the processes with duplicate
    monitors."""
    words = text.lower().split()
    if not words:
        return list(rows)
    out = []
    for r in rows:
        hay = " ".join(str(getattr(r, c)) for c in _SEARCHED if getattr(r, c) is not None)
        hay = hay.lower()
        if all(w in hay or (w == "dup" and r.dup_monitors > 0) for w in words):
            out.append(r)
    return out


def window(previous: Mapping[str, ProcRow], rows: Sequence[ProcRow], column: str) -> list:
    """``(row, growth)`` pairs ranked by how much ``column`` grew since
    ``previous`` (rows by pid), largest growth first.

    Raises:
        ValueError: ``column`` is not numeric.
    """
    if column not in NUMERIC:
        raise ValueError(f"cannot window on {column!r}; choose one of {NUMERIC}")
    i = column_index(column)
    ranked = []
    for r in rows:
        before = previous.get(r.pid)
        ranked.append((r, r[i] - (before[i] if before is not None else 0)))
    ranked.sort(key=lambda pair: (-pair[1], _pid_key(pair[0].pid)))
    return ranked
