"""``beamish run MODULE --workers N``: a master process and N worker nodes.

Theory of operation
-------------------
One Python process runs on one core, so ``--workers N`` (``auto``: one per
core) turns ``beamish run`` into a **master**: a small beamish node whose
tree is

* a :class:`~beamish.pubsub.HostRelay` on a Unix socket in a fresh private
  directory (mode 0700), through which the workers form one PubSub cluster;
* a :class:`WorkerPool` that starts N worker OS processes, each ``beamish
  run MODULE`` with the same application options, named ``<name>-w<i>``
  (``chat@host`` gives ``chat-w1@host``).

A worker learns that it is one from its environment: ``$BEAMISH_WORKER``
is its index, so ``beamish run`` sets ``config.reuse_port = True`` (every
worker listens on the same port with ``SO_REUSEPORT`` and the kernel spreads
connections among them) and ``config.worker``; ``$BEAMISH_HOST_CLUSTER`` is
the relay's path, so :func:`beamish.pubsub.default_adapter` picks the host
adapter unless the application asks for Redis.

The pool supervises the workers as a ``one_for_one`` supervisor would: a
worker that exits for any reason (a crash, SIGKILL, the OOM killer) is
started again under the same name, unless more than ``max_restarts``
restarts (default ``max(3, N)``, so losing every worker at once is
survived) happen within ``max_seconds`` (default 10): then the master logs
that its workers keep dying, stops the others and exits 1.  On SIGINT or SIGTERM the master sends
SIGTERM to every worker at once, waits up to ``stop_timeout`` seconds
(then SIGKILLs what is left), stops the relay and exits 0.

The pool starts its workers one at a time, each start asked for by a
message to itself, so the master is up at once and a signal that arrives
while workers are still starting (on a loaded machine that can take a
while) is served between two starts: the workers started so far are
stopped as above and no more are started.  ``beamish run`` refuses more
than 4 workers per core (``beamish.cli.MAX_WORKERS_PER_CORE``): past that
they only compete for the cores while each holds its own memory, sockets
and control endpoint.

``--workers 1`` (the default) is not a master: ``beamish run`` is then the
node itself, as it always was.

Workers run in their own process group, so a terminal's Ctrl-C reaches the
master only (which then stops them in order); on Linux they also get
SIGTERM if the master dies without stopping them (``PR_SET_PDEATHSIG``).
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from gevent import subprocess

from ..core import ExitMsg, process_flag, self as self_pid, send, spawn_link
from ..lowlevel import tags
from ..otp import ChildSpec, GenServer, RestartIntensity, Stop
from ..pubsub import HOST_CLUSTER_ENV, HostRelay
from ._application import WORKER_ENV

log = logging.getLogger(__name__)

__all__ = ["WorkerSpec", "WorkerPool", "worker_name", "worker_command",
           "describe_exit", "run_workers"]

#: Seconds the master waits for its workers to stop before SIGKILLing them.
STOP_TIMEOUT = 10.0
_START_NEXT = tags.START_NEXT
_PR_SET_PDEATHSIG = 1


def worker_name(base: str, index: int) -> str:
    """Worker ``index``'s node name: ``-w<index>`` before the ``@host`` part."""
    name, at, host = base.partition("@")
    return f"{name}-w{index}{at}{host}"


def worker_command(module: str, name: str, log_level: str, control: bool,
                   app_argv: Sequence[str]) -> list:
    """The command line of one worker: ``beamish run`` in this interpreter."""
    cmd = [sys.executable, "-m", "beamish.cli", "run", module, "--name", name,
           "--log-level", log_level]
    if not control:
        cmd.append("--no-control")
    return cmd + list(app_argv)


