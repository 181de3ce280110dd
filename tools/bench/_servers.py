"""Servers the scale benchmark starts, loads and stops.

:class:`ServerGroup` runs one server, made of one or more OS processes
sharing a loopback port:

* beamish (``beamish run APP``): with ``--workers N`` when this beamish has
  it (detected from ``beamish run --help``); otherwise one process, or, when
  more than one is needed (a process holds at most 20,000 sockets here), N
  ``beamish run APP --reuse-port --cluster redis://...`` nodes on a Redis
  started for the run: the same topology built by hand.
* the python-socketio peer (``tools.bench.peers.socketio_server``): one
  process, or N with ``--reuse-port`` and its ``RedisManager``.

Every process is started in its own session and is ended by its pid (its
process group) when the group stops; logs go to files, never to pipes
nobody reads.
"""
from __future__ import annotations

import functools
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

__all__ = ["ServerGroup", "free_port", "workers_supported", "SECRET"]

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BEAMISH = os.path.join(os.path.dirname(sys.executable), "beamish")
#: The benchmark's token secret (tokens are signed by the load processes).
SECRET = "scale-benchmark-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.lru_cache(maxsize=None)
def workers_supported() -> bool:
    """Whether ``beamish run`` takes ``--workers`` (another change adds it)."""
    try:
        out = subprocess.run([_BEAMISH, "run", "--help"], capture_output=True, text=True,
                             timeout=30, cwd=_ROOT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--workers" in out


def _raise_nofile() -> None:   # in the child, before exec: what any user may do
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ServerGroup:
    """One server under test; see the module docstring.  ``kind`` is
    ``"beamish"`` (``app`` names the application module) or ``"socketio"``."""

    def __init__(self, kind: str, processes: int = 1, app: str = "tools.bench.chat_lobby",
                 log=None) -> None:
        self.kind, self.n, self.app = kind, max(1, processes), app
        self.port = free_port()
        self.procs: List[subprocess.Popen] = []
        self.redis: Optional[subprocess.Popen] = None
        self.log_dir = tempfile.mkdtemp(prefix=f"scale-{kind}-")
        self.mode = ""
        self._log = log or (lambda m: None)

    # ------------------------------------------------------------ start
    def _spawn(self, cmd: list, name: str) -> subprocess.Popen:
        f = open(os.path.join(self.log_dir, name + ".log"), "wb")
        p = subprocess.Popen(cmd, cwd=_ROOT, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             preexec_fn=_raise_nofile)
        f.close()
        return p

    def _start_redis(self) -> str:
        port = free_port()
        self.redis = self._spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no",
                                  "--client-output-buffer-limit", "pubsub 0 0 0"], "redis")
        self._wait_port(port, 20)
        return f"redis://127.0.0.1:{port}"

    def start(self, timeout: float = 60.0) -> "ServerGroup":
        common = ["--port", str(self.port), "--secret", SECRET]
        if self.kind == "beamish":
            base = [_BEAMISH, "run", "--log-level", "WARNING"]
            if self.n > 1 and workers_supported():
                self.mode = f"--workers {self.n}"
                self.procs.append(self._spawn(base + ["--workers", str(self.n), self.app]
                                              + common, "beamish"))
            elif self.n == 1:
                self.mode = "1 process"
                self.procs.append(self._spawn(base + [self.app] + common, "beamish"))
            else:
                url = self._start_redis()
                self.mode = f"{self.n} processes, SO_REUSEPORT + Redis cluster"
                for i in range(self.n):
                    self.procs.append(self._spawn(
                        base + ["--name", f"w{i}@127.0.0.1", self.app] + common
                        + ["--reuse-port", "--cluster", url], f"beamish{i}"))
        elif self.kind == "socketio":
            base = [sys.executable, "-m", "tools.bench.peers.socketio_server", "--port",
                    str(self.port)]
            if self.n == 1:
                self.mode = "1 process"
                self.procs.append(self._spawn(base, "socketio"))
            else:
                url = self._start_redis()
                self.mode = f"{self.n} processes, SO_REUSEPORT + RedisManager"
                for i in range(self.n):
                    self.procs.append(self._spawn(base + ["--reuse-port", "--redis", url],
                                                  f"socketio{i}"))
        else:
            raise ValueError(f"unknown server kind {self.kind!r}")
        self._wait_ready(timeout)
        self._log(f"# {self.kind} server on port {self.port}: {self.mode} "
                  f"(pids {self.root_pids()})")
        return self

    def _wait_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")

    def _ready_lines(self) -> int:
        n = 0
        for name in os.listdir(self.log_dir):
            if name.startswith("redis"):
                continue
            with open(os.path.join(self.log_dir, name), "rb") as f:
                data = f.read()
            n += data.count(b"running at") + data.count(b"peer listening on")
        return n

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        want = self.n
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{self.kind} server exited with {dead[0].returncode}: "
                                   f"{self.log_tail()}")
            if self._ready_lines() >= want:
                self._wait_port(self.port, 10)
                time.sleep(1.0)
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} server not ready after {timeout:.0f} s: {self.log_tail()}")

    # ------------------------------------------------------------ facts
    def root_pids(self) -> list:
        return [p.pid for p in self.procs]

    def pids(self) -> list:
        from tools.loadgen import server_tree
        return server_tree(self.root_pids())

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def log_tail(self, n: int = 6) -> str:
        lines = []
        for name in sorted(os.listdir(self.log_dir)):
            with open(os.path.join(self.log_dir, name), "rb") as f:
                lines += [f"{name}: {ln}" for ln in
                          f.read().decode(errors="replace").strip().splitlines()[-n:]]
        return " | ".join(lines[-n:])

    # ------------------------------------------------------------- stop
    def stop(self) -> None:
        procs = self.procs + ([self.redis] if self.redis else [])
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        self.procs, self.redis = [], None

    def __enter__(self) -> "ServerGroup":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
