"""The room suite: one room of the real chat at conference-lobby size.

``python -m tools.bench.room [--quick] [--clients N] [--nodes-clients N]
[--only BEHAVIOUR] [--chat-arg ARG ...]`` (or ``python -m tools.bench
room``) runs the real ``apps.chat`` as
``beamish run apps.chat`` OS processes and loads it with
:mod:`tools.loadgen` clients on loopback: each client asks ``/api/token``
for a token, connects, joins ``room:<name>`` and counts as joined when the
``presence_state`` push (the online list) arrives after the join's reply.
Clients arrive at ``--rate`` (500) joins/s, all into one room.

1. **one node**, twice in the same run: with Presence's coalesced diffs
   (the default window) and with ``--presence-diff-window 0`` (one
   ``presence_diff`` per change, Phoenix's behaviour), so the gain is a
   ratio.  Values: clients joined of N; join p50/p99 (join sent ->
   ``presence_state`` received); the time from the last client's join
   until a watcher's online list is complete; server memory per client
   (RSS growth over the joined clients: socket, channel and presence).
2. **three nodes** over a real redis-server, the clients spread evenly
   over them, one watcher per node: the time from the last join until
   all three watchers' lists hold everyone (the CRDT replicates by
   heartbeat every period, so the target is two periods).

A watcher is a client in this process (one thread each) that keeps the
online list as the official client's ``Presence.syncState``/``syncDiff``
do: ``presence_state`` replaces it, a diff's leaves remove metas by
``phx_ref`` (a key goes when it has none left) and its joins add them;
diffs that come before the state wait for it.

``--quick`` runs 1,000 clients (300 on three nodes); the table and one
``BENCH_JSON`` line are printed either way.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional
from urllib.parse import quote

from tools.harness import BEAMISH, ROOT, HarnessError, RedisServer, free_port, raise_nofile
from tools.harness.wire import (OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameReader, WireError,
                                client_frame, parse_upgrade_response, phx, upgrade_request)
from tools.loadgen import LoadGen, measure, server_tree

from ._report import (HIGHER, LOWER, Bench, Suite, System, format_table, json_line, register,
                      summarize)

PERIOD = 1.5                 # the chat's presence heartbeat period (its default)
TARGETS = {"join_p99": 1000.0, "complete": 250.0, "agree": 2 * PERIOD * 1000.0}
SECRET = "room-benchmark-secret-0123456789abcdef"
#: behaviour key -> the chat's --presence-diff-window (None: Presence's default)
WINDOWS = {"coalesced": None, "phoenix": 0.0}
SYSTEMS = {"coalesced": System("beamish, coalesced diffs (default window)", floor=False),
           "phoenix": System("beamish, one diff per change (Phoenix)")}


class RoomBenchError(HarnessError):
    """A chat node did not start, or a watcher could not join."""


def _cfg(quick: bool, **over) -> dict:
    cfg = dict(clients=1_000 if quick else 10_000, nodes_clients=300 if quick else 3_000,
               rate=500.0, per_process=6_000, join_timeout=10.0, settle=10.0,
               room="room:bench", quick=quick, chat_args=(), only=None)
    cfg.update({k: v for k, v in over.items() if v is not None})
    return cfg


# ----------------------------------------------------------------- watcher
class Watcher(threading.Thread):
    """One chat user in the room who keeps the online list, as the
    official client does, and records ``(time.monotonic(), size)`` at
    every change (CLOCK_MONOTONIC is shared with the load processes)."""

    def __init__(self, port: int, topic: str, name: str) -> None:
        super().__init__(daemon=True, name=f"watcher {name}")
        self.port, self.topic, self.name = port, topic, name
        self.state: Optional[dict] = None        # key -> set of phx_refs
        self.pending: list = []                  # diffs before the state
        self.history: list = []                  # (t, size)
        self.diffs = 0                           # presence_diff messages received
        self.error: Optional[str] = None
        self.sock: Optional[socket.socket] = None
        self._halt = threading.Event()

    def _token(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", f"/api/token?name={quote(self.name)}")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RoomBenchError(f"watcher token: HTTP {resp.status} {body[:80]!r}")
        return json.loads(body)["token"]

    def run(self) -> None:
        try:
            self._run()
        except (OSError, WireError, RoomBenchError, ValueError) as e:
            if not self._halt.is_set():
                self.error = f"{type(e).__name__}: {e}"

    def _run(self) -> None:
        target = f"/socket/websocket?vsn=2.0.0&token={quote(self._token())}"
        s = self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(upgrade_request("127.0.0.1", self.port, target))
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                raise RoomBenchError("watcher: closed during the upgrade")
            status, rest = parse_upgrade_response(buf + d)
            if status is not None:
                break
            buf = rest
        if status != 101:
            raise RoomBenchError(f"watcher: upgrade answered {status}")
        reader = FrameReader(rest)
        s.sendall(phx.join(self.topic, "1"))
        s.settimeout(1.0)
        next_hb, ref = time.monotonic() + 20.0, 0
        data = b""
        while not self._halt.is_set():
            for op, payload in reader.feed(data):
                if op == OP_TEXT:
                    self._message(phx.decode(payload))
                elif op == OP_PING:
                    s.sendall(client_frame(payload, OP_PONG))
                elif op == OP_CLOSE:
                    raise RoomBenchError("watcher: the server closed the socket")
            if time.monotonic() >= next_hb:
                ref += 1
                s.sendall(phx.heartbeat(ref))
                next_hb += 20.0
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                data = b""
                continue
            if not data:
                raise RoomBenchError("watcher: connection closed")

    def _message(self, msg: list) -> None:
        _join_ref, _ref, _topic, event, payload = msg[:5]
        if event == "phx_reply" and payload.get("status") != "ok":
            raise RoomBenchError(f"watcher: join refused: {payload}")
        if event == "presence_state":
            self.state = {k: {m["phx_ref"] for m in v["metas"]} for k, v in payload.items()}
            for diff in self.pending:
                self._apply(diff)
            self.pending = []
            self.history.append((time.monotonic(), len(self.state)))
        elif event == "presence_diff":
            self.diffs += 1
            if self.state is None:
                self.pending.append(payload)
                return
            self._apply(payload)
            self.history.append((time.monotonic(), len(self.state)))

    def _apply(self, diff: dict) -> None:
        state = self.state
        for key, v in diff.get("leaves", {}).items():
            refs = state.get(key)
            if refs is not None:
                refs.difference_update(m["phx_ref"] for m in v["metas"])
                if not refs:
                    del state[key]
        for key, v in diff.get("joins", {}).items():
            state.setdefault(key, set()).update(m["phx_ref"] for m in v["metas"])

    @property
    def size(self) -> int:
        return self.history[-1][1] if self.history else 0

    def settled_at(self, n: int) -> Optional[float]:
        """When the list last became ``n`` users long and stayed so (None
        if it is not ``n`` long now).  Clients whose join timed out may be
        on the list for a while before their leave: the list is complete
        when it holds exactly the joined ones."""
        t = None
        for ti, k in reversed(self.history):
            if k != n:
                break
            t = ti
        return t

    def wait(self, cond, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            if self.error:
                raise RoomBenchError(self.error)
            time.sleep(0.02)
        return cond()

    def close(self) -> None:
        self._halt.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        self.join(5)


# ------------------------------------------------------------------- nodes
class ChatNodes:
    """``beamish run apps.chat`` processes, each on its own loopback port;
    more than one share a redis-server started for them."""

    def __init__(self, n: int, window: Optional[float], log, args: tuple = ()) -> None:
        self.n, self.window, self._log, self.args = n, window, log, list(args)
        self.ports = [free_port() for _ in range(n)]
        self.procs: list = []
        self.redis: Optional[RedisServer] = None
        self.log_dir = tempfile.mkdtemp(prefix="room-bench-")
        self.tag = os.urandom(3).hex()       # node names unique to this run

    def start(self, timeout: float = 60.0) -> "ChatNodes":
        extra = [] if self.window is None else ["--presence-diff-window", str(self.window)]
        extra += self.args
        if self.n > 1:
            self.redis = RedisServer(["--client-output-buffer-limit", "pubsub 0 0 0"],
                                     dir=self.log_dir).start(20)
            extra += ["--cluster", self.redis.url]
        for i, port in enumerate(self.ports):
            path = os.path.join(self.log_dir, f"chat{i}.log")
            with open(path, "wb") as f:
                self.procs.append(subprocess.Popen(
                    BEAMISH + ["--log-level", "WARNING", "--name", f"room{self.tag}n{i}@127.0.0.1",
                               "apps.chat", "--port", str(port), "--secret", SECRET,
                               "--max-rooms", "10", *extra],
                    cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=raise_nofile))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RoomBenchError(f"chat node exited with {dead[0].returncode}: {self.tail()}")
            if all(b"running at" in self._read(i) for i in range(self.n)):
                return self
            time.sleep(0.1)
        raise RoomBenchError(f"chat nodes not ready after {timeout:.0f} s: {self.tail()}")

    def _read(self, i: int) -> bytes:
        with open(os.path.join(self.log_dir, f"chat{i}.log"), "rb") as f:
            return f.read()

    def tail(self) -> str:
        return " | ".join(self._read(i).decode(errors="replace").strip()[-300:]
                          for i in range(len(self.procs)))

    def pids(self) -> list:
        return server_tree([p.pid for p in self.procs])

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
                p.wait(5)
        if self.redis is not None:
            self.redis.close()
        self.procs, self.redis = [], None


# ---------------------------------------------------------------- sessions
def _ms(x: Optional[float]) -> Optional[float]:
    return None if x is None else x * 1000.0


def _profile(pid: int, seconds: float, cfg: dict, behaviour: str):
    """With ``--profile DIR``: py-spy samples the node while clients join
    (``DIR/room-BEHAVIOUR.txt``, collapsed stacks)."""
    if not cfg.get("profile"):
        return None
    os.makedirs(cfg["profile"], exist_ok=True)
    exe = os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(exe):
        raise RoomBenchError("--profile needs py-spy: pip install -e '.[bench]'")
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--duration", str(int(seconds) + 1),
                             "--rate", "100", "--format", "raw", "--nonblocking", "--output",
                             os.path.join(cfg["profile"], f"room-{behaviour}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_node(behaviour: str, cfg: dict, log) -> dict:
    """Scenario 1 with one behaviour: N clients into one room of one node."""
    n = cfg["clients"]
    nodes = ChatNodes(1, WINDOWS[behaviour], log, cfg["chat_args"])
    watcher, lg = None, None
    try:
        nodes.start()
        port = nodes.ports[0]
        watcher = Watcher(port, cfg["room"], "watcher-0")
        watcher.start()
        if not watcher.wait(lambda: watcher.size >= 1, 15):
            raise RoomBenchError("the watcher never got its presence_state")
        time.sleep(1.0)
        pids = nodes.pids()
        mem0 = measure(pids, pss=False)
        lg = LoadGen("127.0.0.1", port, topic=cfg["room"], per_process=cfg["per_process"],
                     join_timeout=cfg["join_timeout"], join_until="presence_state", log=log)
        prof = _profile(pids[0], n / cfg["rate"] + 2, cfg, behaviour)
        opened = lg.open(n, cfg["rate"])
        if prof is not None:
            prof.wait(60)
        expected = opened.joined + 1
        watcher.wait(lambda: watcher.size == expected, cfg["settle"])
        t_full = watcher.settled_at(expected)
        complete = (None if t_full is None or opened.last_join_at is None
                    else max(0.0, t_full - opened.last_join_at))
        time.sleep(1.0)
        mem = measure(pids, pss=False)
        rec = {"behaviour": behaviour, "window": WINDOWS[behaviour], "clients": n,
               "joined": opened.joined, "join": opened.join, "connect": opened.connect,
               "join_rate": opened.rate, "errors": opened.errors, "watcher_size": watcher.size,
               "expected": expected, "complete_s": complete, "watcher_diffs": watcher.diffs,
               "rss_before": mem0.rss, "rss": mem.rss,
               "mem_per_client": (mem.rss - mem0.rss) / opened.joined if opened.joined else None}
        log(f"# room {behaviour}: joined {opened.joined:,}/{n:,}, join p50 "
            f"{_ms(opened.join['p50']) or 0:.0f} ms p99 {_ms(opened.join['p99']) or 0:.0f} ms, "
            f"watcher {watcher.size:,}/{expected:,}, complete after "
            f"{'-' if complete is None else f'{complete * 1000:.0f} ms'}, "
            f"{rec['mem_per_client'] or 0:,.0f} B/client, errors {opened.errors}")
        return rec
    except (HarnessError, ValueError) as e:
        log(f"# room {behaviour}: failed: {e}")
        return {"behaviour": behaviour, "error": str(e)}
    finally:
        try:
            if lg is not None:
                lg.close()
            if watcher is not None:
                watcher.close()
        finally:
            nodes.stop()


def three_nodes(cfg: dict, log) -> dict:
    """Scenario 2: the room on three nodes over Redis, the coalesced default."""
    n = cfg["nodes_clients"]
    nodes = ChatNodes(3, None, log, cfg["chat_args"])
    watchers, lgs = [], []
    try:
        nodes.start()
        for i, port in enumerate(nodes.ports):
            w = Watcher(port, cfg["room"], f"watcher-{i}")
            w.start()
            watchers.append(w)
        for w in watchers:   # each sees the three watchers: the cluster is formed
            if not w.wait(lambda w=w: w.size >= len(watchers), 30):
                raise RoomBenchError(f"{w.name} sees {w.size} of {len(watchers)} watchers")
        lgs = [LoadGen("127.0.0.1", port, topic=cfg["room"], per_process=cfg["per_process"],
                       join_timeout=cfg["join_timeout"], join_until="presence_state",
                       first_source=2 + 20 * i, log=log)
               for i, port in enumerate(nodes.ports)]
        shares = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]
        results: list = [None] * 3

        def run(i: int) -> None:
            try:
                results[i] = lgs[i].open(shares[i], cfg["rate"] / 3)
            except (HarnessError, ValueError) as e:
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(n / cfg["rate"] + cfg["join_timeout"] + 120)
        bad = [r for r in results if not hasattr(r, "joined")]
        if bad:
            raise RoomBenchError(f"a load run failed: {bad[0]}")
        joined = sum(r.joined for r in results)
        expected = joined + len(watchers)
        last = max((r.last_join_at for r in results if r.last_join_at is not None), default=None)
        for w in watchers:
            w.wait(lambda w=w: w.size == expected, cfg["settle"] + 2 * PERIOD)
        firsts = [w.settled_at(expected) for w in watchers]
        agree = (None if last is None or None in firsts else max(0.0, max(firsts) - last))
        same = len({frozenset(w.state or ()) for w in watchers}) == 1
        lat = [x for r in results for x in [r.join.get("p99")] if x is not None]
        rec = {"clients": n, "joined": joined, "expected": expected,
               "sizes": [w.size for w in watchers], "identical": same, "agree_s": agree,
               "join_p99_max": max(lat) if lat else None,
               "errors": [r.errors for r in results]}
        log(f"# room 3 nodes: joined {joined:,}/{n:,}, lists {rec['sizes']} of {expected:,}, "
            f"identical {same}, all agree "
            f"{'-' if agree is None else f'{agree * 1000:.0f} ms'} after the last join")
        return rec
    except (HarnessError, ValueError) as e:
        log(f"# room 3 nodes: failed: {e}")
        return {"error": str(e)}
    finally:
        try:
            for lg in lgs:
                lg.close()
            for w in watchers:
                w.close()
        finally:
            nodes.stop()


# -------------------------------------------------------------------- rows
def benches(cfg: dict) -> tuple:
    p1 = {"clients": cfg["clients"], "rate": cfg["rate"]}
    p3 = {"clients": cfg["nodes_clients"], "rate": cfg["rate"], "nodes": 3}
    both = {"coalesced": "session", "phoenix": "session"}
    return (
        Bench("joined", "clients joined into one room, one node", "clients", HIGHER, both,
              ref="phoenix", params=p1, quick_params=p1, target=float(cfg["clients"])),
        Bench("join_p99", "join -> presence_state, p99", "ms", LOWER, both, ref="phoenix",
              params=p1, quick_params=p1, target=TARGETS["join_p99"]),
        Bench("complete", "a watcher's list complete after the last join", "ms", LOWER, both,
              ref="phoenix", params=p1, quick_params=p1, target=TARGETS["complete"]),
        Bench("memory", "server memory per client (socket+channel+presence)", "bytes", LOWER,
              both, ref="phoenix", params=p1, quick_params=p1),
        Bench("agree", "3 nodes over Redis: every list complete after the last join", "ms",
              LOWER, {"coalesced": "session"}, ref="coalesced", params=p3, quick_params=p3,
              target=TARGETS["agree"]),
    )


def _suite(cfg: dict) -> Suite:
    return Suite(name="room", title="one room of the real chat: presence at room scale",
                 module="tools.bench.room", systems=SYSTEMS, benches=benches(cfg),
                 measure=_measure_for_runner)


def _out(value, extras=None, error=None) -> list:
    if value is None:
        return [{"error": error or "not measured"}]
    return [{"value": value, "extras": extras or {}, "cpu_share": None}]


def rows(cfg: dict, one: dict, three: Optional[dict]) -> list:
    suite = _suite(cfg)
    out = []
    get = {
        "joined": lambda r: (r["joined"], {"errors": (sum(r["errors"].values()), "joins")}),
        "join_p99": lambda r: (_ms(r["join"]["p99"]), {"p50": (_ms(r["join"]["p50"]), "ms")}),
        "complete": lambda r: (_ms(r["complete_s"]), {"list size": (r["watcher_size"], "users")}),
        "memory": lambda r: (r["mem_per_client"], {"server RSS": (r["rss"] / 2**20, "MiB")}),
    }
    for key, fn in get.items():
        outs = {}
        for behaviour, rec in one.items():
            if "error" in rec:
                outs[behaviour] = _out(None, error=rec["error"])
                continue
            value, extras = fn(rec)
            err = (f"list held {rec['watcher_size']:,} of {rec['expected']:,} after "
                   f"{cfg['settle']:.0f} s" if key == "complete" else None)
            outs[behaviour] = _out(value, extras, error=err)
        out += summarize(suite, suite.bench(key), outs, cfg["quick"])
    if three is not None:
        err = three.get("error") or (f"lists {three.get('sizes')} of {three.get('expected')}"
                                     if three.get("agree_s") is None else None)
        out += summarize(suite, suite.bench("agree"), {"coalesced": _out(
            _ms(three.get("agree_s")),
            {"periods": (three["agree_s"] / PERIOD, "periods"),
             "clients joined": (three["joined"], "clients")} if not err else None,
            error=err)}, cfg["quick"])
    return out


def run_all(cfg: dict, log, three: bool = True) -> tuple:
    one = {b: one_node(b, cfg, log) for b in WINDOWS if cfg["only"] in (None, b)}
    res3 = three_nodes(cfg, log) if three else None
    return rows(cfg, one, res3), {"one_node": one, "three_nodes": res3,
                                  "config": dict(cfg), "loadavg": os.getloadavg()}


def _measure_for_runner(quick: bool, runs: int, only, log) -> tuple:
    """The framework's hook: one session per behaviour, whatever ``runs``."""
    cfg = _cfg(quick)
    out, details = run_all(cfg, log, three=not only or "agree" in only)
    log(f"# room details: {json.dumps(details, default=str)[:3000]}")
    return out, []


