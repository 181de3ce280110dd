"""The plumbing tests and tools share (``tools/bench``, ``tools/loadgen``).

* :mod:`.procs`: free ports, the open-file limit, :class:`LineProc` (a
  child driven by lines) and :class:`Node` (``beamish run`` as one).
* :mod:`.redis`: :class:`RedisServer`, a throwaway redis-server.
* :mod:`.wire`: WebSocket frames, the upgrade, Phoenix and Engine.IO
  messages, pure.
* :mod:`.client`: a WebSocket / HTTP / Phoenix client on gevent sockets.
* :mod:`.report`: percentiles, aligned tables and JSON lines.
* :mod:`.console`: the child side of a :class:`LineProc` (commands on stdin).
* :mod:`.fixtures`: pytest fixtures (imported by the tests that use them).
"""
from .procs import (BEAMISH, ROOT, HarnessError, LineProc, Node, ProcError, free_port,
                    raise_nofile, wait_port)
from .redis import RedisServer
from .report import fmt_value, json_line, percentiles, table

__all__ = ["ROOT", "BEAMISH", "HarnessError", "ProcError", "free_port", "wait_port",
           "raise_nofile", "LineProc", "Node", "RedisServer", "percentiles", "fmt_value",
           "table", "json_line"]