def describe_exit(returncode: int) -> str:
    """``"exited with code 1"``, ``"was killed by SIGKILL"``."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass(frozen=True)
class WorkerSpec:
    """What the pool runs, and how it supervises it."""

    module: str
    app_argv: tuple
    count: int
    base_name: str
    relay_path: str
    log_level: str = "INFO"
    control: bool = True
    max_restarts: int = 3
    max_seconds: float = 10.0
    stop_timeout: float = STOP_TIMEOUT


class _Worker:
    __slots__ = ("index", "name", "popen")

    def __init__(self, index: int, name: str, popen: Any) -> None:
        self.index, self.name, self.popen = index, name, popen


class WorkerPool(GenServer):
    """Starts and supervises the worker OS processes of a :class:`WorkerSpec`."""

    def init(self, spec: WorkerSpec) -> None:  # type: ignore[override]
        process_flag("trap_exit", True)
        self.spec = spec
        self.intensity = RestartIntensity(spec.max_restarts, spec.max_seconds)
        self.workers: dict = {}
        self.env = dict(os.environ)
        self.env[HOST_CLUSTER_ENV] = spec.relay_path
        self.next_index = 1
        send(self_pid(), _START_NEXT)

    def _start_next(self) -> None:
        """Start the next worker; ask for the one after by a message, so a
        shutdown that arrived meanwhile is served first (see the module
        docstring)."""
        index = self.next_index
        self.next_index += 1
        self._start(index)
        if self.next_index <= self.spec.count:
            send(self_pid(), _START_NEXT)

    def _start(self, index: int) -> None:
        spec = self.spec
        name = worker_name(spec.base_name, index)
        cmd = worker_command(spec.module, name, spec.log_level, spec.control, spec.app_argv)
        env = dict(self.env)
        env[WORKER_ENV] = str(index)
        popen = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                 preexec_fn=_in_worker(os.getpid()))
        self.workers[index] = _Worker(index, name, popen)
        spawn_link(_await_exit, self_pid(), index, popen)
        log.info("worker %d started: node %s, os pid %d", index, name, popen.pid)

    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is str and msg == _START_NEXT:
            return self._start_next()
        if msg.__class__ is tuple and msg[0] == tags.WORKER_EXIT:
            return self._exited(msg[1], msg[2])
        if msg.__class__ is ExitMsg:
            if msg.reason != "normal":   # a waiter cannot crash; if it did, say so
                log.error("worker pool: waiter %r ended with %r", msg.pid, msg.reason)
            return None
        return super().handle_info(msg)

    def _exited(self, index: int, popen: Any) -> Any:
        worker = self.workers.get(index)
        if worker is None or worker.popen is not popen:
            return None
        how = describe_exit(popen.returncode)
        if not self.intensity.add(time.monotonic()):
            log.error("worker %d (node %s, os pid %d) %s: the workers of %s keep dying (more "
                      "than %d restarts within %s s, the master's restart intensity); giving "
                      "up", index, worker.name, popen.pid, how, self.spec.module,
                      self.spec.max_restarts, self.spec.max_seconds)
            del self.workers[index]
            return Stop("shutdown")
        log.warning("worker %d (node %s, os pid %d) %s; restarting it", index, worker.name,
                    popen.pid, how)
        self._start(index)
        return None

    def terminate(self, reason: Any) -> None:
        alive = [w for w in self.workers.values() if w.popen.poll() is None]
        for w in alive:
            try:
                w.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.spec.stop_timeout
        for w in alive:
            try:
                w.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (node %s, os pid %d) did not stop within %s s: killing it",
                          w.index, w.name, w.popen.pid, self.spec.stop_timeout)
                w.popen.kill()
                w.popen.wait()
        if alive:
            log.info("stopped %d workers", len(alive))


def _await_exit(pool: Any, index: int, popen: Any) -> None:
    popen.wait()
    send(pool, (tags.WORKER_EXIT, index, popen))


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


def _in_worker(master: int) -> Any:
    """What a worker runs between fork and exec."""
    libc = _libc()

    def setup() -> None:
        os.setpgid(0, 0)
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != master:   # the master died before prctl
                os._exit(1)
    return setup


def _private_dir() -> str:
    """A fresh directory (0700) for the relay's socket, removed at exit."""
    base = (os.environ.get("BEAMISH_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR")
            or tempfile.gettempdir())
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        path = tempfile.mkdtemp(prefix="beamish-relay-", dir=base)
    except OSError:
        path = tempfile.mkdtemp(prefix="beamish-relay-")
    if len(os.fsencode(path)) > 90:   # leave room for the socket name (108 in all)
        shutil.rmtree(path, ignore_errors=True)
        path = tempfile.mkdtemp(prefix="beamish-relay-", dir="/tmp")
    atexit.register(shutil.rmtree, path, True)
    return path


class _Master:
    """The master's application: the relay first, then the pool (so workers
    find the relay listening)."""

    strategy = "one_for_one"
    max_restarts = 0      # a pool that gives up ends the master
    max_seconds = 1

    def __init__(self, module: str, app_argv: Sequence[str], count: int, base_name: str,
                 log_level: str, control: bool, max_restarts: Optional[int],
                 max_seconds: float, stop_timeout: float) -> None:
        self.args = (module, tuple(app_argv), count, base_name)
        self.opts = dict(log_level=log_level, control=control, max_seconds=max_seconds,
                         stop_timeout=stop_timeout,
                         max_restarts=max(3, count) if max_restarts is None else max_restarts)
        self.spec: Optional[WorkerSpec] = None

    def children(self, config: Any) -> list:
        relay_path = os.path.join(_private_dir(), "relay.sock")
        self.spec = WorkerSpec(*self.args, relay_path=relay_path, **self.opts)
        return [HostRelay.child_spec(relay_path),
                ChildSpec(id="workers", start=WorkerPool.start_link, args=(self.spec,),
                          kwargs={"name": "beamish.workers"}, shutdown="infinity")]

    def started(self, config: Any) -> None:
        spec = self.spec
        assert spec is not None
        log.info("master %s (os pid %d): %d workers of %s, host relay %s", config.node,
                 os.getpid(), spec.count, spec.module, spec.relay_path)


def run_workers(module: str, app_argv: Sequence[str], *, workers: int,
                node_name: Optional[str] = None, log_level: str = "INFO", control: bool = True,
                max_restarts: Optional[int] = None, max_seconds: float = 10.0,
                stop_timeout: float = STOP_TIMEOUT) -> int:
    """Run ``module`` in ``workers`` worker processes under this master;
    returns the master's exit code (0 after a signal, 1 if workers keep
    dying, 2 if the master could not start).  The caller has monkey-patched.

    ``max_restarts`` defaults to ``max(3, workers)`` (within ``max_seconds``),
    so losing every worker at once is survived, and a crash loop is not.
    """
    from ._application import run
    base = node_name or f"nonode-{os.getpid()}@nohost"
    master = _Master(module, app_argv, workers, base, log_level, control, max_restarts,
                     max_seconds, stop_timeout)
    return run(f"{module} (master of {workers} workers)", [], node_name=node_name,
               log_level=log_level, control=control, app=master)
