"""Processes: greenlets with a pid, a mailbox, links and monitors.

Theory of operation
-------------------
A process is a :class:`~._runtime.Process` record run by a greenlet whose
parent is the gevent hub.  The records, the name and alias tables, the
greenlet pool and the ready queue belong to the one
:data:`~._runtime.RUNTIME`; this module holds the operations on them.

``spawn`` makes the record and appends it to the ready queue; one hub
callback (``_kick``) hands ready processes to worker greenlets, and a
worker runs up to ``RUN_BUDGET`` of them in a row before it lets the hub
run.  Workers are pooled: when a process ends, its greenlet starts the
next ready one or parks in the pool, which saves the greenlet creation
(and, on CPython 3.11, the mmap/munmap of its frame stack) that dominates
a bare spawn.

A process waiting in ``receive`` parks after setting ``parked = 1``.
Whoever wakes it (a send, an exit signal) moves ``parked`` from 1 to 2 and
appends it to the runtime's woken queue, so a process is woken at most once
per park, and an entry whose process is no longer at ``parked == 2`` is
stale and skipped: no stale wake-up can land in a greenlet that has moved
on (pooled greenlets are reused, so that matters).  The receive's own timer
switches to the process from the hub at once.

The woken queue is run without a hub round trip per message: a process
that parks (or a worker whose process ended) switches straight to the
oldest woken process (a *handoff*), so two processes playing ping-pong
switch greenlet to greenlet.  The hub still gets its turn: one hub
callback (``_run_woken``) is queued when the woken queue gets its first
entry; after ``RUN_BUDGET`` switches to woken processes (handoffs and the
callback's own) a parking process goes to the hub instead, and the
callback, if work is left, continues on a zero-delay timer, which libev
runs after an I/O poll.  So sockets and timers get a turn at least every
``RUN_BUDGET`` such switches, as spawns do.  ``parked == 0`` means the process
is running, runnable, or blocked somewhere else in gevent (a socket, a
sleep): gevent's own waits are token-based (``Waiter``), so an exit signal
is thrown into them with ``greenlet.throw``, exactly as gevent's
``Greenlet.kill`` does.

Hibernation (``hibernate``, Erlang's ``erlang:hibernate/3``) unwinds a
process's stack with an exception down to ``_run``, which keeps the
continuation as the process's ``fn`` and parks the record with no
greenlet (``parked == 3``): the worker greenlet goes back to the pool.
Whatever would wake a parked process (a message, an exit signal) puts a
hibernating one on the ready queue instead, and a worker starts its
continuation like a newly spawned process.

Exit signals are never lost and never swallowed.  A pending signal is kept
in ``exit_`` until the process ends: if user code catches the
:class:`~beamish.core._errors.Exit` exception, the next ``receive`` raises it
again, and the process's exit reason is the signal's reason.

Everything here runs on one hub (the main thread's); beamish processes are
not thread-safe, as gevent's greenlets are not.
"""
from __future__ import annotations

import logging
import sys
from collections import deque
from itertools import islice
from typing import Any, Callable, Optional

from greenlet import greenlet, getcurrent, GreenletExit
from gevent import get_hub
from gevent import Greenlet as _GeventGreenlet

from . import _ids
from ._errors import BadArg, Exit, NameTaken, NoProc, NotAProcess, NotRegistered, ReceiveTimeout
from ._ids import Pid, Ref, make_ref
from ._ids import _creation, _new_ref, _ref_ids
from ._instances import _owned, release_owned as _release_owned
from ._pattern import ANY, NOTAG, UNHASHABLE, compile_patterns, message_tag, pattern_tag
from ._reasons import mark_reported
from ._records import Down, ExitMsg
from ._runtime import NO_EXIT as _NO_EXIT
from ._runtime import RUNTIME, Process, describe_process, initial_call_of, lookup as _lookup

log = logging.getLogger(__name__)

__all__ = [
    "spawn", "spawn_link", "spawn_monitor", "spawn_opt", "self", "send", "receive",
    "link", "unlink", "monitor", "demonitor", "exit", "process_flag", "is_alive",
    "register", "unregister", "whereis", "registered", "send_after", "cancel_timer",
    "alias", "unalias", "set_label", "get_label", "hibernate",
]

_hub = get_hub()
_loop = _hub.loop
_run_callback = _loop.run_callback
_hub_switch = _hub.switch
#: libev caches "now" once per loop iteration, so a process that computed
#: for a while without yielding would start its timers from a stale clock
#: (and they would fire early, even at once).  Every timer the runtime arms
#: refreshes the clock first: one clock read, far cheaper than the timer.
_update_now = _loop.update_now

_TIMEOUT = object()   # what a receive timer switches in with
_next_ref_id = _ref_ids.__next__
_RAISE = object()     # receive(default=...) not given

#: How many finished greenlets are kept for reuse by later spawns.  An
#: idle pooled greenlet holds about 8 KB, and a node whose connections
#: hibernate fills its pool once: 2,048 (the earlier bound) cost each node
#: ~14 MB for nothing (a socket or channel that wakes takes one and gives
#: it back when it hibernates again); 256 keep spawn and ping-pong where
#: they were (``python -m tools.bench runtime``) and take an idle
#: client, one node at 10,000, from 9.5 to 8.7 KB.
POOL_MAX = 256

# The runtime's tables, bound once: the hot paths below use these aliases
# (they are the very dicts and deques RUNTIME owns, never rebound).
_pool: list = RUNTIME.pool
_procs: dict = RUNTIME.procs
_names: dict = RUNTIME.names
_aliases: dict = RUNTIME.aliases
_ready: deque = RUNTIME.ready
_woken: deque = RUNTIME.woken
_timers: set = RUNTIME.timers
#: True while a hub callback that starts ready processes (``_kick``) is
#: queued: scheduler state, a module global so that ``spawn`` reads it fast.
_kick_pending = False
#: True while ``_run_woken`` is queued (as a callback or on its timer) or
#: running: then whatever is appended to the woken queue will be run.
_wake_pending = False
#: Switches to woken processes since the hub last ran ``_run_woken``.
_handoffs = 0
#: The router for pids, refs and ``(name, node)`` of other nodes (see
#: :func:`_set_remote_router`); None while this node is not distributed.
_remote: Any = None


def _set_remote_router(router: Any) -> None:
    """Hand signals for other nodes to ``router`` (``beamish.lowlevel.
    set_remote_router``); None: drop them, as a node without distribution.

    The runtime calls the router only where a local lookup missed, so the
    local case pays nothing: ``send(dest, msg)`` for a pid, alias or
    ``(name, node)`` of another node; ``monitor(watcher, ref, target)``
    and ``demonitor(watcher, ref, target)`` for a monitor of a remote pid
    or ``(name, node)``; ``link(from_, to)``, ``unlink(from_, to)``; and
    ``exit(from_, to, reason, via_link)`` for ``exit/2`` to a remote pid
    and for the exit signal a local process's end sends along a link to
    one.  Every method runs in the caller's process and must not block.
    """
    global _remote
    _remote = router


