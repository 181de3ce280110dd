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
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

from tools.harness import (BEAMISH, ROOT, HarnessError, RedisServer, free_port, raise_nofile,
                           wait_port)

__all__ = ["ServerGroup", "workers_supported", "SECRET"]

#: The benchmark's token secret (tokens are signed by the load processes).
SECRET = "scale-benchmark-secret-0123456789abcdef"


@functools.lru_cache(maxsize=None)
def workers_supported() -> bool:
    """Whether ``beamish run`` takes ``--workers`` (another change adds it)."""
    try:
        out = subprocess.run(BEAMISH + ["--help"], capture_output=True, text=True,
                             timeout=30, cwd=ROOT).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--workers" in out


class ServerGroup:
    """One server under test; see the module docstring.  ``kind`` is
    ``"beamish"`` (``app`` names the application module) or ``"socketio"``."""

    def __init__(self, kind: str, processes: int = 1, app: str = "tools.bench.chat_lobby",
                 log=None) -> None:
        self.kind, self.n, self.app = kind, max(1, processes), app
        self.port = free_port()
        self.procs: List[subprocess.Popen] = []
        self.redis: Optional[RedisServer] = None
        self.log_dir = tempfile.mkdtemp(prefix=f"scale-{kind}-")
        self.mode = ""
        self._log = log or (lambda m: None)

    # ------------------------------------------------------------ start
    def _spawn(self, cmd: list, name: str) -> subprocess.Popen:
        f = open(os.path.join(self.log_dir, name + ".log"), "wb")
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             preexec_fn=raise_nofile)
        f.close()
        return p

    def _start_redis(self) -> str:
        self.redis = RedisServer(["--client-output-buffer-limit", "pubsub 0 0 0"],
                                 dir=self.log_dir).start(20)
        return self.redis.url

    def start(self, timeout: float = 60.0) -> "ServerGroup":
        common = ["--port", str(self.port), "--secret", SECRET]
        if self.kind == "beamish":
            base = BEAMISH + ["--log-level", "WARNING"]
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

    def _ready_lines(self) -> int:
        n = 0
        for name in os.listdir(self.log_dir):
            if not name.endswith(".log"):
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
                raise HarnessError(f"{self.kind} server exited with {dead[0].returncode}: "
                                   f"{self.log_tail()}")
            if self._ready_lines() >= want:
                wait_port(self.port, 10)
                time.sleep(1.0)
                return
            time.sleep(0.2)
        raise HarnessError(f"{self.kind} server not ready after {timeout:.0f} s: {self.log_tail()}")

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
        for name in sorted(n for n in os.listdir(self.log_dir) if n.endswith(".log")):
            with open(os.path.join(self.log_dir, name), "rb") as f:
                lines += [f"{name}: {ln}" for ln in
                          f.read().decode(errors="replace").strip().splitlines()[-n:]]
        return " | ".join(lines[-n:])

    # ------------------------------------------------------------- stop
    def stop(self) -> None:
        procs = self.procs
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
        if self.redis is not None:
            self.redis.close()
        self.procs, self.redis = [], None

    def __enter__(self) -> "ServerGroup":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
