"""Cluster-wide names, as Erlang's ``global``: one owner per name.

Every node keeps the whole table (name -> pid).  ``register_name`` checks
this node's table, takes the name, and tells every node; the owner's node
monitors the owner and, when it ends, releases the name everywhere.  A
node that goes down takes its owners' names with it.

Registration is optimistic, not locked across the cluster as Erlang's
is: two nodes that take one name at the same moment (or on both sides of
a partition) both succeed at first.  The conflict is resolved when each
learns of the other's claim (at once, or at the ``nodeup`` after a heal,
when nodes exchange their owners), by one rule applied the same way on
every node: **the owner with the lower (node, creation, id) keeps the
name, and the other owner is killed** (``exit(pid, "kill")`` by its own
node, logged), as Erlang's default resolver kills one of the two.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from ..core import NameTaken, NoProc, NotRegistered, Pid, exit as _exit
from ..lowlevel import demonitor_as, lookup, monitor_as

log = logging.getLogger(__name__)

__all__ = ["Names", "rank"]


def rank(pid: Pid) -> tuple:
    """The conflict rule's order: the lower rank keeps the name."""
    return (pid.node, pid.creation, pid.id)


class Names:
    """This node's copy of the global name table."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.table: dict = {}      # name -> Pid
        self.refs: dict = {}       # name -> agent monitor ref, for local owners

    def _is_local(self, pid: Pid) -> bool:
        return pid.node == self.node.name and pid.creation == self.node.creation

    def _take(self, name: Any, pid: Pid) -> bool:
        """Record ``pid`` as the owner; False if it is a dead local pid."""
        if self._is_local(pid):
            proc = lookup(pid)
            if proc is None or not proc.alive:
                return False
            mref = monitor_as(self.node.agent, pid)
            self.refs[name] = mref
            self.node.watch[mref] = ("name", name)
        self.table[name] = pid
        return True

    def _drop(self, name: Any) -> Optional[Pid]:
        pid = self.table.pop(name, None)
        mref = self.refs.pop(name, None)
        if mref is not None:
            self.node.watch.pop(mref, None)
            demonitor_as(self.node.agent, mref)
        return pid

    # ------------------------------------------------------------ the API
    def register(self, name: Any, pid: Pid) -> None:
        holder = self.table.get(name)
        if holder is not None:
            raise NameTaken(f"global name {name!r} is registered to {holder!r}")
        if self._is_local(pid):
            if not self._take(name, pid):
                raise NoProc(pid)
        else:
            peer = self.node.peers.get(pid.node)
            if peer is None or not peer.up or peer.creation != pid.creation:
                raise NoProc(pid)
            self.table[name] = pid
        self.node._out(None, ("greg", name, pid))

    def unregister(self, name: Any) -> None:
        pid = self._drop(name)
        if pid is None:
            raise NotRegistered(name)
        self.node._out(None, ("gunreg", name, pid))

    def whereis(self, name: Any) -> Optional[Pid]:
        return self.table.get(name)

    # ------------------------------------------------------------- events
    def merge(self, name: Any, pid: Pid) -> None:
        """Another node's claim of ``name`` for ``pid``: take it, or settle
        a conflict by the rule of the module docstring."""
        holder = self.table.get(name)
        if holder == pid:
            return
        if holder is None:
            if not self._take(name, pid) and self._is_local(pid):
                self.node._out(None, ("gunreg", name, pid))
            return
        winner, loser = (holder, pid) if rank(holder) < rank(pid) else (pid, holder)
        if winner is holder:
            loser_local = self._is_local(loser)
        else:
            self._drop(name)
            loser_local = self._is_local(loser)
            if not self._take(name, winner):
                self.node._out(None, ("gunreg", name, winner))
        if loser_local:
            log.warning("global name %r: conflict between %r and %r; %r keeps it, "
                        "killing %r", name, winner, loser, winner, loser)
            _exit(loser, "kill")

    def owner_down(self, name: Any, pid: Pid) -> None:
        if self.table.get(name) == pid:
            self.refs.pop(name, None)
            del self.table[name]
            self.node._out(None, ("gunreg", name, pid))

    def unreg(self, name: Any, pid: Pid) -> None:
        if self.table.get(name) == pid:
            self._drop(name)

    def node_down(self, node: str) -> None:
        for name in [n for n, pid in self.table.items() if pid.node == node]:
            self._drop(name)

    def sync_to(self, node: str) -> None:
        """Tell a node that just came up the names this node's owners hold."""
        mine = [(n, pid) for n, pid in self.table.items() if self._is_local(pid)]
        self.node._out(node, ("gsync", mine))


def _greg(node: Any, peer: Any, op: tuple) -> None:
    node.names.merge(op[1], op[2])


def _gunreg(node: Any, peer: Any, op: tuple) -> None:
    node.names.unreg(op[1], op[2])


def _gsync(node: Any, peer: Any, op: tuple) -> None:
    for name, pid in op[1]:
        node.names.merge(name, pid)


OPS = {"greg": _greg, "gunreg": _gunreg, "gsync": _gsync}
