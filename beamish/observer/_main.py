"""``beamish observer [NODE]``: the UI, ``--once --json`` and ``--check``.

Exit codes: 0 fine (``--check``: no leak flag raised), 1 leak flags
raised (``--check`` only), 2 the node could not be reached or refused us.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any, Optional, TextIO

from ._client import Client, Redialer, connect
from ._errors import ObserverError
from ._leaks import Sample, Thresholds, find_suspects

__all__ = ["add_arguments", "check_arguments", "main", "check", "once", "EXIT_OK", "EXIT_SUSPECTS",
           "EXIT_UNREACHABLE"]

EXIT_OK = 0
EXIT_SUSPECTS = 1
EXIT_UNREACHABLE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The observer's options, on ``beamish observer``'s parser."""
    parser.add_argument("node", nargs="?",
                        help="node name: a node of this host, or one a local node reaches "
                             "through the cluster (default: the only local node)")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument("--json", action="store_true", help="with --once: print JSON")
    parser.add_argument("--check", action="store_true",
                        help="sample over a window; exit 1 listing suspects if a leak flag "
                             "is raised, 0 otherwise")
    parser.add_argument("--window", type=seconds, default=10.0, metavar="SECONDS",
                        help="--check's sampling window (default 10)")
    parser.add_argument("--interval", type=seconds, default=None, metavar="SECONDS",
                        help="seconds between samples (default: 1 for --check, 2 for the UI)")


def seconds(value: str) -> float:
    """``--window`` and ``--interval``: a finite number of seconds above 0."""
    try:
        n = float(value)
    except ValueError:
        n = float("nan")
    if not 0 < n < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {value!r}")
    return n


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that only make sense together: a mistake is a usage error
    (``parser.error``: exit 2) rather than an option silently ignored."""
    if args.json and not args.once:
        parser.error("--json goes with --once (--once --json prints one snapshot as JSON)")
    if args.once and args.check:
        parser.error("--once and --check are different runs: give one of them")


def _row_dict(row: Any) -> dict:
    return row._asdict()


def once(client: Client, out: TextIO, as_json: bool) -> int:
    """Print one snapshot: node info, processes, tree, node-side leak flags."""
    info = client.node_info(history=False)
    plist = client.processes()
    tree = client.tree()
    suspects = find_suspects([Sample.of(info.time, info.process_count, info.message_rate,
                                        plist.rows)])
    if as_json:
        doc = {"node": asdict(info), "processes": [_row_dict(r) for r in plist.rows],
               "list_cost": asdict(plist.cost), "tree": [t.to_wire() for t in tree],
               "suspects": [asdict(s) for s in suspects]}
        json.dump(doc, out, default=str)
        out.write("\n")
        return EXIT_OK
    out.write(f"node {info.node} (os pid {info.os_pid}): {info.process_count} processes, "
              f"RSS {info.rss / 2**20:.1f} MiB, CPU {info.cpu_percent:.0f}%, "
              f"{info.message_rate:.0f} reductions/s, hub latency "
              f"{info.hub_latency_ms:.2f} ms\n")
    if info.dist:
        out.write("cluster: " + (", ".join(f"{name} {'up' if up else 'down'}"
                                           for name, up in info.cluster) or "no other node")
                  + "\n")
    top = sorted(plist.rows, key=lambda r: r.reductions, reverse=True)[:20]
    out.write(f"{'pid':<14}{'name':<24}{'reds':>10}{'msgq':>8}{'mon':>6}{'dup':>5}  "
              f"current function\n")
    for r in top:
        out.write(f"{r.pid:<14}{(r.name or '')[:23]:<24}{r.reductions:>10}"
                  f"{r.message_queue_len:>8}{r.monitors:>6}{r.dup_monitors:>5}  "
                  f"{r.current_function or ''}\n")
    for s in suspects:
        out.write(f"SUSPECT {s.describe()}\n")
    return EXIT_OK


def check(client: Client, window: float, interval: float, out: TextIO,
          thresholds: Thresholds = Thresholds()) -> int:
    """Sample for ``window`` seconds; report suspects.  Exit code as the
    module docstring says.  Sampling slows down if serving the list would
    cost the node more than 5% of its time."""
    samples = []
    deadline = time.monotonic() + window
    while True:
        started = time.monotonic()
        info = client.node_info()
        plist = client.processes()
        samples.append(Sample.of(info.time, info.process_count, info.message_rate,
                                 plist.rows))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        pause = max(interval, plist.cost.busy_ms / 1000 / 0.05) - (time.monotonic() - started)
        time.sleep(min(max(pause, 0.0), remaining))
    suspects = find_suspects(samples, thresholds)
    span = samples[-1].t - samples[0].t
    if not suspects:
        out.write(f"node {client.node}: no leak flags over {span:.1f} s "
                  f"({len(samples)} samples)\n")
        return EXIT_OK
    out.write(f"node {client.node}: {len(suspects)} suspect(s) over {span:.1f} s "
              f"({len(samples)} samples):\n")
    for s in suspects:
        out.write(f"SUSPECT {s.describe()}\n")
    return EXIT_SUSPECTS


class _Report:
    """The stream reports go to.  A reader that goes away early (``beamish
    observer --once | head``) is not a lost node: the rest of the report
    is dropped and the exit code stays the run's own (``--check``'s
    verdict still reaches the script)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self.reader_gone = True
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.reader_gone = True

    def close(self) -> None:
        """Flush; if the reader went away from our stdout, point the
        descriptor at /dev/null so the interpreter's own flush at exit
        does not complain about the broken pipe."""
        self.flush()
        if self.reader_gone and self.stream is sys.stdout:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass


def main(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Run ``beamish observer`` with parsed ``args``; returns the exit code."""
    try:
        client = connect(args.node)
    except (ObserverError, OSError) as e:
        sys.stderr.write(f"beamish observer: {e}\n")
        return EXIT_UNREACHABLE
    report = _Report(out or sys.stdout)
    try:
        return _run(client, args, report)
    finally:
        report.close()


def _run(client: Client, args: argparse.Namespace, out: Any) -> int:
    try:
        if args.check:
            return check(client, args.window, args.interval or 1.0, out)
        if args.once:
            return once(client, out, args.json)
        try:
            from ._tui import ObserverApp
        except ImportError as e:
            sys.stderr.write(f"beamish observer: the terminal UI needs textual ({e}); "
                             f"`pip install textual`, or use --once / --check\n")
            return EXIT_UNREACHABLE
        source = Redialer(client)
        try:
            ObserverApp(source, interval=args.interval or 2.0).run()
        finally:
            source.close()
        return EXIT_OK
    except (ObserverError, OSError) as e:
        sys.stderr.write(f"beamish observer: lost node {client.node}: {e}\n")
        return EXIT_UNREACHABLE
    finally:
        client.close()