def _is_remote(dest: Any) -> bool:
    """True for a pid or ref of another node name, or ``(name, node)`` of
    another node: what the remote router handles."""
    cls = dest.__class__
    if cls is Pid or cls is Ref:
        return dest.node != _ids._node_name
    return cls is tuple and len(dest) == 2 and dest[1] != _ids._node_name


# --------------------------------------------------------------- spawning
class _Worker(greenlet):
    """A pooled greenlet; ``_bproc`` is the process it runs now."""

    __slots__ = ("_bproc",)


#: How many processes a worker starts in a row before it lets the hub run.
RUN_BUDGET = 200


def _kick() -> None:
    """Hub callback: hand ready processes to worker greenlets."""
    global _kick_pending
    _kick_pending = False
    pool = _pool
    while _ready:
        g = pool.pop() if pool else _Worker(_worker, _hub)
        g.switch()


def _worker() -> None:
    """Body of a worker greenlet: start ready processes one after another.

    A process that runs to its end hands the greenlet straight to the next
    ready one (no greenlet is made, no hub round trip).  A process that
    blocks keeps the greenlet; ``_kick`` then takes another for the rest.
    """
    global _kick_pending
    g = getcurrent()
    pool = _pool
    ready = _ready
    while True:
        budget = RUN_BUDGET
        while ready and budget:
            budget -= 1
            proc = ready.popleft()
            g._bproc = proc
            proc.g = g
            if proc.exit_ is _NO_EXIT:
                _run(proc)
            else:
                _terminate(proc, proc.exit_)   # killed before it ever ran
            proc = None
            g._bproc = None
        if ready and not _kick_pending:
            _kick_pending = True
            _run_callback(_kick)
        if len(pool) >= POOL_MAX:
            return
        pool.append(g)
        _switch_out()    # to a woken process, or the hub; _kick resumes it


def _run(proc: Process) -> None:
    system_error = None
    crashed = False
    try:
        kwargs = proc.kwargs
        if kwargs:
            proc.fn(*proc.args, **kwargs)
        else:
            proc.fn(*proc.args)
        reason: Any = "normal"
    except Exit as e:
        reason = e.reason
    except _Hibernate as h:
        _hibernated(proc, h.fn, h.args, h.kwargs)
        return
    except GreenletExit:
        reason = "killed"
    except Exception as e:
        reason = e
        crashed = True
    except BaseException as e:  # KeyboardInterrupt, SystemExit: end, then re-raise
        reason = e
        system_error = e
    if proc.exit_ is not _NO_EXIT:
        reason = proc.exit_
        crashed = False
    elif crashed and not proc.links:
        _crash_report(proc, reason)
    _terminate(proc, reason)
    if system_error is not None:
        raise system_error


def _wake(p: Process) -> None:
    """Wake ``p``, parked in ``receive`` (``parked == 1``): mark it woken
    and queue it; it runs at the next handoff or hub callback."""
    global _wake_pending
    p.parked = 2
    _woken.append(p)
    if not _wake_pending:
        _wake_pending = True
        _run_callback(_run_woken)


def _run_woken() -> None:
    """Hub callback: switch to woken processes, oldest first, until the
    queue is empty or ``RUN_BUDGET`` switches were made since this began
    (handoffs included); then, if any are left, run again on a zero-delay
    timer, which libev fires after polling I/O."""
    global _wake_pending, _handoffs
    woken = _woken
    _handoffs = 0
    while woken and _handoffs < RUN_BUDGET:
        p = woken.popleft()
        if p.parked == 2:
            _handoffs += 1
            p.g.switch()
    if woken:
        _update_now()
        _woken_timer.start(_run_woken)
    else:
        _wake_pending = False


_woken_timer = _loop.timer(0.0)


def _switch_out() -> None:
    """Leave the calling process, which has just parked (``parked == 1``):
    switch straight to the oldest woken process while the budget allows,
    else to the hub.  Returns when the caller is switched to again."""
    global _handoffs
    woken = _woken
    while woken and _handoffs < RUN_BUDGET:
        p = woken.popleft()
        if p.parked == 2:
            _handoffs += 1
            p.g.switch()
            return
    _hub_switch()


def _start(proc: Process) -> None:
    global _kick_pending
    _ready.append(proc)
    if not _kick_pending:
        _kick_pending = True
        _run_callback(_kick)


