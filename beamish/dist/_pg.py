"""Process groups, as Erlang's ``pg``: eventually consistent, no leader.

A process joins groups on its own node (``join``), as many times as it
likes (each join is one membership, as in ``pg``).  Every node keeps every
group's members: joins and leaves are told to all nodes; a member that
ends leaves all its groups; a node that comes up gets this node's local
members and replaces what it knew of them; a node that goes down takes its
members with it.  ``members`` may briefly disagree between nodes, never
for longer than the messages take.
"""
from __future__ import annotations

from typing import Any

from ..core import BadArg, Pid
from ..lowlevel import demonitor_as, lookup, monitor_as

__all__ = ["Groups"]


class Groups:
    """This node's view of every group."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.groups: dict = {}     # group -> [Pid, ...] (a pid once per join)
        self.refs: dict = {}       # local member pid -> agent monitor ref

    def _is_local(self, pid: Pid) -> bool:
        return pid.node == self.node.name and pid.creation == self.node.creation

    def _add(self, group: Any, pids: list) -> None:
        self.groups.setdefault(group, []).extend(pids)

    def _remove(self, group: Any, pids: list) -> None:
        members = self.groups.get(group)
        if not members:
            return
        for pid in pids:
            try:
                members.remove(pid)
            except ValueError:
                pass
        if not members:
            del self.groups[group]

    # ------------------------------------------------------------ the API
    def join(self, group: Any, pids: list) -> None:
        for pid in pids:
            if pid.__class__ is not Pid or not self._is_local(pid):
                raise BadArg(f"only processes of this node can join a group, not {pid!r}")
            proc = lookup(pid)
            if proc is None or not proc.alive:
                raise BadArg(f"{pid!r} is not alive")
        for pid in pids:
            if pid not in self.refs:
                mref = monitor_as(self.node.agent, pid)
                self.refs[pid] = mref
                self.node.watch[mref] = ("member", pid)
        self._add(group, pids)
        self.node._out(None, ("pjoin", group, pids))

    def leave(self, group: Any, pids: list) -> bool:
        members = self.groups.get(group, ())
        present = [pid for pid in pids if pid in members]
        if not present:
            return False
        self._remove(group, present)
        self.node._out(None, ("pleave", group, present))
        for pid in present:
            self._release(pid)
        return True

    def _release(self, pid: Pid) -> None:
        """Stop watching a local member that is in no group any more."""
        if any(pid in members for members in self.groups.values()):
            return
        mref = self.refs.pop(pid, None)
        if mref is not None:
            self.node.watch.pop(mref, None)
            demonitor_as(self.node.agent, mref)

    def members(self, group: Any) -> list:
        return list(self.groups.get(group, ()))

    def local_members(self, group: Any) -> list:
        return [pid for pid in self.groups.get(group, ()) if self._is_local(pid)]

    def which_groups(self) -> list:
        return list(self.groups)

    # ------------------------------------------------------------- events
    def member_down(self, pid: Pid) -> None:
        self.refs.pop(pid, None)
        for group in list(self.groups):
            n = self.groups[group].count(pid)
            if n:
                self._remove(group, [pid] * n)
                self.node._out(None, ("pleave", group, [pid] * n))

    def _drop_node(self, node: str) -> None:
        for group in list(self.groups):
            kept = [pid for pid in self.groups[group] if pid.node != node]
            if kept:
                self.groups[group] = kept
            else:
                del self.groups[group]

    def node_down(self, node: str) -> None:
        self._drop_node(node)

    def sync_to(self, node: str) -> None:
        mine = {g: [p for p in pids if self._is_local(p)] for g, pids in self.groups.items()}
        self.node._out(node, ("psync", {g: ps for g, ps in mine.items() if ps}))


def _pjoin(node: Any, peer: Any, op: tuple) -> None:
    node.groups._add(op[1], [p for p in op[2] if p.node == peer.name])


def _pleave(node: Any, peer: Any, op: tuple) -> None:
    node.groups._remove(op[1], op[2])


def _psync(node: Any, peer: Any, op: tuple) -> None:
    groups = node.groups
    groups._drop_node(peer.name)
    for group, pids in op[1].items():
        groups._add(group, [p for p in pids if p.node == peer.name])


OPS = {"pjoin": _pjoin, "pleave": _pleave, "psync": _psync}
