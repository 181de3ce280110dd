"""Errors of the OTP layer."""
from __future__ import annotations

from typing import Any

from ..core import BadArg, BeamishError, Exit, NameTaken

__all__ = ["AlreadyRegistered", "AlreadyStarted", "BadGenServer", "CallExit", "CallTimeout",
           "ChildSpecError", "StartError", "SupervisorError", "TaskExit", "TaskTimeout",
           "UnknownRegistry", "UnknownRequest", "describe_id", "describe_reason"]


def describe_id(child_id: Any) -> str:
    """A child id as people read it: a class by its name (``Room``), any
    other id as its repr (``'rooms'``, ``('shard', 0)``)."""
    if isinstance(child_id, type):
        return child_id.__qualname__
    return repr(child_id)


def describe_reason(reason: Any) -> str:
    """An exit reason in words, as Elixir's ``Exception.format_exit``."""
    if reason.__class__ is str:
        if reason == "noproc":
            return ("no process: the process is not alive or no process is registered "
                    "under that name")
        if reason == "timeout":
            return "time out"
        if reason == "calling_self":
            return "process attempted to call itself"
        return reason
    if isinstance(reason, BaseException):
        text = str(reason)
        return f"an exception was raised: {type(reason).__name__}" + (f": {text}" if text else "")
    return repr(reason)


class CallExit(Exit):
    """A ``call`` failed: the server was not alive (``reason == "noproc"``)
    or ended while serving it (``reason`` is the server's exit reason).

    An :class:`~beamish.Exit`, as in OTP: left uncaught, it ends the caller
    with the same reason.  Its message reads as Elixir's, naming the call
    that failed and why::

        exited in: call(<0.42.0>, 'get')
            ** (EXIT) no process: the process is not alive ...

    and its traceback is the caller's: where the failed call was made.
    ``op`` is ``"stop"`` for a failed ``stop(server, reason)`` (``request``
    is then ``("stop", reason)``)."""

    def __init__(self, reason: Any, server: Any, request: Any, op: str = "call") -> None:
        super().__init__(reason)
        self.server = server
        self.request = request
        self.op = op

    def __str__(self) -> str:
        arg = self.request[1] if self.op == "stop" else self.request
        return (f"exited in: {self.op}({self.server!r}, {arg!r})\n"
                f"    ** (EXIT) {describe_reason(self.reason)}")


class CallTimeout(CallExit):
    """A ``call`` got no reply in time (``reason == "timeout"``)."""


class StartError(BeamishError):
    """A process could not be started: ``init`` stopped or crashed, or a
    name was taken (``reason`` says which)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(f"start failed: {_start_reason(reason)}")
        self.reason = reason


def _start_reason(reason: Any) -> str:
    if reason.__class__ is tuple and len(reason) == 3 and reason[0] == "failed_to_start_child":
        return f"failed to start child {describe_id(reason[1])}: {_start_reason(reason[2])}"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return repr(reason)


class BadGenServer(BeamishError, TypeError):
    """A GenServer written in a way that cannot work (``__init__`` instead
    of ``init``, an Elixir-style ``("ok", state)`` from ``init``, an
    attribute named ``pid``): raised where the mistake is made, with the
    fix in the message."""


class UnknownRequest(BeamishError, NotImplementedError):
    """A GenServer got a call, cast or continue its class does not handle.

    The base class's ``handle_call``, ``handle_cast`` and
    ``handle_continue`` raise it, so the server crashes (and its supervisor
    restarts it) and a caller gets :class:`CallExit`, as an Elixir
    GenServer without a matching clause does."""

    def __init__(self, server: Any, kind: str, request: Any) -> None:
        super().__init__(f"{server} has no {kind} for {request!r}")
        self.kind = kind
        self.request = request


class SupervisorError(BeamishError):
    """A supervisor refused a request (unknown child id, running child...)."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason if isinstance(reason, str) else repr(reason))
        self.reason = reason


class ChildSpecError(SupervisorError, ValueError):
    """A supervisor child that is not a valid child spec: ``child_id`` names
    the child (as given when it has no id yet) and ``problem`` says what is
    wrong.  Raised at the ``start_child`` call, or as the ``StartError``
    reason of a supervisor given such a child; the supervisor is unharmed."""

    def __init__(self, child_id: Any, problem: str) -> None:
        super().__init__(f"child {describe_id(child_id)}: {problem}")
        self.child_id = child_id
        self.problem = problem


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
