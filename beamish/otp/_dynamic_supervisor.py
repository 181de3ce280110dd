"""DynamicSupervisor: children started on demand, each restarted alone.

As Elixir's: no children at start; ``start_child(sup, spec)`` adds one (up
to ``max_children``); children are identified by pid; the strategy is
``one_for_one`` with restart intensity; on shutdown every child is asked
to stop at once and the supervisor waits for each within its shutdown time.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from ..core import ANY, ExitMsg, Pid, exit, monitor, process_flag, receive, unlink
from ..lowlevel import current_process, take_first
from ._errors import ChildSpecError, StartError, SupervisorError
from ._gen_server import GenServer, Stop, call
from ._supervisor import RestartIntensity, _restartable, _start_spec, child_spec

log = logging.getLogger(__name__)

__all__ = ["DynamicSupervisor"]


class DynamicSupervisor(GenServer):
    """A supervisor of children started on demand (see module docstring)."""

    restart = "permanent"
    shutdown = "infinity"
    child_type = "supervisor"

    def init(self, *, max_children: Optional[int] = None, max_restarts: int = 3,
             max_seconds: float = 5.0) -> Any:
        process_flag("trap_exit", True)
        self._max_children = max_children
        self._intensity = RestartIntensity(max_restarts, max_seconds)
        self._children: dict = {}   # pid -> spec, in start order

    def handle_call(self, request: Any, from_: tuple) -> Any:
        op = request[0]
        if op == "start_child":
            if self._max_children is not None and len(self._children) >= self._max_children:
                return ("error", "max_children")
            try:
                spec = child_spec(request[1])
            except ChildSpecError as e:
                return ("error", e)
            try:
                pid = _start_spec(spec)
            except StartError as e:
                return ("error", e.reason)
            if pid is not None:
                self._children[pid] = spec
            return ("ok", pid)
        if op == "terminate_child":
            spec = self._children.pop(request[1], None)
            if spec is None:
                return ("error", "not_found")
            self._stop_all({request[1]: spec})
            return ("ok", None)
        if op == "which_children":
            return [(None, pid, spec.type) for pid, spec in self._children.items()]
        if op == "count_children":
            sups = sum(1 for s in self._children.values() if s.type == "supervisor")
            n = len(self._children)
            return {"specs": n, "active": n, "supervisors": sups, "workers": n - sups}
        raise ValueError(f"unknown request {request!r}")

    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is ExitMsg and msg.pid in self._children:
            spec = self._children.pop(msg.pid)
            if not _restartable(spec.restart, msg.reason):
                return None
            log.error("dynamic supervisor %r: child %r exited with %r", current_process().pid,
                      msg.pid, msg.reason)
            while True:
                if not self._intensity.add(time.monotonic()):
                    log.error("dynamic supervisor %r reached its restart intensity: "
                              "shutting down", current_process().pid)
                    return Stop("shutdown")
                try:
                    pid = _start_spec(spec)
                except StartError as e:
                    log.error("dynamic supervisor %r could not restart a child: %r",
                              current_process().pid, e.reason)
                    continue
                if pid is not None:
                    self._children[pid] = spec
                return None
        if msg.__class__ is ExitMsg:
            return None
        return super().handle_info(msg)

    def terminate(self, reason: Any) -> None:
        self._stop_all(self._children)
        self._children = {}

    def _stop_all(self, children: dict) -> None:
        """Ask every child to stop at once; wait for each within its time."""
        me = current_process()
        refs = {}
        for pid, spec in children.items():
            refs[pid] = monitor(pid)
            unlink(pid)
            take_first(me, ExitMsg(pid, ANY))
            exit(pid, "kill" if spec.shutdown == "brutal_kill" else "shutdown")
        start = time.monotonic()
        for pid, spec in children.items():
            ref = refs[pid]
            sd = spec.shutdown
            if sd in ("brutal_kill", "infinity"):
                timeout = None
            else:
                timeout = max(0.0, sd / 1000.0 - (time.monotonic() - start))
            down = receive(("DOWN", ref, ANY, ANY, ANY), timeout=timeout, default=None)
            if down is None:
                log.error("child %r did not stop within %s ms: killing it", pid, sd)
                exit(pid, "kill")
                receive(("DOWN", ref, ANY, ANY, ANY))

    # ------------------------------------------------------- client API
    @staticmethod
    def start_child(sup: Any, spec: Any) -> Optional[Pid]:
        """Start a child under ``sup``; returns its pid (None if ignored).

        Raises:
            ChildSpecError: ``spec`` is not a valid child spec (checked
                here, at the caller, so the supervisor never sees it).
            SupervisorError: ``max_children`` reached, or the start failed.
        """
        status, value = call(sup, ("start_child", child_spec(spec)), None)
        if status != "ok":
            if isinstance(value, ChildSpecError):
                raise value
            raise SupervisorError(value)
        return value

    @staticmethod
    def terminate_child(sup: Any, pid: Pid) -> None:
        """Stop the child ``pid``.  Raises SupervisorError if unknown."""
        status, value = call(sup, ("terminate_child", pid), None)
        if status != "ok":
            raise SupervisorError(value)

    @staticmethod
    def which_children(sup: Any) -> list:
        return call(sup, ("which_children",), None)

    @staticmethod
    def count_children(sup: Any) -> dict:
        return call(sup, ("count_children",), None)
