"""The node side of every request: typed records built from ``process_info``.

These functions run inside a control connection's process.  They read the
runtime only through its public introspection (``processes``,
``process_info``, ``is_alive``) and the supervisors' own calls
(``which_children``, ``restart_counts``) and distribution's cluster view
(``beamish.dist``), and walk large tables through a
:class:`~._slicer.Slicer` so the hub is never held for long.
"""
from __future__ import annotations

import os
import platform
import re
import reprlib
import resource
import socket
import struct
import sys
import time
from collections import Counter
from typing import Any, Callable, Iterator, Optional

import gevent

from ..core import (Pid, ProcessInfo, exit as exit_signal, is_alive, node, node_creation,
                    process_count, process_info, processes, whereis)
from ..dist import is_alive as distributed, known_nodes
from ..lowlevel import lookup, process_state_object
from ..otp import CallExit, CallTimeout, call, get_state
from ._footprint import StateSizer, monitor_table_bytes
from ._records import MonitorRow, NodeInfo, ProcessDetail, ProcRow, SocketRow, TreeNode
from ._slicer import Slicer
from ._stats import NodeStats

__all__ = ["parse_pid", "row_of", "iter_rows", "process_detail", "supervision_tree",
           "node_info", "kill", "sockets", "state_text", "MESSAGES_MAX", "REPR_MAX",
           "STATE_TEXT_MAX", "STATE_TIMEOUT"]

#: Most mailbox messages one detail request copies out.
MESSAGES_MAX = 1000
#: Longest repr of one message (or monitor target) sent, in characters.
REPR_MAX = 300
#: Most links (and monitoring pids) a detail lists; the row has the counts.
PIDS_SHOWN = 1000
#: Refs shown per monitored target in a process's detail.
REFS_SHOWN = 3
#: Longest state text a detail carries, in characters.
STATE_TEXT_MAX = 4000
#: How long a detail waits for a process's state (``get_state``), in seconds.
STATE_TIMEOUT = 0.5
#: How long the tree walk waits for one supervisor's answer, in seconds.
TREE_CALL_TIMEOUT = 1.0
_TREE_DEPTH_MAX = 64

_PID_TEXT = re.compile(r"^<?0\.(\d+)\.0>?$")


def parse_pid(text: Any) -> Optional[Pid]:
    """The local pid a client names as ``"<0.57.0>"`` (or ``"0.57.0"``, or
    the bare id ``57``); None for anything else, pids of other nodes too."""
    if isinstance(text, int) and not isinstance(text, bool):
        n = text
    elif isinstance(text, str):
        m = _PID_TEXT.match(text.strip())
        if m is None:
            if not text.strip().isdigit():
                return None
            n = int(text.strip())
        else:
            n = int(m.group(1))
    else:
        return None
    return Pid(node(), n, node_creation())


def _short(value: Any, limit: int = REPR_MAX) -> str:
    try:
        text = repr(value)
    except Exception as e:  # a user __repr__ that raises must not break the observer
        text = f"<unprintable {type(value).__name__}: {e!r}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _target(target: Any) -> str:
    """A monitor target as shown: a pid, or a registered name (name@node
    when the name lives on another node)."""
    if target.__class__ is Pid:
        return repr(target)
    if isinstance(target, tuple) and len(target) == 2:
        name, where = target
        return str(name) if where == node() else f"{name}@{where}"
    return _short(target)


def row_of(info: ProcessInfo, held: int = 0, state: int = 0) -> ProcRow:
    """A process list row for one ``ProcessInfo``; ``held`` and ``state``
    are bytes it holds that ``process_info`` does not count (its monitor
    entries, its state: see :mod:`._footprint`), added to its memory."""
    monitors = info.monitors
    dup = 0
    dup_target = None
    if len(monitors) > 1:
        per_target = Counter(m.target for m in monitors)
        dup = len(monitors) - len(per_target)
        if dup:
            dup_target = _target(per_target.most_common(1)[0][0])
    return ProcRow(repr(info.pid), info.registered_name, info.initial_call,
                   info.current_function, info.status, info.reductions,
                   info.message_queue_len, info.memory + held + state, len(info.links),
                   len(monitors), len(info.monitored_by), dup, dup_target, info.trap_exit,
                   _label(info), state)


def _label(info: ProcessInfo) -> Optional[str]:
    """The process's label (any term a process gave ``set_label``) as text."""
    label = getattr(info, "label", None)
    return label if label is None or isinstance(label, str) else _short(label, 80)


def _held(pid: Pid, sizer: Optional[StateSizer]) -> tuple:
    """``(monitor entry bytes, state bytes)`` of a live process."""
    proc = lookup(pid)
    if proc is None:
        return 0, 0
    return monitor_table_bytes(proc), sizer.size(proc) if sizer is not None else 0


