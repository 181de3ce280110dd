"""The errors of the presence layer, in one place."""
from __future__ import annotations

from typing import Any

from ..core import BeamishError

__all__ = ["PresenceError", "AlreadyTracked", "NoPresence"]


class PresenceError(BeamishError):
    """Base class of the presence layer's errors."""


class AlreadyTracked(PresenceError):
    """The replica already tracks this pid in this topic under this key
    (Phoenix's ``{:error, {:already_tracked, pid, topic, key}}``)."""

    def __init__(self, pid: Any, topic: Any, key: Any) -> None:
        super().__init__(f"{pid!r} is already tracked in topic {topic!r} under key {key!r}")
        self.pid, self.topic, self.key = pid, topic, key


class NoPresence(PresenceError):
    """There is no presence of this pid in this topic under this key to
    update (Phoenix's ``{:error, :nopresence}``)."""

    def __init__(self, pid: Any, topic: Any, key: Any) -> None:
        super().__init__(f"no presence of {pid!r} in topic {topic!r} under key {key!r}")
        self.pid, self.topic, self.key = pid, topic, key
