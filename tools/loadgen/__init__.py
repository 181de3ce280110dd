"""A load generator for beamish channels (and, for comparison, Socket.IO).

``python -m tools.loadgen --help`` runs it from the shell;
:class:`LoadGen` drives it from Python (the ``scale`` benchmark does).

Layers, pure to impure: :mod:`tools.harness.wire` (frames and messages,
no I/O), :mod:`._worker` (one gevent process of up to ~18k clients),
:mod:`._coord` (the processes and the numbers), :mod:`._server` (the
server's processes and memory, read through psutil).
"""
from tools.harness import percentiles

from ._coord import (MAX_CLIENTS, BroadcastResult, ChurnResult, LoadGen, LoadGenError,
                     OpenResult)
from ._server import ServerMemory, find_server_pids, measure, server_tree

__all__ = ["LoadGen", "LoadGenError", "OpenResult", "BroadcastResult", "ChurnResult",
           "percentiles", "MAX_CLIENTS", "ServerMemory", "find_server_pids", "measure",
           "server_tree"]
