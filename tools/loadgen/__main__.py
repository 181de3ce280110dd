"""``python -m tools.loadgen``: hold N channel clients on a running server.

Opens ``--clients`` websocket clients at ``--rate`` joins/s, all joining
``--topic``, keeps them (with heartbeats) for ``--duration`` seconds,
triggers ``--broadcasts`` broadcasts spread over that time (a client posts
``new_msg``; the time until the last client has it is measured), then
prints a table and one ``LOADGEN_JSON {...}`` line and closes everything.

Example, against ``beamish run apps.chat --port 4000``::

    python -m tools.loadgen --port 4000 --clients 10000 --rate 2000 --duration 60

Bounded: at most 250,000 clients, 3,600 s of holding, loopback only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from tools.harness import HarnessError

from ._coord import MAX_CLIENTS, LoadGen, as_dict
from ._server import find_server_pids, measure, server_tree

MAX_DURATION = 3600.0


def _ms(d: dict, k: str) -> str:
    v = d.get(k)
    return "-" if v is None else f"{v * 1000:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.loadgen", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="server address (loopback only)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--proto", choices=("phoenix", "socketio"), default="phoenix",
                    help="Phoenix V2 channels (beamish) or Socket.IO 5 over Engine.IO 4")
    ap.add_argument("--topic", default=None,
                    help="topic to join (default room:lobby; the room name for socketio)")
    ap.add_argument("--clients", type=int, default=1000, help=f"clients to hold (max {MAX_CLIENTS:,})")
    ap.add_argument("--rate", type=float, default=1000.0, help="joins per second while opening")
    ap.add_argument("--duration", type=float, default=30.0,
                    help=f"seconds to hold the clients (max {MAX_DURATION:.0f})")
    ap.add_argument("--broadcasts", type=int, default=1, help="broadcasts during the hold")
    ap.add_argument("--hb-interval", type=float, default=30.0, help="Phoenix heartbeat period (s)")
    ap.add_argument("--per-process", type=int, default=15_000,
                    help="clients per load process (<= 18000)")
    ap.add_argument("--secret", default=None,
                    help="the server's token secret: sign tokens here instead of one "
                         "GET /api/token per client")
    ap.add_argument("--server-pid", type=int, action="append", default=[],
                    help="server process to measure (repeatable; default: found by --port)")
    ap.add_argument("--join-timeout", type=float, default=10.0)
    ap.add_argument("--no-join", action="store_true",
                    help="connect only (no channel): separates the cost of a connection "
                         "from the cost of a joined channel")
    ap.add_argument("--first-source", type=int, default=2,
                    help="first source address 127.0.0.N (each process binds its own)")
    args = ap.parse_args(argv)
    if not 0 < args.clients <= MAX_CLIENTS:
        ap.error(f"--clients must be 1..{MAX_CLIENTS}")
    if not 0 <= args.duration <= MAX_DURATION:
        ap.error(f"--duration must be 0..{MAX_DURATION:.0f}")
    topic = args.topic or ("room:lobby" if args.proto == "phoenix" else "lobby")
    if args.no_join:
        if args.proto != "phoenix":
            ap.error("--no-join is for --proto phoenix")
        topic = ""
    pids = server_tree(args.server_pid) if args.server_pid else find_server_pids(args.port)
    mem0 = measure(pids)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)
    log(f"# server pids {pids}: {mem0.rss / 2**20:.1f} MiB RSS before")
    report: dict = {"clients": args.clients, "rate": args.rate, "proto": args.proto,
                    "topic": topic, "server_pids": pids, "mem_before": mem0.as_dict()}
    lg = LoadGen(args.host, args.port, proto=args.proto, topic=topic,
                 per_process=args.per_process, hb_interval=args.hb_interval,
                 join_timeout=args.join_timeout, secret=args.secret,
                 first_source=args.first_source)
    rc = 0
    try:
        opened = lg.open(args.clients, args.rate)
        log(f"# joined {opened.joined:,}/{args.clients:,} in {opened.elapsed:.1f} s, "
            f"errors {opened.errors}")
        report["open"] = as_dict(opened)
        bcasts = []
        t_end = time.monotonic() + args.duration
        n = 0 if args.no_join else max(0, args.broadcasts)
        for i in range(n):
            wait = args.duration * (i + 1) / (n + 1) - (args.duration - (t_end - time.monotonic()))
            if wait > 0:
                time.sleep(wait)
            b = lg.broadcast(timeout=30.0)
            log(f"# broadcast {i + 1}: {b.delivered:,}/{b.receivers:,}, last after "
                f"{_ms(b.latency, 'max')} ms")
            bcasts.append(as_dict(b))
        left = t_end - time.monotonic()
        if left > 0:
            time.sleep(left)
        mem1 = measure(pids)
        stats = lg.stats()
        report.update(broadcasts=bcasts, mem_after=mem1.as_dict(), stats=stats,
                      mem_per_client=(mem1.rss - mem0.rss) / max(1, stats["live"]))
        rows = [("clients held", f"{stats['live']:,} / {args.clients:,}"),
                ("join latency p50 / p99 / max (ms)",
                 f"{_ms(opened.join, 'p50')} / {_ms(opened.join, 'p99')} / {_ms(opened.join, 'max')}"),
                ("connect latency p50 / p99 (ms)",
                 f"{_ms(opened.connect, 'p50')} / {_ms(opened.connect, 'p99')}"),
                ("arrival rate reached (joins/s)", f"{opened.rate:,.0f}")]
        for i, b in enumerate(bcasts):
            rows.append((f"broadcast {i + 1} p50 / p99 / last (ms)",
                         f"{_ms(b['latency'], 'p50')} / {_ms(b['latency'], 'p99')} / "
                         f"{_ms(b['latency'], 'max')}  ({b['delivered']:,}/{b['receivers']:,})"))
        rows += [("heartbeats sent / ok / late", f"{stats['hb_sent']:,} / {stats['hb_ok']:,} / "
                  f"{stats['hb_late']:,}" if args.proto == "phoenix" else f"pings {stats['pings']:,}"),
                 ("errors", json.dumps(stats["errors"]) if stats["errors"] else "none"),
                 ("server RSS total (MiB)", f"{mem0.rss / 2**20:.1f} -> {mem1.rss / 2**20:.1f}")]
        rows += [(f"  pid {p.pid}", f"{p.rss / 2**20:.1f} MiB") for p in mem1.procs]
        rows.append(("server memory per client (bytes)", f"{report['mem_per_client']:,.0f}"))
        w = max(len(r[0]) for r in rows)
        print("\n".join(f"{a.ljust(w)}  {b}" for a, b in rows))
        if stats["errors"] or opened.joined < args.clients:
            rc = 1
    except (HarnessError, ValueError) as e:
        report["error"] = str(e)
        print(f"loadgen: {e}", file=sys.stderr)
        rc = 2
    finally:
        lg.close()
    print("LOADGEN_JSON " + json.dumps(report, separators=(",", ":")), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
