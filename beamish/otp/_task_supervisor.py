"""TaskSupervisor: tasks started under a DynamicSupervisor, as Elixir's
``Task.Supervisor``.

Example::

    TaskSupervisor.start_link(name="jobs")
    t = TaskSupervisor.async_nolink("jobs", risky, 42)
    try:
        value = Task.await_(t)
    except TaskExit as e:          # risky crashed: the caller lives on
        value = fallback(e.reason)

    TaskSupervisor.start_child("jobs", send_email, to)   # fire and forget

Every task child is ``temporary`` (never restarted) with a 5 s shutdown, so
stopping the supervisor stops its tasks.  ``async_nolink`` tasks are linked
to the supervisor, not to the caller; ``async_`` tasks to both.  Since the
supervisor starts the process, its owner learns the pid only afterwards:
the task waits for the owner's reply address (its monitor-alias ref)
before it runs, and ends quietly if the owner has died meanwhile.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..core import Pid, link, monitor, send, spawn_link
from ..lowlevel import current_process
from ._dynamic_supervisor import DynamicSupervisor
from ._supervisor import ChildSpec
from ._task import _GO, Task, _run, _supervised_main

__all__ = ["TaskSupervisor"]


class TaskSupervisor(DynamicSupervisor):
    """A DynamicSupervisor of tasks; start it with
    ``TaskSupervisor.start_link(name=..., max_children=...)``."""

    @staticmethod
    def async_nolink(sup: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` under ``sup``, monitored by the caller
        but not linked to it: a crash becomes :class:`TaskExit` at
        ``Task.await_`` (or ``("exit", reason)`` at ``Task.yield_``).

        Raises:
            SupervisorError: ``max_children`` reached.
        """
        return _async(sup, fn, args, kwargs, linked=False)

    @staticmethod
    def async_(sup: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """As ``Task.async_`` (linked to the caller), but supervised by ``sup``."""
        return _async(sup, fn, args, kwargs, linked=True)

    @staticmethod
    def start_child(sup: Any, fn: Callable[..., Any],  # type: ignore[override]
                    *args: Any, **kwargs: Any) -> Optional[Pid]:
        """Run ``fn(*args, **kwargs)`` under ``sup`` for its side effects;
        returns the task's pid.  A crash is logged, and that is all."""
        spec = ChildSpec(id="Task", start=spawn_link, args=(_run, fn, args, kwargs),
                         restart="temporary")
        return DynamicSupervisor.start_child(sup, spec)

    @staticmethod
    def children(sup: Any) -> list[Pid]:
        """The pids of the tasks running under ``sup``."""
        return [pid for _, pid, _ in DynamicSupervisor.which_children(sup)]


def _async(sup: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
           linked: bool) -> Task:
    me = current_process()
    spec = ChildSpec(id="Task", start=spawn_link, args=(_supervised_main, me.pid, fn, args, kwargs),
                     restart="temporary")
    pid = DynamicSupervisor.start_child(sup, spec)
    assert pid is not None
    if linked:
        link(pid)
    ref = monitor(pid, alias=True)
    send(pid, (_GO, ref))
    return Task(pid, ref, me.pid)