def iter_rows(slicer: Slicer, sizer: Optional[StateSizer] = None) -> Iterator[ProcRow]:
    """Rows of every live process, oldest first, yielding to the hub as the
    slicer says.  Processes that end during the walk are left out.  With a
    ``sizer``, every row's memory includes its state (see :mod:`._footprint`)."""
    if sizer is not None:
        sizer.begin()
    for pid in processes():
        info = process_info(pid)
        if info is not None:
            yield row_of(info, *_held(pid, sizer))
        slicer.tick()
    if sizer is not None:
        sizer.end()


def process_detail(pid: Pid, messages: int = 20) -> Optional[ProcessDetail]:
    """One process in depth, with the reprs of its first ``messages`` queued
    messages (at most :data:`MESSAGES_MAX`), its monitors grouped by target
    and its first :data:`PIDS_SHOWN` links and watchers; None if it is not
    alive."""
    messages = max(0, min(int(messages), MESSAGES_MAX))
    info = process_info(pid, messages=messages > 0, stack=True)
    if info is None:
        return None
    queued = info.messages or ()
    links, watchers = info.links[:PIDS_SHOWN], info.monitored_by[:PIDS_SHOWN]
    targets = [m.target for m in info.monitors if m.target.__class__ is Pid]
    names = {}
    for p in {*links, *watchers, *targets[:PIDS_SHOWN]}:
        name = _name_of(p)
        if name:
            names[repr(p)] = name
    return ProcessDetail(
        row=row_of(info, *_held(pid, StateSizer(ttl=0))),
        links=tuple(repr(p) for p in links),
        monitors=_group_monitors(info.monitors),
        monitored_by=tuple(repr(p) for p in watchers),
        stack=tuple(info.stack or ()),
        messages=tuple(_short(m) for m in queued[:messages]),
        messages_total=info.message_queue_len,
        names=names,
        state=_state(pid),
    )


def _state(pid: Pid) -> Optional[str]:
    """A behaviour process's state as text (Erlang observer's State tab),
    asked with ``get_state`` and a short timeout; None for a process that
    is not a behaviour (it records no state object: sending it a system
    message would only fill its mailbox) or that ended meanwhile."""
    proc = lookup(pid)
    if proc is None or process_state_object(proc) is None:
        return None
    try:
        state = get_state(pid, timeout=STATE_TIMEOUT)
    except CallTimeout:
        return f"(no answer within {STATE_TIMEOUT} s: busy in a callback)"
    except CallExit:
        return None
    return state_text(state)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 32
_REPR.maxlevel = 4


def state_text(state: Any, limit: int = STATE_TEXT_MAX) -> str:
    """``state`` as text of at most ``limit`` characters.  An object with
    no ``__repr__`` of its own (a GenServer instance, usually) shows as
    ``Class(attr=value, ...)``, each value shortened (``reprlib``)."""
    try:
        cls = type(state)
        if cls.__repr__ is object.__repr__:
            attrs = dict(getattr(state, "__dict__", None) or {})
            for klass in cls.__mro__:
                for slot in klass.__dict__.get("__slots__", ()):
                    if slot != "__weakref__" and hasattr(state, slot):
                        attrs[slot] = getattr(state, slot)
            text = cls.__qualname__ + "(" + ", ".join(
                f"{k}={_REPR.repr(v)}" for k, v in attrs.items()
                if not k.startswith("_GenServer__")) + ")"
        else:
            text = _REPR.repr(state) if isinstance(state, (dict, list, tuple, set, frozenset)) \
                else repr(state)
    except Exception as e:  # a user __repr__ that raises must not break the observer
        text = f"<unprintable {type(state).__name__}: {e!r}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _name_of(pid: Pid) -> Optional[str]:
    """What a process is called: its registered name, else its label, else
    its initial call; None if it is not alive."""
    info = process_info(pid)
    if info is None:
        return None
    return info.registered_name or _label(info) or info.initial_call


def _group_monitors(monitors: tuple) -> tuple:
    by_target: dict = {}
    for m in monitors:
        by_target.setdefault(m.target, []).append(m.ref)
    rows = [MonitorRow(_target(t), _alive(t), len(refs), tuple(repr(r) for r in refs[:REFS_SHOWN]))
            for t, refs in by_target.items()]
    rows.sort(key=lambda m: -m.count)
    return tuple(rows)


def _alive(target: Any) -> bool:
    if target.__class__ is Pid:
        return is_alive(target)
    return isinstance(target, tuple) and target[1] == node() and whereis(target[0]) is not None


def _ask(sup: Pid, request: tuple) -> Any:
    return call(sup, request, TREE_CALL_TIMEOUT)


