"""The scale suite: the 2M-connections talk's scenarios on this machine,
beside python-socketio.

``python -m tools.bench.scale [--quick]`` (or ``python -m tools.bench
scale``) starts the servers itself on free loopback ports and loads them
with :mod:`tools.loadgen`:

1. **held**: N clients join one topic (``room:lobby``) and stay, with
   heartbeats, for a fixed time, at each N of ``--sizes`` (10k, 50k, 100k;
   the same server grows from one size to the next).  Value: server memory
   per client, (server RSS now - RSS before any client) / clients held,
   summed over the server's processes.
2. **broadcast**: at each N, one client posts ``new_msg`` and the time until
   the *last* client has the broadcast is measured (median of
   ``--broadcasts`` tries; p50 and p99 beside it).
3. **rate**: clients arrive at stepped rates (joins/s); each step opens
   ``rate * 3 s`` clients on a fresh topic, then closes them.  Value: the
   highest rate reached with no error, at least 90% of the offered rate, and
   join p99 under 1 s.
4. **presence**: the real ``apps.chat``: watchers sit in ``room:storm``
   while churners join and leave it in a loop, each time as a new user.
   Values: join+leave cycles/s, and the time from a churner's join (leave)
   until the last watcher has the ``presence_diff``.

Scenarios 1 to 3 run ``tools.bench.chat_lobby``: apps.chat without its
after-join presence, as the talk's benchmark removed it (on one topic of n
clients every join of the real chat costs O(n); see that module).  1 and
2 also run against the peer, ``tools.bench.peers.socketio_server``, with
the same clients (Socket.IO 5 over websocket) and the same number of server
processes; ratios are beamish / python-socketio.

A process here may hold at most 20,000 sockets, so a server needs
``ceil(N / 18,000)`` processes: ``beamish run --workers N`` when this
beamish has it, else N nodes sharing the port (SO_REUSEPORT) clustered
through a Redis started for the run; the peer likewise with its
RedisManager.  Load runs in separate processes (``--per-process`` clients
each) on the same two cores, so client CPU is in every number; the
JSON line records it.

Each scenario prints a table and one ``BENCH_JSON`` line; the run ends with
a PNG plot (memory per client and broadcast time against clients).
``--quick`` (1k and 5k clients, short holds, < 1 min) is the smoke run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Optional

import psutil

from tools.harness import HarnessError
from tools.loadgen import LoadGen, LoadGenError, measure

from ._report import (HIGHER, JSON_PREFIX, LOWER, Bench, Suite, System, format_table,
                      json_line, register, summarize)
from ._servers import SECRET, ServerGroup, workers_supported

TARGETS = {"memory": 20_000.0, "broadcast": 1000.0, "rate": 5000.0}
SIZES = (10_000, 50_000, 100_000)
QUICK_SIZES = (1_000, 5_000)
RATES = (500, 1000, 2000, 3000, 5000, 8000)
QUICK_RATES = (250, 1000)
#: A size counts as reached when this share of its clients is held.
REACHED = 0.98
SERVER_FDS = 18_000          # sockets one server process is given (limit: 20,000 files)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

SYSTEMS = {"beamish": System("beamish", floor=False),
           "socketio": System("python-socketio")}


def _cfg(quick: bool, **over) -> dict:
    cfg = dict(
        sizes=QUICK_SIZES if quick else SIZES,
        rates=QUICK_RATES if quick else RATES,
        hold=2.0 if quick else 35.0,
        hb_interval=2.0 if quick else 30.0,
        ramp_rate=1000.0 if quick else 500.0,
        broadcasts=2 if quick else 3,
        per_process=15_000,
        peer=True,
        rate_processes=1 if quick else 2,
        step_seconds=3.0,
        storm_watchers=20 if quick else 200,
        storm_conc=5 if quick else 50,
        storm_seconds=2.0 if quick else 20.0,
        presence_processes=1,
        min_available=3 << 30,
        plot=os.path.join(RESULTS, "scale-quick.png" if quick else "scale.png"),
        profile=None,
        quick=quick,
    )
    cfg.update({k: v for k, v in over.items() if v is not None})
    return cfg


# ---------------------------------------------------------------- benches
def benches(cfg: dict) -> tuple:
    """The rows of a run with ``cfg``.  The registered suite holds the rows of
    both the full and the quick configuration (the sizes differ); tables
    skip the rows a run did not produce."""
    other = _cfg(not cfg["quick"])
    full, quick = (other, cfg) if cfg["quick"] else (cfg, other)

    def pp(make):
        return {"params": make(full), "quick_params": make(quick)}
    out = []
    both = {"beamish": "session", "socketio": "session"}
    sizes = sorted(set(full["sizes"]) | set(quick["sizes"]) | set(cfg["sizes"]))
    def src(n):   # the configuration that runs size n
        return cfg if n in cfg["sizes"] else quick if n in quick["sizes"] else full
    for n in sizes:
        p = {"clients": n, "hold_s": src(n)["hold"], "hb_s": src(n)["hb_interval"]}
        out.append(Bench(f"held_{n}", f"1. memory per held client, {n:,}", "bytes/client", LOWER,
                         both, ref="socketio", params=p, quick_params=p, target=TARGETS["memory"]))
    for n in sizes:
        p = {"clients": n, "tries": src(n)["broadcasts"]}
        out.append(Bench(f"bcast_{n}", f"2. broadcast to the last of {n:,}", "ms", LOWER, both,
                         ref="socketio", params=p, quick_params=p, target=TARGETS["broadcast"]))
    out.append(Bench("rate", "3. join arrival rate sustained", "joins/s", HIGHER,
                     {"beamish": "session"}, ref="beamish", target=TARGETS["rate"],
                     **pp(lambda c: {"rates": "/".join(map(str, c["rates"])),
                                     "step_s": c["step_seconds"],
                                     "processes": c["rate_processes"]})))

    def storm(c):
        return {"watchers": c["storm_watchers"], "churners": c["storm_conc"],
                "seconds": c["storm_seconds"], "processes": c["presence_processes"]}
    out.append(Bench("presence_rate", "4. presence storm: join+leave", "cycles/s", HIGHER,
                     {"beamish": "session"}, ref="beamish", **pp(storm)))
    out.append(Bench("presence_diff", "4. presence_diff to the last watcher", "ms p99", LOWER,
                     {"beamish": "session"}, ref="beamish", **pp(storm)))
    return tuple(out)


def _suite(cfg: dict, keys=None) -> Suite:
    bs = benches(cfg)
    if keys is not None:
        bs = tuple(b for b in bs if b.key in keys)
    return Suite(name="scale", title="held clients, broadcast, join rate, presence storm "
                 "(vs python-socketio)", module="tools.bench.scale", systems=SYSTEMS,
                 benches=bs, measure=_measure_for_runner)


# --------------------------------------------------------------- sessions
def _ms(x: Optional[float]) -> Optional[float]:
    return None if x is None else x * 1000.0


def _profile(pid: int, seconds: float, path: str) -> subprocess.Popen:
    """py-spy sampling one server process for ``seconds`` (collapsed stacks)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    exe = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return subprocess.Popen([exe if os.path.exists(exe) else "py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", "200", "--format", "raw", "--output", path, "--nonblocking", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_of(pids: list) -> float:
    """User + system CPU seconds the live processes among ``pids`` have used."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def held_session(system: str, cfg: dict, log) -> list:
    """Scenarios 1 and 2 for one system: grow one server through the sizes."""
    sizes = list(cfg["sizes"])
    nproc = max(1, math.ceil(max(sizes) / SERVER_FDS))
    kind = "beamish" if system == "beamish" else "socketio"
    proto = "phoenix" if system == "beamish" else "socketio"
    topic = "room:lobby" if system == "beamish" else "lobby"
    records = []
    srv = ServerGroup(kind, nproc, log=log)
    lg = None
    try:
        srv.start()
        pids = srv.pids()
        mem0 = measure(pids)
        log(f"# {system}: {len(pids)} server process(es), {mem0.rss / 2**20:.0f} MiB RSS idle")
        lg = LoadGen("127.0.0.1", srv.port, proto=proto, topic=topic,
                     per_process=cfg["per_process"], hb_interval=cfg["hb_interval"],
                     secret=SECRET, log=log)
        for n in sizes:
            avail = psutil.virtual_memory().available
            if records and records[-1]["mem_per_client"]:
                need = (n - lg.live) * (records[-1]["mem_per_client"] + 40_000)
                if avail - need < cfg["min_available"]:
                    log(f"# {system}: stopping before {n:,}: {avail / 2**30:.1f} GiB available, "
                        f"~{need / 2**30:.1f} GiB needed")
                    break
            cpu0 = lg.stats()["cpu"] if lg.procs else 0.0
            prof = None
            if cfg["profile"]:
                prof = _profile(pids[-1], max(5, (n - lg.live) / cfg["ramp_rate"]),
                                os.path.join(cfg["profile"], f"{system}-join-{n}.txt"))
            opened = lg.open(n - lg.live, cfg["ramp_rate"])
            if prof:
                prof.wait(60)
            log(f"# {system}: {lg.live:,} joined ({opened.joined:,} new in {opened.elapsed:.1f} s, "
                f"join p99 {_ms(opened.join['p99']) or 0:.0f} ms, errors {opened.errors}); "
                f"holding {cfg['hold']:.0f} s")
            time.sleep(cfg["hold"])
            mem = measure(pids)
            st = lg.stats()
            if cfg["profile"]:
                prof = _profile(pids[-1], 4 * cfg["broadcasts"] + 4,
                                os.path.join(cfg["profile"], f"{system}-broadcast-{n}.txt"))
                time.sleep(1)
            bcs = []
            bc_error = None
            cpu_srv0, cpu_cli0 = _cpu_of(pids), lg.stats()["cpu"]
            for _ in range(cfg["broadcasts"]):
                try:
                    bcs.append(lg.broadcast(timeout=60.0))
                except LoadGenError as e:   # every client gone: record the size anyway
                    bc_error = str(e)
                    break
                time.sleep(1.0)
            # CPU the servers and the clients used over the broadcasts (and
            # the pauses between them, when both are idle but for heartbeats)
            cpu_srv, cpu_cli = _cpu_of(pids) - cpu_srv0, lg.stats()["cpu"] - cpu_cli0
            if cfg["profile"]:
                prof.wait(120)
            held = st["live"]
            lasts = [b.latency["max"] for b in bcs if b.latency["max"] is not None]
            rec = {
                "system": system, "clients": n, "held": held, "reached": held >= REACHED * n,
                "server_mode": srv.mode,
                "server_processes": len(pids), "alive": srv.alive(),
                "rss_before": mem0.rss, "rss": mem.rss, "pss": mem.pss,
                "per_process_rss": [p.rss for p in mem.procs],
                "mem_per_client": (mem.rss - mem0.rss) / held if held else None,
                "join": opened.join, "connect": opened.connect, "join_rate": opened.rate,
                "open_errors": opened.errors, "errors": st["errors"],
                "hb_sent": st["hb_sent"], "hb_ok": st["hb_ok"], "hb_late": st["hb_late"],
                "pings": st["pings"], "closed_unexpected": st["closed_unexpected"],
                "broadcasts": [{"receivers": b.receivers, "delivered": b.delivered,
                                "missing": b.missing, "latency": b.latency} for b in bcs],
                "broadcast_last": statistics.median(lasts) if lasts else None,
                "broadcast_p50": statistics.median(b.latency["p50"] for b in bcs
                                                   if b.latency["p50"] is not None) if lasts else None,
                "broadcast_p99": statistics.median(b.latency["p99"] for b in bcs
                                                   if b.latency["p99"] is not None) if lasts else None,
                "broadcast_error": bc_error,
                "broadcast_server_cpu_s": cpu_srv / len(bcs) if bcs else None,
                "broadcast_client_cpu_s": cpu_cli / len(bcs) if bcs else None,
                "client_cpu_s": st["cpu"] - cpu0,
                "client_workers": st["workers"],
            }
            records.append(rec)
            log(f"# {system} @ {n:,}: held {held:,}, {rec['mem_per_client'] or 0:,.0f} B/client, "
                f"RSS {mem.rss / 2**20:,.0f} MiB, broadcast last {_ms(rec['broadcast_last']) or 0:.0f}"
                f" ms (CPU a broadcast: servers {rec['broadcast_server_cpu_s'] or 0:.2f} s, clients "
                f"{rec['broadcast_client_cpu_s'] or 0:.2f} s), hb late {st['hb_late']}, errors {st['errors']}")
            if not rec["reached"] or not srv.alive():
                log(f"# {system}: held only {held:,} of {n:,}; not going further")
                break
    except (HarnessError, LoadGenError, ValueError) as e:
        log(f"# {system}: session failed: {e}")
        records.append({"system": system, "error": str(e)})
    finally:
        if lg is not None:
            lg.close()
        srv.stop()
    return records


def rate_session(cfg: dict, log) -> dict:
    """Scenario 3: stepped arrival rates, each step on a fresh topic."""
    steps = []
    srv = ServerGroup("beamish", cfg["rate_processes"], log=log)
    lg = None
    try:
        srv.start()
        cap = min(60_000, SERVER_FDS * cfg["rate_processes"] - 2_000)
        for i, rate in enumerate(cfg["rates"]):
            m = int(min(cap, max(500 if cfg["quick"] else 1_000, rate * cfg["step_seconds"])))
            lg = LoadGen("127.0.0.1", srv.port, topic=f"room:rate{i}", per_process=cfg["per_process"],
                         hb_interval=30.0, secret=SECRET, log=log)
            cpu0 = 0.0
            opened = lg.open(m, rate)
            st = lg.stats()
            lg.close()
            lg = None
            ok = (not opened.errors and opened.joined == m and opened.rate >= 0.9 * rate
                  and (opened.join["p99"] or 99) < 1.0)
            step = {"offered": rate, "clients": m, "joined": opened.joined, "reached": opened.rate,
                    "join": opened.join, "connect": opened.connect, "errors": opened.errors,
                "client_cpu_s": st["cpu"] - cpu0, "ok": ok}
            steps.append(step)
            log(f"# rate {rate}/s: {opened.joined:,}/{m:,} joined, reached {opened.rate:,.0f}/s, "
                f"join p99 {_ms(opened.join['p99']) or 0:.0f} ms, errors {opened.errors}"
                f"{'' if ok else '  (not sustained)'}")
            time.sleep(2.0)
            if not ok and i > 0 and not steps[-2]["ok"]:
                break
    except (HarnessError, LoadGenError, ValueError) as e:
        log(f"# rate: session failed: {e}")
        return {"steps": steps, "error": str(e), "server_mode": srv.mode}
    finally:
        if lg is not None:
            lg.close()
        srv.stop()
    good = [s for s in steps if s["ok"]]
    best = max(good, key=lambda s: s["reached"]) if good else None
    return {"steps": steps, "best": best, "server_mode": srv.mode}


def presence_session(cfg: dict, log) -> dict:
    """Scenario 4 on the real apps.chat."""
    srv = ServerGroup("beamish", cfg["presence_processes"], app="apps.chat", log=log)
    lg = None
    try:
        srv.start()
        lg = LoadGen("127.0.0.1", srv.port, topic="room:storm", per_process=cfg["per_process"],
                     hb_interval=30.0, secret=SECRET, log=log)
        res = lg.churn(cfg["storm_conc"], cfg["storm_seconds"], cfg["storm_watchers"])
        log(f"# presence: {res.cycles:,} join+leave cycles in {res.elapsed:.1f} s "
            f"({res.rate:,.0f}/s), diffs to {res.watchers} watchers: join p99 "
            f"{_ms(res.join_diff['p99']) or 0:.0f} ms, leave p99 {_ms(res.leave_diff['p99']) or 0:.0f}"
            f" ms, complete {res.complete_joins:.1%}/{res.complete_leaves:.1%}, errors {res.errors}")
        return {"cycles": res.cycles, "elapsed": res.elapsed, "rate": res.rate,
                "join_diff": res.join_diff, "leave_diff": res.leave_diff, "watchers": res.watchers,
                "complete_joins": res.complete_joins, "complete_leaves": res.complete_leaves,
                "errors": res.errors, "server_mode": srv.mode}
    except (HarnessError, LoadGenError, ValueError) as e:
        log(f"# presence: session failed: {e}")
        return {"error": str(e), "server_mode": srv.mode}
    finally:
        if lg is not None:
            lg.close()
        srv.stop()


# ------------------------------------------------------------------ rows
def _out(value, extras=None, error=None) -> list:
    if value is None:
        return [{"error": error or "not measured"}]
    return [{"value": value, "extras": extras or {}, "cpu_share": None}]


def held_rows(cfg: dict, sessions: dict) -> list:
    suite = _suite(cfg)
    rows = []
    for n in cfg["sizes"]:
        mem, bc = {}, {}
        for system, recs in sessions.items():
            rec = next((r for r in recs if r.get("clients") == n), None)
            err = next((r["error"] for r in recs if "error" in r), None) or "size not reached"
            if rec is None:
                mem[system] = bc[system] = _out(None, error=err)
                continue
            if not rec.get("reached", True):
                top = max(rec["errors"].items(), key=lambda kv: kv[1], default=None)
                err = (f"held only {rec['held']:,} of {n:,}"
                       + (f" ({top[0]} x{top[1]:,})" if top else ""))
                mem[system] = bc[system] = _out(None, error=err)
                continue
            mem[system] = _out(rec["mem_per_client"], {
                "clients held": (rec["held"], "clients"),
                "server RSS": (rec["rss"] / 2**20, "MiB")})
            bc[system] = _out(_ms(rec["broadcast_last"]), {
                "p50": (_ms(rec["broadcast_p50"]), "ms"), "p99": (_ms(rec["broadcast_p99"]), "ms")}
                if rec["broadcast_last"] is not None else None, error="no broadcast arrived")
        rows += summarize(suite, suite.bench(f"held_{n}"), mem, cfg["quick"])
        rows += summarize(suite, suite.bench(f"bcast_{n}"), bc, cfg["quick"])
    return rows


def rate_rows(cfg: dict, res: dict) -> list:
    suite = _suite(cfg)
    best = res.get("best")
    out = _out(best["reached"] if best else None,
               {"join p99 there": (_ms(best["join"]["p99"]), "ms")} if best else None,
               error=res.get("error") or "no step sustained")
    return summarize(suite, suite.bench("rate"), {"beamish": out}, cfg["quick"])


def presence_rows(cfg: dict, res: dict) -> list:
    suite = _suite(cfg)
    err = res.get("error")
    rows = summarize(suite, suite.bench("presence_rate"), {"beamish": _out(
        res.get("rate"), {"diffs complete": (100 * res.get("complete_joins", 0), "%")},
        error=err)}, cfg["quick"])
    jd, ld = res.get("join_diff") or {}, res.get("leave_diff") or {}
    rows += summarize(suite, suite.bench("presence_diff"), {"beamish": _out(
        _ms(jd.get("p99")), {"leave diff p99": (_ms(ld.get("p99")), "ms"),
                             "join diff p50": (_ms(jd.get("p50")), "ms")}, error=err)},
        cfg["quick"])
    return rows


# ------------------------------------------------------------------ plot
def plot(cfg: dict, sessions: dict, path: str) -> Optional[str]:
    """Memory per client and broadcast time against clients, one line per system."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"beamish": ("tab:blue", "o"), "socketio": ("tab:orange", "s")}
    for system, all_recs in sessions.items():
        recs = [r for r in all_recs if r.get("mem_per_client") is not None and r.get("reached", True)]
        failed = [r for r in all_recs if r.get("mem_per_client") is not None
                  and not r.get("reached", True)]
        color, marker = styles.get(system, ("gray", "x"))
        label = SYSTEMS[system].label
        for r in failed:   # a size the server could not hold: a cross, not a point of the line
            bl = r["broadcast_last"]
            for ax, y, dy in ((a1, r["mem_per_client"] / 1000, 4),
                              (a2, None if bl is None else bl * 1000, -10)):
                if y is not None:
                    ax.scatter([r["held"]], [y], marker="x", color=color)
                    ax.annotate(f"{r['clients'] // 1000}k tried, {r['held'] / 1000:.1f}k held",
                                (r["held"], y), fontsize=7, color=color, xytext=(4, dy),
                                textcoords="offset points")
        if not recs:
            continue
        xs = [r["held"] for r in recs]
        a1.plot(xs, [r["mem_per_client"] / 1000 for r in recs], marker=marker, color=color,
                label=label)
        bx = [r["held"] for r in recs if r["broadcast_last"] is not None]
        a2.plot(bx, [r["broadcast_last"] * 1000 for r in recs if r["broadcast_last"] is not None],
                marker=marker, color=color, label=f"{label}: last client")
        a2.plot(bx, [r["broadcast_p50"] * 1000 for r in recs if r["broadcast_last"] is not None],
                marker=marker, color=color, linestyle="--", alpha=0.6, label=f"{label}: p50")
    a1.axhline(TARGETS["memory"] / 1000, color="gray", linestyle=":", label="target 20 KB")
    a2.axhline(TARGETS["broadcast"], color="gray", linestyle=":", label="target 1 s")
    a1.set(title="server memory per held client", xlabel="clients on one topic",
           ylabel="KB per client (RSS delta / clients)")
    a2.set(title="one broadcast to every client", xlabel="clients on one topic",
           ylabel="ms after the post")
    for a in (a1, a2):
        a.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{v / 1000:.0f}k" if v else "0"))
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
        a.set_xlim(left=0)
        a.set_ylim(bottom=0)
    fig.suptitle(f"beamish vs python-socketio, {os.cpu_count()} cores, loopback clients on the "
                 f"same machine{' (--quick)' if cfg['quick'] else ''}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- driver
#: scenario -> (the --only / benchmark key prefixes that select it, its key
#: in the scenario's BENCH_JSON line)
SCENARIOS = {"held": (("held", "bcast", "broadcast"), "sessions"),
             "rate": (("rate",), "rate"), "presence": (("presence",), "presence")}


def _wanted(only) -> set:
    if not only:
        return set(SCENARIOS)
    return {s for s, (prefixes, _) in SCENARIOS.items() for k in only if k.startswith(prefixes)}


def _held_sessions(cfg: dict, log) -> dict:
    sessions = {"beamish": held_session("beamish", cfg, log)}
    if cfg["peer"]:
        sessions["socketio"] = held_session("socketio", cfg, log)
    return sessions


_SESSIONS = {"held": _held_sessions, "rate": rate_session, "presence": presence_session}


def _scenario_rows(cfg: dict, scenario: str, result, log) -> tuple:
    """``(rows, benchmark keys, JSON extras)`` of one scenario's result; the
    held scenario also draws the plot."""
    if scenario == "held":
        path = plot(cfg, result, cfg["plot"])
        if path:
            log(f"# plot: {path}")
        keys = [b.key for b in benches(cfg) if b.key.startswith(("held_", "bcast_"))]
        return held_rows(cfg, result), keys, {"sessions": result, "plot": path}
    if scenario == "rate":
        return rate_rows(cfg, result), ["rate"], {"rate": result}
    return presence_rows(cfg, result), ["presence_rate", "presence_diff"], {"presence": result}


def run_scenarios(cfg: dict, wanted: set, log, emit=None) -> tuple:
    """Run the wanted scenarios; ``emit(keys, rows, extra)`` is called
    after each one (the standalone command prints its table and JSON line).
    Returns ``(rows, details)``."""
    rows, details = [], {"config": dict(cfg), "workers_supported": workers_supported()}
    for name in SCENARIOS:
        if name in wanted:
            result = details[name] = _SESSIONS[name](cfg, log)
            r, keys, extra = _scenario_rows(cfg, name, result, log)
            details.update({"plot": extra["plot"]} if "plot" in extra else {})
            rows += r
            if emit:
                emit(keys, r, dict(extra, config=_jsonable(cfg)))
    return rows, details


def replay(cfg: dict, paths: list, emit, log) -> int:
    """Tables and plot from the ``BENCH_JSON`` lines in ``paths`` (the last
    line of each scenario wins)."""
    docs = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.startswith(JSON_PREFIX):
                    doc = json.loads(line[len(JSON_PREFIX):])
                    docs.update({s: doc for s, (_, key) in SCENARIOS.items() if key in doc})
    for name, (_, key) in SCENARIOS.items():
        if name not in docs:
            continue
        result, c = docs[name][key], dict(cfg)
        if name == "held":
            for recs in result.values():
                for r in recs:
                    if "clients" in r:
                        r.setdefault("reached", r["held"] >= REACHED * r["clients"])
            c.update({k: v for k, v in docs[name].get("config", {}).items() if k in cfg})
            c.update(sizes=tuple(sorted({r["clients"] for recs in result.values() for r in recs
                                         if "clients" in r})),
                     quick=docs[name].get("quick", False), plot=cfg["plot"])
        elif name == "rate":
            c["rates"] = tuple(st["offered"] for st in result["steps"])
        r, keys, extra = _scenario_rows(c, name, result, log)
        emit(keys, r, dict(extra, config=_jsonable(c)))
    return 0


def _jsonable(cfg: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def _measure_for_runner(quick: bool, runs: int, only, log) -> tuple:
    """The framework's hook (``python -m tools.bench scale``): one session per
    system, whatever ``runs`` says (a 100k-client setup is not repeated)."""
    cfg = _cfg(quick)
    rows, details = run_scenarios(cfg, _wanted(only), log)
    log(f"# scale details: {json.dumps(details, default=str)[:2000]}")
    return rows, []


SUITE = register(_suite(_cfg(False)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.bench.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1k and 5k clients, short holds (< 1 min)")
    ap.add_argument("--only", help="comma-separated scenarios: held, rate, presence")
    ap.add_argument("--sizes", help="client counts for scenarios 1-2, e.g. 10000,50000,100000")
    ap.add_argument("--rates", help="offered join rates for scenario 3, e.g. 1000,2000,5000")
    ap.add_argument("--hold", type=float, help="seconds to hold each size")
    ap.add_argument("--hb-interval", type=float, help="client heartbeat period (s)")
    ap.add_argument("--ramp-rate", type=float, help="joins/s while growing to each size")
    ap.add_argument("--broadcasts", type=int, help="broadcasts per size (median reported)")
    ap.add_argument("--no-peer", action="store_true", help="skip python-socketio")
    ap.add_argument("--storm-processes", type=int,
                    help="server processes for the presence storm (default 1; with more, a "
                         "presence that joins and leaves within one presence broadcast period "
                         "never shows on the other nodes, by the CRDT's design)")
    ap.add_argument("--plot", help="PNG path (default tools/bench/results/scale[-quick].png)")
    ap.add_argument("--profile", metavar="DIR",
                    help="py-spy (collapsed stacks) one server process while it grows to each "
                         "size and while it broadcasts")
    ap.add_argument("--from-json", nargs="+", metavar="FILE",
                    help="no load: print the tables and draw the plot again from the "
                         "BENCH_JSON lines of earlier runs' output")
    args = ap.parse_args(argv)
    def ints(s):
        return tuple(int(x) for x in s.split(","))
    cfg = _cfg(args.quick, sizes=ints(args.sizes) if args.sizes else None,
               rates=ints(args.rates) if args.rates else None, hold=args.hold,
               hb_interval=args.hb_interval, ramp_rate=args.ramp_rate,
               broadcasts=args.broadcasts, plot=args.plot, profile=args.profile,
               presence_processes=args.storm_processes)
    if args.no_peer:
        cfg["peer"] = False
    if max(cfg["sizes"]) > 250_000:
        ap.error("at most 250,000 clients")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)
    all_rows = []

    def emit(keys, rows, extra) -> None:
        all_rows.extend(rows)
        print(format_table(_suite(cfg, set(keys)), rows, [], cfg["quick"], 1), flush=True)
        print(json_line({"schema": 1, "suite": "scale", "scenario": keys[0].split("_")[0],
                         "quick": cfg["quick"], "results": rows, **extra}), flush=True)
        print(flush=True)
    if args.from_json:
        return replay(cfg, args.from_json, emit, log)
    t0 = time.monotonic()
    log(f"# scale: sizes {cfg['sizes']}, beamish --workers "
        f"{'supported' if workers_supported() else 'not available: Redis-clustered processes'}")
    run_scenarios(cfg, _wanted(args.only.split(",") if args.only else None), log, emit)
    log(f"# scale: {time.monotonic() - t0:.0f} s")
    bad = [r for r in all_rows if r.get("error")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
