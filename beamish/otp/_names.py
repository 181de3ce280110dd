"""Names a server can be started under and called by.

* a ``str``: a locally registered name (``register``);
* ``("via", registry, key)``: a name kept by ``registry``, any object with
  ``register_name(key, pid)``, ``unregister_name(key)`` and
  ``whereis_name(key)``, as Erlang's ``{via, Module, Name}``;
  :class:`beamish.Registry` is one.
"""
from __future__ import annotations

from typing import Any, Optional

from ..core import BadArg, Pid, register, whereis

__all__ = ["register_name", "resolve_name", "unregister_name"]


def _via(name: Any):
    if isinstance(name, tuple) and len(name) == 3 and name[0] == "via":
        return name[1], name[2]
    return None


def register_name(name: Any, pid: Pid) -> None:
    """Register ``pid`` under ``name``; raises if the name is taken."""
    if isinstance(name, str):
        register(name, pid)
        return
    via = _via(name)
    if via is None:
        raise BadArg(f"not a process name: {name!r}")
    via[0].register_name(via[1], pid)


def unregister_name(name: Any) -> None:
    """Remove ``name`` (a local name or a via name)."""
    if isinstance(name, str):
        from ..core import unregister
        unregister(name)
        return
    via = _via(name)
    if via is None:
        raise BadArg(f"not a process name: {name!r}")
    via[0].unregister_name(via[1])


def resolve_name(name: Any) -> Optional[Pid]:
    """The pid behind ``name``, or None."""
    if name.__class__ is Pid:
        return name
    if isinstance(name, str):
        return whereis(name)
    via = _via(name)
    if via is None:
        raise BadArg(f"not a pid or a process name: {name!r}")
    return via[0].whereis_name(via[1])
