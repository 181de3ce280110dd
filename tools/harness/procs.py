"""OS processes for tests and benchmarks: ports, limits, line-driven children.

:class:`LineProc` is a child spoken to in lines: commands on its stdin,
answers on its stdout, stderr in a log file (never a pipe nobody reads).
It runs in its own session and is stopped by process group, so nothing it
spawned outlives it.  It waits with ``select``, so it blocks only the
calling greenlet in a gevent-patched process (the tests) and simply blocks
elsewhere (the benchmark driver).  :class:`Node` is a LineProc running
``beamish run MODULE``.
"""
from __future__ import annotations

import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

from beamish import BeamishError

__all__ = ["ROOT", "BEAMISH", "HarnessError", "ProcError", "free_port", "wait_port",
           "raise_nofile", "LineProc", "Node"]

#: The checkout: children run here, so ``-m tools...`` and ``-m apps...`` import.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: ``beamish run`` through the interpreter running this code (its venv).
BEAMISH = [sys.executable, "-m", "beamish.cli", "run"]


class HarnessError(BeamishError):
    """A helper process or server did not behave (the message says how)."""


class ProcError(HarnessError, AssertionError):
    """A child did not answer as expected; under pytest, a failed expectation."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    """Return once something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise HarnessError(f"nothing listens on port {port} after {timeout:g} s") from None
            time.sleep(0.05)


def raise_nofile() -> None:
    """Lift this process's open-file limit to its hard limit (any user may).
    Load processes and servers call it first thing, or as ``preexec_fn``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class LineProc:
    """A child process spoken to in lines; see the module docstring."""

    def __init__(self, cmd: list, name: str, log_dir: Optional[str] = None,
                 env: Optional[dict] = None) -> None:
        self.name = name
        fd, self.log_path = tempfile.mkstemp(prefix=name.replace("/", "_") + "-", suffix=".log",
                                             dir=log_dir)
        self._own_log = log_dir is None      # ours to delete on stop
        self._log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True,
                                     env=dict(os.environ, **(env or {})))
        self._buf = b""
        self.lines: list = []     # lines read but not yet asked for

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise ProcError(f"{self.name}: cannot send {line!r} ({e}); {self.tail()}") from None

    def _read_line(self, deadline: float) -> Optional[str]:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise ProcError(f"{self.name} exited ({self.proc.poll()}) with lines "
                                f"{self.lines[-5:]}; {self.tail()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def expect(self, prefix: str, timeout: float = 30.0) -> str:
        """The next output line starting with ``prefix`` (others are kept)."""
        for i, line in enumerate(self.lines):
            if line.startswith(prefix):
                return self.lines.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise ProcError(f"{self.name}: no line starting {prefix!r} within {timeout:g} s"
                                f" (other lines: {self.lines[-5:]}); {self.tail()}")
            if line.startswith(prefix):
                return line
            self.lines.append(line)

    def no_line(self, prefix: str, wait: float = 0.3) -> None:
        """Fail if a line starting with ``prefix`` arrives within ``wait``."""
        try:
            line = self.expect(prefix, timeout=wait)
        except ProcError:
            return
        raise ProcError(f"{self.name}: unexpected line {line!r}")

    def ask(self, line: str, prefix: str, timeout: float = 30.0) -> list:
        """Send ``line``, wait for the answer starting ``prefix``; its words
        after the prefix."""
        self.send(line)
        return self.expect(prefix, timeout)[len(prefix):].split()

    def stderr_text(self) -> str:
        """Everything the child wrote to stderr so far."""
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def tail(self, n: int = 5) -> str:
        try:
            lines = self.stderr_text().strip().splitlines()
        except (OSError, ValueError):
            return "no log"
        return "log: " + " | ".join(lines[-n:]) if lines else "empty log"

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGCONT + SIGTERM, then SIGKILL of the child's own process group."""
        if self.proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # anything it left behind
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout, self._log):
            try:
                f.close()
            except OSError:
                pass
        if self._own_log:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


class Node(LineProc):
    """``beamish run MODULE --name NAME ARGS...`` as a :class:`LineProc`.

    With ``ready``, the constructor returns once a line starting with it
    has been printed (and fails, stopping the node, if none comes within
    ``ready_timeout``)."""

    def __init__(self, module: str, *args: str, name: str, log_level: str = "WARNING",
                 ready: Optional[str] = None, ready_timeout: float = 60.0,
                 log_dir: Optional[str] = None, env: Optional[dict] = None) -> None:
        super().__init__(BEAMISH + [module, "--name", name, "--log-level", log_level, *args],
                         name, log_dir, env)
        self.ready_line = None
        if ready is not None:
            try:
                self.ready_line = self.expect(ready, ready_timeout)
            except BaseException:
                self.stop()
                raise