SUITE = register(_suite(_cfg(False)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench.room",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 clients (300 on three nodes)")
    ap.add_argument("--clients", type=int, help="clients into the room on one node")
    ap.add_argument("--nodes-clients", type=int, help="clients into the room on three nodes")
    ap.add_argument("--rate", type=float, help="joins/s offered (default 500)")
    ap.add_argument("--no-three", action="store_true", help="skip the three-node run")
    ap.add_argument("--only", choices=sorted(WINDOWS),
                    help="run one behaviour on one node (default: both)")
    ap.add_argument("--chat-arg", action="append", default=[], metavar="ARG",
                    help="pass ARG to every chat node (repeat it: --chat-arg=--presence-diff-rate "
                         "--chat-arg=20000), to try a Presence setting")
    ap.add_argument("--profile", metavar="DIR",
                    help="py-spy the one-node runs while clients join (collapsed stacks)")
    args = ap.parse_args(argv)
    cfg = _cfg(args.quick, clients=args.clients, nodes_clients=args.nodes_clients,
               rate=args.rate, profile=args.profile, chat_args=tuple(args.chat_arg),
               only=args.only)
    for key in ("clients", "nodes_clients"):
        if not 1 <= cfg[key] <= 50_000:
            ap.error(f"--{key.replace('_', '-')} must be 1..50,000")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)
    load0 = os.getloadavg()
    t0 = time.monotonic()
    out, details = run_all(cfg, log, three=not args.no_three)
    print(format_table(_suite(cfg), out, [], cfg["quick"], 1))
    print(f"\n({time.monotonic() - t0:.0f} s; load average {load0[0]:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end, {os.cpu_count()} cpus)")
    print(json_line({"schema": 1, "suite": "room", "quick": cfg["quick"], "results": out,
                     "details": details}), flush=True)
    return 1 if any(r.get("error") for r in out) else 0


if __name__ == "__main__":
    sys.exit(main())
