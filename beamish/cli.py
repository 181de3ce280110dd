"""The ``beamish`` command: ``beamish run MODULE``, ``beamish observer [NODE]``,
``beamish --version``.

Mistakes on the command line end in one line on stderr, never a
traceback: argument errors (an unknown option, a bad ``--name``, a module
that is not an application, ``beamish`` with no command) exit 2, as
argparse does; so does a node that cannot start (see
:func:`beamish.boot.run` for its other exit codes).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional, Sequence

#: ``--workers`` refuses more than this many workers per core: past a few
#: per core they only compete for the cores, while each still holds its
#: own memory, sockets and control endpoint.
MAX_WORKERS_PER_CORE = 4

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Erlang's node names: ``name`` or ``name@host``; the name part is letters,
# digits, ``_`` and ``-``, the host a host name or an address.
_NODE_NAME = re.compile(r"[A-Za-z0-9_-]+(@[A-Za-z0-9_.-]+)?")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beamish",
                                     description="Erlang's process model for Python, on gevent.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="{run,observer}")
    # ``-h`` is ours, not argparse's: ``beamish run MODULE --help`` lists
    # MODULE's own options too, which needs MODULE loaded first.
    run = sub.add_parser("run", help="boot a node running an application module",
                         add_help=False, usage=_RUN_USAGE, description=_RUN_DESCRIPTION)
    run.add_argument("module", nargs="?", metavar="MODULE", help="the application module, e.g. apps.chat")
    add_run_arguments(run)
    observer = sub.add_parser("observer", help="watch a running local node (terminal UI)",
                              description="Attach to a local node's control endpoint.")
    from .observer import add_arguments
    add_arguments(observer)
    # Each command's parser, so that its errors show its own usage.
    for command in (run, observer):
        command.set_defaults(command_parser=command)
    return parser


_RUN_USAGE = "beamish run [beamish options] MODULE [MODULE's options]"
_RUN_DESCRIPTION = ("Boot a node running MODULE's supervision tree. MODULE's own options "
                    "(from its add_arguments) may follow it; "
                    "`beamish run MODULE --help` lists them.")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``beamish run``'s own options (``-h`` included) on ``parser``."""
    parser.add_argument("-h", "--help", action="store_true",
                        help="show this help (with MODULE's options) and exit")
    parser.add_argument("--name", type=parse_node_name,
                        help="this node's name, name@host (default nonode@nohost); refused "
                             "if a live local node already has it")
    parser.add_argument("--log-level", metavar="LEVEL", type=parse_log_level, default="INFO",
                        help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--no-control", action="store_true",
                        help="do not start the control endpoint (no `beamish observer`)")
    parser.add_argument("--workers", metavar="N|auto", type=parse_workers, default=1,
                        help="run N worker processes sharing the port (SO_REUSEPORT) and "
                             "forming one cluster, under a master that restarts them; 'auto' "
                             "is one per core; at most %d per core (default 1: this process "
                             "is the node)" % MAX_WORKERS_PER_CORE)


def parse_workers(value: str) -> int:
    """``--workers``: a positive count, at most :data:`MAX_WORKERS_PER_CORE`
    per core, or ``auto`` for one per core."""
    cores = os.cpu_count() or 1
    if value == "auto":
        return cores
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {value!r}")
    limit = MAX_WORKERS_PER_CORE * cores
    if n > limit:
        raise argparse.ArgumentTypeError(
            f"{n} workers is too many for {cores} core(s): at most {limit} "
            f"({MAX_WORKERS_PER_CORE} per core; more only compete for the cores while each "
            f"holds its own memory and sockets); 'auto' is one per core")
    return n


def parse_node_name(value: str) -> str:
    """``--name``: ``name`` or ``name@host``, as Erlang's node names."""
    if not _NODE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"bad node name {value!r}: expected name@host, the name made of letters, digits, "
            f"'_' and '-', the host of letters, digits, '.', '_' and '-'")
    return value


def parse_log_level(value: str) -> str:
    """``--log-level``: one of :data:`LOG_LEVELS`, in any case."""
    level = value.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, "
                                         f"got {value!r}")
    return level


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
        return _run(args, rest)
    if args.command == "observer":
        if rest:
            args.command_parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from .observer import check_arguments
        from .observer import main as observer_main
        check_arguments(args.command_parser, args)
        return observer_main(args)
    parser.error("a command is required: run or observer (beamish --help describes them)")
    return 2   # not reached: error() exits


def _run(args: argparse.Namespace, rest: list) -> int:
    """``beamish run``: load MODULE, check every option (its own too) before
    anything starts, then boot the node or the master of ``--workers``."""
    run_parser = args.command_parser
    if args.module is None:
        if args.help:
            run_parser.print_help()
            return 0
        run_parser.error("the following arguments are required: MODULE")
    from gevent import monkey
    monkey.patch_all()
    sys.path.insert(0, "")
    from .boot import EXIT_START_FAILED, RunError, app_parser, load_application
    try:
        app = load_application(args.module)
    except RunError as e:
        sys.stderr.write(f"beamish run: {e}\n")
        return EXIT_START_FAILED
    if args.help:
        _run_help(args.module, app).print_help()
        return 0
    # The application's options are checked here, once, rather than by
    # each worker of a master (which would restart them until it gave up).
    app_parser(args.module, app).parse_args(rest)
    if args.workers > 1:
        from .boot import run_workers
        return run_workers(args.module, rest, workers=args.workers, node_name=args.name,
                           log_level=args.log_level, control=not args.no_control)
    from .boot import run
    return run(args.module, rest, node_name=args.name, log_level=args.log_level,
               control=not args.no_control, app=app)


def _run_help(module: str, app: object) -> argparse.ArgumentParser:
    """A parser whose help is ``beamish run``'s options and then MODULE's."""
    from .boot import app_parser
    ours = argparse.ArgumentParser(add_help=False)
    add_run_arguments(ours.add_argument_group("beamish run options"))
    parser = app_parser(module, app, prog=f"beamish run {module}", parents=[ours],
                        add_help=False,
                        usage=f"beamish run [beamish options] {module} [{module}'s options]",
                        description=f"Boot a node running {module}'s supervision tree.")
    # The default section holds what MODULE's add_arguments added.
    parser._optionals.title = f"options of {module}"
    return parser


if __name__ == "__main__":
    sys.exit(main())
