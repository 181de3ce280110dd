"""The ``beamish`` command: ``beamish run MODULE``, ``beamish observer [NODE]``,
``beamish --version``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beamish",
                                     description="Erlang's process model for Python, on gevent.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="boot a node running an application module",
                         description="Boot a node running MODULE's supervision tree. "
                                     "Options after MODULE are the application's own.")
    run.add_argument("module", help="the application module, e.g. apps.chat")
    run.add_argument("--name", help="this node's name (default nonode@nohost)")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    run.add_argument("--no-control", action="store_true",
                     help="do not start the control endpoint (no `beamish observer`)")
    run.add_argument("--workers", metavar="N|auto", type=parse_workers, default=1,
                     help="run N worker processes sharing the port (SO_REUSEPORT) and "
                          "forming one cluster, under a master that restarts them; 'auto' "
                          "is one per core (default 1: this process is the node)")
    observer = sub.add_parser("observer", help="watch a running local node (terminal UI)",
                              description="Attach to a local node's control endpoint.")
    from .observer._main import add_arguments
    add_arguments(observer)
    return parser


def parse_workers(value: str) -> int:
    """``--workers``: a positive count, or ``auto`` for one per core."""
    if value == "auto":
        return os.cpu_count() or 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {value!r}")
    return n


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    # Split at MODULE: what follows belongs to the application's own parser.
    args, rest = parser.parse_known_args(argv)
    if args.version:
        from . import __version__
        print(f"beamish {__version__}")
        return 0
    if args.command == "run":
        from gevent import monkey
        monkey.patch_all()
        sys.path.insert(0, "")
        if args.workers > 1:
            from ._workers import run_workers
            return run_workers(args.module, rest, workers=args.workers, node_name=args.name,
                               log_level=args.log_level, control=not args.no_control)
        from .otp._application import run
        return run(args.module, rest, node_name=args.name, log_level=args.log_level,
                   control=not args.no_control)
    if args.command == "observer":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .observer._main import main as observer_main
        return observer_main(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
