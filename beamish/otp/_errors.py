"""Errors of the OTP layer."""
from __future__ import annotations

from typing import Any

from ..core._errors import BeamishError, Exit

__all__ = ["CallExit", "CallTimeout", "StartError", "SupervisorError"]


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
