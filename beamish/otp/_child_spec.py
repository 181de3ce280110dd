"""ChildSpec: how a supervisor starts, restarts and stops one child."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..core import Pid
from ._errors import ChildSpecError

__all__ = ["ChildSpec", "RESTARTS"]

RESTARTS = ("permanent", "transient", "temporary")


@dataclass(frozen=True)
class ChildSpec:
    """How to start, restart and stop one child.

    ``start(*args, **kwargs)`` must return the pid of a process linked to
    the caller (``GenServer.start_link`` does), or None to be ignored.
    An invalid field raises :class:`ChildSpecError` naming the child.
    """

    id: Any
    start: Callable[..., Optional[Pid]]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    restart: str = "permanent"
    shutdown: Any = 5000
    type: str = "worker"

    def __post_init__(self) -> None:
        if not callable(self.start):
            raise ChildSpecError(self.id, f"start must be a function returning a pid, "
                                          f"got {self.start!r}")
        if not isinstance(self.args, tuple) or not isinstance(self.kwargs, dict):
            raise ChildSpecError(self.id, "args must be a tuple and kwargs a dict")
        if self.restart not in RESTARTS:
            raise ChildSpecError(self.id, f"restart must be one of {RESTARTS}, "
                                          f"got {self.restart!r}")
        if self.type not in ("worker", "supervisor"):
            raise ChildSpecError(self.id, f"type must be 'worker' or 'supervisor', "
                                          f"got {self.type!r}")
        sd = self.shutdown
        if not (sd in ("brutal_kill", "infinity") or (isinstance(sd, int) and sd >= 0)):
            raise ChildSpecError(self.id, f"shutdown must be milliseconds, 'infinity' or "
                                          f"'brutal_kill', got {sd!r}")
