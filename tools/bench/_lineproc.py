"""OS processes the channels and presence suites start, drive and stop.

:class:`LineProc` is a child process driven by lines on its stdin that
answers with lines on its stdout (a node app, a load-client worker); its
stderr goes to a log file, never to a pipe nobody reads.  Every child is
started in its own session and is stopped by its own process group id, so
nothing it spawned survives it.  :class:`Redis` is a throwaway
redis-server on a free loopback port.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Optional

__all__ = ["LineProc", "Redis", "free_port", "ROOT", "BEAMISH"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: ``beamish run`` through the interpreter running the benchmark (its venv).
BEAMISH = [sys.executable, "-m", "beamish.cli", "run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcError(RuntimeError):
    """A child did not answer as expected (the message names it)."""


class LineProc:
    """A child process spoken to in lines; see the module docstring."""

    def __init__(self, cmd: list, name: str, log_dir: Optional[str] = None,
                 env: Optional[dict] = None) -> None:
        self.name = name
        self.log_path = os.path.join(log_dir or tempfile.gettempdir(), f"{name}.log")
        self._log = open(self.log_path, "wb")
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
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise ProcError(f"{self.name} exited ({self.proc.poll()}); {self.tail()}")
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

    def ask(self, line: str, prefix: str, timeout: float = 30.0) -> list:
        """Send ``line``, wait for the answer starting ``prefix``; its words
        after the prefix."""
        self.send(line)
        return self.expect(prefix, timeout)[len(prefix):].split()

    def tail(self, n: int = 5) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
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


class Redis:
    """A redis-server on a free loopback port, no persistence."""

    def __init__(self, log_dir: Optional[str] = None) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-redis-", dir=log_dir)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ProcError("redis-server did not start within 10 s")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall((" ".join(args) + "\r\n").encode())
            return s.recv(1 << 16)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
