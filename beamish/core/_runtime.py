"""The runtime's state: one :class:`Runtime` owning every table, and the
:class:`Process` record it tables.

A node runs one runtime, :data:`RUNTIME`, made on import.  It owns the
process table (pid id -> record), the registered names, the active
aliases, the pool of idle worker greenlets, the ready queue of spawned
processes not started yet, the queue of processes woken in ``receive``
that have not run yet, and the pending ``send_after`` timers.  The
operations on them (spawn, send, receive, links, monitors, exit signals)
live in :mod:`._process`, which binds module-level aliases to these very
dicts and deques so that its hot paths pay no attribute lookup per message.

Code outside the core reads the runtime through :func:`runtime_view`
(read-only) and :mod:`beamish.lowlevel`; it never mutates the tables.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from . import _ids
from ._ids import Pid, _new_pid

__all__ = ["NO_EXIT", "Process", "Runtime", "RUNTIME", "RuntimeView", "runtime_view", "lookup",
           "initial_call_of", "describe_process"]

#: ``Process.exit_`` when no exit signal is pending.
NO_EXIT = object()


class Runtime:
    """Every table of one node's process runtime (see the module docstring).

    The attributes are the tables themselves; :mod:`._process` keeps
    aliases to them, so they are never rebound, only mutated.
    """

    __slots__ = ("procs", "names", "aliases", "pool", "ready", "woken", "timers")

    def __init__(self) -> None:
        #: Live processes of this node by pid id, oldest first.
        self.procs: dict = {}
        #: Registered name -> Process.
        self.names: dict = {}
        #: Active alias Ref -> Process.
        self.aliases: dict = {}
        #: Idle worker greenlets kept for reuse by later spawns.
        self.pool: list = []
        #: Spawned processes not started yet, in spawn order.
        self.ready: deque = deque()
        #: Processes woken in ``receive`` (``parked == 2``), in wake order,
        #: not switched to yet; an entry whose ``parked`` is no longer 2 is
        #: stale and skipped.
        self.woken: deque = deque()
        #: Pending ``send_after`` timers (TimerRef), until they fire or are cancelled.
        self.timers: set = set()


RUNTIME = Runtime()
_procs = RUNTIME.procs


class Process:
    """The runtime's record of one process (users hold its :class:`Pid`).

    Read-mostly outside :mod:`._process`: extension code may read any
    field, and may set ``label``, ``initial`` and ``state`` of a process it
    runs; everything else belongs to the runtime.
    """

    __slots__ = (
        "pid", "g", "fn", "args", "kwargs", "mq", "parked", "exit_", "trap",
        "links", "monitors", "monitored_by", "name", "reds", "scanned", "tags",
        "tmo", "alive", "adopted", "aliases", "label", "initial", "state", "timers",
        "__weakref__",
    )

    def __init__(self, fn: Optional[Callable], args: tuple, kwargs: Optional[dict]) -> None:
        self.pid = pid = _new_pid()
        pid._proc = self
        self.g = None
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.mq = None            # deque, made on the first message
        self.parked = 0           # 0 running/runnable, 1 parked in receive, 2 woken,
        #                           3 hibernating (no greenlet: g is None)
        self.exit_ = NO_EXIT
        self.trap = False
        self.links = None         # set of Pid
        self.monitors = None      # {Ref: target Pid or _ByName} this process holds
        self.monitored_by = None  # {Ref: watcher Pid}
        self.name = None
        self.reds = 0
        self.scanned = 0          # length of the tag-indexed mailbox prefix
        self.tags = None          # {tag: count} over that prefix
        self.tmo = False
        self.alive = True
        self.adopted = False
        self.aliases = None       # set of Ref routing to this process
        self.label = None         # set_label's term, for introspection only
        self.initial = None       # initial call to show instead of fn's (a behaviour's)
        self.state = None         # a behaviour's state object (a GenServer instance)
        self.timers = None        # set of pending send_after TimerRefs aimed at its pid
        _procs[pid.id] = self

    def __repr__(self) -> str:
        return f"<Process {self.pid!r}{' ' + self.name if self.name else ''}>"


def lookup(pid: Pid) -> Optional[Process]:
    """The record of ``pid`` if it is a process of this node that has not
    been torn down (also for pids decoded from bytes), else None."""
    proc = pid._proc
    if proc is None and pid.node == _ids._node_name and pid.creation == _ids._creation:
        proc = _procs.get(pid.id)
        if proc is not None:
            pid._proc = proc
    return proc


def initial_call_of(proc: Process) -> str:
    """``"module:qualname"`` of what the process was started to run: the
    function given to spawn, or what a behaviour recorded (a GenServer's
    ``Class.init``)."""
    if proc.initial is not None:
        return proc.initial
    fn = proc.fn
    if proc.adopted:
        return "adopted:" + getattr(proc.g, "__class__", type(proc.g)).__name__
    if fn is None:
        return "?"
    mod = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{mod}:{name}"


def describe_process(proc: Process) -> str:
    """The pid with its registered name and label, for log lines:
    ``<0.42.0> (room_sup, label 'lobby')``."""
    extra = []
    if proc.name:
        extra.append(proc.name)
    if proc.label is not None:
        extra.append(f"label {proc.label!r}")
    return f"{proc.pid!r} ({', '.join(extra)})" if extra else repr(proc.pid)


class RuntimeView:
    """A read-only window on :data:`RUNTIME` for tests and tools.

    Every method returns a fresh snapshot (a list or dict the caller may
    keep); nothing returned aliases a runtime table.  The records returned
    are live: read them, do not mutate them.
    """

    __slots__ = ("_rt",)

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def processes(self) -> list:
        """The records of every live process, oldest first (adopted ones too)."""
        return list(self._rt.procs.values())

    def process(self, pid: Pid) -> Optional[Process]:
        """The live record of ``pid``, or None."""
        p = lookup(pid)
        return p if p is not None and p.alive else None

    def names(self) -> dict:
        """Registered name -> Pid."""
        return {name: p.pid for name, p in self._rt.names.items()}

    def aliases(self) -> dict:
        """Active alias Ref -> the Pid it routes to."""
        return {ref: p.pid for ref, p in self._rt.aliases.items()}

    def timers(self) -> list:
        """The pending ``send_after`` timers (TimerRef)."""
        return list(self._rt.timers)

    @property
    def process_count(self) -> int:
        """How many processes are alive."""
        return len(self._rt.procs)

    @property
    def pool_size(self) -> int:
        """Idle worker greenlets kept for reuse."""
        return len(self._rt.pool)

    @property
    def ready_count(self) -> int:
        """Spawned processes waiting for their first run."""
        return len(self._rt.ready)

    @property
    def timer_count(self) -> int:
        """Pending ``send_after`` timers."""
        return len(self._rt.timers)


_VIEW = RuntimeView(RUNTIME)


def runtime_view() -> RuntimeView:
    """The read-only view of this node's runtime."""
    return _VIEW
