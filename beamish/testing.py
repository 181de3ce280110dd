"""Test helpers in ExUnit's spirit, and a pytest fixture that catches leaks.

Use from any test that runs in the main greenlet (the main greenlet is a
process, as Erlang's shell is)::

    from beamish.testing import assert_receive, refute_receive

    def test_echo():
        pid = spawn(echo, self())
        send(pid, "hi")
        assert assert_receive(("echo", ANY)) == ("echo", "hi")

Enable the leak check for a whole suite with, in ``conftest.py``::

    pytest_plugins = ["beamish.testing"]

and request ``beamish_no_leaks`` (or make an autouse fixture that does).
After each test it waits briefly for processes to finish exiting, then
fails the test if processes, registered names, links or monitors that the
test made are still there, and kills what leaked so the next test starts
clean.
"""
from __future__ import annotations

from typing import Any, Iterator

import gevent

from .core import BeamishError, NotRegistered, demonitor, exit, receive, unalias, unlink, unregister
from .lowlevel import current_process, flush_mailbox, initial_call_of, runtime_view

__all__ = ["assert_receive", "assert_received", "refute_receive", "flush", "LeakError",
           "Snapshot", "snapshot", "check_leaks", "beamish_no_leaks"]

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


class LeakError(BeamishError, AssertionError):
    """A test left processes, names, links or monitors behind."""


class Snapshot:
    """What the runtime holds at one moment: live pids, names, link and
    monitor counts."""

    def __init__(self) -> None:
        view = runtime_view()
        procs = view.processes()
        self.pids = {p.pid for p in procs}
        self.names = set(view.names())
        self.links = sum(len(p.links or ()) for p in procs)
        self.monitors = sum(len(p.monitors or ()) for p in procs)
        self.aliases = len(view.aliases())


def snapshot() -> Snapshot:
    """Record the runtime's tables (see :func:`check_leaks`)."""
    return Snapshot()


def _leaks(before: Snapshot) -> list:
    now = Snapshot()
    problems = []
    view = runtime_view()
    for pid in sorted(now.pids - before.pids):
        p = view.process(pid)
        if p is None or p.adopted:
            continue
        problems.append(f"process {p.pid!r} ({initial_call_of(p)}) is still alive")
    for name in sorted(now.names - before.names):
        problems.append(f"name {name!r} is still registered")
    # Adopted records (the main greenlet) come and go; count links and
    # monitors of processes that existed before plus any still alive.
    if now.links > before.links:
        problems.append(f"{now.links - before.links} link(s) more than before the test")
    if now.monitors > before.monitors:
        problems.append(f"{now.monitors - before.monitors} monitor(s) more than before the test")
    if now.aliases > before.aliases:
        problems.append(f"{now.aliases - before.aliases} alias(es) more than before the test")
    return problems


def check_leaks(before: Snapshot, grace: float = 1.0) -> None:
    """Fail with :class:`LeakError` if the runtime holds more than ``before``.

    Waits up to ``grace`` seconds for exiting processes to finish first.
    What leaked is killed before the error is raised.
    """
    deadline = gevent.get_hub().loop.now() + grace
    problems = _leaks(before)
    while problems and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.01)
        problems = _leaks(before)
    if not problems:
        return
    view = runtime_view()
    for p in view.processes():
        if p.pid not in before.pids and not p.adopted:
            exit(p.pid, "kill")
    for name in set(view.names()) - before.names:
        try:
            unregister(name)
        except NotRegistered:
            pass   # its holder is already gone
    me = current_process()
    for ref in list(me.monitors or ()):
        demonitor(ref)
    for ref in list(me.aliases or ()):
        unalias(ref)
    for pid in list(me.links or ()):
        unlink(pid)
    gevent.sleep(0.01)
    raise LeakError("the test leaked:\n  " + "\n  ".join(problems))


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pytest = None

if pytest is not None:
    @pytest.fixture
    def beamish_no_leaks() -> Iterator[None]:
        """Fail the test if it leaves processes, names, links or monitors."""
        flush()
        before = snapshot()
        yield
        flush()
        check_leaks(before)

