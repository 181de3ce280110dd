"""The ``beamish`` command: ``beamish run MODULE``, ``beamish --version``."""
from __future__ import annotations

import argparse
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
    return parser


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
        from .otp._application import run
        return run(args.module, rest, node_name=args.name, log_level=args.log_level)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
