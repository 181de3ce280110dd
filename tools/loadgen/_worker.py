"""One load process: up to ~18k websocket clients on gevent, driven over
stdin/stdout by the coordinator (:mod:`tools.loadgen._coord`).

Run as ``python -m tools.loadgen._worker CONFIG_JSON``.  Commands arrive as
JSON lines on stdin; every command is answered by exactly one JSON line on
stdout (``{"ev": ..., ...}``), in order.

Theory of operation
-------------------
Each client is one greenlet and one gevent socket, bound to one of this
worker's loopback source addresses with ``IP_BIND_ADDRESS_NO_PORT`` (the
kernel picks the port at ``connect`` time, per destination, so an address
reaches ~28k connections to one server port).  A client connects, upgrades,
joins, then reads frames until it is closed; it never decodes JSON on the
hot path (broadcasts are recognised by prefix and a marker string).

Heartbeats (Phoenix) are sent by one scheduler greenlet per worker, not one
timer per client: the clients are split into ``interval / tick`` buckets and
each tick sends one bucket, so every client sends one heartbeat per
interval and the load is even.  A heartbeat still unanswered when the next
one is due counts as ``hb_late`` (the JS client would reconnect there).
Socket.IO servers ping their clients instead; the client answers each
``2`` with ``3`` at once and counts them.

Times are ``time.monotonic()``: CLOCK_MONOTONIC is one clock for every
process on a Linux host, so the coordinator can subtract a poster's send
time from another worker's arrival times.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import socket as _socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import quote  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.fileobject import FileObject  # noqa: E402

from tools.harness import raise_nofile  # noqa: E402
from tools.harness.wire import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader,  # noqa: E402
                                WireError, client_frame, eio, parse_upgrade_response, phx,
                                upgrade_request)

IP_BIND_ADDRESS_NO_PORT = getattr(_socket, "IP_BIND_ADDRESS_NO_PORT", 24)
now = time.monotonic

# client states
CONNECTING, JOINED, FAILED, CLOSED = 0, 1, 2, 3


class Client:
    __slots__ = ("idx", "name", "sock", "state", "t_start", "t_conn", "t_join_sent", "t_joined",
                 "hb_pending", "got", "join_ref", "ref", "watch", "greenlet", "closing",
                 "replied")

    def __init__(self, idx: int, name: str) -> None:
        self.idx = idx
        self.name = name
        self.sock = None
        self.state = CONNECTING
        self.t_start = self.t_conn = self.t_join_sent = self.t_joined = 0.0
        self.hb_pending = False
        self.got = None          # marker arrival time of the current broadcast
        self.join_ref = "1"
        self.ref = 1
        self.watch = False
        self.greenlet = None
        self.closing = False
        self.replied = False     # join answered ok, presence_state not yet arrived


class Worker:
    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.proto = cfg["proto"]
        self.host, self.port = cfg["host"], cfg["port"]
        self.sources = cfg["sources"]
        self.topic = cfg["topic"]
        self.hb_interval = float(cfg.get("hb_interval", 30.0))
        self.join_timeout = float(cfg.get("join_timeout", 10.0))
        # "reply": joined at the ok reply; "presence_state": at the
        # presence_state push after it (the moment a user sees the list)
        self.join_until = cfg.get("join_until", "reply")
        self.prefix = cfg.get("prefix", f"lg{cfg['index']}-")
        self.clients: list = []           # every client ever opened (live ones have state JOINED)
        self.live: list = []              # joined and not closed
        self.next_idx = 0
        self.errors: dict = {}
        self.hb_sent = self.hb_ok = self.hb_late = self.pings = 0
        self.closed_unexpected = 0
        self.close_codes: dict = {}
        self.marker = None
        self.arrived = 0
        self.arrival_event = Event()
        self.pending_open = 0
        self.open_done = Event()
        self.join_lat: list = []
        self.conn_lat: list = []
        self.presence_joins: dict = {}    # key -> [count, last arrival]
        self.presence_leaves: dict = {}
        self.signer = None
        if cfg.get("secret"):
            from beamish.channels import sign
            secret, salt = cfg["secret"], cfg.get("salt", "chat user")
            self.signer = lambda name: sign(secret, salt, name)
        if self.proto == "phoenix":
            gevent.spawn(self._heartbeats)

    # ------------------------------------------------------------ errors
    def _err(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    # ------------------------------------------------------------ tokens
    def _token(self, name: str, src: str) -> str:
        if self.signer is not None:
            return self.signer(name)
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        try:
            s.setsockopt(_socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
            s.settimeout(self.join_timeout)
            s.connect((self.host, self.port))
            s.sendall(f"GET /api/token?name={quote(name)} HTTP/1.1\r\nHost: {self.host}\r\n"
                      f"Connection: close\r\n\r\n".encode())
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        finally:
            s.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise WireError(f"token request failed: {head[:40]!r}")
        return json.loads(body)["token"]

    # ------------------------------------------------------------ client
    def _target(self, c: Client, src: str) -> str:
        if self.proto == "phoenix":
            token = self._token(c.name, src)
            return f"{self.cfg.get('path', '/socket/websocket')}?vsn=2.0.0&token={quote(token)}"
        return f"{self.cfg.get('path', '/socket.io/')}?EIO=4&transport=websocket&name={quote(c.name)}"

    def _connect(self, c: Client) -> tuple:
        src = self.sources[c.idx % len(self.sources)]
        c.t_start = now()
        target = self._target(c, src)
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        c.sock = s
        s.setsockopt(_socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        s.bind((src, 0))
        s.connect((self.host, self.port))
        s.sendall(upgrade_request(self.host, self.port, target))
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                raise ConnectionError("closed during the upgrade")
            status, rest = parse_upgrade_response(buf + d)
            if status is not None:
                break
            buf = rest
        if status != 101:
            raise WireError(f"upgrade answered {status}")
        c.t_conn = now()
        return s, FrameReader(rest)

    def _run_client(self, c: Client, watch: bool) -> None:
        c.watch = watch
        reader = None
        try:
            with gevent.Timeout(self.join_timeout, TimeoutError("join timed out")):
                s, reader = self._connect(c)
                if self.proto == "phoenix":
                    c.t_join_sent = now()
                    if self.topic:
                        s.sendall(phx.join(self.topic, c.join_ref))
                    else:                       # connect only: no channel
                        self._joined(c, True)
                for op, payload in reader.feed(b""):
                    self._frame(c, op, payload)
                while c.state == CONNECTING:
                    d = s.recv(65536)
                    if not d:
                        raise ConnectionError("closed before the join reply")
                    for op, payload in reader.feed(d):
                        self._frame(c, op, payload)
        except BaseException as e:  # noqa: BLE001 - every failure is a counted error
            if isinstance(e, gevent.GreenletExit):
                raise
            c.state = FAILED
            self._err(_kind(e))
            self._open_finished()
            if c.sock is not None:
                c.sock.close()
            return
        # joined: read until closed
        try:
            recv = s.recv
            feed = reader.feed
            frame = self._frame
            while True:
                d = recv(65536)
                if not d:
                    break
                for op, payload in feed(d):
                    frame(c, op, payload)
        except (OSError, WireError):
            pass
        if c.state == JOINED:
            c.state = CLOSED
            if not c.closing:
                self.closed_unexpected += 1
                self._err("closed_by_server")
            try:
                self.live.remove(c)
            except ValueError:
                pass
        s.close()

    def _joined(self, c: Client, ok: bool) -> None:
        if ok:
            c.state = JOINED
            c.t_joined = now()
            self.join_lat.append(c.t_joined - c.t_join_sent)
            self.conn_lat.append(c.t_conn - c.t_start)
            self.live.append(c)
        else:
            c.state = FAILED
            self._err("join_refused")
        self._open_finished()

    def _open_finished(self) -> None:
        self.pending_open -= 1
        if self.pending_open <= 0:
            self.open_done.set()

    # ------------------------------------------------------------ frames
    def _frame(self, c: Client, op: int, payload: bytes) -> None:
        if op == OP_TEXT:
            if self.proto == "phoenix":
                self._phx_frame(c, payload)
            else:
                self._sio_frame(c, payload)
        elif op == OP_PING:
            c.sock.sendall(client_frame(payload, OP_PONG))
        elif op == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_codes[code] = self.close_codes.get(code, 0) + 1
            raise WireError(f"server closed with {code}")

    def _arrival(self, c: Client, payload: bytes) -> None:
        m = self.marker
        if m is not None and c.got is None and m in payload:
            c.got = now()
            self.arrived += 1
            if self.arrived >= len(self.live):
                self.arrival_event.set()

    def _phx_frame(self, c: Client, payload: bytes) -> None:
        if payload.startswith(b"[null,null,"):                 # a broadcast
            if c.watch and b'"presence_diff"' in payload[:200]:
                self._presence_diff(payload)
            else:
                self._arrival(c, payload)
        elif payload.startswith(b'[null,"'):                   # heartbeat reply
            c.hb_pending = False
            self.hb_ok += 1
        elif c.state == CONNECTING and payload.startswith(b'["1","1",'):
            ok = b'"status":"ok"' in payload
            if ok and self.join_until == "presence_state":
                c.replied = True
            else:
                self._joined(c, ok)
        elif c.replied and c.state == CONNECTING and b'"presence_state"' in payload[:300]:
            self._joined(c, True)

    def _presence_diff(self, payload: bytes) -> None:
        t = now()
        diff = phx.decode(payload)[4]
        for side, table in (("joins", self.presence_joins), ("leaves", self.presence_leaves)):
            for key in diff.get(side, ()):
                rec = table.get(key)
                if rec is None:
                    table[key] = [1, t]
                else:
                    rec[0] += 1
                    rec[1] = t

    def _sio_frame(self, c: Client, payload: bytes) -> None:
        if payload.startswith(b"42"):                          # an event: broadcast
            self._arrival(c, payload)
        elif payload == b"2":                                  # server ping
            self.pings += 1
            c.sock.sendall(eio.PONG)
        elif c.state == CONNECTING:
            if payload.startswith(b"0{"):                      # engine.io open
                c.sock.sendall(eio.CONNECT)
            elif payload.startswith(b"40"):                    # namespace connected
                c.t_join_sent = now()
                c.sock.sendall(eio.emit("join", self.topic, ack=1))
            elif payload.startswith(b"431"):
                self._joined(c, True)
            elif payload.startswith(b"44"):
                self._joined(c, False)

    # -------------------------------------------------------- heartbeats
    def _heartbeats(self) -> None:
        tick = 0.1
        buckets = max(1, int(round(self.hb_interval / tick)))
        k = 0
        t_next = now()
        ref = 1000
        while True:
            t_next += tick
            gevent.sleep(max(0.0, t_next - now()))
            live = self.live
            for i in range(k, len(live), buckets):
                c = live[i]
                if c.hb_pending:
                    self.hb_late += 1
                ref += 1
                c.hb_pending = True
                try:
                    c.sock.sendall(phx.heartbeat(ref))
                    self.hb_sent += 1
                except OSError:
                    pass
            k = (k + 1) % buckets

    # ---------------------------------------------------------- commands
    def cmd_open(self, n: int, rate: float, watch: bool = False) -> dict:
        """Open ``n`` clients at ``rate`` per second; answer when each has
        joined, failed or timed out."""
        t0 = now()
        self.join_lat, self.conn_lat = [], []
        errors0 = dict(self.errors)
        self.pending_open = n
        self.open_done.clear()
        if n == 0:
            self.open_done.set()
        for j in range(n):
            due = t0 + j / rate if rate > 0 else t0
            wait = due - now()
            if wait > 0:
                gevent.sleep(wait)
            idx = self.next_idx
            self.next_idx += 1
            c = Client(idx, f"{self.prefix}{idx}")
            self.clients.append(c)
            c.greenlet = gevent.spawn(self._run_client, c, watch)
        t_sent = now()
        self.open_done.wait(self.join_timeout + 5)
        t1 = now()
        last = max((c.t_joined for c in self.clients[-n:] if c.state == JOINED), default=t0) \
            if n else t0
        return {"ev": "opened", "asked": n, "joined": len(self.join_lat),
                "elapsed": t1 - t0, "spawn_elapsed": t_sent - t0, "last_join": last - t0,
                "last_join_at": last,
                "join_lat": _r(self.join_lat), "conn_lat": _r(self.conn_lat),
                "errors": _delta(self.errors, errors0), "live": len(self.live)}

    def cmd_close(self, n: int) -> dict:
        """Close the ``n`` most recently joined live clients (all if n < 0)."""
        victims = self.live[-n:] if 0 <= n < len(self.live) else list(self.live)
        for c in victims:
            c.closing = True
            c.state = CLOSED
            try:
                c.sock.close()
            except OSError:
                pass
        gone = set(map(id, victims))
        self.live = [c for c in self.live if id(c) not in gone]
        gevent.sleep(0)
        return {"ev": "closed", "closed": len(victims), "live": len(self.live)}

    def cmd_expect(self, marker: str) -> dict:
        self.marker = marker.encode()
        self.arrived = 0
        self.arrival_event.clear()
        for c in self.live:
            c.got = None
        return {"ev": "expecting", "live": len(self.live)}

    def cmd_post(self, marker: str) -> dict:
        """The first live client posts a message carrying ``marker``."""
        if not self.live:
            return {"ev": "posted", "t0": None, "error": "no live client"}
        c = self.live[0]
        c.ref += 1
        if self.proto == "phoenix":
            frame = phx.push(self.topic, c.join_ref, str(c.ref), "new_msg", {"body": marker})
        else:
            frame = eio.emit("new_msg", {"body": marker})
        t0 = now()
        c.sock.sendall(frame)
        return {"ev": "posted", "t0": t0}

    def cmd_collect(self, timeout: float) -> dict:
        """Arrival times of the current marker, once every live client has it
        (or after ``timeout``)."""
        if self.arrived < len(self.live):
            self.arrival_event.wait(timeout)
        times = [c.got for c in self.live if c.got is not None]
        return {"ev": "arrivals", "times": _r(times, 6), "missing": len(self.live) - len(times),
                "live": len(self.live)}

    def cmd_churn(self, conc: int, duration: float) -> dict:
        """``conc`` greenlets that each join and leave the topic in a loop for
        ``duration`` seconds, with a fresh user name every time."""
        keys: dict = {}
        errors0 = dict(self.errors)
        stop = now() + duration
        cycles = [0]

        def churner(j: int) -> None:
            seq = 0
            while now() < stop:
                seq += 1
                name = f"{self.prefix}ch{j}-{seq}"
                c = Client(10_000_000 + j, name)
                try:
                    with gevent.Timeout(self.join_timeout, TimeoutError("join timed out")):
                        s, reader = self._connect(c)
                        t_join = now()
                        s.sendall(phx.join(self.topic, "1"))
                        ok = left = False
                        while not left:
                            d = s.recv(65536)
                            if not d:
                                raise ConnectionError("closed during churn")
                            for op, payload in reader.feed(d):
                                if op != OP_TEXT:
                                    continue
                                if not ok and payload.startswith(b'["1","1",'):
                                    if b'"status":"ok"' not in payload:
                                        raise WireError("join refused")
                                    ok = True
                                elif ok and b'"presence_state"' in payload[:120]:
                                    t_leave = now()
                                    s.sendall(phx.leave(self.topic, "1", "2"))
                                elif payload.startswith(b'["1","2",'):
                                    left = True
                        keys[name] = (t_join, t_leave)
                        cycles[0] += 1
                except BaseException as e:  # noqa: BLE001
                    if isinstance(e, gevent.GreenletExit):
                        raise
                    self._err("churn_" + _kind(e))
                finally:
                    if c.sock is not None:
                        c.sock.close()
        t0 = now()
        gevent.joinall([gevent.spawn(churner, j) for j in range(conc)])
        return {"ev": "churned", "cycles": cycles[0], "elapsed": now() - t0,
                "keys": {k: [round(a, 6), round(b, 6)] for k, (a, b) in keys.items()},
                "errors": _delta(self.errors, errors0)}

    def cmd_watched(self) -> dict:
        out = {"ev": "watched", "joins": self.presence_joins, "leaves": self.presence_leaves}
        self.presence_joins, self.presence_leaves = {}, {}
        return out

    def cmd_stats(self) -> dict:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"ev": "stats", "live": len(self.live), "opened": len(self.clients),
                "hb_sent": self.hb_sent, "hb_ok": self.hb_ok, "hb_late": self.hb_late,
                "pings": self.pings, "closed_unexpected": self.closed_unexpected,
                "close_codes": self.close_codes, "errors": self.errors,
                "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}


def _kind(e: BaseException) -> str:
    if isinstance(e, TimeoutError) or isinstance(e, gevent.Timeout):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, WireError):
        words = str(e).split()
        return "http_" + words[-1] if str(e).startswith("upgrade answered") else "protocol"
    if isinstance(e, OSError):
        return f"oserror_{e.errno}"
    return type(e).__name__


def _delta(now_: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in now_.items() if v - before.get(k, 0)}


def _r(xs: list, nd: int = 5) -> list:
    return [round(x, nd) for x in xs]


def main() -> None:
    raise_nofile()
    cfg = json.loads(sys.argv[1])
    w = Worker(cfg)
    stdin = FileObject(sys.stdin.fileno(), "rb")
    out = sys.stdout.buffer

    def reply(doc: dict) -> None:
        out.write(json.dumps(doc, separators=(",", ":")).encode() + b"\n")
        out.flush()
    reply({"ev": "ready", "pid": os.getpid()})
    while True:
        line = stdin.readline()
        if not line:
            break
        req = json.loads(line)
        cmd = req.pop("cmd")
        if cmd == "quit":
            reply({"ev": "bye"})
            break
        try:
            reply(getattr(w, "cmd_" + cmd)(**req))
        except Exception as e:  # noqa: BLE001 - report, keep serving
            reply({"ev": "error", "cmd": cmd, "error": repr(e)})
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
