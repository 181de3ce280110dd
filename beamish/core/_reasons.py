"""Exit reasons: which ones are clean, and which crashes were already logged."""
from __future__ import annotations

from typing import Any

__all__ = ["is_clean_exit", "mark_reported", "was_reported"]


def is_clean_exit(reason: Any) -> bool:
    """True for the reasons that end a process without an error report:
    ``"normal"``, ``"shutdown"`` and ``("shutdown", term)``, as OTP."""
    if reason.__class__ is str:
        return reason in ("normal", "shutdown")
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown"


def mark_reported(exc: BaseException) -> None:
    """Note that ``exc``'s traceback has been logged, so whoever sees it
    next as an exit reason (a supervisor, say) logs it without it again."""
    try:
        exc.__beamish_reported__ = True
    except AttributeError:
        pass   # an exception type with __slots__: it may be logged twice


def was_reported(reason: Any) -> bool:
    """True if ``reason`` is an exception whose traceback was logged."""
    return getattr(reason, "__beamish_reported__", False) is True
