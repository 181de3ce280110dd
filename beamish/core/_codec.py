"""The term codec: msgpack with ext types, for messages between nodes.

Pids, refs and tuples survive the trip (msgpack alone would turn a tuple
into a list and could not carry a pid at all), and so do the system
records ``Down`` and ``ExitMsg`` (as the tuples they are).  A decoded pid of
this node is the live process's own pid again (``send`` to it works), and
a decoded pid of another node keeps that node's name and creation, so it
can be routed back.  A decoded ref is the live ref of its node, id and
creation when there is one (refs compare by identity: see
:class:`~beamish.core._ids.Ref`).

=====  ===================================================================
ext    payload
=====  ===================================================================
1      Pid: msgpack ``[node, id, creation]``
2      Ref: msgpack ``[node, id, creation]``
3      tuple: msgpack array of its (encoded) items
4      set / frozenset: msgpack array (decoded as frozenset)
5      a registered dataclass: ``[name, field values...]`` (see :func:`register`)
=====  ===================================================================

Only dataclasses registered with :func:`register` (under the same name on
every node) are carried: decoding never instantiates an arbitrary class.

Anything msgpack cannot carry raises :class:`CodecError`; bytes that do not
decode raise :class:`CodecError` too, never anything else.

Decoding is bounded, because it reads bytes from other machines (Redis, the
host relay, the control socket).  Each tuple, set or record level is one
nested ``msgpack.unpackb`` call holding about 40 KB of C stack, so a few
hundred nested tuples in a 1 KB message would overflow the stack and kill
the process; :func:`decode` therefore refuses more than ``max_depth`` such
levels, and more than ``max_size`` bytes, with :class:`CodecError` before
going deeper.  Lists and maps between them cost no native call: msgpack
refuses nesting them deeper than its own limit (1024).  Every msgpack
length is bounded by the input's size, so with the depth bounded the work
of one decode is at most ``max_depth`` times its input.
"""
from __future__ import annotations

from typing import Any, Optional

import msgpack

from ._errors import BeamishError
from ._ids import Pid, Ref

__all__ = ["encode", "decode", "register", "CodecError"]

EXT_PID = 1
EXT_REF = 2
EXT_TUPLE = 3
EXT_SET = 4
EXT_RECORD = 5

#: Tuples, sets and records nested deeper than this do not decode (about
#: 1.5 MB of C stack at the limit).
MAX_DEPTH = 32
#: Inputs larger than this do not decode unless the caller allows more.
MAX_SIZE = 64 << 20

_records_by_name: dict = {}
_names_by_record: dict = {}


def register(cls: type, name: Optional[str] = None) -> type:
    """Let instances of dataclass or NamedTuple ``cls`` cross nodes (usable
    as a decorator).  ``name`` (default ``module.qualname``) must be the
    same on every node.
    """
    import dataclasses
    if dataclasses.is_dataclass(cls):
        fields = tuple(f.name for f in dataclasses.fields(cls))
    elif issubclass(cls, tuple) and hasattr(cls, "_fields"):
        fields = tuple(cls._fields)
    else:
        raise TypeError(f"only dataclasses and NamedTuples can be registered, not {cls!r}")
    name = name or f"{cls.__module__}.{cls.__qualname__}"
    _records_by_name[name] = (cls, fields)
    _names_by_record[cls] = name
    return cls


class CodecError(BeamishError, ValueError):
    """A term that cannot be encoded, or bytes that are not a term."""


def _default(obj: Any) -> Any:
    cls = obj.__class__
    if cls is Pid:
        return msgpack.ExtType(EXT_PID, msgpack.packb([obj.node, obj.id, obj.creation]))
    if cls is Ref:
        obj._export()     # the ref that comes back in these bytes is this one
        return msgpack.ExtType(EXT_REF, msgpack.packb([obj.node, obj.id, obj.creation]))
    name = _names_by_record.get(cls)
    if name is not None:
        fields = _records_by_name[name][1]
        return msgpack.ExtType(EXT_RECORD,
                               _packer().pack([name, *[getattr(obj, f) for f in fields]]))
    if isinstance(obj, tuple):
        return msgpack.ExtType(EXT_TUPLE, _packer().pack(list(obj)))
    if isinstance(obj, (set, frozenset)):
        return msgpack.ExtType(EXT_SET, _packer().pack(list(obj)))
    raise TypeError(f"cannot encode {cls.__name__}: {obj!r}")


def _packer() -> msgpack.Packer:
    # strict_types: tuples (and tuple subclasses) reach _default instead of
    # being packed as arrays.
    return msgpack.Packer(default=_default, strict_types=True, use_bin_type=True)


class _Decoding:
    """One decode's state: how deep in nested ext payloads it is.  Per call,
    not global, so threads decoding at once (the observer UI) do not mix."""

    __slots__ = ("depth", "max_depth")

    def __init__(self, max_depth: int) -> None:
        self.depth = 0
        self.max_depth = max_depth

    def unpack(self, data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=self.ext_hook, raw=False, strict_map_key=False,
                               use_list=True)

    def nested(self, data: bytes) -> list:
        """The items of a tuple, set or record payload, one level deeper."""
        if self.depth >= self.max_depth:
            raise CodecError(f"term nested deeper than {self.max_depth} tuples, sets or "
                             f"records")
        self.depth += 1
        try:
            items = self.unpack(data)
        finally:
            self.depth -= 1
        if not isinstance(items, list):
            raise CodecError(f"ext payload is not an array: {type(items).__name__}")
        return items

    def ext_hook(self, code: int, data: bytes) -> Any:
        if code == EXT_PID:
            node, id_, creation = msgpack.unpackb(data)
            pid = Pid(node, id_, creation)
            from ._process import _lookup
            proc = _lookup(pid)
            return proc.pid if proc is not None else pid
        if code == EXT_REF:
            node, id_, creation = msgpack.unpackb(data)
            return Ref(node, id_, creation)
        if code == EXT_TUPLE:
            return tuple(self.nested(data))
        if code == EXT_SET:
            return frozenset(self.nested(data))
        if code == EXT_RECORD:
            name, *values = self.nested(data)
            entry = _records_by_name.get(name)
            if entry is None:
                raise CodecError(f"unregistered record type {name!r}")
            return entry[0](*values)
        return msgpack.ExtType(code, data)


def encode(term: Any) -> bytes:
    """Encode a term (see the module docstring for what survives)."""
    try:
        return _packer().pack(term)
    except (TypeError, ValueError, OverflowError) as e:
        raise CodecError(f"cannot encode term: {e}") from None


def decode(data: bytes, *, max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE) -> Any:
    """Decode bytes made by :func:`encode`.

    Raises :class:`CodecError` for anything else, including terms with
    tuples, sets or records nested deeper than ``max_depth`` and inputs
    longer than ``max_size`` bytes (see the module docstring).
    """
    if len(data) > max_size:
        raise CodecError(f"term of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        return _Decoding(max_depth).unpack(data)
    except CodecError:
        raise
    except Exception as e:  # msgpack raises several unrelated types on garbage
        raise CodecError(f"not a beamish term: {e}") from None
