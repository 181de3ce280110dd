"""What the control endpoint reports, as typed records.

Both sides share these: the node builds them from the runtime's
``ProcessInfo`` records and sends them as plain msgpack maps and arrays
(``to_wire``); the observer rebuilds them (``from_wire``).  Pids travel as
the strings the node prints (``"<0.57.0>"``), so the observer shows them
exactly as the node's own logs do and can send them back (``kill``,
``process``).  Nothing here imports gevent or opens a socket.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple, Optional

__all__ = ["ProcRow", "COLUMNS", "NodeInfo", "HistoryPoint", "MonitorRow", "ProcessDetail",
           "SocketRow", "TreeNode"]


class ProcRow(NamedTuple):
    """One process in the process list (``process_info`` fields, counts of
    its tables, and its duplicate monitors; never mailbox contents)."""

    pid: str
    name: Optional[str]
    initial_call: str
    current_function: Optional[str]
    status: str
    reductions: int
    message_queue_len: int
    memory: int
    links: int
    monitors: int
    monitored_by: int
    #: Monitors beyond one per target: 0 for a healthy process.
    dup_monitors: int
    #: The target holding the most monitors, when ``dup_monitors`` > 0.
    dup_target: Optional[str]
    trap_exit: bool
    #: What the process says it is (``process_info``'s ``label``), if anything.
    label: Optional[str] = None
    #: Of ``memory``, the bytes its state holds (a GenServer's instance).
    state_memory: int = 0


#: The process list's columns, in wire order.
COLUMNS: tuple = ProcRow._fields


@dataclass(frozen=True)
class HistoryPoint:
    """One sample of the node's sampler (one a second by default)."""

    t: float                 # node wall-clock time
    process_count: int
    rss: int                 # bytes
    cpu_percent: float       # of one core, since the previous sample
    message_rate: float      # reductions per second (≈ messages received)
    hub_latency_ms: float    # time a callback waited for the hub

    def to_wire(self) -> list:
        return [self.t, self.process_count, self.rss, self.cpu_percent, self.message_rate,
                self.hub_latency_ms]

    @classmethod
    def from_wire(cls, row: list) -> "HistoryPoint":
        return cls(*row)


@dataclass(frozen=True)
class NodeInfo:
    """The node as a whole."""

    node: str
    os_pid: int
    time: float              # node wall-clock time of this answer
    uptime: float            # seconds since the OS process started
    python: str
    gevent: str
    beamish: str
    rss: int
    cpu_percent: float
    process_count: int
    message_rate: float
    hub_latency_ms: float
    run_queue: int           # callbacks waiting for the hub (wake-ups, timers)
    history: tuple = ()      # HistoryPoint records, oldest first, when asked
    open_files: int = 0      # file descriptors the OS process has open
    open_files_limit: int = 0    # its RLIMIT_NOFILE soft limit (0: unknown or unlimited)
    #: Whether distribution runs on the node (it is opt-in: the app starts
    #: ``beamish.dist.Dist``); a node that predates the field reports False.
    dist: bool = False
    #: The node's cluster view: ``(name, up)`` for every other node it has
    #: heard from, sorted (``beamish.dist.known_nodes``).
    cluster: tuple = ()

    def to_wire(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["history"] = [h.to_wire() for h in self.history]
        d["cluster"] = [[name, up] for name, up in self.cluster]
        return d

    @classmethod
    def from_wire(cls, d: dict) -> "NodeInfo":
        d = dict(d)
        d["history"] = tuple(HistoryPoint.from_wire(h) for h in d.get("history") or ())
        d["cluster"] = tuple((str(name), bool(up)) for name, up in d.get("cluster") or ())
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def connected(self) -> list:
        """The names of the other nodes this node is connected to."""
        return [name for name, up in self.cluster if up]


@dataclass(frozen=True)
class MonitorRow:
    """The monitors a process holds on one target: how many (more than one
    is the duplicate-monitor leak), the first few refs, and whether the
    target is still alive (a monitor on a dead target is a runtime bug)."""

    target: str
    target_alive: bool
    count: int
    refs: tuple              # the first few refs, as strings


@dataclass(frozen=True)
class ProcessDetail:
    """One process in depth, with the first messages of its mailbox."""

    row: ProcRow
    links: tuple             # pid strings
    monitors: tuple          # MonitorRow records, one per target, most monitors first
    monitored_by: tuple      # pid strings
    stack: tuple             # formatted frames, outermost first
    messages: tuple          # repr strings of the first queued messages
    messages_total: int
    #: What the pids above are called (registered name, label or initial
    #: call), by pid string, for the pids that have one.
    names: dict = field(default_factory=dict)
    #: A behaviour process's state (``get_state``), as truncated text; None
    #: for a process that is not a behaviour (or ended meanwhile).
    state: Optional[str] = None

    def name_of(self, pid: str) -> str:
        """``"<0.57.0> (room_sup)"``, or the bare pid if it has no name."""
        name = self.names.get(pid)
        return f"{pid} ({name})" if name else pid

    def to_wire(self) -> dict:
        return {"row": list(self.row), "links": list(self.links), "names": dict(self.names),
                "monitors": [[m.target, m.target_alive, m.count, list(m.refs)]
                             for m in self.monitors],
                "monitored_by": list(self.monitored_by), "stack": list(self.stack),
                "messages": list(self.messages), "messages_total": self.messages_total,
                "state": self.state}

    @classmethod
    def from_wire(cls, d: dict) -> "ProcessDetail":
        return cls(row=ProcRow._make(d["row"]), links=tuple(d["links"]),
                   monitors=tuple(MonitorRow(t, alive, n, tuple(refs))
                                  for t, alive, n, refs in d["monitors"]),
                   monitored_by=tuple(d["monitored_by"]), stack=tuple(d["stack"]),
                   messages=tuple(d["messages"]), messages_total=d["messages_total"],
                   names=dict(d.get("names") or {}), state=d.get("state"))


class SocketRow(NamedTuple):
    """One TCP or UDP socket of the node's OS process."""

    fd: int
    kind: str                # "tcp" | "udp"
    local: str               # "127.0.0.1:4000"
    peer: str                # "" when not connected (a listener)
    status: str              # TCP state, as psutil names it ("ESTABLISHED", "LISTEN")
    age: float               # seconds since the endpoint first saw it
    bytes_in: Optional[int]  # received (TCP only, from the kernel's tcp_info)
    bytes_out: Optional[int]     # sent and acknowledged (TCP only)


@dataclass(frozen=True)
class TreeNode:
    """A supervisor or a worker in the supervision tree.

    ``restarts`` is how often the parent restarted this child (None for a
    root, or when the parent does not count, as a DynamicSupervisor).
    ``error`` says why a supervisor's children are missing (it did not
    answer in time, say).
    """

    id: str
    pid: Optional[str]
    type: str                # "supervisor" | "worker"
    restarts: Optional[int] = None
    children: tuple = ()
    error: Optional[str] = None

    def to_wire(self) -> dict:
        d = asdict(self)
        d["children"] = [c.to_wire() for c in self.children]
        return d

    @classmethod
    def from_wire(cls, d: dict) -> "TreeNode":
        d = dict(d)
        d["children"] = tuple(cls.from_wire(c) for c in d.get("children") or ())
        return cls(**d)

    def walk(self) -> Any:
        """This node and every node below it, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()
