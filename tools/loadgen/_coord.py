"""The coordinator: worker processes, and what their clients measured.

:class:`LoadGen` starts worker processes (:mod:`tools.loadgen._worker`) as
clients are needed, each holding at most ``per_process`` sockets and
binding its own loopback source addresses (worker ``w`` uses
``127.0.0.(first_source + w*k) ...``), and talks to them over pipes: one
JSON command line, one JSON answer line.  Commands that every worker runs
(open, expect, collect) are written to all of them before any answer is
read, so the workers run in parallel.

Every run is bounded: at most ``MAX_CLIENTS`` clients, ``MAX_WORKERS``
processes, loopback destinations only, and every wait has a deadline.
:meth:`LoadGen.close` (also on ``with`` exit) ends every worker it started.
"""
from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from tools.harness import HarnessError, LineProc, percentiles

__all__ = ["LoadGen", "OpenResult", "BroadcastResult", "ChurnResult", "MAX_CLIENTS",
           "MAX_WORKERS", "LoadGenError"]

MAX_CLIENTS = 250_000
MAX_WORKERS = 32


class LoadGenError(HarnessError):
    """A worker died, answered out of turn, or did not answer in time."""


@dataclass
class OpenResult:
    asked: int
    joined: int
    elapsed: float          # s, first connect to last answer
    rate: float             # joined / (first connect -> last join ok): the join rate reached
    join: dict              # phx_join -> ok reply, seconds (percentiles)
    connect: dict           # TCP connect + upgrade, seconds
    errors: dict
    live: int
    last_join_at: Optional[float] = None   # time.monotonic() of the last join (any worker)


@dataclass
class BroadcastResult:
    receivers: int          # live clients when it was posted
    delivered: int
    missing: int
    latency: dict           # seconds from post to arrival: p50, p99, max (= the last client)


@dataclass
class ChurnResult:
    cycles: int
    elapsed: float
    rate: float             # join+leave cycles per second
    join_diff: dict         # seconds from a churner's join to the last watcher seeing it
    leave_diff: dict
    watchers: int
    complete_joins: float   # share of (churner, watcher) join diffs delivered
    complete_leaves: float
    errors: dict = field(default_factory=dict)


def _check_loopback(host: str) -> str:
    addr = socket.gethostbyname(host)
    if not ipaddress.ip_address(addr).is_loopback:
        raise ValueError(f"loadgen only targets loopback addresses; {host} is {addr}")
    return addr


class _Proc(LineProc):
    """One worker process: one JSON command line in, one JSON answer line out."""

    def __init__(self, index: int, cfg: dict, log_dir: str) -> None:
        super().__init__([sys.executable, "-m", "tools.loadgen._worker", json.dumps(cfg)],
                         f"worker{index}", log_dir)
        self.index, self.capacity, self.live = index, cfg["capacity"], 0

    def command(self, cmd: str, **kw) -> None:
        self.send(json.dumps({"cmd": cmd, **kw}))

    def answer(self, timeout: float) -> dict:
        doc = json.loads(self.expect("{", timeout))
        if doc.get("ev") == "error":
            raise LoadGenError(f"worker {self.index}: {doc['cmd']} failed: {doc['error']}")
        return doc


