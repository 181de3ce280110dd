"""A throwaway redis-server on a free loopback port, for tests and benchmarks."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from typing import Optional, Sequence

from .procs import HarnessError, free_port

__all__ = ["RedisServer"]


class RedisServer:
    """redis-server on 127.0.0.1, no persistence.  ``start`` and ``stop`` may
    alternate (a test restarts it on the same port); ``close`` also removes
    its directory.  ``args`` are extra server options."""

    def __init__(self, args: Sequence[str] = (), dir: Optional[str] = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise HarnessError("redis-server is not installed: run `make test` (it installs it)")
        self.exe = exe
        self.args = list(args)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="beamish-redis-", dir=dir)
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "RedisServer":
        """Start it and return once it answers PING."""
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.command("PING").startswith(b"+PONG"):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise HarnessError(f"redis-server did not start within {timeout:g} s")

    def command(self, *args: str) -> bytes:
        """Send one inline command and return the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall((" ".join(args) + "\r\n").encode())
            return s.recv(1 << 16)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
