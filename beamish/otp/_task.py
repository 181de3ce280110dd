"""Task: run a function in its own process and collect its result, as Elixir's.

``async`` and ``await`` are Python keywords, so the functions are spelled
``Task.async_``, ``Task.await_`` and ``Task.yield_`` (PEP 8's trailing
underscore, as GenServer's ``continue_=``)::

    t = Task.async_(fetch, url)          # linked to and monitored by the caller
    page = Task.await_(t, timeout=2)     # the result, or TaskExit / TaskTimeout

A :class:`Task` is a record ``(pid, ref, owner)``.  ``ref`` is the monitor
the owner holds on the task and also an alias of the owner: the task sends
its result to that alias, never to the owner's pid.  When ``await_`` gives
up (timeout) or ``shutdown`` is done, the monitor is removed, which
deactivates the alias, so a result that arrives later is dropped by the
runtime and never lands in the owner's mailbox.

Links, as in Elixir: an ``async_`` task is linked to its owner, so if the
task crashes the owner dies with it (unless the owner traps exits, in which
case ``await_`` raises :class:`TaskExit` with the task's reason), and if
the owner dies the task is killed.  After an ``await_`` timeout the task
keeps running, still linked, until it finishes or its owner dies; call
:meth:`Task.shutdown` if its work is no longer wanted.  Tasks of a
:class:`TaskSupervisor` started with ``async_nolink`` are linked to the
supervisor only: a crash becomes a :class:`TaskExit` at ``await_``.

Only the owner may await, yield or shut down a task.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..core import (ANY, BadArg, Down, Pid, Ref, demonitor, exit, monitor, receive, send, spawn,
                    spawn_link, unlink)
from ..lowlevel import current_process, mark_reported, tags, take_first
from ._errors import TaskExit, TaskTimeout
from ._supervisor import ChildSpec

log = logging.getLogger(__name__)

__all__ = ["Task"]

_NOTHING = object()


@dataclass(frozen=True, slots=True)
class Task:
    """A running task: its ``pid``, the ``ref`` its result comes with (a
    monitor and alias held by ``owner``), and the ``owner`` pid."""

    pid: Pid
    ref: Ref
    owner: Pid

    # ---------------------------------------------------------- async/await
    @staticmethod
    def async_(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> "Task":
        """Run ``fn(*args, **kwargs)`` in a new process linked to and
        monitored by the caller; collect the result with :meth:`await_`."""
        me = current_process()
        reply_to = _ReplyTo()
        pid = spawn_link(_async_main, reply_to, fn, args, kwargs)
        ref = monitor(pid, alias=True)
        # The task has not run yet (it runs when the caller next yields),
        # so it is certain to see its reply address.
        reply_to.ref = ref
        return Task(pid, ref, me.pid)

    @staticmethod
    def await_(task: "Task", timeout: Optional[float] = 5.0) -> Any:
        """The task's result, waiting up to ``timeout`` seconds (None: for ever).

        Raises:
            TaskExit: the task ended without a result (``reason`` is its
                exit reason); an ``async_`` task's crash reaches here only
                if the owner traps exits (otherwise the link kills it first).
            TaskTimeout: no result in time.  The task keeps running; its
                result, if it comes, is dropped.
            BadArg: the caller is not the task's owner.
        """
        me = _check_owner(task)
        ref = task.ref
        msg = receive((ref, ANY), ("DOWN", ref, ANY, ANY, ANY), timeout=timeout,
                      default=_NOTHING)
        if msg is _NOTHING:
            demonitor(ref, flush=True)
            take_first(me, (ref, ANY))   # a result racing the timeout
            raise TaskTimeout("timeout", task)
        if msg.__class__ is Down:
            raise TaskExit(msg.reason, task)
        demonitor(ref, flush=True)
        return msg[1]

    @staticmethod
    def yield_(task: "Task", timeout: Optional[float] = 5.0) -> Optional[tuple[str, Any]]:
        """Wait up to ``timeout`` s: ``("ok", result)``, ``("exit", reason)``
        if the task ended without a result, or None if it is still running.

        Unlike :meth:`await_`, a None leaves the task monitored: yield again,
        or :meth:`shutdown` it.  (A tagged result, as Elixir's
        ``{:ok, result}``, because None is a valid task result.)
        """
        _check_owner(task)
        ref = task.ref
        msg = receive((ref, ANY), ("DOWN", ref, ANY, ANY, ANY), timeout=timeout,
                      default=_NOTHING)
        if msg is _NOTHING:
            return None
        if msg.__class__ is Down:
            return ("exit", msg.reason)
        demonitor(ref, flush=True)
        return ("ok", msg[1])

    @staticmethod
    def shutdown(task: "Task", timeout: Any = 5.0) -> Optional[tuple[str, Any]]:
        """Stop the task: unlink it, send it ``"shutdown"`` (or kill it at
        once with ``timeout="brutal_kill"``), kill it if it has not ended
        within ``timeout`` seconds, and wait until it has.

        As Elixir's ``Task.shutdown``: returns ``("ok", result)`` if the
        result arrived meanwhile; else None if the task ended as asked
        (``"shutdown"``, or ``"killed"`` for ``"brutal_kill"``); else
        ``("exit", reason)``, which includes ``("exit", "killed")`` for a
        task killed because it outlived ``timeout``, and ``("exit",
        "noproc")`` for a task whose end was already seen (awaited or
        yielded).  Works after an ``await_`` timeout too.
        """
        _check_owner(task)
        pid, ref = task.pid, task.ref
        unlink(pid)
        # ``ref`` is gone after an await_ timeout: watch the end anew.
        watch = monitor(pid)
        brutal = timeout == "brutal_kill"
        asked = "killed" if brutal else "shutdown"
        exit(pid, "kill" if brutal else "shutdown")
        end = ("DOWN", watch, ANY, ANY, ANY)
        down = receive(end, timeout=None if brutal else timeout, default=_NOTHING)
        if down is _NOTHING:
            exit(pid, "kill")
            down = receive(end)
        reason = down.reason
        if reason == "noproc":
            # Ended before we watched: its own monitor's DOWN, if still
            # queued, tells how; if that was consumed, nothing can.
            down = _take(("DOWN", ref, ANY, ANY, ANY))
            reason = "noproc" if down is None else down.reason
        demonitor(ref, flush=True)
        result = _take((ref, ANY))
        if result is not None:
            return ("ok", result[1])
        if reason.__class__ is str and reason == asked:
            return None
        return ("exit", reason)

    # ---------------------------------------------------- fire and forget
    @staticmethod
    def start_link(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Pid:
        """Run ``fn(*args, **kwargs)`` in a process linked to the caller, for
        its side effects; returns its pid.  A crash is logged."""
        return spawn_link(_run, fn, args, kwargs)

    @staticmethod
    def start(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Pid:
        """As :meth:`start_link`, unlinked."""
        return spawn(_run, fn, args, kwargs)

    @staticmethod
    def child_spec(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ChildSpec:
        """A ``temporary`` supervisor child running ``fn(*args, **kwargs)``
        (Elixir's default for tasks: not restarted)."""
        return ChildSpec(id=("Task", fn), start=Task.start_link, args=(fn, *args),
                         kwargs=kwargs, restart="temporary")


class _ReplyTo:
    """Where an async task sends its result (set before it runs)."""

    __slots__ = ("ref",)

    def __init__(self) -> None:
        self.ref: Optional[Ref] = None


def _take(pattern: Any) -> Any:
    """The first queued message matching ``pattern``, removed; or None."""
    return receive(pattern, timeout=0, default=None)


def _check_owner(task: Task) -> Any:
    me = current_process()
    if task.owner != me.pid:
        raise BadArg(f"{task!r} is owned by {task.owner!r}, not by the caller {me.pid!r}")
    return me


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call the task's function; log a crash (tasks are usually linked, so
    the runtime's own crash report would stay silent)."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        mark_reported(e)
        log.error("task %r running %s crashed: %r", current_process().pid,
                  getattr(fn, "__qualname__", fn), e, exc_info=e,
                  extra={"beamish_pid": repr(current_process().pid), "beamish_reason": repr(e)})
        raise


def _async_main(reply_to: _ReplyTo, fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> None:
    result = _run(fn, args, kwargs)
    send(reply_to.ref, (reply_to.ref, result))


#: The owner's hand-shake to a supervised task: (_GO, ref).
_GO = tags.TASK_REPLY_TO


def _supervised_main(owner: Pid, fn: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> None:
    """Body of a task started by a TaskSupervisor for ``owner``.

    The supervisor starts it, so the owner learns its pid only afterwards:
    the task waits for the owner's reply address before running ``fn``,
    and ends quietly if the owner dies first.
    """
    watch = monitor(owner)
    msg = receive((_GO, ANY), ("DOWN", watch, ANY, ANY, ANY))
    if msg[0] == "DOWN":
        return
    demonitor(watch, flush=True)
    ref = msg[1]
    result = _run(fn, args, kwargs)
    send(ref, (ref, result))

