"""A load-client process of the channels suite: many Phoenix V2 JSON
sockets joined to one topic, read by one epoll loop.

``python -m tools.bench._chan_clients PORT SOURCE_IP`` connects to
``ws://127.0.0.1:PORT/socket/websocket?vsn=2.0.0`` from ``SOURCE_IP``
(bound with ``IP_BIND_ADDRESS_NO_PORT``, so each client process can have
its own 127.0.0.x and its own ~28k ephemeral ports).  No gevent and no
per-socket objects in the hot path: after the handshake, a socket is a
file descriptor in an epoll set, and a broadcast is noticed by a byte
search in what ``os.read`` returns, so the client adds as little as
possible to "until the last client has it".  Times are
``CLOCK_MONOTONIC``, system-wide on Linux, so the driver compares them
with the sender's.

Commands on stdin, one answer line each:

  open N TOPIC   connect, upgrade and join N more sockets (in batches)
                                     -> opened TOTAL ERRORS SECONDS P50 P99
                 (P50, P99: join latency in seconds, from the connect to
                 the join's reply as this process read it; the batch is
                 read in order, so a socket's time includes the batch's)
  hb             a heartbeat on every socket         -> hb N
  arm K          watch for broadcast K (payload body "b<K>x") -> armed K
  shout K        socket 0 pushes ``shout`` {"body": "b<K>x"}  -> sent K T0
  report K       -> got K RECEIVED T1 T2 ...  (every arrival time, sorted;
                 also printed by itself once every socket here has K)
  close          close every socket                   -> closed N
"""
from __future__ import annotations

import json
import os
import select
import socket
import sys
import time

from tools.harness.wire import client_frame as masked, upgrade_request

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
BATCH = 200
now = time.monotonic


def _recv_until(sock: socket.socket, buf: bytes, marker: bytes) -> bytes:
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


class Clients:
    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        self.socks: list = []
        self.ep = select.epoll()
        self.ep.register(0, select.EPOLLIN)
        self.by_fd: dict = {}
        self.topic = "room:lobby"
        self.ref = 0
        self.token = None
        self.got: dict = {}        # fd -> time broadcast K arrived
        self.armed = None
        self.closed = 0

    # ------------------------------------------------------------ setup
    def open(self, n: int, topic: str) -> tuple:
        self.topic = topic
        errors = 0
        t0 = now()
        join = masked(json.dumps(["1", "1", topic, "phx_join", {}]).encode())
        left = n
        took = []       # per joined socket: connect .. join reply read
        while left > 0:
            batch = []
            started = {}
            for _ in range(min(BATCH, left)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                started[s] = now()
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.settimeout(30.0)
                try:
                    s.bind((self.source, 0))
                    s.connect(("127.0.0.1", self.port))
                    s.sendall(upgrade_request("127.0.0.1", self.port,
                                              "/socket/websocket?vsn=2.0.0"))
                    batch.append(s)
                except OSError:
                    errors += 1
                    s.close()
            left -= BATCH
            upgraded = []
            for s in batch:     # the server answers all upgrades of the batch concurrently
                try:
                    buf = _recv_until(s, b"", b"\r\n\r\n")
                    if b" 101 " not in buf.split(b"\r\n", 1)[0]:
                        raise ConnectionError(buf[:60])
                    s.sendall(join)
                    upgraded.append((s, buf.split(b"\r\n\r\n", 1)[1]))
                except OSError:
                    errors += 1
                    s.close()
            for s, rest in upgraded:
                try:
                    buf = _recv_until(s, rest, b"phx_reply")
                    buf = _recv_until(s, buf, b"}}")
                    if b'"ok"' not in buf:
                        raise ConnectionError(buf[:80])
                except OSError:
                    errors += 1
                    s.close()
                    continue
                took.append(now() - started[s])
                s.setblocking(False)
                self.socks.append(s)
                fd = s.fileno()
                self.by_fd[fd] = s
                self.ep.register(fd, select.EPOLLIN)
        took.sort()
        p50 = took[len(took) // 2] if took else 0.0
        p99 = took[min(len(took) - 1, (len(took) * 99) // 100)] if took else 0.0
        return len(self.socks), errors, now() - t0, p50, p99

    def _push(self, s: socket.socket, topic: str, event: str, payload: dict) -> None:
        self.ref += 1
        frame = masked(json.dumps([None, str(self.ref), topic, event, payload]).encode())
        s.setblocking(True)
        try:
            s.sendall(frame)
        finally:
            s.setblocking(False)

    def heartbeat(self) -> int:
        for s in self.socks:
            self._push(s, "phoenix", "heartbeat", {})
        return len(self.socks)

    def shout(self, k: int) -> float:
        s = self.socks[0]
        frame = masked(json.dumps(["1", "shout", self.topic, "shout",
                                   {"body": f"b{k}x"}]).encode())
        s.setblocking(True)
        t0 = now()
        s.sendall(frame)
        s.setblocking(False)
        return t0

    def report(self) -> str:
        ts = sorted(self.got.values())
        return f"got {self.armed} {len(ts)} " + " ".join(repr(t) for t in ts)

    # ------------------------------------------------------------ loop
    def serve(self) -> None:
        stdin_buf = b""
        ep_poll, rd, by_fd, got = self.ep.poll, os.read, self.by_fd, self.got
        while True:
            for fd, _ev in ep_poll(1.0):
                if fd == 0:
                    chunk = rd(0, 65536)
                    if not chunk:
                        return
                    stdin_buf += chunk
                    while b"\n" in stdin_buf:
                        line, stdin_buf = stdin_buf.split(b"\n", 1)
                        if not self.command(line.decode().split()):
                            return
                        got = self.got
                    continue
                try:
                    data = rd(fd, 65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.ep.unregister(fd)
                    by_fd.pop(fd).close()
                    self.closed += 1
                    continue
                token = self.token
                if token is not None and fd not in got and token in data:
                    got[fd] = now()
                    if len(got) == len(by_fd):
                        _out(self.report())

    def command(self, words: list) -> bool:
        if not words:
            return True
        cmd = words[0]
        if cmd == "open":
            total, errors, secs, p50, p99 = self.open(int(words[1]), words[2])
            _out(f"opened {total} {errors} {secs!r} {p50!r} {p99!r}")
        elif cmd == "hb":
            _out(f"hb {self.heartbeat()}")
        elif cmd == "arm":
            self.armed = int(words[1])
            self.token = f'"b{self.armed}x"'.encode()
            self.got = {}
            _out(f"armed {self.armed} {len(self.by_fd)}")
        elif cmd == "shout":
            t0 = self.shout(int(words[1]))
            _out(f"sent {words[1]} {t0!r}")
        elif cmd == "report":
            _out(self.report())
        elif cmd == "close":
            n = len(self.by_fd)
            for fd, s in list(self.by_fd.items()):
                self.ep.unregister(fd)
                s.close()
            self.by_fd.clear()
            self.socks = []
            _out(f"closed {n}")
        elif cmd == "quit":
            return False
        else:
            _out(f"error unknown command {cmd!r}")
        return True


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    port, source = int(sys.argv[1]), sys.argv[2]
    c = Clients(port, source)
    _out("ready")
    c.serve()


if __name__ == "__main__":
    main()
