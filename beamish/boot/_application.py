"""Applications, and the node that ``beamish run MODULE`` boots.

This is the top of the stack: booting a node starts the control endpoint
of :mod:`beamish.observer` next to the application's tree, so it lives
above every other layer (``beamish.otp`` knows nothing of it).

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
SIGTERM stops it in reverse start order (each child gets the exit signal
``"shutdown"``: a server that traps exits runs ``terminate``, one that does
not simply ends, as in OTP) and exits 0.  A root
supervisor that gives up (restart intensity reached) ends the node with
exit code 1 and a log line saying so.  A node that cannot start exits 2
with one line on stderr saying why (:class:`RunError`): MODULE cannot be
imported or has no ``children``, ``--name`` is taken by a live local node
(as Erlang refuses a second node of the same name), ``children(config)``
raised a :class:`~beamish.BeamishError`, or the tree failed to start (a
port in use is named as such).

``beamish run myapp --workers N`` runs N such nodes as worker processes of
a master (see :mod:`beamish.boot._workers`).  In a worker, ``config.worker`` is
its index (from 1) and ``config.reuse_port`` is True: an application that
listens should pass it on (``Endpoint(..., reuse_port=config.reuse_port)``)
so that every worker shares the port.

Once the tree is up (after ``started``) the node calls ``gc.freeze()``:
what booting allocated (modules, classes, the tree's processes) moves to
the permanent generation, which the cyclic garbage collector no longer
walks, so a full collection later costs what the running node holds, not
its code as well.  Before the tree starts the node sets the collection
thresholds to :data:`GC_THRESHOLDS`, (700, 10, 100): the young
generations as CPython has them, but a full collection waits for 100
middle-generation collections (about 700,000 net container allocations)
instead of 10.  A node that is taking connections grows its heap the whole
time, so CPython's other condition for a full collection (the old
generation grew by a quarter) is met at every check, and each full
collection walks every connection held; measured with ``python -m
tools.bench channels --only mem_large`` (10,000 joins), server CPU per join
went from 366-439 us to 289-293 us.  Cyclic garbage that reached the old
generation lives that much longer; garbage without cycles is freed by
reference counting at once, as before.
"""
from __future__ import annotations

import argparse
import errno
import gc
import importlib
import importlib.util
import logging
import os
import signal
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

from ..core import BeamishError
from ..lowlevel import tags
from ..otp import CallExit, StartError, Supervisor, stop

log = logging.getLogger(__name__)

__all__ = ["run", "load_application", "app_parser", "RunError", "NotAnApplication",
           "NodeNameInUse"]

EXIT_OK = 0
EXIT_ROOT_FAILED = 1
EXIT_START_FAILED = 2

#: Set (to the worker's index) in the workers of ``beamish run --workers N``.
WORKER_ENV = "BEAMISH_WORKER"

#: The cyclic collector's thresholds on a node (see the module docstring).
GC_THRESHOLDS = (700, 10, 100)


class RunError(BeamishError):
    """``beamish run`` cannot boot the node; the message says why, in one
    line, and the exit code is 2."""


class NotAnApplication(RunError):
    """The module cannot be imported, or names no ``children(config)``."""


class NodeNameInUse(RunError):
    """A live node on this host already has the name (its control socket
    answers)."""


def load_application(name: str) -> ModuleType:
    """Import an application module and check that it names its children.

    Raises:
        NotAnApplication: ``name`` is not an importable module (with a hint
            when it looks like a file path), a module it imports is missing,
            or it has no ``children(config)``.
    """
    if "/" in name or os.sep in name:
        raise NotAnApplication(f"{name!r} is a path, not a module name{_module_hint(name)}")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise NotAnApplication(f"no module named {name!r}{_module_hint(name)}") from None
        raise NotAnApplication(f"{name} cannot be imported: {e}") from None
    except ImportError as e:
        raise NotAnApplication(f"{name} cannot be imported: {e}") from None
    except (TypeError, ValueError) as e:   # "", ".chat": not an absolute module name
        raise NotAnApplication(f"{name!r} is not a module name: {e}") from None
    if not callable(getattr(module, "children", None)):
        raise NotAnApplication(f"{name} is not an application: it has no children(config)")
    return module