class _Hibernate(BaseException):
    """Raised by :func:`hibernate` to unwind the process's stack down to
    the runtime, which then parks the process without a greenlet.  Not an
    error: code that catches ``BaseException`` must let it through
    (``beamish.lowlevel.is_hibernate_unwind`` tells it apart)."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs


def hibernate(fn: Callable, *args: Any, **kwargs: Any) -> None:
    """Give the calling process's greenlet back until a message comes, then
    run ``fn(*args, **kwargs)`` (Erlang's ``erlang:hibernate/3``).

    Never returns: the stack is discarded (unwound by an exception, so the
    ``finally`` blocks of the frames it leaves do run; call it in tail
    position, outside ``try`` blocks that would release anything).  The
    process keeps its pid, mailbox, links, monitors, name, label, flags and
    pending timers, and holds no greenlet and no frames while it sleeps.
    The next message, or an exit signal, starts ``fn`` on a pooled
    greenlet; when ``fn`` returns the process ends, as if ``fn`` had been
    the function it was spawned with.  With messages already queued it
    carries on at once.  ``process_info`` shows the status
    ``"hibernating"``.

    Raises:
        NotAProcess: the caller was not started by ``spawn`` (the main
            greenlet, a plain gevent Greenlet): it has a stack of its own
            to keep.
        Exit: an exit signal is pending (the process ends here).
    """
    g = getcurrent()
    p = getattr(g, "_bproc", None)
    if p is None or p.adopted:
        raise NotAProcess("only a process started with spawn can hibernate")
    if p.exit_ is not _NO_EXIT:
        raise Exit(p.exit_)
    raise _Hibernate(fn, args, kwargs)


def _hibernated(proc: Process, fn: Callable, args: tuple, kwargs: dict) -> None:
    """The stack of ``proc`` is unwound: park it with ``fn(*args)`` as its
    continuation and no greenlet (``parked == 3``), or restart it at once
    if a message is already queued."""
    if proc.exit_ is not _NO_EXIT:    # signalled while its stack unwound
        _terminate(proc, proc.exit_)
        return
    proc.fn = fn
    proc.args = args
    proc.kwargs = kwargs or None
    proc.g = None
    if proc.mq:
        _start(proc)
        return
    proc.mq = None       # an empty deque is 600 bytes: made again on a message
    proc.tags = None
    proc.scanned = 0
    proc.parked = 3


def spawn(fn: Callable, *args: Any, **kwargs: Any) -> Pid:
    """Start a process running ``fn(*args, **kwargs)``; return its pid.

    The new process runs when the caller next yields to the hub.  It ends
    with reason ``"normal"`` when ``fn`` returns, with the exception as
    reason when ``fn`` raises, or with the reason of ``exit(reason)``.
    """
    proc = Process(fn, args, kwargs)
    _start(proc)
    return proc.pid


def spawn_link(fn: Callable, *args: Any, **kwargs: Any) -> Pid:
    """``spawn`` and link the new process to the caller, atomically."""
    me = _current()
    proc = Process(fn, args, kwargs)
    _add_link(me, proc)
    _start(proc)
    return proc.pid


def spawn_monitor(fn: Callable, *args: Any, **kwargs: Any) -> tuple:
    """``spawn`` and monitor the new process; returns ``(pid, ref)``."""
    me = _current()
    proc = Process(fn, args, kwargs)
    ref = _add_monitor(me, proc, proc.pid)
    _start(proc)
    return proc.pid, ref


def spawn_opt(fn: Callable, args: tuple = (), kwargs: Optional[dict] = None, *,
              link: bool = False, monitor: bool = False, trap_exit: bool = False,
              name: Optional[str] = None) -> Any:
    """``spawn`` with options (Erlang's ``spawn_opt``).

    ``link`` and ``monitor`` as in ``spawn_link``/``spawn_monitor`` (with
    ``monitor=True`` the result is ``(pid, ref)``); ``trap_exit`` sets the
    flag before the process runs; ``name`` registers it before it runs.
    """
    me = _current() if (link or monitor) else None
    if name is not None and name in _names:
        raise NameTaken(f"name {name!r} is already registered to {_names[name].pid!r}")
    proc = Process(fn, args, kwargs)
    proc.trap = bool(trap_exit)
    if name is not None:
        _do_register(name, proc)
    if link:
        _add_link(me, proc)
    ref = _add_monitor(me, proc, proc.pid) if monitor else None
    _start(proc)
    return (proc.pid, ref) if monitor else proc.pid


# -------------------------------------------------------- current process
def _adopt(g: Any) -> Process:
    """Give a process identity to the main greenlet or a gevent Greenlet.

    The main greenlet behaves like Erlang's shell process: it can send,
    receive, link and monitor.  A gevent ``Greenlet`` that does the same is
    adopted and its record ends when the greenlet ends.
    """
    if g is _hub:
        raise NotAProcess("the gevent hub is not a process")
    if g.parent is not None and not isinstance(g, _GeventGreenlet):
        raise NotAProcess(f"{g!r} is not a beamish process; start it with beamish.spawn")
    proc = Process(None, (), None)
    proc.g = g
    proc.adopted = True
    g._bproc = proc
    if isinstance(g, _GeventGreenlet):
        g.rawlink(_adopted_greenlet_ended)
    return proc


def _adopted_greenlet_ended(g: Any) -> None:
    proc = getattr(g, "_bproc", None)
    if proc is not None and proc.alive:
        g._bproc = None
        exc = g.exception
        _terminate(proc, "normal" if exc is None else (exc.reason if isinstance(exc, Exit) else exc))


def _current() -> Process:
    """The record of the calling process (``beamish.lowlevel.current_process``).

    Called from the main greenlet or a gevent ``Greenlet``, this adopts it
    as a process first, as ``self()`` does.
    """
    g = getcurrent()
    try:
        proc = g._bproc      # faster than getattr(g, "_bproc", None) when set
    except AttributeError:
        proc = None
    if proc is None:
        proc = _adopt(g)
    return proc


def self() -> Pid:
    """The pid of the calling process."""
    try:
        return getcurrent()._bproc.pid
    except AttributeError:
        return _current().pid


def set_label(label: Any) -> None:
    """Label the calling process with any term (Elixir's ``Process.set_label``).

    The label only describes the process to people: ``process_info`` and
    the observer show it, crash reports name it.  Unlike a registered name
    it need not be unique and nothing can be sent to it.  ``None`` removes it.
    """
    _current().label = label


def get_label(pid: Pid) -> Any:
    """The label ``pid`` set with :func:`set_label`; None if it set none or
    is not alive."""
    p = _lookup(pid)
    return None if p is None or not p.alive else p.label


def _set_initial_call(pid: Pid, call: str) -> None:
    """Show ``call`` (``"module:qualname"``) as ``pid``'s initial call.

    A behaviour's processes all run the behaviour's loop; what tells them
    apart is the user's module, as Erlang's ``proc_lib`` records
    ``{Module, init, Arity}`` for observer to show.
    """
    p = _lookup(pid)
    if p is not None:
        p.initial = call


def _resolve(dest: Any) -> Optional[Process]:
    if dest.__class__ is Pid:
        return _lookup(dest)
    if dest.__class__ is Ref:
        return _aliases.get(dest)   # an inactive alias: the message is dropped
    if isinstance(dest, str):
        proc = _names.get(dest)
        if proc is None:
            raise NotRegistered(dest)
        return proc
    if dest.__class__ is tuple and len(dest) == 2 and isinstance(dest[0], str):
        if dest[1] == _ids._node_name:
            return _resolve(dest[0])
        return None   # (name, node) of another node: the remote router's
    raise BadArg(f"not a pid or a registered name: {dest!r}")


# -------------------------------------------------------------- messaging
def send(dest: Any, msg: Any) -> Any:
    """Send ``msg`` to a pid or a registered name; returns ``msg``.

    ``dest`` may also be an alias (see :func:`alias`); a message to an
    inactive alias is dropped.
    Sending to a dead pid does nothing, as in Erlang.  Sending to a name no
    process holds raises :class:`NotRegistered`.  Messages from one sender
    to one receiver arrive in the order they were sent.  The message is
    passed by reference (not copied): treat it as immutable once sent.
    A pid, alias or ``(name, node)`` of another node goes to that node
    through :mod:`beamish.dist` (dropped if it is not running).
    """
    global _wake_pending
    if dest.__class__ is Pid:
        p = dest._proc
        if p is None:
            p = _lookup(dest)
            if p is None:
                if _remote is not None and dest.node != _ids._node_name:
                    _remote.send(dest, msg)
                return msg
    else:
        p = _aliases.get(dest) if dest.__class__ is Ref else _resolve(dest)
        if p is None:
            if _remote is not None and _is_remote(dest):
                _remote.send(dest, msg)
            return msg
    q = p.mq
    if q is None:
        q = p.mq = deque()
    q.append(msg)
    parked = p.parked
    if parked:
        if parked == 1:      # _wake(p), inline: this is the hot path
            p.parked = 2
            _woken.append(p)
            if not _wake_pending:
                _wake_pending = True
                _run_callback(_run_woken)
        elif parked == 3:
            p.parked = 0
            _start(p)
    return msg


def _deliver(p: Process, msg: Any) -> None:
    """Queue ``msg`` for the live process ``p`` and wake it if it waits:
    ``send`` without resolving a pid or name (``beamish.lowlevel.deliver``).
    ``p.alive`` must be True: a message queued to a dead record is lost."""
    q = p.mq
    if q is None:
        q = p.mq = deque()
    q.append(msg)
    if p.parked == 1:
        _wake(p)
    elif p.parked == 3:
        p.parked = 0
        _start(p)


def _on_timer(p: Process) -> None:
    p.tmo = True
    if p.parked == 1:
        p.parked = 2
        p.g.switch(_TIMEOUT)


def _timed_out(default: Any, timeout: float) -> Any:
    if default is _RAISE:
        raise ReceiveTimeout(f"no matching message within {timeout} s")
    return default


def _unindex(p: Process, m: Any) -> None:
    """Drop ``m`` (removed from the indexed prefix) from the tag index."""
    p.scanned -= 1
    tags = p.tags
    t = message_tag(m)
    n = tags[t] - 1
    if n:
        tags[t] = n
    else:
        del tags[t]


def _extend_index(p: Process, q: deque, upto: int) -> None:
    tags = p.tags
    if tags is None:
        tags = p.tags = {}
    get = tags.get
    for m in islice(q, p.scanned, upto):
        t = message_tag(m)
        tags[t] = get(t, 0) + 1
    p.scanned = upto


def receive(*patterns: Any, timeout: Optional[float] = None, default: Any = _RAISE) -> Any:
    """Take the first queued message matching any of ``patterns``.

    With no patterns, the first message of any kind.  Messages that match
    no pattern stay queued, in order.  ``timeout`` is in seconds (``None``:
    wait for ever; ``0``: only look at what is queued).  On timeout,
    ``default`` is returned if given, else :class:`ReceiveTimeout` is
    raised.  See :mod:`beamish.core._pattern` for what a pattern can be.

    Raises:
        Exit: a pending exit signal ends the process here.
    """
    global _handoffs
    try:
        p = getcurrent()._bproc
    except AttributeError:
        p = _adopt(getcurrent())
    if p.exit_ is not _NO_EXIT:
        raise Exit(p.exit_)
    if patterns:
        return _receive_matching(p, compile_patterns(patterns), timeout, default)
    q = p.mq
    if q:
        p.reds += 1
        m = q.popleft()
        if p.scanned:
            _unindex(p, m)
        return m
    if timeout is not None:
        return _wait_any(p, timeout, default)
    woken = _woken
    while True:  # the hot path of a process waiting for its next message
        p.parked = 1
        try:
            while woken and _handoffs < RUN_BUDGET:   # _switch_out(), inline
                w = woken.popleft()
                if w.parked == 2:
                    _handoffs += 1
                    w.g.switch()
                    break
            else:
                _hub_switch()
        finally:
            p.parked = 0
        if p.exit_ is not _NO_EXIT:
            raise Exit(p.exit_)
        q = p.mq
        if q:
            p.reds += 2
            m = q.popleft()
            if p.scanned:
                _unindex(p, m)
            return m


def _take_head(p: Process) -> Any:
    """Take the oldest message (the mailbox is not empty)."""
    p.reds += 1
    m = p.mq.popleft()
    if p.scanned:
        _unindex(p, m)
    return m


class _ReceiveTimer:
    """A receive timer: a libev watcher and the timeout it was made for.

    The watcher repeats every ``timeout`` and is started with ``again``,
    which arms it for exactly ``repeat`` seconds from a refreshed clock
    however it was left (stopped early or fired): a plain ``start`` of a
    reused watcher would count from what libev left of its last run.
    It never fires twice for one wait: the wait stops it as it ends.
    """

    __slots__ = ("watcher", "free")

    def __init__(self, timeout: float, free: Optional[list]) -> None:
        self.watcher = _loop.timer(timeout, timeout)
        #: The free list of its timeout it goes back to when stopped (None:
        #: closed instead), found without a look-up by timeout.
        self.free = free


#: Stopped receive timers kept for reuse, by timeout: making a libev
#: watcher costs twice as much as starting one, a timed receive (every
#: ``call`` with a timeout) needs one per wait, and a watcher's delay is
#: fixed when it is made (calls mostly use the one default timeout).  Few
#: are in use at once (one per process waiting with a timeout), and a
#: stopped watcher holds no reference to its last process.
_free_timers: dict = {}
_FREE_TIMEOUTS_MAX = 8      # distinct timeouts kept
_FREE_TIMERS_MAX = 16       # watchers kept per timeout


def _start_timer(p: Process, timeout: float) -> _ReceiveTimer:
    """Arm a receive timer for ``p``: ``timeout`` seconds from now (Erlang
    measures an ``after`` from the receive, not from the loop's last tick).
    Give it back with :func:`_stop_timer`."""
    p.tmo = False
    free = _free_timers.get(timeout)
    if free:
        timer = free.pop()
    else:
        if free is None and len(_free_timers) < _FREE_TIMEOUTS_MAX:
            free = _free_timers[timeout] = []
        timer = _ReceiveTimer(timeout, free)
    timer.watcher.again(_on_timer, p)     # refreshes libev's clock first
    return timer


def _stop_timer(timer: _ReceiveTimer) -> None:
    """Stop a receive timer and keep it for the next wait of its timeout."""
    watcher = timer.watcher
    watcher.stop()
    free = timer.free
    if free is not None and len(free) < _FREE_TIMERS_MAX:
        free.append(timer)
    else:
        watcher.close()


def _park(p: Process) -> None:
    p.parked = 1
    try:
        _switch_out()
    finally:
        p.parked = 0
    p.reds += 1
    if p.exit_ is not _NO_EXIT:
        raise Exit(p.exit_)


def _wait_any(p: Process, timeout: float, default: Any) -> Any:
    if timeout <= 0:
        return _timed_out(default, timeout)
    timer = _start_timer(p, timeout)
    try:
        while True:
            _park(p)
            if p.mq:
                return _take_head(p)
            if p.tmo:
                return _timed_out(default, timeout)
    finally:
        _stop_timer(timer)


def _find(p: Process, q: deque, matchers: list, start: int) -> int:
    """Index of the first message at or after ``start`` matching, or -1."""
    best = -1
    for value, tag, pred in matchers:
        stop = len(q) if best < 0 else best
        if pred is None:
            s = start
            if tag is not NOTAG:
                sc = p.scanned
                if s < sc:
                    tags = p.tags
                    if not tags.get(tag) and not tags.get(UNHASHABLE):
                        s = sc
            if s >= stop:
                continue
            try:
                best = q.index(value, s, stop)
            except ValueError:
                pass
        else:
            for i, m in enumerate(islice(q, start, stop), start):
                if pred(m):
                    best = i
                    break
    return best


def _receive_matching(p: Process, matchers: list, timeout: Optional[float], default: Any) -> Any:
    indexed = any(tag is not NOTAG for _, tag, _ in matchers)
    q = p.mq
    if q is None:
        q = p.mq = deque()
    start = 0
    timer = None
    try:
        while True:
            idx = _find(p, q, matchers, start)
            if idx >= 0:
                if indexed and idx > p.scanned:
                    _extend_index(p, q, idx)
                m = q[idx]
                del q[idx]
                if idx < p.scanned:
                    _unindex(p, m)
                p.reds += 1
                return m
            start = len(q)
            if indexed and start > p.scanned:
                _extend_index(p, q, start)
            if timer is None:
                if timeout is not None:
                    if timeout <= 0:
                        return _timed_out(default, timeout)
                    timer = _start_timer(p, timeout)
            elif p.tmo:
                return _timed_out(default, timeout)
            _park(p)
    finally:
        if timer is not None:
            _stop_timer(timer)


def _take_reply(p: Process, ref: Ref, start: int) -> Any:
    """The first message at or after ``start`` that is ``(ref, value)`` or a
    DOWN of monitor ``ref``, removed from the mailbox; or None.  A reply
    holds ``ref`` itself, even one from another node (a decoded ref is the
    live one: refs compare by identity)."""
    q = p.mq
    i = start
    for m in islice(q, start, None):
        cls = m.__class__
        if (cls is tuple and len(m) == 2 and m[0] is ref) or (cls is Down and m[1] is ref):
            del q[i]
            if i < p.scanned:
                _unindex(p, m)
            p.reds += 1
            return m
        i += 1
    return None


def _await_reply(ref: Ref, timeout: Optional[float], mark: int = 0) -> Any:
    """A call's wait: the reply ``(ref, value)`` or the DOWN of ``ref``.

    The same as ``receive((ref, ANY), ("DOWN", ref, ANY, ANY, ANY))``
    without compiling patterns or indexing tags: a call's reply is almost
    always the first message that arrives, so only new messages are looked
    at, with identity checks.  ``mark``, the caller's mailbox length taken
    before ``ref`` was made, skips the messages queued before it (OTP's
    receive optimisation: no message queued before a ref existed can hold
    it), so a call from a process with a long mailbox does not scan it.
    Returns None on timeout.
    """
    try:
        p = getcurrent()._bproc
    except AttributeError:
        p = _current()
    return _wait_reply(p, ref, timeout, mark)


def _call(p: Process, dest: Any, tag: Any, request: Any, timeout: Optional[float]) -> Any:
    """A call's whole exchange, OTP's ``gen:do_call``, made by the calling
    process ``p`` (``beamish.lowlevel.call_process``): monitor ``dest``
    with an alias (as :func:`_monitor_alias`), send it ``(tag, (p.pid,
    ref), request)``, wait for the reply (:func:`_wait_reply`) and end the
    monitor (as :func:`_end_call_monitor`).  One runtime call where a
    caller would otherwise make four; for a live local server the send is
    made, and the monitor ended, inline.

    Returns the reply ``(ref, value)``; the ``Down`` of the monitor if
    ``dest`` ended first or was not there (reason ``"noproc"``); or None
    after ``timeout`` seconds, the alias then gone (a late reply is
    dropped, and one that raced the timeout is taken out of the mailbox).
    """
    q = p.mq
    mark = len(q) if q else 0    # what is queued now cannot hold a ref made next
    t = dest._proc if dest.__class__ is Pid else None
    if t is not None and t.alive:
        ref = _alias_monitor(p, dest, t)
        tq = t.mq                # _deliver(t, ...), inline: the hot path
        if tq is None:
            tq = t.mq = deque()
        tq.append((tag, (p.pid, ref), request))
        parked = t.parked
        if parked == 1:
            _wake(t)
        elif parked == 3:
            t.parked = 0
            _start(t)
    else:
        t = None
        ref = _monitor(p, dest, True)
        send(dest, (tag, (p.pid, ref), request))
    msg = _wait_reply(p, ref, timeout, mark)
    if msg.__class__ is tuple:
        if t is not None and t.alive:
            # _end_call_monitor(p, ref), inline: the server lives, so its
            # monitor, and the alias the reply came through, are in place.
            if _aliases.pop(ref, None) is not None:
                p.aliases.discard(ref)
            p.monitors.pop(ref, None)
            t.monitored_by.pop(ref, None)
        else:
            _end_call_monitor(p, ref)
    elif msg is None:
        _end_call_monitor(p, ref)
        if p.mq:
            _take_reply(p, ref, 0)
    return msg


def _wait_reply(p: Process, ref: Ref, timeout: Optional[float], mark: int) -> Any:
    """:func:`_await_reply` for the calling process ``p``."""
    global _handoffs
    woken = _woken
    if p.exit_ is not _NO_EXIT:
        raise Exit(p.exit_)
    q = p.mq
    if q is None:
        q = p.mq = deque()
    start = mark if mark <= len(q) else 0
    timer = None
    try:
        while True:
            if len(q) > start:
                m = q[start]     # the reply is nearly always the next message
                if m.__class__ is tuple and len(m) == 2 and m[0] is ref:
                    del q[start]
                    if start < p.scanned:
                        _unindex(p, m)
                    p.reds += 1
                    return m
                m = _take_reply(p, ref, start)
                if m is not None:
                    return m
                start = len(q)
            if timer is None:
                if timeout is not None:
                    if timeout <= 0:
                        return None
                    free = _free_timers.get(timeout)
                    if free:      # _start_timer(p, timeout), inline: every call's
                        timer = free.pop()
                        p.tmo = False
                        timer.watcher.again(_on_timer, p)
                    else:
                        timer = _start_timer(p, timeout)
            elif p.tmo:
                return None
            p.parked = 1
            try:
                while woken and _handoffs < RUN_BUDGET:   # _switch_out(), inline
                    w = woken.popleft()
                    if w.parked == 2:
                        _handoffs += 1
                        w.g.switch()
                        break
                else:
                    _hub_switch()
            finally:
                p.parked = 0
            p.reds += 1
            if p.exit_ is not _NO_EXIT:
                raise Exit(p.exit_)
    finally:
        if timer is not None:
            timer.watcher.stop()      # _stop_timer(timer), inline
            free = timer.free
            if free is not None and len(free) < _FREE_TIMERS_MAX:
                free.append(timer)
            else:
                timer.watcher.close()


def _monitor_alias(p: Process, target: Any) -> Ref:
    """``monitor(target, alias=True)`` made by ``p``: what every call
    makes, its reply address and tag, whose DOWN says the server ended
    first (OTP's ``gen:call`` does the same with one monitor; a call ends
    it with :func:`_end_call_monitor`).  A live local pid takes this short
    path; anything else goes through :func:`_monitor`."""
    if target.__class__ is Pid:
        t = target._proc
        if t is not None and t.alive:
            return _alias_monitor(p, target, t)
    return _monitor(p, target, True)


def _alias_monitor(p: Process, target: Pid, t: Process) -> Ref:
    """The monitor alias ``p`` takes on ``target``, whose live local
    process is ``t``: ``make_ref`` and the three tables, written inline
    (a call makes one every time)."""
    ref = _new_ref(Ref)
    ref.node = _ids._node_name
    ref.id = _next_ref_id()
    ref.creation = _creation
    aliases = p.aliases
    if aliases is None:
        aliases = p.aliases = set()
    aliases.add(ref)
    _aliases[ref] = p
    monitors = p.monitors
    if monitors is None:
        monitors = p.monitors = {}
    monitors[ref] = target
    watchers = t.monitored_by
    if watchers is None:
        watchers = t.monitored_by = {}
    watchers[ref] = p.pid
    return ref


def _end_call_monitor(p: Process, ref: Ref) -> None:
    """demonitor(ref, flush=True) for a call's monitor alias, cheaply."""
    owner = _aliases.pop(ref, None)    # p, if the alias is still active
    if owner is not None:
        owner.aliases.discard(ref)
    key = p.monitors.pop(ref, None) if p.monitors else None
    if key is not None:
        target = key._proc if key.__class__ is Pid else None
        if target is None:
            target = _monitor_target(key)
        if target is not None:
            if target.monitored_by:
                target.monitored_by.pop(ref, None)
        elif _remote is not None:
            _forget_monitor(p, ref, key)
    elif p.mq:
        _take_reply(p, ref, 0)   # the monitor fired: drop its queued DOWN


def take_first(p: Process, *patterns: Any, default: Any = None) -> Any:
    """Remove and return the first message queued in ``p``'s mailbox that
    matches any of ``patterns`` (as ``receive`` would take it, without
    waiting); ``default`` if none does.  Keeps the mailbox's tag index true."""
    q = p.mq
    if not q:
        return default
    idx = _find(p, q, compile_patterns(patterns), 0)
    if idx < 0:
        return default
    m = q[idx]
    del q[idx]
    if idx < p.scanned:
        _unindex(p, m)
    return m


def flush_mailbox(p: Process) -> list:
    """Remove every message queued for ``p``; returns them, oldest first."""
    q = p.mq
    out = list(q) if q else []
    if q:
        q.clear()
    p.scanned = 0
    p.tags = None
    return out


# ------------------------------------------------------------ exit signals
def _is(reason: Any, atom: str) -> bool:
    return reason.__class__ is str and reason == atom


def _kill(p: Process, reason: Any) -> None:
    """End live process ``p`` with ``reason`` as soon as it can run."""
    if p.exit_ is not _NO_EXIT and not _is(reason, "killed"):
        return  # already dying; only an untrappable kill overrides
    p.exit_ = reason
    if p.adopted:
        _kill_adopted(p, reason)
        return
    if p.g is getcurrent():
        raise Exit(reason)
    if p.parked == 1:
        _wake(p)
    elif p.parked == 0:
        _run_callback(_throw_exit, p)
    elif p.parked == 3:          # hibernating: start it, and the worker ends it
        p.parked = 0
        _start(p)


def _kill_adopted(p: Process, reason: Any) -> None:
    """An adopted greenlet (the main one, say) is killed like Erlang's shell:
    its process record ends now, with links and monitors signalled, and the
    greenlet gets the Exit raised where it waits.  If it carries on (a test
    catching the Exit), its next ``self()`` adopts it as a fresh process."""
    g = p.g
    if getattr(g, "_bproc", None) is p:
        del g._bproc   # the next self() adopts the greenlet afresh
    parked = p.parked
    _terminate(p, reason)
    if g is getcurrent():
        raise Exit(reason)
    if parked == 1:
        _wake(p)
    elif parked == 0:
        _run_callback(_throw_into, g, reason)


def _throw_into(g: Any, reason: Any) -> None:
    if not g.dead:
        g.throw(Exit(reason))


def _throw_exit(p: Process) -> None:
    # Runs in the hub, so p is not running now.
    if not p.alive:
        return
    if p.parked == 1:
        p.parked = 2
        p.g.switch()
    elif p.parked == 0:
        g = p.g
        if g is not None and not g.dead:
            g.throw(Exit(p.exit_))


def _exit_signal(p: Process, sender: Pid, reason: Any, via_link: bool) -> None:
    """Deliver an exit signal from ``sender`` to live process ``p``."""
    if not via_link and _is(reason, "kill"):
        _kill(p, "killed")
    elif p.trap:
        _deliver(p, ExitMsg(sender, reason))
    elif _is(reason, "normal"):
        if not via_link and sender == p.pid:
            _kill(p, "normal")
    else:
        _kill(p, reason)


def exit(*args: Any) -> None:
    """``exit(reason)`` ends the caller; ``exit(pid, reason)`` signals ``pid``.

    As Erlang's exit/1 and exit/2.  ``exit(pid, "kill")`` cannot be trapped
    and the target dies with ``"killed"``.  ``exit(pid, "normal")`` is
    ignored by a process that does not trap exits (unless it is the caller
    itself).  A trapping target gets ``("EXIT", sender, reason)`` instead.
    Signalling a dead pid does nothing.
    """
    if len(args) == 1:
        raise Exit(args[0])
    if len(args) != 2:
        raise TypeError("exit(reason) or exit(pid, reason)")
    target, reason = args
    p = _resolve(target)
    if p is None or not p.alive:
        if p is None and _remote is not None and target.__class__ is Pid \
                and target.node != _ids._node_name:
            _remote.exit(_current().pid, target, reason, False)
        return
    sender = _current().pid
    _exit_signal(p, sender, reason, via_link=False)


def process_flag(flag: str, value: Any) -> Any:
    """Set a process flag of the caller; returns the old value.

    Only ``"trap_exit"`` exists: when true, exit signals (but ``kill``)
    arrive as ``("EXIT", pid, reason)`` messages instead of ending the
    process.
    """
    if flag != "trap_exit":
        raise BadArg(f"unknown process flag {flag!r}")
    p = _current()
    old = p.trap
    p.trap = bool(value)
    return old


# ------------------------------------------------------- links and monitors
class _ByName:
    """What a watcher holds for a monitor taken by registered name.

    ``key`` is the ``(name, node)`` its DOWN reports; ``pid`` is the process
    the name stood for when the monitor was set.  The monitor stays bound to
    that process (as Erlang's), so ``demonitor`` and the watcher's end find
    it even after the name is unregistered or taken by another process.
    """

    __slots__ = ("key", "pid")

    def __init__(self, key: tuple, pid: Pid) -> None:
        self.key = key
        self.pid = pid


def _monitor_target(entry: Any) -> Optional[Process]:
    """The live process a ``monitors`` entry watches, or None (also for a
    monitor of another node's ``(name, node)``)."""
    if entry.__class__ is Pid:
        return _lookup(entry)
    return _lookup(entry.pid) if entry.__class__ is _ByName else None


def _forget_monitor(watcher: Process, ref: Ref, key: Any) -> None:
    """The target side of removing ``watcher``'s monitor ``ref`` of ``key``
    (a ``monitors`` entry): drop it from the target's ``monitored_by``,
    or tell the target's node."""
    target = _monitor_target(key)
    if target is not None:
        if target.monitored_by:
            target.monitored_by.pop(ref, None)
    elif _remote is not None and key.__class__ is not _ByName and _is_remote(key):
        _remote.demonitor(watcher.pid, ref, key)


def _monitor_key(entry: Any) -> Any:
    """What a ``monitors`` entry reports: a pid, or ``(name, node)``."""
    return entry.key if entry.__class__ is _ByName else entry


def _add_link(a: Process, b: Process) -> None:
    if a.links is None:
        a.links = set()
    if b.links is None:
        b.links = set()
    a.links.add(b.pid)
    b.links.add(a.pid)


def link(pid: Pid) -> None:
    """Link the caller and ``pid`` (both ways); linking twice is one link.

    If ``pid`` is not alive: a caller that traps exits gets
    ``("EXIT", pid, "noproc")``; otherwise :class:`NoProc` is raised, as
    Erlang's link/1 fails with ``noproc``.
    """
    me = _current()
    if pid == me.pid:
        return
    p = _resolve(pid)
    if p is None and _remote is not None and pid.node != _ids._node_name:
        if me.links is None:
            me.links = set()
        if pid not in me.links:
            me.links.add(pid)
            _remote.link(me.pid, pid)
        return
    if p is None or not p.alive:
        if me.trap:
            _deliver(me, ExitMsg(pid, "noproc"))
            return
        raise NoProc(pid)
    _add_link(me, p)


def unlink(pid: Pid) -> None:
    """Remove the link between the caller and ``pid``, if any (both ways)."""
    me = _current()
    if me.links:
        me.links.discard(pid)
    p = _resolve(pid)
    if p is not None and p.links:
        p.links.discard(me.pid)
    elif p is None and _remote is not None and pid.node != _ids._node_name:
        _remote.unlink(me.pid, pid)


def _add_monitor(watcher: Process, target: Optional[Process], key: Any,
                 as_alias: bool = False) -> Ref:
    ref = make_ref()
    if as_alias:
        _add_alias(watcher, ref)
    if watcher.monitors is None:
        watcher.monitors = {}
    if target is None or not target.alive:
        if as_alias:
            _unalias(watcher, ref)
        _deliver(watcher, Down(ref, key, "noproc"))
        return ref
    watcher.monitors[ref] = key if key.__class__ is Pid else _ByName(key, target.pid)
    if target.monitored_by is None:
        target.monitored_by = {}
    target.monitored_by[ref] = watcher.pid
    return ref


def _monitor_as(watcher: Process, target: Pid, alias: bool = False) -> Ref:
    """Make ``watcher`` monitor ``target`` as if ``watcher`` had called
    ``monitor(target, alias=alias)``: its ``DOWN`` goes to ``watcher``
    (``beamish.lowlevel.monitor_as``).  Lets a process set monitors on
    another's behalf without a message round trip (a pubsub shard owning
    one monitor per subscriber), and a call its monitor alias without
    looking up its own record again.  ``watcher`` must be alive."""
    if alias:
        return _monitor_alias(watcher, target)
    return _add_monitor(watcher, _lookup(target), target)


def _demonitor_as(watcher: Process, ref: Ref) -> None:
    """Remove ``watcher``'s monitor ``ref`` and any DOWN of it already
    queued: ``demonitor(ref, flush=True)`` on ``watcher``'s behalf
    (``beamish.lowlevel.demonitor_as``)."""
    if watcher.monitors:
        key = watcher.monitors.pop(ref, None)
        if key is not None:
            _forget_monitor(watcher, ref, key)
    take_first(watcher, ("DOWN", ref, ANY, ANY, ANY))


def monitor(target: Any, *, alias: bool = False) -> Ref:
    """Monitor a pid or a registered name; returns a fresh ref every call.

    When the target ends, the caller gets ``("DOWN", ref, "process", pid,
    reason)``; for a dead or unknown target, at once with ``"noproc"``.
    Monitoring by name reports ``(name, node)`` in the pid field, as
    Erlang does.  With ``alias=True`` the ref is also an alias of the caller
    (see :func:`alias`), deactivated when the monitor ends (Erlang's
    ``{alias, demonitor}``): a reply sent to it after a ``demonitor`` or the
    DOWN is dropped instead of landing in the mailbox.  Each call makes a new monitor: monitor the same process
    twice and you hold two (``process_info`` shows them).
    A pid or ``(name, node)`` of another node is monitored through
    :mod:`beamish.dist`; its DOWN says ``"noconnection"`` if that node is
    not connected or goes away.
    """
    if alias:
        return _monitor_alias(_current(), target)
    return _monitor(_current(), target, False)


def _monitor(me: Process, target: Any, alias: bool) -> Ref:
    """``monitor(target, alias=alias)`` made by ``me``."""
    if target.__class__ is Pid:
        p = _lookup(target)
        if p is None and target.node != _ids._node_name:
            return _add_remote_monitor(me, target, alias)
        return _add_monitor(me, p, target, alias)
    if isinstance(target, str):
        return _add_monitor(me, _names.get(target), (target, _ids._node_name), alias)
    if target.__class__ is tuple and len(target) == 2 and isinstance(target[0], str):
        if target[1] == _ids._node_name:
            return _add_monitor(me, _names.get(target[0]), target, alias)
        return _add_remote_monitor(me, target, alias)
    raise BadArg(f"cannot monitor {target!r}")


def _add_remote_monitor(watcher: Process, target: Any, as_alias: bool) -> Ref:
    """A monitor of another node's pid or ``(name, node)``: recorded here
    like a local one, set up there by the remote router, which reports the
    DOWN through :func:`_remote_down`.  With no router, the DOWN says
    ``"noconnection"`` at once, as Erlang's for a node it cannot reach."""
    ref = make_ref()
    if as_alias:
        _add_alias(watcher, ref)
    if watcher.monitors is None:
        watcher.monitors = {}
    watcher.monitors[ref] = target
    if _remote is None:
        _remote_down(watcher.pid, ref, "noconnection")
    else:
        _remote.monitor(watcher.pid, ref, target)
    return ref


def _remote_down(watcher: Pid, ref: Ref, reason: Any) -> bool:
    """End ``watcher``'s monitor ``ref`` of a remote target with ``reason``:
    deliver its DOWN (``beamish.lowlevel.remote_down``).  False, and
    nothing delivered, if the watcher is gone or no longer holds ``ref``
    (demonitored: a late DOWN is dropped)."""
    w = _lookup(watcher)
    if w is None or not w.alive or not w.monitors:
        return False
    key = w.monitors.pop(ref, None)
    if key is None:
        return False
    if w.aliases:
        _unalias(w, ref)
    _deliver(w, Down(ref, key, reason))
    return True


def _remote_exit(to: Pid, sender: Pid, reason: Any, via_link: bool) -> bool:
    """Deliver an exit signal from another node's ``sender`` to the local
    process ``to`` (``beamish.lowlevel.remote_exit``).  A link signal
    needs the link: False, and nothing done, if ``to`` is gone or (for
    ``via_link``) no longer linked to ``sender``."""
    p = _lookup(to)
    if p is None or not p.alive:
        return False
    if via_link:
        if not p.links or sender not in p.links:
            return False
        p.links.discard(sender)
    _exit_signal(p, sender, reason, via_link)
    return True


def _remote_link(local: Pid, remote: Pid) -> bool:
    """Record a link another node made from ``remote`` to the local process
    ``local`` (``beamish.lowlevel.remote_link``); False if it is gone."""
    p = _lookup(local)
    if p is None or not p.alive:
        return False
    if p.links is None:
        p.links = set()
    p.links.add(remote)
    return True


def _remote_unlink(local: Pid, remote: Pid) -> None:
    """Remove the link ``remote`` had to the local ``local``, if any."""
    p = _lookup(local)
    if p is not None and p.links:
        p.links.discard(remote)


def demonitor(ref: Ref, flush: bool = False) -> bool:
    """Remove the monitor ``ref``; with ``flush``, also drop its queued DOWN.

    Returns True (as Erlang's demonitor/1,2 without the ``info`` option).
    """
    me = _current()
    if me.aliases:
        _unalias(me, ref)
    if me.monitors:
        key = me.monitors.pop(ref, None)
        if key is not None:
            _forget_monitor(me, ref, key)
    if flush:
        take_first(me, ("DOWN", ref, ANY, ANY, ANY))
    return True


def _add_alias(p: Process, ref: Ref) -> None:
    if p.aliases is None:
        p.aliases = set()
    p.aliases.add(ref)
    _aliases[ref] = p


def _unalias(p: Process, ref: Ref) -> bool:
    if p.aliases and ref in p.aliases:
        p.aliases.discard(ref)
        del _aliases[ref]
        return True
    return False


def alias() -> Ref:
    """A new alias of the caller: a ref that ``send`` routes to it until
    :func:`unalias` (Erlang's alias/0).  Replies addressed to an alias stop
    arriving the moment it is deactivated, which is how a timed-out call
    keeps late replies out of the mailbox."""
    me = _current()
    ref = make_ref()
    _add_alias(me, ref)
    return ref


def unalias(ref: Ref) -> bool:
    """Deactivate an alias of the caller; True if it was active."""
    return _unalias(_current(), ref)


def is_alive(pid: Pid) -> bool:
    """True if ``pid`` is a live process of this node."""
    p = _lookup(pid)
    return p is not None and p.alive


# ------------------------------------------------------------ termination
def _terminate(proc: Process, reason: Any) -> None:
    """Tear down a process that ended with ``reason`` and signal its peers."""
    proc.alive = False
    pid = proc.pid
    _procs.pop(pid.id, None)
    pid._proc = None
    if proc.name is not None:
        _names.pop(proc.name, None)
    if _owned and proc in _owned:
        _release_owned(proc)     # its named instances (see ._instances)
    links = proc.links
    monitored_by = proc.monitored_by
    monitors = proc.monitors
    proc.links = proc.monitored_by = proc.monitors = None
    if proc.aliases:
        for ref in proc.aliases:
            _aliases.pop(ref, None)
        proc.aliases = None
    proc.mq = None
    proc.tags = None
    proc.scanned = 0
    proc.fn = None
    proc.args = proc.kwargs = None
    proc.state = None
    if proc.timers:
        for tref in proc.timers:   # Erlang cancels timers aimed at a dead pid
            t = tref._timer
            if t is not None:
                tref._timer = None
                _timers.discard(tref)
                t.close()
        proc.timers = None
    if monitors:
        for ref, key in monitors.items():
            _forget_monitor(proc, ref, key)
    if links:
        for other in links:
            p = _lookup(other)
            if p is None and _remote is not None and other.node != _ids._node_name:
                _remote.exit(pid, other, reason, True)
            elif p is not None and p.alive:
                p.links.discard(pid)
                _exit_signal(p, pid, reason, via_link=True)
    if monitored_by:
        for ref, watcher in monitored_by.items():
            w = _lookup(watcher)
            if w is not None and w.alive:
                key = w.monitors.pop(ref, pid) if w.monitors else pid
                if key.__class__ is _ByName:
                    key = key.key
                if w.aliases:
                    _unalias(w, ref)
                _deliver(w, Down(ref, key, reason))


def _crash_report(proc: Process, reason: BaseException) -> None:
    mark_reported(reason)
    log.error(
        "process %s crashed: initial call %s, reason %r",
        describe_process(proc), initial_call_of(proc), reason,
        exc_info=(type(reason), reason, reason.__traceback__),
        extra={"beamish_pid": repr(proc.pid), "beamish_reason": repr(reason)},
    )


# --------------------------------------------------------- registered names
def _do_register(name: str, proc: Process) -> None:
    if not isinstance(name, str) or not name:
        raise BadArg(f"a registered name must be a non-empty str, got {name!r}")
    holder = _names.get(name)
    if holder is not None:
        raise NameTaken(f"name {name!r} is already registered to {holder.pid!r}")
    if proc.name is not None:
        raise NameTaken(f"{proc.pid!r} is already registered as {proc.name!r}")
    _names[name] = proc
    proc.name = name


def register(name: str, pid: Pid) -> None:
    """Register ``name`` for the live process ``pid``.

    Raises:
        NameTaken: the name is taken, or the process already has a name.
        NoProc: ``pid`` is not alive.
    """
    p = _lookup(pid) if pid.__class__ is Pid else None
    if p is None or not p.alive:
        raise NoProc(pid)
    _do_register(name, p)


def unregister(name: str) -> None:
    """Remove a registered name.  Raises :class:`NotRegistered` if unknown."""
    p = _names.pop(name, None)
    if p is None:
        raise NotRegistered(name)
    p.name = None


def whereis(name: str) -> Optional[Pid]:
    """The pid registered as ``name``, or None."""
    p = _names.get(name)
    return None if p is None else p.pid


def registered() -> list:
    """All registered names."""
    return list(_names)


# ------------------------------------------------------------------ timers
class TimerRef:
    """A pending ``send_after``; pass it to :func:`cancel_timer`.
    ``dest`` is where it sends (a leak check tells whose timer it is)."""

    __slots__ = ("_timer", "dest", "__weakref__")

    def __init__(self, timer: Any, dest: Any = None) -> None:
        self._timer = timer
        self.dest = dest

    @property
    def active(self) -> bool:
        return self._timer is not None and self._timer.active


def _unaim(tref: TimerRef) -> None:
    """Forget ``tref`` in the set of timers aimed at its destination pid."""
    dest = tref.dest
    if dest.__class__ is Pid:
        p = dest._proc
        if p is not None and p.timers:
            p.timers.discard(tref)


def _fire(tref: TimerRef, dest: Any, msg: Any) -> None:
    t = tref._timer
    tref._timer = None
    _timers.discard(tref)
    if t is not None:
        t.close()
    _unaim(tref)
    try:
        send(dest, msg)
    except NotRegistered:
        pass  # Erlang: a timer to an unregistered name is silently dropped


def send_after(delay: float, dest: Any, msg: Any) -> TimerRef:
    """Send ``msg`` to ``dest`` after ``delay`` seconds (erlang:send_after),
    counted from this call.

    As in Erlang, a timer aimed at a pid of this node is cancelled when that
    process ends (nothing would receive it); one aimed at a dead pid is
    never armed.  A timer aimed at a name is sent to whoever holds the name
    when it fires.
    """
    proc = None
    if dest.__class__ is Pid and dest.node == _ids._node_name:
        proc = dest._proc
        if proc is None or not proc.alive:
            return TimerRef(None, dest)
    timer = _loop.timer(max(0.0, delay))
    tref = TimerRef(timer, dest)
    _update_now()
    timer.start(_fire, tref, dest, msg)
    _timers.add(tref)
    if proc is not None:
        if proc.timers is None:
            proc.timers = set()
        proc.timers.add(tref)
    return tref


def cancel_timer(tref: TimerRef) -> bool:
    """Cancel a ``send_after``; True if it had not fired yet."""
    t = tref._timer
    if t is None:
        return False
    tref._timer = None
    _timers.discard(tref)
    t.close()
    _unaim(tref)
    return True
