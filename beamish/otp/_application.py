"""Applications, and the node that ``beamish run MODULE`` boots.

An application is a module (or package) that names its root children::

    # myapp.py
    strategy = "one_for_one"          # optional, with max_restarts/max_seconds

    def add_arguments(parser):        # optional: the app's own options
        parser.add_argument("--port", type=int, default=4000)

    def children(config):             # required
        return [Cache, (Web, config.port)]

    def started(config):              # optional: called once the tree is up
        print(f"listening on {config.port}")

``beamish run myapp --port 4001`` gevent-patches the interpreter first,
names the node, starts the tree under a root supervisor, and on SIGINT or
SIGTERM stops it in order (terminate callbacks run) and exits 0.  A root
supervisor that gives up (restart intensity reached) ends the node with
exit code 1 and a log line saying so.

``beamish run myapp --workers N`` runs N such nodes as worker processes of
a master (see :mod:`beamish._workers`).  In a worker, ``config.worker`` is
its index (from 1) and ``config.reuse_port`` is True: an application that
listens should pass it on (``Endpoint(..., reuse_port=config.reuse_port)``)
so that every worker shares the port.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

log = logging.getLogger(__name__)

__all__ = ["run", "load_application"]

EXIT_OK = 0
EXIT_ROOT_FAILED = 1
EXIT_START_FAILED = 2

#: Set (to the worker's index) in the workers of ``beamish run --workers N``.
WORKER_ENV = "BEAMISH_WORKER"


def load_application(name: str) -> ModuleType:
    """Import an application module and check that it names its children."""
    module = importlib.import_module(name)
    if not callable(getattr(module, "children", None)):
        raise SystemExit(f"beamish run: {name} is not an application: it has no children(config)")
    return module


def run(module_name: str, argv: Sequence[str], *, node_name: Optional[str] = None,
        log_level: str = "INFO", prog: str = "beamish run", control: bool = True,
        app: Any = None) -> int:
    """Boot a node running the application ``module_name``; returns the exit
    code.  The caller has already monkey-patched (``beamish.cli`` does).
    With ``control`` (the default) the node runs a control endpoint for
    ``beamish observer`` under a supervisor of its own, started before the
    tree and stopped after it: a crashed endpoint is restarted, and one that
    keeps crashing is given up on (logged) while the application runs on.
    ``app`` is an application object to run instead of importing
    ``module_name`` (which then only names it in log lines)."""
    from ..core import _ids
    from ..core._process import _current, process_flag, receive, send, self
    from ..core._records import ExitMsg
    from ..core._sysmon import start_system_monitor
    from ._errors import CallExit, StartError
    from ._gen_server import stop
    from ._supervisor import Supervisor

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if node_name:
        _ids.set_node_name(node_name)
    if app is None:
        app = load_application(module_name)
    parser = argparse.ArgumentParser(prog=f"{prog} {module_name}")
    if callable(getattr(app, "add_arguments", None)):
        app.add_arguments(parser)
    config = parser.parse_args(list(argv))
    config.node = _ids.node()
    worker = os.environ.get(WORKER_ENV)
    if worker:
        config.worker = int(worker)
        config.reuse_port = True

    import gevent
    me = self()
    process_flag("trap_exit", True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, send, me, ("$signal", signum))
    # A node waits for signals even when every process is idle: keep the
    # loop referenced, or gevent would call that a deadlock (LoopExit).
    keepalive = gevent.get_hub().loop.timer(3600.0, 3600.0)
    keepalive.start(lambda: None)
    start_system_monitor(0.1)
    roots: list = []
    control_sup = _start_control(roots) if control else None

    flags = {k: getattr(app, k) for k in ("strategy", "max_restarts", "max_seconds")
             if hasattr(app, k)}
    try:
        root = Supervisor.start_link(app.children(config), **flags)
    except StartError as e:
        log.error("application %s failed to start: %r", module_name, e.reason)
        return EXIT_START_FAILED
    roots.append(root)
    log.info("node %s started application %s (root supervisor %r)", _ids.node(),
             module_name, root)
    if callable(getattr(app, "started", None)):
        app.started(config)
    sys.stdout.flush()

    while True:
        msg = receive()
        if msg.__class__ is ExitMsg and msg.pid == root:
            log.error("application %s: root supervisor %r exited with %r; stopping the node",
                      module_name, root, msg.reason)
            return EXIT_ROOT_FAILED
        if msg.__class__ is ExitMsg and msg.pid == control_sup:
            log.error("node %s: the control endpoint's supervisor exited with %r; the node "
                      "runs on without `beamish observer`", _ids.node(), msg.reason)
            control_sup = None
            continue
        if isinstance(msg, tuple) and msg and msg[0] == "$signal":
            log.info("node %s: signal %d, stopping application %s", _ids.node(), msg[1],
                     module_name)
            try:
                stop(root, "shutdown")
            except CallExit as e:
                log.error("application %s stopped with %r", module_name, e.reason)
            receive(ExitMsg(root, _any()), timeout=1, default=None)
            if control_sup is not None:
                try:
                    stop(control_sup, "shutdown")
                except CallExit as e:
                    log.error("control endpoint stopped with %r", e.reason)
            keepalive.close()
            log.info("node %s stopped", _ids.node())
            return EXIT_OK


def _start_control(roots: list) -> Any:
    """Start the node's control endpoint under a supervisor linked to the
    caller; returns the supervisor's pid.  A node whose endpoint cannot
    start runs without one (and says why)."""
    from ..observer._endpoint import control_endpoint_spec
    from ._errors import StartError
    from ._supervisor import Supervisor
    try:
        return Supervisor.start_link([control_endpoint_spec(roots=roots)], max_restarts=5,
                                     max_seconds=10)
    except StartError as e:
        log.error("control endpoint not started (no `beamish observer` for this node): %s",
                  e.reason)
        return None


def _any() -> Any:
    from ..core._pattern import ANY
    return ANY
