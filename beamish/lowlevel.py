"""The runtime's low-level API: what behaviours and extension packages need
from the process runtime beyond ``beamish.core``'s user API.

``beamish.otp``, ``beamish.pubsub``, ``beamish.presence``, ``beamish.channels``
and the observer are built on these names and nothing else of the core's
internals; code of your own that builds processes of a new kind may use
them too.  They are stable and documented, but they hand out the
runtime's own records, so each says what its caller must keep true.
This module imports only from :mod:`beamish.core`, so any layer above can
import it.

Process records
    :class:`Process` is the runtime's record of a process.  Treat it as
    read-mostly: read any field; set only ``label``, ``initial`` and
    ``state`` (through :func:`set_initial_call` and
    :func:`set_state_object`); never keep a record past its process's end
    (``alive`` turns False and the runtime drops its tables).

Named instances
    :func:`put_instance`, :func:`instance`, :func:`instances`,
    :func:`instance_table` and :func:`remove_instance` keep what a
    component started under a name resolves to (a PubSub's tables, a
    Registry's handle), owned by a process and dropped by the runtime when
    that process ends, however it ends.  :func:`instance_entries` lists
    them for leak checks.

Calls
    :func:`call_process` is a whole call, OTP's ``gen:do_call``: monitor
    alias, request, wait, end of the monitor, in one runtime function (a
    GenServer call's hot path).  :func:`monitor_as`, :func:`await_reply`,
    :func:`end_call_monitor` and :func:`take_reply` are its parts, for a
    protocol of another shape.

Message tags
    :mod:`tags <beamish.core._tags>` names every internal ``"$..."``
    message tag beamish's own processes exchange (``lowlevel.tags.CALL``).

Remote routing
    :func:`set_remote_router` is how :mod:`beamish.dist` (or any other
    transport) takes the signals of the core's ``send``, ``monitor``,
    ``link``, ``unlink`` and ``exit`` whose target is another node's pid,
    alias or ``(name, node)``; :func:`remote_down`, :func:`remote_exit`,
    :func:`remote_link` and :func:`remote_unlink` apply what another node
    reports to the local processes.

Everything here, as everything in beamish, must be called from the hub's
thread.
"""
from __future__ import annotations

from typing import Any, Optional

from .core import _tags as tags
from .core._codec import CodecError
from .core._codec import decode as decode_term
from .core._codec import encode as encode_term
from .core._codec import register as register_term
from .core._ids import Pid, Ref
from .core._instances import InstanceTaken, instance, instance_entries, instance_table, instances
from .core._instances import put_instance as _put_instance
from .core._instances import remove_instance
from .core._process import _await_reply, _call, _current, _deliver, _demonitor_as, _end_call_monitor
from .core._process import _monitor_as, _run_callback, _set_initial_call, _take_reply
from .core._process import flush_mailbox, take_first
from .core._process import _remote_down, _remote_exit, _remote_link, _remote_unlink
from .core._process import _set_remote_router, _Hibernate
from .core._reasons import is_clean_exit, mark_reported, was_reported
from .core._runtime import NO_EXIT as _NO_EXIT
from .core._runtime import (Process, RuntimeView, describe_process, initial_call_of, lookup,
                            runtime_view)

__all__ = [
    "CodecError", "InstanceTaken", "Process", "RuntimeView", "await_reply", "call_process",
    "current_process",
    "decode_term", "deliver", "demonitor_as", "describe_process", "encode_term",
    "end_call_monitor", "exit_pending", "flush_mailbox", "initial_call_of", "instance",
    "instance_entries", "instance_table", "instances", "is_clean_exit", "is_hibernate_unwind",
    "lookup", "mark_reported",
    "monitor_as", "process_state_object", "put_instance", "register_term", "remote_down",
    "remote_exit", "remote_link", "remote_unlink", "remove_instance", "run_callback",
    "runtime_view", "set_initial_call", "set_remote_router", "set_state_object", "tags",
    "take_first", "take_reply", "was_reported",
]

# The runtime's own functions, bound under their public names: message
# delivery, monitors and call waits run per message, so no wrapper stands
# between a caller and them.  Each one's docstring is its contract.
current_process = _current
deliver = _deliver
monitor_as = _monitor_as
demonitor_as = _demonitor_as
await_reply = _await_reply
call_process = _call
end_call_monitor = _end_call_monitor
set_initial_call = _set_initial_call
set_remote_router = _set_remote_router
remote_down = _remote_down
remote_exit = _remote_exit
remote_link = _remote_link
remote_unlink = _remote_unlink
#: ``run_callback(fn, *args)``: run ``fn(*args)`` in the hub at its next
#: loop iteration (gevent's ``loop.run_callback``).  ``fn`` runs outside
#: any process: it must not block, ``receive`` or raise.
run_callback = _run_callback


def is_hibernate_unwind(exc: BaseException) -> bool:
    """True if ``exc`` is :func:`beamish.hibernate` unwinding the stack:
    not an error and not the process's end.  A ``try`` that releases
    something however the process ends (``except BaseException``) must
    re-raise it untouched and release nothing: the process lives on."""
    return exc.__class__ is _Hibernate


def exit_pending(proc: Process) -> bool:
    """True if an exit signal is pending for ``proc``: it is dying, and its
    next ``receive`` raises ``Exit``.  A behaviour checks this to tell an
    exit signal from outside (die now, no cleanup) from its own failure."""
    return proc.exit_ is not _NO_EXIT


def set_state_object(obj: Any) -> None:
    """Record ``obj`` as the calling process's behaviour state (a GenServer
    sets its instance), for tools that measure what a process holds.
    The runtime drops the reference when the process ends."""
    _current().state = obj


def process_state_object(proc: Process) -> Optional[Any]:
    """The behaviour state object ``proc`` recorded with
    :func:`set_state_object`, or None."""
    return proc.state


def take_reply(proc: Process, ref: Ref) -> Any:
    """Remove and return the first queued ``(ref, value)`` or ``DOWN`` of
    ``ref`` from ``proc``'s mailbox, or None."""
    return _take_reply(proc, ref, 0)


def put_instance(kind: str, name: Any, value: Any, owner: Optional[Pid] = None) -> None:
    """Store ``value`` as what ``name`` of ``kind`` resolves to, owned by
    ``owner`` (the calling process unless given): the runtime drops the
    entry when the owner ends, however it ends.  Read it back with
    :func:`instance` or :func:`instance_table`; list a kind with
    :func:`instances`.

    Raises:
        InstanceTaken: ``(kind, name)`` has an entry already.
        NoProc: ``owner`` is not a live process of this node.
    """
    _put_instance(kind, name, value, owner if owner is not None else _current().pid)
