"""What a process holds beyond what ``process_info`` counts.

``process_info``'s ``memory`` counts a process's own records shallowly:
its mailbox, the containers of its link and monitor tables, its frames.
Two things a leak hides in are left out, and this module adds them:

* the entries of its monitor table: every monitor holds a ref of its own
  (the dict slot alone was counted), so a process leaking monitors now
  grows in memory too;
* its state: for a GenServer, the instance and everything reachable from
  its attributes, measured with :func:`deep_size`, a bounded, sampled deep
  ``sys.getsizeof``.

A GenServer's instance is the state object its process recorded with
:func:`beamish.lowlevel.set_state_object`, read with
:func:`beamish.lowlevel.process_state_object`; a process that recorded
none has no state counted.

Measuring every state on every request would cost a 100k-process node
seconds, so a :class:`StateSizer` keeps each process's last figure and
measures it again only when it is older than ``ttl``, and a request
measures at most ``budget`` objects in all (the rest keep their cached
figure until a later request).
"""
from __future__ import annotations

import sys
import time
import types
from collections import deque
from itertools import islice
from typing import Any, Optional

from greenlet import getcurrent

from ..core import Pid, Ref
from ..lowlevel import Process, process_state_object

__all__ = ["deep_size", "measure", "monitor_table_bytes", "state_of", "StateSizer", "MAX_OBJECTS",
           "SAMPLE", "STATE_TTL", "REQUEST_BUDGET"]

#: Most objects one :func:`deep_size` walks; the rest are extrapolated.
MAX_OBJECTS = 2000
#: Items of a container looked at; a bigger one is extrapolated from them.
SAMPLE = 64
#: Seconds a measured state size is reused before it is measured again.
STATE_TTL = 0.5
#: Most objects walked measuring states during one list request.
REQUEST_BUDGET = 100_000

#: Objects shared by the whole program, never a process's own.
_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, types.CodeType, types.FrameType)
#: Counted, not followed: a pid leads to its process (another process's
#: mailbox and frames), a greenlet to its whole stack.
_LEAVES = (Pid, Ref, Process, type(getcurrent()))
_getsizeof = sys.getsizeof


def _children(obj: Any) -> tuple:
    """``(sampled children, how many there are in all)`` of one object."""
    cls = obj.__class__
    if cls is dict:
        n = len(obj)
        items = islice(obj.items(), SAMPLE)
        return [x for kv in items for x in kv], 2 * n
    if cls in (list, tuple):
        n = len(obj)
        if n <= SAMPLE:
            return obj, n
        step = n / SAMPLE   # spread over the whole sequence, not just its head
        return [obj[int(i * step)] for i in range(SAMPLE)], n
    if cls in (set, frozenset, deque):
        return list(islice(obj, SAMPLE)), len(obj)
    if cls in (str, bytes, int, float, bool, complex, bytearray, type(None)) or \
            isinstance(obj, _LEAVES):
        return (), 0
    out = []
    d = getattr(obj, "__dict__", None)
    if d.__class__ is dict:
        out.append(d)
    for klass in cls.__mro__:
        for slot in klass.__dict__.get("__slots__", ()):
            value = getattr(obj, slot, None)
            if value is not None:
                out.append(value)
    return out, len(out)


def deep_size(root: Any, max_objects: int = MAX_OBJECTS) -> int:
    """The bytes ``root`` and what it references hold, estimated (see
    :func:`measure`)."""
    return measure(root, max_objects)[0]


def measure(root: Any, max_objects: int = MAX_OBJECTS) -> tuple:
    """``(bytes, objects walked)``: what ``root`` and what it references
    hold, estimated.

    Walks breadth first, each object once, skipping what the whole program
    shares (classes, modules, functions, frames) and not following pids,
    refs, processes or greenlets (they lead to other processes).  A container of more than
    :data:`SAMPLE` items is measured on a sample and the sample's size
    scaled up; once ``max_objects`` have been walked, what is left to walk
    is counted at the average size seen so far.
    """
    seen: set = set()
    todo: deque = deque([(root, 1.0)])
    total = 0.0
    weight_seen = 0.0
    walked = 0
    while todo and walked < max_objects:
        obj, weight = todo.popleft()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        walked += 1
        try:
            size = _getsizeof(obj)
        except TypeError:
            size = 0
        total += size * weight
        weight_seen += weight
        kids, n = _children(obj)
        if kids:
            each = weight * n / len(kids)
            todo.extend((k, each) for k in kids)
    if todo and weight_seen:
        total += sum(w for _, w in todo) * total / weight_seen
    return int(total), walked


def monitor_table_bytes(proc: Any) -> int:
    """What the entries of ``proc``'s monitor table hold beyond the table:
    each monitor's ref (with its number) and, for a monitor by name, its
    entry.  The watched process's ``monitored_by`` shares the same ref, so
    it is counted once, here."""
    table = proc.monitors
    if not table:
        return 0
    size = 0
    for ref, entry in table.items():
        size += _getsizeof(ref) + _getsizeof(ref.id)
        if entry.__class__ is not Pid:
            size += _getsizeof(entry)
    return size


def state_of(proc: Any) -> Optional[Any]:
    """The behaviour state ``proc`` recorded (a GenServer's instance), or
    None (not a GenServer, or ``init`` has not begun)."""
    return process_state_object(proc)


class StateSizer:
    """Each process's state size, measured now and then (see the module
    docstring).  One per control endpoint; call :meth:`begin` before a walk
    over the process table and :meth:`end` after it, so the figures of
    processes that ended are dropped."""

    def __init__(self, ttl: float = STATE_TTL, budget: int = REQUEST_BUDGET,
                 clock: Any = time.monotonic) -> None:
        self.ttl = ttl
        self.budget = budget
        self.clock = clock
        self._cache: dict = {}    # pid -> (measured at, bytes)
        self._seen: dict = {}
        self._left = budget

    def begin(self) -> None:
        self._seen = {}
        self._left = self.budget

    def end(self) -> None:
        """Keep only the processes seen since :meth:`begin`."""
        self._cache = self._seen
        self._seen = {}

    def size(self, proc: Any) -> int:
        """The bytes ``proc``'s state holds (0 with no state); a cached
        figure while it is fresh or this request's budget is spent."""
        now = self.clock()
        cached = self._cache.get(proc.pid)
        if cached is not None and (now - cached[0] < self.ttl or self._left <= 0):
            self._seen[proc.pid] = cached
            return cached[1]
        state = state_of(proc)
        if state is None:
            value = (now, 0)
        else:
            size, walked = measure(state, max(1, min(MAX_OBJECTS, self._left)))
            value = (now, size)
            self._left -= walked
        self._seen[proc.pid] = self._cache[proc.pid] = value
        return value[1]
