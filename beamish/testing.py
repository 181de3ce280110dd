"""Test helpers in ExUnit's spirit, and pytest fixtures that catch leaks
and unexpected crashes.

Use from any test that runs in the main greenlet (the main greenlet is a
process, as Erlang's shell is)::

    from beamish.testing import assert_receive, eventually, refute_receive, settle

    def test_echo():
        pid = spawn(echo, self())
        send(pid, "hi")
        assert assert_receive(("echo", ANY)) == ("echo", "hi")

:func:`settle` returns once every process is blocked (trio's
``wait_all_tasks_blocked``): use it instead of a short sleep before an
assert about what processes did with messages already sent.
:func:`eventually` retries a check until it passes: use it for what waits
on I/O or timers.

Enable the checks for a whole suite with, in ``conftest.py``::

    pytest_plugins = ["beamish.testing"]

and request ``beamish_no_leaks`` and ``beamish_no_crashes`` (or make an
autouse fixture that does).  ``beamish_no_leaks`` waits briefly for
processes to finish exiting after each test, then fails the test if
processes, names, links, monitors, aliases, timers or named-instance
entries that the test made are still there (compared by identity, not by
count), and removes what leaked
so the next test starts clean.  ``beamish_no_crashes`` fails a test during
which beamish logged an error report (a process crash report, a GenServer
terminating, a supervisor's report of a child's exit); a test that crashes
processes on purpose opts out with ``@pytest.mark.crashes_expected``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterator

import gevent
import greenlet

from .core import (BeamishError, NotRegistered, cancel_timer, exit, receive, unalias, unlink,
                   unregister)
from .lowlevel import (current_process, demonitor_as, describe_process, flush_mailbox,
                       initial_call_of, instance_entries, remove_instance, runtime_view)

__all__ = ["assert_receive", "assert_received", "refute_receive", "flush", "settle",
           "SettleTimeout", "eventually", "EventuallyTimeout", "LeakError", "Snapshot",
           "snapshot", "check_leaks", "beamish_no_leaks", "UnexpectedCrash", "ErrorReports",
           "beamish_no_crashes"]

_SHOW = 10


def _mailbox_preview() -> str:
    q = current_process().mq or ()
    shown = [repr(m) for i, m in zip(range(_SHOW), q)]
    more = len(q) - len(shown)
    return "[" + ", ".join(shown) + (f", ... {more} more" if more > 0 else "") + "]"


def assert_receive(*patterns: Any, timeout: float = 0.1) -> Any:
    """Receive a message matching ``patterns`` within ``timeout`` s, or fail.

    Returns the message.  The failure lists what the mailbox held instead.
    """
    sentinel = object()
    got = receive(*patterns, timeout=timeout, default=sentinel)
    if got is sentinel:
        raise AssertionError(
            f"no message matching {patterns or '(any)'!r} within {timeout} s; "
            f"mailbox: {_mailbox_preview()}")
    return got


def assert_received(*patterns: Any) -> Any:
    """Like :func:`assert_receive`, for a message that is already queued."""
    return assert_receive(*patterns, timeout=0)


def refute_receive(*patterns: Any, timeout: float = 0.1) -> None:
    """Fail if a message matching ``patterns`` arrives within ``timeout`` s."""
    sentinel = object()
    got = receive(*patterns, timeout=timeout, default=sentinel)
    if got is not sentinel:
        raise AssertionError(f"unexpected message {got!r} matching {patterns or '(any)'!r}")


def flush() -> list:
    """Take every queued message of the caller; returns them in order."""
    return flush_mailbox(current_process())


class SettleTimeout(BeamishError, AssertionError):
    """:func:`settle` timed out: processes were still running."""


#: How many hub iterations in a row must run no greenlet but the caller's
#: for :func:`settle` to call the runtime settled.
_QUIET_ROUNDS = 2


def settle(timeout: float = 2.0) -> None:
    """Return once every process is blocked (trio's ``wait_all_tasks_blocked``).

    Blocked means: the ready queue is empty and whole hub iterations (its
    queued callbacks, an I/O poll, the timers due) ran no greenlet but the
    caller's, so every process waits in ``receive``, on a socket or on a
    timer that has not come due.  Timers may be armed and sockets open: use
    :func:`eventually` for what waits on them.  Raises :class:`SettleTimeout`
    naming the processes that still ran if that does not happen within
    ``timeout`` seconds (a busy loop, two processes playing ping-pong).
    """
    hub = gevent.get_hub()
    me = greenlet.getcurrent()
    ran: set = set()
    previous = greenlet.gettrace()

    def trace(event: str, args: tuple) -> None:
        target = args[1]
        if target is not hub and target is not me:
            ran.add(target)
        if previous is not None:
            previous(event, args)

    view = runtime_view()
    deadline = time.monotonic() + timeout
    quiet = 0
    greenlet.settrace(trace)
    try:
        while True:
            ran.clear()
            idled = False
            # An idle watcher fires only in a hub iteration with nothing else
            # pending; processes that never block keep the hub from idling.
            with gevent.Timeout(max(0.0, deadline - time.monotonic()), False):
                gevent.idle()
                idled = True
            quiet = quiet + 1 if idled and not ran and not view.ready_count else 0
            if quiet >= _QUIET_ROUNDS:
                return
            if time.monotonic() > deadline:
                busy = [describe_process(p) for p in view.processes() if p.g in ran]
                raise SettleTimeout(
                    f"processes still running after {timeout} s: {', '.join(busy) or '(none)'}"
                    f"; {view.ready_count} waiting to start")
    finally:
        greenlet.settrace(previous)


class EventuallyTimeout(BeamishError, AssertionError):
    """:func:`eventually`'s check did not pass in time."""


def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Call ``check()`` until it passes, and return what it returned.

    ``check`` passes when it returns a true value; it is tried again when
    it returns a false value (None too: an assert-style check ends with
    ``return True``) or raises :class:`AssertionError`.  Other exceptions
    propagate at once.  Between tries the caller sleeps ``interval``
    seconds, so processes, I/O and timers run.  After ``timeout`` seconds
    raises :class:`EventuallyTimeout`, chained to the last assertion.
    """
    deadline = time.monotonic() + timeout
    while True:
        failure = None
        try:
            result = check()
        except AssertionError as e:
            failure, result = e, None
        if failure is None and result:
            return result
        if time.monotonic() > deadline:
            what = getattr(check, "__qualname__", repr(check))
            last = f"failed: {failure}" if failure is not None else f"returned {result!r}"
            raise EventuallyTimeout(f"{what} did not pass within {timeout} s; it last {last}") \
                from failure
        gevent.sleep(interval)


class LeakError(BeamishError, AssertionError):
    """A test left processes, names, links, monitors, aliases, timers or
    named-instance entries behind."""


class Snapshot:
    """What the runtime holds at one moment, by identity.

    ``pids`` (live processes, adopted ones left out: they come and go with
    the greenlets that use beamish), ``names`` ((name, pid) pairs),
    ``links`` (unordered pid pairs), ``monitors`` (ref -> watcher pid),
    ``aliases`` (refs), ``timers`` (``send_after`` TimerRefs) and
    ``instances`` (named-instance entries: (kind, name, owner pid));
    ``live`` is every live pid, adopted ones too.
    """

    def __init__(self) -> None:
        view = runtime_view()
        procs = view.processes()
        self.pids = {p.pid for p in procs if not p.adopted}
        self.live = {p.pid for p in procs}
        self.names = set(view.names().items())
        self.links = {frozenset((p.pid, other)) for p in procs for other in (p.links or ())}
        self.monitors = {ref: p.pid for p in procs for ref in (p.monitors or ())}
        self.aliases = set(view.aliases())
        self.timers = set(view.timers())
        self.instances = set(instance_entries())


def snapshot() -> Snapshot:
    """Record the runtime's tables (see :func:`check_leaks`)."""
    return Snapshot()


def _new_timers(before: Snapshot, now: Snapshot) -> set:
    """The timers armed since ``before`` that are the test's to clean: those
    that will send to the caller, or to a live process the test started.

    A timer to a process that has ended sends into nothing (Erlang keeps
    such timers too, and a GenServer need not cancel its ticks when it
    stops); one that a process alive before the test armed is that
    process's business, as its state is.
    """
    me = current_process().pid
    names = dict(now.names)
    mine = set()
    for tref in now.timers - before.timers:
        dest = names.get(tref.dest, tref.dest)
        if dest == me or (dest in now.live and dest not in before.live):
            mine.add(tref)
    return mine


def _leaks(before: Snapshot, now: Snapshot) -> list:
    """What ``now`` holds that ``before`` did not, one line per item."""
    view = runtime_view()
    problems = []
    for pid in sorted(now.pids - before.pids):
        p = view.process(pid)
        if p is not None:
            problems.append(f"process {pid!r} ({initial_call_of(p)}) is still alive")
    for name, pid in sorted(now.names - before.names):
        problems.append(f"name {name!r} is still registered (to {pid!r})")
    for pair in now.links - before.links:
        a, b = sorted(pair, key=repr)
        problems.append(f"link {a!r} <-> {b!r} is still there")
    for ref in now.monitors.keys() - before.monitors.keys():
        problems.append(f"monitor {ref!r} held by {now.monitors[ref]!r} is still there")
    for ref in now.aliases - before.aliases:
        problems.append(f"alias {ref!r} is still active")
    for tref in _new_timers(before, now):
        problems.append(f"a send_after timer to {tref.dest!r} is still pending")
    for kind, name, owner in now.instances - before.instances:
        problems.append(f"instance {kind} {name!r} (owned by {owner!r}) is still there")
    return problems


def _clean_up(before: Snapshot, now: Snapshot) -> None:
    """Remove what the test added: timers, monitors, the caller's aliases
    and links, then processes, then the names and instance entries their
    holders left."""
    view = runtime_view()
    for tref in _new_timers(before, now):
        cancel_timer(tref)
    for ref in now.monitors.keys() - before.monitors.keys():
        watcher = view.process(now.monitors[ref])
        if watcher is not None:
            demonitor_as(watcher, ref)
    me = current_process()
    for ref in now.aliases - before.aliases:
        if ref in (me.aliases or ()):
            unalias(ref)
    for pair in now.links - before.links:
        if me.pid in pair:
            for pid in pair - {me.pid}:
                unlink(pid)
    for pid in now.pids - before.pids:
        exit(pid, "kill")
    gevent.sleep(0.01)
    for name, _ in now.names - before.names:
        try:
            unregister(name)
        except NotRegistered:
            pass   # its holder is already gone
    for kind, name, _ in now.instances - before.instances:
        remove_instance(kind, name)   # False if its owner's end took it already


def check_leaks(before: Snapshot, grace: float = 1.0) -> None:
    """Fail with :class:`LeakError` if the runtime holds anything that
    ``before`` did not: compared by identity, so a test that frees one
    monitor and makes another leaks one.

    Waits up to ``grace`` seconds for exiting processes to finish and short
    timers to fire first.  What leaked is removed before the error is raised.
    """
    deadline = time.monotonic() + grace
    now = Snapshot()
    problems = _leaks(before, now)
    while problems and time.monotonic() < deadline:
        gevent.sleep(0.01)
        now = Snapshot()
        problems = _leaks(before, now)
    if not problems:
        return
    _clean_up(before, now)
    raise LeakError("the test leaked:\n  " + "\n  ".join(problems))


class UnexpectedCrash(BeamishError, AssertionError):
    """beamish logged error reports (crashes) during a test that did not
    expect any."""


class ErrorReports(logging.Handler):
    """Collects the error reports beamish logs: records of level ERROR and
    above from the ``beamish`` loggers (a process's crash report, a
    GenServer terminating, a supervisor's report of a child's exit).

    ``with ErrorReports() as reports:`` collects while the block runs;
    ``reports.records`` holds them in order.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> "ErrorReports":
        logging.getLogger("beamish").addHandler(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger("beamish").removeHandler(self)

    def summary(self) -> str:
        """The first line of each report, one per line (at most 20)."""
        lines = [f"{r.name}: {r.getMessage().splitlines()[0] if r.getMessage() else ''}"
                 for r in self.records[:20]]
        more = len(self.records) - len(lines)
        return "\n  ".join(lines + ([f"... {more} more"] if more > 0 else []))


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pytest = None

if pytest is not None:
    def pytest_configure(config: Any) -> None:
        config.addinivalue_line(
            "markers", "crashes_expected: the test crashes processes on purpose; "
            "beamish_no_crashes lets their error reports pass")

    @pytest.fixture
    def beamish_no_leaks() -> Iterator[None]:
        """Fail the test if it leaves processes, names, links, monitors,
        aliases, timers or named-instance entries behind."""
        flush()
        before = snapshot()
        yield
        flush()
        check_leaks(before)

    @pytest.fixture
    def beamish_no_crashes(request: Any) -> Iterator[None]:
        """Fail the test if beamish logged an error report while it ran
        (and while the fixtures requested after this one tore down), unless
        it is marked ``crashes_expected``."""
        with ErrorReports() as reports:
            yield
        if reports.records and request.node.get_closest_marker("crashes_expected") is None:
            raise UnexpectedCrash(
                f"{len(reports.records)} error report(s) logged during the test (mark it "
                f"crashes_expected if it crashes processes on purpose):\n  {reports.summary()}")
