"""Node identity, pids and references.

A :class:`Pid` names one process on one node incarnation, as an Erlang pid
does: ``(node, id, creation)``.  Pids of this node print as ``<0.57.0>``;
pids of other nodes print with the small number this node gave their node
the first time it saw it (``<3.57.0>``), exactly as Erlang shows them.  The
node name and creation travel with the pid, so a pid received from another
node can be routed back to it (the codec carries all three).

A local pid also holds a private, direct reference to its live process
record (``_proc``) so that ``send`` costs one attribute load rather than a
table lookup.  The runtime clears it when the process exits, which is what
makes a send to a dead pid a cheap no-op.
"""
from __future__ import annotations

import itertools
import os
import time
import weakref
from typing import Any

__all__ = ["Pid", "Ref", "make_ref", "node", "node_creation", "set_node_name"]

_node_name = "nonode@nohost"
# A fresh creation per OS process, like Erlang's node "creation": a pid of a
# restarted node never equals a pid of its previous incarnation.
_creation = (int(time.time() * 1_000_000) ^ (os.getpid() << 20)) & 0xFFFFFFFF
_node_index: dict[str, int] = {_node_name: 0}


def node() -> str:
    """The name of this node (``nonode@nohost`` until one is set)."""
    return _node_name


def node_creation() -> int:
    """This node incarnation's creation number."""
    return _creation


def set_node_name(name: str) -> None:
    """Name this node.  Must happen before any process exists.

    Raises:
        RuntimeError: if pids were already made under the old name.
    """
    global _node_name
    if not isinstance(name, str) or not name:
        raise ValueError(f"a node name must be a non-empty str, got {name!r}")
    if _counters_used():
        raise RuntimeError("set_node_name() must be called before any pid or ref exists")
    del _node_index[_node_name]
    _node_name = name
    _node_index[name] = 0


def _index_of(node_name: str) -> int:
    idx = _node_index.get(node_name)
    if idx is None:
        idx = _node_index[node_name] = len(_node_index)
    return idx


class Pid:
    """A process identifier: hashable, ordered, printable as ``<0.57.0>``."""

    __slots__ = ("node", "id", "creation", "_hash", "_proc", "__weakref__")

    node: str
    id: int
    creation: int

    def __init__(self, node: str, id: int, creation: int) -> None:
        self.node = node
        self.id = id
        self.creation = creation
        # Cheap: pids of one node differ by id; eq settles the rare clash.
        self._hash = id ^ creation
        self._proc = None

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> Any:
        if other is self:
            return True
        if other.__class__ is not Pid:
            return NotImplemented
        return (self.id == other.id and self.node == other.node  # type: ignore[attr-defined]
                and self.creation == other.creation)  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> Any:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def _key(self) -> tuple:
        return (self.node, self.id, self.creation)

    def __lt__(self, other: "Pid") -> bool:
        if other.__class__ is not Pid:
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: "Pid") -> bool:
        if other.__class__ is not Pid:
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: "Pid") -> bool:
        if other.__class__ is not Pid:
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: "Pid") -> bool:
        if other.__class__ is not Pid:
            return NotImplemented
        return self._key() >= other._key()

    @property
    def is_local(self) -> bool:
        """True when this pid belongs to this node incarnation."""
        return self.node == _node_name and self.creation == _creation

    def __repr__(self) -> str:
        return f"<{_index_of(self.node)}.{self.id}.0>"

    def __reduce__(self):
        return (Pid, (self.node, self.id, self.creation))


class Ref:
    """A unique reference (``make_ref()``), printed as ``#Ref<0.42>``.

    Refs compare and hash by identity, at C speed: a call's monitor alias
    is a dict and set key several times per call.  That is Erlang's value
    equality because no two live Ref objects carry the same
    ``(node, id, creation)``: :func:`make_ref` numbers each new one, and
    every other way of making a ref from those three (the codec's decode,
    unpickling, ``Ref(node, id, creation)``) goes through this node's
    intern table, which holds every live ref that left or arrived as
    bytes (encoded, pickled): the ref a remote node sends back is the very
    object that left, and copies are the ref itself.  (A local ref never
    encoded, rebuilt by hand from its fields, is a new ref equal to no
    other: nothing in beamish does that.)
    """

    __slots__ = ("node", "id", "creation", "__weakref__")

    node: str
    id: int
    creation: int

    def __new__(cls, node: str, id: int, creation: int) -> "Ref":
        key = (node, id, creation)
        ref = _interned.get(key)
        if ref is None:
            ref = _new_ref(cls)
            ref.node = node
            ref.id = id
            ref.creation = creation
            _interned[key] = ref
        return ref

    def _export(self) -> "Ref":
        """Enter this ref in the intern table (it is leaving as bytes: an
        equal ref made from them must be this object); returns it."""
        key = (self.node, self.id, self.creation)
        if _interned.get(key) is not self:
            _interned[key] = self
        return self

    def __lt__(self, other: "Ref") -> bool:
        if other.__class__ is not Ref:
            return NotImplemented
        return (self.node, self.id, self.creation) < (other.node, other.id, other.creation)

    def __repr__(self) -> str:
        return f"#Ref<{_index_of(self.node)}.{self.id}>"

    def __reduce__(self):
        self._export()
        return (Ref, (self.node, self.id, self.creation))

    def __copy__(self) -> "Ref":
        return self

    def __deepcopy__(self, memo: dict) -> "Ref":
        return self


#: (node, id, creation) -> the live Ref of that triple, for refs that left
#: or arrived as bytes (see :class:`Ref`); an entry goes with its ref.
_interned: "weakref.WeakValueDictionary[tuple, Ref]" = weakref.WeakValueDictionary()
_new_ref = object.__new__


_pid_ids = itertools.count(1)
_ref_ids = itertools.count(1)


def _counters_used() -> bool:
    # itertools.count has no peek; its repr shows the next value.
    return repr(_pid_ids) != "count(1)" or repr(_ref_ids) != "count(1)"


def _new_pid() -> Pid:
    return Pid(_node_name, next(_pid_ids), _creation)


def make_ref() -> Ref:
    """A reference unique across this node's lifetime and its incarnations."""
    ref = _new_ref(Ref)     # a fresh number: no intern table look-up needed
    ref.node = _node_name
    ref.id = next(_ref_ids)
    ref.creation = _creation
    return ref