def _supervisor(label: str, pid: Pid, restarts: Optional[int], depth: int) -> TreeNode:
    try:
        children = _ask(pid, ("which_children",))
    except CallExit as e:
        return TreeNode(label, repr(pid), "supervisor", restarts,
                        error=f"did not answer which_children: {e.reason!r}")
    counts: dict = {}
    # A DynamicSupervisor names every child None and has no restart_counts
    # request (an unknown call would crash it): only ask plain supervisors.
    if any(cid is not None for cid, _, _ in children):
        try:
            counts = _ask(pid, ("restart_counts",))
        except CallExit:
            counts = {}
    kids = []
    for cid, cpid, ctype in children:
        clabel = _child_label(cid, cpid)
        n = counts.get(cid) if counts else None
        if ctype == "supervisor" and cpid is not None and depth < _TREE_DEPTH_MAX:
            kids.append(_supervisor(clabel, cpid, n, depth + 1))
        else:
            kids.append(TreeNode(clabel, repr(cpid) if cpid is not None else None, ctype, n))
        gevent.sleep(0)
    return TreeNode(label, repr(pid), "supervisor", restarts, tuple(kids))


def _child_label(cid: Any, cpid: Any) -> str:
    if cid is None:
        return repr(cpid)
    if isinstance(cid, type):
        return cid.__qualname__
    return cid if isinstance(cid, str) else _short(cid, 80)


def supervision_tree(roots: Callable[[], list]) -> list:
    """The trees under the root supervisors ``roots()`` names.

    Each supervisor is asked for ``which_children`` (and, unless it is a
    DynamicSupervisor, ``restart_counts``) with a short timeout; one that
    does not answer is shown with an ``error`` instead of its children.
    Roots must be supervisors: any other process would not understand the
    calls.
    """
    out = []
    for i, root in enumerate(roots()):
        out.append(_supervisor(f"root {i}" if i else "root", root, None, 0))
    return out


def node_info(stats: NodeStats, history: bool = False) -> NodeInfo:
    """The node as a whole; ``history`` adds the sampler's recent points."""
    from .. import __version__   # the package imports us: not at module level
    return NodeInfo(
        node=node(), os_pid=stats.os_process.pid, time=time.time(), uptime=stats.uptime(),
        python=platform.python_version() + f" ({sys.implementation.name})",
        gevent=gevent.__version__, beamish=__version__, rss=stats.rss(),
        cpu_percent=stats.cpu_percent, process_count=process_count(),
        message_rate=stats.message_rate, hub_latency_ms=stats.hub_latency_ms,
        run_queue=stats.run_queue(), history=tuple(stats.history) if history else (),
        open_files=_open_files(stats), open_files_limit=_open_files_limit(),
        dist=distributed(), cluster=tuple(known_nodes()))


def _open_files(stats: NodeStats) -> int:
    try:
        return stats.os_process.num_fds()
    except Exception:   # psutil.Error or OSError: out of descriptors itself
        return 0


def _open_files_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 0 if soft == resource.RLIM_INFINITY else soft


# Linux's struct tcp_info: tcpi_bytes_acked (sent and acknowledged) and
# tcpi_bytes_received are the u64s at these offsets (kernel 4.1 and later).
_TCP_INFO_LEN = 136
_BYTES = struct.Struct("=QQ")
_BYTES_AT = 120


def _tcp_bytes(fd: int, family: int) -> tuple:
    """``(bytes in, bytes out)`` of the TCP socket ``fd`` (ours: this is the
    node's process), or ``(None, None)`` where the kernel does not say."""
    try:
        with socket.fromfd(fd, family, socket.SOCK_STREAM) as s:
            raw = s.getsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_INFO", 11),
                               _TCP_INFO_LEN)
    except OSError:
        return None, None
    if len(raw) < _BYTES_AT + _BYTES.size:
        return None, None
    acked, received = _BYTES.unpack_from(raw, _BYTES_AT)
    # The kernel counts our SYN among the acknowledged bytes: not data.
    return received, max(0, acked - 1)


def _address(addr: Any) -> str:
    if not addr:
        return ""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sockets(stats: NodeStats, first_seen: dict) -> list:
    """The node's TCP and UDP sockets (SocketRow records), the busiest
    first.  ``first_seen`` maps a socket's inode to when a request first
    saw it (kept by the endpoint): the age shown is "seen for"."""
    now = time.time()
    out = []
    live = {}
    for c in stats.os_process.net_connections(kind="inet"):
        if c.fd < 0:
            continue
        try:
            inode = os.fstat(c.fd).st_ino
        except OSError:
            continue
        live[inode] = first_seen.get(inode, now)
        tcp = c.type == socket.SOCK_STREAM
        bytes_in, bytes_out = _tcp_bytes(c.fd, c.family) if tcp else (None, None)
        out.append(SocketRow(c.fd, "tcp" if tcp else "udp", _address(c.laddr),
                             _address(c.raddr), c.status if tcp else "", now - live[inode],
                             bytes_in, bytes_out))
    first_seen.clear()
    first_seen.update(live)
    out.sort(key=lambda r: -((r.bytes_in or 0) + (r.bytes_out or 0)))
    return out


def kill(pid: Pid) -> bool:
    """``exit(pid, "kill")``; True if the process was alive."""
    if not is_alive(pid):
        return False
    exit_signal(pid, "kill")
    return True
