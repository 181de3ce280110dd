"""The server under load, seen from outside: its processes and their memory.

Pure reading through psutil; nothing here signals or changes a process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional

import psutil

__all__ = ["ProcMem", "ServerMemory", "find_server_pids", "server_tree", "measure"]


@dataclass(frozen=True)
class ProcMem:
    pid: int
    rss: int             # bytes
    pss: Optional[int]   # bytes; shared pages split between sharers (None if unreadable)
    cmd: str


@dataclass(frozen=True)
class ServerMemory:
    procs: tuple

    @property
    def rss(self) -> int:
        return sum(p.rss for p in self.procs)

    @property
    def pss(self) -> Optional[int]:
        vals = [p.pss for p in self.procs]
        return None if any(v is None for v in vals) else sum(vals)

    def as_dict(self) -> dict:
        return {"total_rss": self.rss, "total_pss": self.pss,
                "procs": [{"pid": p.pid, "rss": p.rss, "pss": p.pss, "cmd": p.cmd}
                          for p in self.procs]}


def find_server_pids(port: int) -> List[int]:
    """Pids listening on ``port`` (every worker of an SO_REUSEPORT group),
    plus their parent when it is a ``beamish`` supervisor (a ``--workers``
    master holds memory too).  Call it before opening clients: listing every
    socket of a loaded machine is slow."""
    pids = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port \
                and conn.pid:
            pids.add(conn.pid)
    for pid in list(pids):
        try:
            parent = psutil.Process(pid).parent()
            if parent is not None and ("python" in parent.name() or "beamish" in parent.name()) \
                    and "beamish" in " ".join(parent.cmdline()):
                pids.add(parent.pid)
        except psutil.Error:
            pass
    return sorted(pids)


def server_tree(roots: Iterable[int], exclude_names: tuple = ("redis-server",)) -> List[int]:
    """``roots`` and all their descendants (the workers a master forked),
    without helpers such as a Redis the benchmark started beside them."""
    out = []
    for pid in roots:
        try:
            p = psutil.Process(pid)
            for q in [p] + p.children(recursive=True):
                if q.name() not in exclude_names and q.pid not in out:
                    out.append(q.pid)
        except psutil.Error:
            pass
    return out


def measure(pids: Iterable[int], pss: bool = True) -> ServerMemory:
    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            rss = p.memory_info().rss
            try:
                full = p.memory_full_info() if pss else None
                pv = getattr(full, "pss", None) if full is not None else None
            except psutil.Error:
                pv = None
            procs.append(ProcMem(pid, rss, pv, " ".join(p.cmdline()[:6])[:120]))
        except psutil.Error:
            pass
    return ServerMemory(tuple(procs))
