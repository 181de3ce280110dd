"""Errors of the OTP layer."""
from __future__ import annotations

from typing import Any

from ..core._errors import BadArg, BeamishError, Exit, NameTaken

__all__ = ["AlreadyRegistered", "AlreadyStarted", "CallExit", "CallTimeout", "StartError",
           "SupervisorError", "TaskExit", "TaskTimeout", "UnknownRegistry"]


class CallExit(Exit):
    """A ``call`` failed: the server was not alive (``reason == "noproc"``)
    or ended while serving it (``reason`` is the server's exit reason).

    An :class:`~beamish.Exit`, as in OTP: left uncaught, it ends the caller
    with the same reason."""

    def __init__(self, reason: Any, server: Any, request: Any) -> None:
        super().__init__(reason)
        self.server = server
        self.request = request

    def __str__(self) -> str:
        return f"call to {self.server!r} failed: {self.reason!r} (request {self.request!r})"


class CallTimeout(CallExit):
    """A ``call`` got no reply in time (``reason == "timeout"``)."""


class StartError(BeamishError):
    """A process could not be started: ``init`` stopped or crashed, or a
    name was taken (``reason`` says which)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"start failed: {reason!r}")
        self.reason = reason


class SupervisorError(BeamishError):
    """A supervisor refused a request (unknown child id, running child...)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason if isinstance(reason, str) else repr(reason))
        self.reason = reason


class AlreadyStarted(SupervisorError):
    """``start_child`` of an id whose child is running: ``pid`` is that
    child.  ``reason`` is ``("already_started", pid)``, as OTP's
    ``{error, {already_started, Child}}``."""

    def __init__(self, pid: Any) -> None:
        super().__init__(("already_started", pid))
        self.pid = pid


class AlreadyRegistered(NameTaken):
    """A key of a unique :class:`~beamish.Registry` (or a via name it keeps)
    is held by a live process: ``pid`` (which may be the caller itself).

    A :class:`~beamish.NameTaken`, so one ``except NameTaken`` covers local
    names and registry keys alike."""

    def __init__(self, registry: Any, key: Any, pid: Any) -> None:
        super().__init__(f"key {key!r} of {registry!r} is already registered to {pid!r}")
        self.registry = registry
        self.key = key
        self.pid = pid


class UnknownRegistry(BadArg):
    """No registry runs under that name, or the registry has stopped."""

    def __init__(self, registry: Any) -> None:
        super().__init__(f"no running registry {registry!r}")
        self.registry = registry


class TaskExit(Exit):
    """``Task.await_`` on a task that ended without a result; ``reason`` is
    the task's exit reason (the exception, for a crash).

    An :class:`~beamish.Exit`, as ``CallExit`` is: left uncaught, it ends the
    awaiting process with the task's reason, as Elixir's ``Task.await``
    exits the caller."""

    def __init__(self, reason: Any, task: Any) -> None:
        super().__init__(reason)
        self.task = task

    def __str__(self) -> str:
        return f"task {self.task.pid!r} exited: {self.reason!r}"


class TaskTimeout(TaskExit):
    """``Task.await_`` got no result in time (``reason == "timeout"``)."""

    def __str__(self) -> str:
        return f"task {self.task.pid!r} gave no result in time"
