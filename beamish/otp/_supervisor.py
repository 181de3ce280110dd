"""Supervisors: start children in order, restart what crashes, stop in reverse.

A supervisor is a GenServer that traps exits.  Its children are described
by :class:`ChildSpec` (or anything :func:`child_spec` turns into one: a
GenServer subclass, ``(cls, *args)``, a dict).  Strategies:

``one_for_one``   restart only the child that ended;
``one_for_all``   stop all the others (in reverse order), restart all in order;
``rest_for_one``  stop the children started after it, restart it and them.

A ``temporary`` child is never restarted: one stopped because a sibling
failed is removed from the children, as in OTP.

Restart intensity: more than ``max_restarts`` restarts within
``max_seconds`` and the supervisor stops its children and exits with
``"shutdown"``, so its own supervisor sees it fail (escalation).

Shutdown of a child: ``"brutal_kill"`` kills it; an integer (milliseconds,
as in OTP child specs) sends ``"shutdown"`` and kills it if it has not
ended in time; ``"infinity"`` waits for it.  A supervisor child's default
is ``"infinity"``, a worker's 5000 ms.

Example::

    class Root(Supervisor):
        def init(self):
            return self.supervise([Cache, (Worker, "a"), (Worker, "b")],
                                  strategy="rest_for_one", max_restarts=3, max_seconds=5)

    Root.start_link(name="root")
    # or, with no subclass:
    Supervisor.start_link([Cache, Worker], strategy="one_for_one")
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Optional

from ..core import (ANY, ExitMsg, Pid, demonitor, exit, monitor, process_flag, receive,
                   unlink)
from ..core import self as self_pid
from ..lowlevel import current_process, take_first, was_reported
from ._child_spec import ChildSpec
from ._errors import AlreadyStarted, ChildSpecError, StartError, SupervisorError, describe_id
from ._gen_server import GenServer, NoReply, Reply, Stop, call

log = logging.getLogger(__name__)

__all__ = ["ChildSpec", "Supervisor", "child_spec", "RestartIntensity", "which_children",
           "count_children", "terminate_child", "restart_child", "delete_child", "start_child"]

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")


def child_spec(item: Any) -> ChildSpec:
    """Normalise a supervisor child entry into a :class:`ChildSpec`.

    Raises:
        ChildSpecError: ``item`` is none of the accepted forms (a GenServer
            instance, say, where its class belongs), or a dict with unknown
            or missing fields.
    """
    if isinstance(item, ChildSpec):
        return item
    if isinstance(item, type) and hasattr(item, "child_spec"):
        return item.child_spec()
    if isinstance(item, tuple) and item and isinstance(item[0], type) \
            and hasattr(item[0], "child_spec"):
        return item[0].child_spec(*item[1:])
    if isinstance(item, dict):
        try:
            return ChildSpec(**item)
        except TypeError as e:   # unknown or missing fields
            raise ChildSpecError(item.get("id", item), f"not a valid child spec dict: {e}") \
                from None
    if isinstance(item, GenServer) or (isinstance(item, tuple) and item
                                       and isinstance(item[0], GenServer)):
        cls = type(item if isinstance(item, GenServer) else item[0])
        raise ChildSpecError(cls, f"a {cls.__qualname__} instance was given where a child "
                                  f"spec belongs: pass the class ({cls.__qualname__}, or "
                                  f"({cls.__qualname__}, *args) for its init's arguments); "
                                  f"the supervisor makes the instance in the child's process")
    raise ChildSpecError(item, "not a child spec: give a GenServer class, (class, *args), "
                               "a ChildSpec or a dict of its fields")


class RestartIntensity:
    """Pure bookkeeping of restarts in a sliding window (no I/O)."""

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._times: deque = deque()

    def add(self, now: float) -> bool:
        """Record one restart at ``now``; False when the limit is exceeded."""
        times = self._times
        times.append(now)
        while times and times[0] <= now - self.max_seconds:
            times.popleft()
        return len(times) <= self.max_restarts


class _Child:
    __slots__ = ("spec", "pid", "restarts")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.pid: Optional[Pid] = None
        self.restarts = 0


def _start_spec(spec: ChildSpec) -> Optional[Pid]:
    try:
        pid = spec.start(*spec.args, **spec.kwargs)
    except StartError as e:
        raise StartError(("failed_to_start_child", spec.id, e.reason)) from e
    except Exception as e:
        raise StartError(("failed_to_start_child", spec.id, e)) from e
    if pid is not None and not isinstance(pid, Pid):
        raise StartError(("failed_to_start_child", spec.id, ("bad_return", pid)))
    return pid


def _shutdown_child(pid: Pid, spec: ChildSpec) -> Any:
    """Stop one child as its spec says; returns the reason it ended with."""
    ref = monitor(pid)
    unlink(pid)
    take_first(current_process(), ExitMsg(pid, ANY))
    mode = spec.shutdown
    if mode == "brutal_kill":
        exit(pid, "kill")
        return receive(("DOWN", ref, ANY, ANY, ANY)).reason
    exit(pid, "shutdown")
    timeout = None if mode == "infinity" else mode / 1000.0
    down = receive(("DOWN", ref, ANY, ANY, ANY), timeout=timeout, default=None)
    if down is None:
        log.error("child %s (%r) did not stop within %s ms: killing it", describe_id(spec.id),
                  pid, mode)
        exit(pid, "kill")
        down = receive(("DOWN", ref, ANY, ANY, ANY))
    if down.reason != "shutdown":
        log.error("child %s (%r) shut down with reason %r", describe_id(spec.id), pid,
                  down.reason)
    return down.reason


def _restartable(restart: str, reason: Any) -> bool:
    if restart == "permanent":
        return True
    if restart == "temporary":
        return False
    if reason.__class__ is str:
        return reason not in ("normal", "shutdown")
    return not (isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "shutdown")


class Supervisor(GenServer):
    """A supervisor; subclass and return ``self.supervise(children, ...)``
    from ``init``, or call ``Supervisor.start_link(children, ...)``."""

    restart = "permanent"
    shutdown = "infinity"
    child_type = "supervisor"

    def init(self, children: Any = (), **flags: Any) -> Any:
        return self.supervise(children, **flags)

    def supervise(self, children: Any, *, strategy: str = "one_for_one",
                  max_restarts: int = 3, max_seconds: float = 5.0) -> Any:
        """Start ``children`` in order under ``strategy``; use from ``init``.

        If a child fails to start, the ones started are stopped and the
        supervisor fails to start with ``("failed_to_start_child", id,
        reason)``.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        process_flag("trap_exit", True)
        self._strategy = strategy
        self._intensity = RestartIntensity(max_restarts, max_seconds)
        self._children: list = []
        try:
            specs = [child_spec(c) for c in children]
            seen: set = set()
            for s in specs:
                if repr(s.id) in seen:
                    raise ChildSpecError(s.id, "two children have this id: give each its own "
                                               "(ChildSpec(id=...) or a dict with an 'id')")
                seen.add(repr(s.id))
        except ChildSpecError as e:
            # The user's mistake, not the supervisor's crash: start_link
            # raises StartError with it as the reason, and nothing is logged.
            return Stop(e)
        for spec in specs:
            child = _Child(spec)
            try:
                child.pid = _start_spec(spec)
            except StartError as e:
                self._stop_children(self._children)
                return Stop(e.reason)
            self._children.append(child)
            log.debug("supervisor %r started child %s as %r", self_pid(),
                      describe_id(spec.id), child.pid)
        return None

    # ---------------------------------------------------------- messages
    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is ExitMsg:
            for child in self._children:
                if child.pid == msg.pid:
                    return self._child_exited(child, msg.reason)
            return None
        return super().handle_info(msg)

    def _child_exited(self, child: _Child, reason: Any) -> Any:
        spec = child.spec
        child_pid, child.pid = child.pid, None
        if not _restartable(spec.restart, reason):
            if spec.restart == "temporary":
                self._children.remove(child)
            return None
        # A GenServer or task has logged its own crash with its traceback:
        # the traceback is only added here for a child that has not.
        log.error("supervisor %r: child %s (%r) exited with %r",
                  self_pid(), describe_id(spec.id), child_pid, reason,
                  exc_info=(type(reason), reason, reason.__traceback__)
                  if isinstance(reason, BaseException) and not was_reported(reason) else None)
        return self._restart(child)

    def _restart(self, child: _Child) -> Any:
        while True:
            if not self._intensity.add(time.monotonic()):
                log.error("supervisor %r reached its restart intensity (%d in %s s): "
                          "shutting down", self_pid(), self._intensity.max_restarts,
                          self._intensity.max_seconds)
                return Stop("shutdown")
            idx = self._children.index(child)
            if self._strategy == "one_for_one":
                group = [child]
            elif self._strategy == "one_for_all":
                group = list(self._children)
            else:
                group = self._children[idx:]
            self._stop_children([c for c in group if c is not child])
            # A temporary child is never restarted, not even when a sibling's
            # restart stopped it: it leaves the child list (as OTP's).
            dropped = [c for c in group if c is not child and c.spec.restart == "temporary"]
            for c in dropped:
                self._children.remove(c)
            group = [c for c in group if c not in dropped]
            failed = None
            for c in group:
                try:
                    c.pid = _start_spec(c.spec)
                    c.restarts += 1
                    log.info("supervisor %r restarted child %s as %r", self_pid(),
                             describe_id(c.spec.id), c.pid)
                except StartError as e:
                    log.error("supervisor %r could not restart child %s: %s",
                              self_pid(), describe_id(c.spec.id), e)
                    failed = c
                    break
            if failed is None:
                return None
            self._stop_children([c for c in group if c.pid is not None])
            child = failed

    def _stop_children(self, children: list) -> None:
        for c in reversed(children):
            if c.pid is not None:
                _shutdown_child(c.pid, c.spec)
                c.pid = None

    def terminate(self, reason: Any) -> None:
        self._stop_children(getattr(self, "_children", []))

    # ------------------------------------------------------------ calls
    def handle_call(self, request: Any, from_: tuple) -> Any:
        op = request[0]
        if op == "which_children":
            return [(c.spec.id, c.pid, c.spec.type) for c in self._children]
        if op == "count_children":
            specs = len(self._children)
            active = sum(1 for c in self._children if c.pid is not None)
            sups = sum(1 for c in self._children if c.spec.type == "supervisor")
            return {"specs": specs, "active": active, "supervisors": sups,
                    "workers": specs - sups}
        if op == "restart_counts":
            return {c.spec.id: c.restarts for c in self._children}
        if op == "start_child":
            try:
                spec = child_spec(request[1])
            except ChildSpecError as e:
                return ("error", e)
            existing = self._find(spec.id)
            if existing is not None:
                if existing.pid is not None:
                    return ("error", ("already_started", existing.pid))
                return ("error", "already_present")
            child = _Child(spec)
            try:
                child.pid = _start_spec(spec)
            except StartError as e:
                return ("error", e.reason)
            self._children.append(child)
            return ("ok", child.pid)
        child = self._find(request[1])
        if child is None:
            return ("error", "not_found")
        if op == "terminate_child":
            if child.pid is not None:
                _shutdown_child(child.pid, child.spec)
                child.pid = None
            if child.spec.restart == "temporary":
                self._children.remove(child)
            return ("ok", None)
        if op == "restart_child":
            if child.pid is not None:
                return ("error", "running")
            try:
                child.pid = _start_spec(child.spec)
            except StartError as e:
                return ("error", e.reason)
            return ("ok", child.pid)
        if op == "delete_child":
            if child.pid is not None:
                return ("error", "running")
            self._children.remove(child)
            return ("ok", None)
        raise ValueError(f"unknown supervisor request {request!r}")

    def _find(self, child_id: Any) -> Optional[_Child]:
        for c in self._children:
            if c.spec.id == child_id:
                return c
        return None


