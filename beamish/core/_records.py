"""System messages and introspection records.

``Down`` and ``ExitMsg`` are tuples, so they equal and match exactly like
Erlang's ``{'DOWN', Ref, process, Pid, Reason}`` and ``{'EXIT', Pid, Reason}``:
``receive(("DOWN", ref, ANY, ANY, ANY))`` and ``match msg: case ("EXIT",
pid, reason):`` both work, and so do the named fields (``msg.reason``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from ._ids import Pid, Ref

__all__ = ["Down", "ExitMsg", "ProcessInfo", "MonitorInfo"]


class _DownFields(NamedTuple):
    tag: str
    ref: Ref
    type: str
    pid: Any
    reason: Any


class Down(_DownFields):
    """``("DOWN", ref, "process", pid, reason)``: a monitored process ended."""

    __slots__ = ()

    def __new__(cls, ref: Ref, pid: Any, reason: Any, type: str = "process") -> "Down":
        return tuple.__new__(cls, ("DOWN", ref, type, pid, reason))

    def __getnewargs__(self):  # pickling/copying keeps the record type
        return (self.ref, self.pid, self.reason, self.type)


class _ExitFields(NamedTuple):
    tag: str
    pid: Any
    reason: Any


class ExitMsg(_ExitFields):
    """``("EXIT", pid, reason)``: an exit signal received while trapping exits."""

    __slots__ = ()

    def __new__(cls, pid: Any, reason: Any) -> "ExitMsg":
        return tuple.__new__(cls, ("EXIT", pid, reason))

    def __getnewargs__(self):
        return (self.pid, self.reason)


@dataclass(frozen=True)
class MonitorInfo:
    """One monitor held by a process: its ref and what it watches."""

    ref: Ref
    target: Any  # a Pid, or a registered name for monitors by name


@dataclass(frozen=True)
class ProcessInfo:
    """What ``process_info(pid)`` reports about one live process.

    ``memory`` is an estimate in bytes: the process record, its mailbox
    container and the shallow size of each queued message (up to the first
    1,000; the rest are extrapolated), its link and monitor tables, and its
    greenlet: a fixed cost measured for an idle greenlet on this build plus
    the Python frames it has suspended.  It does not follow references out
    of messages or frames, so shared objects are not double counted.
    """

    pid: Pid
    status: str                      # running | runnable | waiting | exiting
    registered_name: Optional[str]
    initial_call: str
    current_function: Optional[str]
    message_queue_len: int
    memory: int
    reductions: int
    links: tuple
    monitors: tuple                  # MonitorInfo records
    monitored_by: tuple              # pids watching this process
    trap_exit: bool
    messages: Optional[tuple] = None     # only when asked for
    stack: Optional[tuple] = field(default=None)  # formatted frames, when asked
    label: Any = None                    # what the process gave to set_label