def _module_hint(name: str) -> str:
    """``"; did you mean apps.chat?"`` for ``apps/chat.py``, ``./apps/chat/``
    and the like: a module is named as for ``import``, not by its file."""
    if "/" not in name and os.sep not in name and not name.endswith(".py"):
        return ""
    path = os.path.normpath(name[:-3] if name.endswith(".py") else name)
    parts = [p for p in path.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    dotted = ".".join(parts)
    try:
        found = bool(dotted) and importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return f"; did you mean {dotted}?"
    return "; give the module's import name (e.g. apps.chat), not a file path"


def app_parser(module_name: str, app: Any, prog: Optional[str] = None,
               **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of an application's own options (its ``add_arguments``);
    ``kwargs`` go to :class:`argparse.ArgumentParser`."""
    parser = argparse.ArgumentParser(prog=prog or f"beamish run {module_name}", **kwargs)
    if callable(getattr(app, "add_arguments", None)):
        app.add_arguments(parser)
    return parser


def run(module_name: str, argv: Sequence[str], *, node_name: Optional[str] = None,
        log_level: str = "INFO", prog: str = "beamish run", control: bool = True,
        app: Any = None) -> int:
    """Boot a node running the application ``module_name``; returns the exit
    code: 0 after SIGINT or SIGTERM, 1 if the root supervisor gave up, 2 if
    the node could not start (said in one line on stderr; the application's
    own options, when wrong, exit 2 as argparse does).  The caller has
    already monkey-patched (``beamish.cli`` does).
    With ``control`` (the default) the node runs a control endpoint for
    ``beamish observer`` under a supervisor of its own, started before the
    tree and stopped after it: a crashed endpoint is restarted, and one that
    keeps crashing is given up on (logged) while the application runs on.
    ``app`` is an application object to run instead of importing
    ``module_name`` (which then only names it in log lines)."""
    from ..core import ExitMsg, node, process_flag, receive, send, self, set_node_name
    from ..core import start_system_monitor

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if node_name:
            set_node_name(node_name)
            _refuse_if_name_in_use(node())
        if app is None:
            app = load_application(module_name)
    except RunError as e:
        return _start_failed(e)
    config = app_parser(module_name, app, prog=f"{prog} {module_name}").parse_args(list(argv))
    config.node = node()
    worker = os.environ.get(WORKER_ENV)
    if worker:
        config.worker = int(worker)
        config.reuse_port = True

    import gevent
    me = self()
    process_flag("trap_exit", True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, send, me, (tags.SIGNAL, signum))
    # A node waits for signals even when every process is idle: keep the
    # loop referenced, or gevent would call that a deadlock (LoopExit).
    keepalive = gevent.get_hub().loop.timer(3600.0, 3600.0)
    keepalive.start(lambda: None)
    start_system_monitor(0.1)
    gc.set_threshold(*GC_THRESHOLDS)
    roots: list = []
    control_sup = _start_control(roots) if control else None

    flags = {k: getattr(app, k) for k in ("strategy", "max_restarts", "max_seconds")
             if hasattr(app, k)}
    try:
        root = Supervisor.start_link(app.children(config), **flags)
    except StartError as e:
        return _start_failed(RunError(f"{module_name}: {_describe_start_error(e, config)}"))
    except BeamishError as e:   # children(config) refused the configuration
        return _start_failed(RunError(f"{module_name} failed to start: {e}"))
    roots.append(root)
    log.info("node %s started application %s (root supervisor %r)", node(),
             module_name, root)
    if callable(getattr(app, "started", None)):
        app.started(config)
    gc.freeze()   # boot's objects are not garbage: keep them out of every collection
    sys.stdout.flush()

    while True:
        msg = receive()
        if msg.__class__ is ExitMsg and msg.pid == root:
            log.error("application %s: root supervisor %r exited with %r; stopping the node",
                      module_name, root, msg.reason)
            return EXIT_ROOT_FAILED
        if msg.__class__ is ExitMsg and msg.pid == control_sup:
            log.error("node %s: the control endpoint's supervisor exited with %r; the node "
                      "runs on without `beamish observer`", node(), msg.reason)
            control_sup = None
            continue
        if isinstance(msg, tuple) and msg and msg[0] == tags.SIGNAL:
            log.info("node %s: signal %d, stopping application %s", node(), msg[1],
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
            log.info("node %s stopped", node())
            return EXIT_OK


def _start_failed(error: RunError) -> int:
    """Say why the node could not start, in one line on stderr."""
    sys.stderr.write(f"beamish run: {error}\n")
    sys.stderr.flush()
    return EXIT_START_FAILED


def _describe_start_error(error: Any, config: argparse.Namespace) -> str:
    """Why the tree did not start, in words: an address in use is named
    by the application's ``--port`` (if it has one), else the error's text."""
    reason = error.reason   # ("failed_to_start_child", id, reason), nested per level
    while reason.__class__ is tuple and len(reason) == 3 and reason[0] == "failed_to_start_child":
        reason = reason[2]
    if isinstance(reason, OSError) and reason.errno == errno.EADDRINUSE:
        port = getattr(config, "port", None)
        where = f"port {port}" if isinstance(port, int) else "its address"
        return f"{where} is in use (another process listens on it)"
    return str(error)


def _refuse_if_name_in_use(node: str) -> None:
    """Refuse a node name a live local node already has, as Erlang's
    distribution does: that node's control socket answers.  A socket that
    does not answer is stale (its node was killed) and is no obstacle.

    Raises:
        NodeNameInUse: the live node's socket accepted a connection.
    """
    import socket
    from ..observer import ObserverError, local_nodes, socket_path
    try:
        if node not in local_nodes():
            return
        path = socket_path(node)
    except (ObserverError, OSError):
        return   # no usable runtime directory: there is no live node in it either
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(path)
    except OSError:
        return
    finally:
        probe.close()
    raise NodeNameInUse(f"the name {node} is in use by another node on this host "
                        f"(its control socket {path} answers); choose another --name")


def _start_control(roots: list) -> Any:
    """Start the node's control endpoint under a supervisor linked to the
    caller; returns the supervisor's pid.  A node whose endpoint cannot
    start runs without one (and says why)."""
    from ..observer import control_endpoint_spec
    try:
        return Supervisor.start_link([control_endpoint_spec(roots=roots)], max_restarts=5,
                                     max_seconds=10)
    except StartError as e:
        log.error("control endpoint not started (no `beamish observer` for this node): %s",
                  e.reason)
        return None


def _any() -> Any:
    from ..core import ANY
    return ANY