def _checked(result: Any) -> Any:
    status, value = result
    if status != "ok":
        if value.__class__ is tuple and len(value) == 2 and value[0] == "already_started":
            raise AlreadyStarted(value[1])
        if isinstance(value, ChildSpecError):
            raise value
        raise SupervisorError(value)
    return value


def which_children(sup: Any) -> list:
    """``[(id, pid or None, type), ...]`` in start order."""
    return call(sup, ("which_children",), None)


def count_children(sup: Any) -> dict:
    """``{"specs", "active", "supervisors", "workers"}`` counts."""
    return call(sup, ("count_children",), None)


def start_child(sup: Any, spec: Any) -> Optional[Pid]:
    """Add and start a child; returns its pid.

    Raises:
        ChildSpecError: ``spec`` is not a valid child spec (checked here,
            at the caller, so the supervisor never sees it).
        AlreadyStarted: a child with that id is running (``.pid`` is it).
        SupervisorError: otherwise refused: ``"already_present"`` (a
            stopped child has that id), or the child failed to start.
    """
    return _checked(call(sup, ("start_child", child_spec(spec)), None))


def terminate_child(sup: Any, child_id: Any) -> None:
    """Stop a child by id (its spec stays, unless temporary)."""
    _checked(call(sup, ("terminate_child", child_id), None))


def restart_child(sup: Any, child_id: Any) -> Optional[Pid]:
    """Start a stopped child again by id; returns its pid."""
    return _checked(call(sup, ("restart_child", child_id), None))


def delete_child(sup: Any, child_id: Any) -> None:
    """Forget a stopped child's spec."""
    _checked(call(sup, ("delete_child", child_id), None))