class LoadGen:
    """Websocket clients of one server, spread over worker processes.

    ``proto`` is ``"phoenix"`` (Phoenix V2 JSON channels; ``secret`` signs
    tokens locally, else each client asks ``GET /api/token``) or
    ``"socketio"`` (Engine.IO 4 / Socket.IO 5, joining with an acked
    ``join`` event).  ``topic`` is the channel topic or Socket.IO room.
    ``join_until``: a Phoenix client counts as joined at the join's ok
    reply (``"reply"``) or at the ``presence_state`` push that follows it
    (``"presence_state"``: when a chat user has the online list).
    """

    def __init__(self, host: str, port: int, *, proto: str = "phoenix",
                 topic: str = "room:lobby", per_process: int = 15_000,
                 hb_interval: float = 30.0, join_timeout: float = 10.0,
                 secret: Optional[str] = None, salt: str = "chat user",
                 first_source: int = 2, path: Optional[str] = None,
                 max_clients: int = MAX_CLIENTS, join_until: str = "reply",
                 log=None) -> None:
        if proto not in ("phoenix", "socketio"):
            raise ValueError(f"unknown protocol {proto!r}")
        if join_until not in ("reply", "presence_state"):
            raise ValueError(f"join_until is 'reply' or 'presence_state', not {join_until!r}")
        if not 0 < per_process <= 18_000:
            raise ValueError("per_process must be 1..18000 (20k open files per process)")
        self.host = _check_loopback(host)
        self.port = port
        self.proto, self.topic = proto, topic
        self.per_process = per_process
        self.max_clients = min(max_clients, MAX_CLIENTS)
        self.base_cfg = {"proto": proto, "host": self.host, "port": port, "topic": topic,
                         "hb_interval": hb_interval, "join_timeout": join_timeout,
                         "secret": secret, "salt": salt, "capacity": per_process,
                         "join_until": join_until}
        if path:
            self.base_cfg["path"] = path
        self.first_source = first_source
        self.join_timeout = join_timeout
        self.procs: List[_Proc] = []
        self.log_dir = tempfile.mkdtemp(prefix="loadgen-")
        self.run_id = uuid.uuid4().hex[:6]
        self._log = log or (lambda msg: None)

    # ----------------------------------------------------------- workers
    def _sources(self, w: int) -> list:
        k = max(1, math.ceil(self.per_process / 20_000))
        out = []
        for j in range(k):
            n = self.first_source + w * k + j
            if n >= 1 << 24:
                raise LoadGenError("out of 127.x.y.z source addresses")
            out.append(str(ipaddress.IPv4Address("127.0.0.0") + n))
        return out

    def _add_worker(self) -> _Proc:
        if len(self.procs) >= MAX_WORKERS:
            raise LoadGenError(f"more than {MAX_WORKERS} load processes needed")
        w = len(self.procs)
        cfg = dict(self.base_cfg, index=w, sources=self._sources(w),
                   prefix=f"lg{self.run_id}w{w}-")
        p = _Proc(w, cfg, self.log_dir)
        p.answer(30)  # "ready"
        self.procs.append(p)
        return p

    @property
    def live(self) -> int:
        return sum(p.live for p in self.procs)

    def _ensure(self, total: int, workers: Optional[int]) -> None:
        need = max(workers or 0, math.ceil(total / self.per_process))
        while len(self.procs) < need:
            self._add_worker()

    def _all(self, procs, cmd: str, wait: float, per_proc_kw=None, **kw) -> list:
        for i, p in enumerate(procs):
            p.command(cmd, **(per_proc_kw[i] if per_proc_kw else kw))
        deadline = time.monotonic() + wait
        return [p.answer(max(1.0, deadline - time.monotonic())) for p in procs]

    # ----------------------------------------------------------- actions
    def open(self, n: int, rate: float, *, workers: Optional[int] = None,
             watch: bool = False) -> OpenResult:
        """Open ``n`` more clients, arriving at ``rate`` per second in total,
        each joining the topic; returns once every one has joined, failed
        or timed out."""
        if self.live + n > self.max_clients:
            raise ValueError(f"{self.live + n} clients is over the cap of {self.max_clients}")
        self._ensure(self.live + n, workers)
        procs = self.procs
        free = [max(0, p.capacity - p.live) for p in procs]
        if sum(free) < n:
            raise LoadGenError("not enough room in the load processes")
        # Fill evenly: every worker ends with about the same number of clients.
        shares = [0] * len(procs)
        left = n
        while left:
            order = sorted(range(len(procs)), key=lambda i: procs[i].live + shares[i])
            step = 0
            for i in order:
                if left and shares[i] < free[i]:
                    take = max(1, min(left, free[i] - shares[i], math.ceil(left / len(procs))))
                    shares[i] += take
                    left -= take
                    step += take
            if not step:
                raise LoadGenError("cannot place clients")
        active = [(p, s) for p, s in zip(procs, shares) if s]
        t0 = time.monotonic()
        kws = [{"n": s, "rate": rate * s / n, "watch": watch} for _, s in active]
        outs = self._all([p for p, _ in active], "open", n / max(rate, 1e-9) + self.join_timeout
                         + 60, per_proc_kw=kws)
        elapsed = time.monotonic() - t0
        join, conn, errors = [], [], {}
        spawn = 0.0
        last_at = None
        for (p, _), o in zip(active, outs):
            p.live = o["live"]
            join += o["join_lat"]
            conn += o["conn_lat"]
            spawn = max(spawn, o["last_join"])
            if o["joined"]:
                last_at = max(last_at or 0.0, o["last_join_at"])
            for k, v in o["errors"].items():
                errors[k] = errors.get(k, 0) + v
        joined = len(join)
        return OpenResult(n, joined, elapsed, joined / spawn if spawn > 0 else float(joined),
                          percentiles(join), percentiles(conn), errors, self.live, last_at)

    def close_clients(self, n: int = -1) -> int:
        """Close ``n`` live clients (spread over the workers), all if ``n < 0``."""
        procs = [p for p in self.procs if p.live]
        if not procs:
            return 0
        total = self.live
        want = total if n < 0 else min(n, total)
        kws, left = [], want
        for i, p in enumerate(procs):
            k = left if i == len(procs) - 1 else min(p.live, round(want * p.live / total))
            kws.append({"n": k})
            left -= k
        outs = self._all(procs, "close", 60, per_proc_kw=kws)
        for p, o in zip(procs, outs):
            p.live = o["live"]
        return sum(o["closed"] for o in outs)

    def broadcast(self, timeout: float = 30.0) -> BroadcastResult:
        """One client posts a message; wait until every live client has it
        (or ``timeout``); latencies are from the post to each arrival."""
        marker = f"bcast-{uuid.uuid4().hex[:12]}"
        procs = [p for p in self.procs if p.live]
        outs = self._all(procs, "expect", 30, marker=marker)
        for p, o in zip(procs, outs):
            p.live = o["live"]      # the server may have closed some meanwhile
        receivers = sum(o["live"] for o in outs)
        poster = next((p for p in procs if p.live), None)
        if poster is None:
            raise LoadGenError("no live client left to post the broadcast")
        poster.command("post", marker=marker)
        posted = poster.answer(30)
        if posted.get("t0") is None:
            raise LoadGenError(posted.get("error", "post failed"))
        t0 = posted["t0"]
        outs = self._all(procs, "collect", timeout + 30, timeout=timeout)
        lat = [t - t0 for o in outs for t in o["times"]]
        missing = sum(o["missing"] for o in outs)
        return BroadcastResult(receivers, len(lat), missing, percentiles(lat))

    def churn(self, conc: int, duration: float, watchers: int,
              rate: float = 500.0) -> ChurnResult:
        """Presence storm: ``watchers`` clients stay joined and record every
        ``presence_diff``; ``conc`` churners (on separate workers) join and
        leave in a loop for ``duration`` seconds, each time as a new user."""
        if watchers:
            self.open(watchers, rate, watch=True)
        watch_procs = [p for p in self.procs if p.live]
        churn_proc = self._add_worker()
        out = self._all([churn_proc], "churn", duration + self.join_timeout + 60,
                        conc=conc, duration=duration)[0]
        time.sleep(min(5.0, 1.0 + duration / 10))   # let the last diffs land
        seen = self._all(watch_procs, "watched", 60)
        churn_proc.stop()
        self.procs.remove(churn_proc)
        n_watch = sum(p.live for p in watch_procs)
        keys = out["keys"]
        jl, ll, jc, lc = [], [], 0, 0
        for key, (t_join, t_leave) in keys.items():
            last_j = [s["joins"][key] for s in seen if key in s["joins"]]
            last_l = [s["leaves"][key] for s in seen if key in s["leaves"]]
            jc += sum(c for c, _ in last_j)
            lc += sum(c for c, _ in last_l)
            if last_j:
                jl.append(max(t for _, t in last_j) - t_join)
            if last_l:
                ll.append(max(t for _, t in last_l) - t_leave)
        expect = max(1, len(keys) * n_watch)
        return ChurnResult(out["cycles"], out["elapsed"], out["cycles"] / max(out["elapsed"], 1e-9),
                           percentiles(jl), percentiles(ll), n_watch, jc / expect, lc / expect,
                           out["errors"])

    def stats(self) -> dict:
        """Counters summed over the workers, plus each worker's own."""
        outs = self._all(self.procs, "stats", 60) if self.procs else []
        tot = {"live": 0, "hb_sent": 0, "hb_ok": 0, "hb_late": 0, "pings": 0,
               "closed_unexpected": 0, "cpu": 0.0, "errors": {}, "close_codes": {}}
        for p, o in zip(self.procs, outs):
            p.live = o["live"]
        for o in outs:
            for k in ("live", "hb_sent", "hb_ok", "hb_late", "pings", "closed_unexpected", "cpu"):
                tot[k] += o[k]
            for k, v in o["errors"].items():
                tot["errors"][k] = tot["errors"].get(k, 0) + v
            for k, v in o["close_codes"].items():
                tot["close_codes"][k] = tot["close_codes"].get(k, 0) + v
        tot["workers"] = [{"pid": p.pid, "live": o["live"], "cpu": o["cpu"],
                           "maxrss_kb": o["maxrss_kb"]} for p, o in zip(self.procs, outs)]
        return tot

    def close(self) -> None:
        """End every worker process (their sockets close with them)."""
        for p in self.procs:
            p.stop()
        self.procs = []
        # Keep the workers' stderr only when one of them said something.
        try:
            if all(os.path.getsize(os.path.join(self.log_dir, f)) == 0
                   for f in os.listdir(self.log_dir)):
                for f in os.listdir(self.log_dir):
                    os.unlink(os.path.join(self.log_dir, f))
                os.rmdir(self.log_dir)
        except OSError:
            pass

    def __enter__(self) -> "LoadGen":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def as_dict(result) -> dict:
    return asdict(result)
