"""pytest fixtures of the harness; a test module imports the ones it uses."""
from __future__ import annotations

from typing import List, Tuple

import gevent
import pytest

__all__ = ["hub_errors"]


@pytest.fixture
def hub_errors(monkeypatch):
    """Fail the test if any greenlet dies of an uncaught exception."""
    errors: List[Tuple[object, object]] = []

    def record(context, kind, value, tb):
        errors.append((context, value))

    monkeypatch.setattr(gevent.get_hub(), "handle_error", record, raising=False)
    yield errors
    assert errors == [], f"uncaught exceptions in greenlets: {errors}"
