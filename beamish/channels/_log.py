"""Connection and join log lines, as Phoenix writes them.

Phoenix logs every socket connection (``CONNECTED TO UserSocket in 40µs``)
and every join (``JOINED room:lobby in 30µs``) at info level, with the
parameters minus secrets; beamish does the same, so a node's log reads
like a Phoenix node's.
"""
from __future__ import annotations

import time
from typing import Any

__all__ = ["elapsed", "filtered", "FILTERED"]

#: Parameter names whose values are never logged (Phoenix's
#: ``filter_parameters`` default is ``["password"]``; tokens are secrets too).
FILTERED = ("password", "token", "secret")


def elapsed(started: float) -> str:
    """Time since ``started`` (a ``time.perf_counter()`` reading), as
    Phoenix logs it: microseconds, or milliseconds past one."""
    us = (time.perf_counter() - started) * 1e6
    return f"{us:.0f}µs" if us < 1000 else f"{us / 1000:.1f}ms"


def filtered(params: Any) -> Any:
    """``params`` for a log line, with secret-looking values replaced by
    ``"[FILTERED]"`` (at any depth of nested dicts)."""
    if not isinstance(params, dict):
        return params
    return {k: "[FILTERED]" if any(f in str(k).lower() for f in FILTERED)
            else filtered(v) for k, v in params.items()}
