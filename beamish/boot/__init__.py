"""Booting a node: applications, ``beamish run`` and its ``--workers``.

The top layer of the runtime: a booted node runs an application's
supervision tree (built on :mod:`beamish.otp`), the control endpoint of
:mod:`beamish.observer` next to it, and with ``--workers N`` a master that
keeps N such nodes running as OS processes joined by a host relay.
"""
from ._application import (EXIT_OK, EXIT_ROOT_FAILED, EXIT_START_FAILED, WORKER_ENV,
                           NodeNameInUse, NotAnApplication, RunError, app_parser,
                           load_application, run)
from ._workers import run_workers

__all__ = [
    "EXIT_OK", "EXIT_ROOT_FAILED", "EXIT_START_FAILED", "NodeNameInUse", "NotAnApplication",
    "RunError", "WORKER_ENV", "app_parser", "load_application", "run", "run_workers",
]
