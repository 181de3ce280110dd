"""The errors of the process runtime, in one place."""
from __future__ import annotations

from typing import Any

__all__ = [
    "BeamishError", "Exit", "NoProc", "NotAProcess", "NameTaken", "NotRegistered",
    "BadArg", "ReceiveTimeout",
]


class BeamishError(Exception):
    """Base class of beamish's ordinary (catchable) errors."""


class Exit(BaseException):
    """The exception that ends a process with ``reason``.

    Raised by ``exit(reason)`` in the calling process, and thrown into a
    process that an exit signal kills.  It derives from ``BaseException``
    (as gevent's ``GreenletExit`` and trio's ``Cancelled`` do) so that a
    user's ``except Exception:`` cannot swallow it.  Even when user code
    catches it with ``except BaseException:``, the runtime remembers the
    signal: the next ``receive`` raises it again and the process's exit
    reason is the signal's reason.
    """

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"Exit({self.reason!r})"


class NoProc(BeamishError):
    """The process does not exist (Erlang's ``noproc``)."""

    def __init__(self, target: Any) -> None:
        super().__init__(f"no process: {target!r}")
        self.target = target


class NotAProcess(BeamishError):
    """A process-only operation was called from outside any process."""


class BadArg(BeamishError, ValueError):
    """An argument the runtime cannot act on (Erlang's ``badarg``)."""


class NameTaken(BadArg):
    """``register`` of a name that is already registered, or of a process
    that already has a name."""


class NotRegistered(BadArg):
    """A registered name that no process holds (``send`` or ``unregister``)."""

    def __init__(self, name: Any) -> None:
        super().__init__(f"no process is registered as {name!r}")
        self.name = name


class ReceiveTimeout(BeamishError):
    """``receive(..., timeout=t)`` saw no matching message within ``t``."""
