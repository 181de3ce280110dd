"""Registry: a local key/process store, as Elixir's.

A process registers *itself* under keys with a value; anyone looks keys up;
entries vanish when their process ends.  ``keys="unique"`` lets one process
hold a key at a time, ``keys="duplicate"`` any number (a pubsub topic).

Example::

    reg = Registry.start_link(keys="unique", name="sessions")
    Registry.register("sessions", ("user", 42), {"joined": now})
    Registry.lookup("sessions", ("user", 42))      # [(pid, {"joined": ...})]

    # via names, as {:via, Registry, {Sessions, key}}:
    Room.start_link(name=("via", Registry, ("sessions", "lobby")))
    call(("via", Registry, ("sessions", "lobby")), "who")
    # or with the handle start_link returned:
    call(("via", reg, "lobby"), "who")

Design
------
*Reads and writes go through no process.*  The tables are plain dicts held
by the :class:`Registry` handle (see :mod:`._registry_table`);
``register`` and ``unregister`` write them in the caller's greenlet and
``lookup`` reads them there, as Elixir's Registry uses ETS.  Nothing waits
on a message.

*Partition processes only clean up.*  Each partition is a small GenServer
holding exactly one monitor per owner pid assigned to it
(``pid.id % partitions``), however many keys that pid holds: a pid's first
key sends its partition one ``("sync", pid)`` cast, its last unregister
another, and further keys send nothing.  On a sync the partition compares
the owner table with the monitors it holds and takes or drops one (so sync
messages from several writers may arrive in any order: the table is the
truth).  On ``DOWN`` it purges that pid's entries.  Monitors rather than
links, so that stopping a registry never kills the processes registered in
it; a monitor on an already-dead pid reports ``noproc`` at once, so an
owner dying before its partition got round to watching it is still
purged.  Cleanup is therefore asynchronous: for an instant after a process
dies its entries are still in the table.  A unique lookup (and via's
``whereis_name``) checks that the holder is alive, and registering a key
held by a dead, not yet purged process takes it over, as Elixir does;
duplicate lookups return entries as stored (a send to a dead pid is a
no-op).

*The tree.*  ``start_link`` starts a one_for_one :class:`Supervisor` (the
registry's pid, registered under ``name``) with one partition child per
partition.  A partition may be restarted: the tables live in the handle,
not in the partition, so a new partition re-monitors every owner in its
table when it starts (the dead ones answer ``noproc`` and are purged).
When the supervisor stops, the tables are cleared and the handle is closed;
any later use raises :class:`UnknownRegistry`.  The supervisor owns the
registry's named instance (kind ``"registry"``, under its name, or its pid
when it has none), so a registry killed outright leaves no entry behind
either, and its name resolves to nothing at once.

Processes of this node only: entries of remote pids are purged at once.
"""
from __future__ import annotations

from types import MethodType
from typing import Any, Callable, Optional

from ..core import BadArg, Down, Pid, Ref, demonitor, is_alive, monitor, whereis
from ..lowlevel import current_process, instance_table, put_instance
from ._errors import AlreadyRegistered, UnknownRegistry
from ._gen_server import GenServer, cast
from ._registry_table import Entry, RegistryTable
from ._supervisor import ChildSpec, Supervisor

__all__ = ["Registry"]

KINDS = ("unique", "duplicate")

#: Running registries: name (the supervisor's pid if anonymous) -> handle,
#: a live read-only view of the named instances of kind ``"registry"``.
_named = instance_table("registry")


class _ViaFunction:
    """A via-protocol function usable two ways.

    On a handle, ``reg.whereis_name(key)``: the handle is the registry, as in
    ``("via", reg, key)``.  On the class, ``Registry.whereis_name((registry,
    key))``, the name is a pair, as in ``("via", Registry, ("sessions",
    key))``, Elixir's ``{:via, Registry, {Sessions, key}}``.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Callable[..., Any]:
        fn = self._fn
        if obj is not None:
            return MethodType(fn, obj)

        def by_pair(name: tuple[Any, Any], *args: Any) -> Any:
            if not (isinstance(name, tuple) and len(name) == 2):
                raise BadArg(f"a Registry via name is (registry, key), got {name!r}")
            return fn(name[0], name[1], *args)
        by_pair.__doc__ = fn.__doc__
        return by_pair


class Registry:
    """A running registry: what :meth:`start_link` returns.

    The functions are static, Elixir-style: ``Registry.lookup(registry,
    key)``, where ``registry`` is this handle or the registry's ``name``.
    The handle is also a via-name registry (``register_name``,
    ``unregister_name``, ``whereis_name``).
    """

    __slots__ = ("name", "kind", "partitions", "pid", "_table", "_partition_pids", "_open")

    def __init__(self, kind: str, name: Optional[str], partitions: int) -> None:
        """Made by :meth:`start_link`; do not construct directly."""
        self.name = name
        self.kind = kind
        self.partitions = partitions
        self.pid: Optional[Pid] = None
        self._table = RegistryTable(kind == "unique", partitions)
        self._partition_pids: list[Optional[Pid]] = [None] * partitions
        self._open = True

    def __repr__(self) -> str:
        label = repr(self.name) if self.name is not None else "anonymous"
        return f"<Registry {label} {self.kind} x{self.partitions} {self.pid!r}>"

    @property
    def partition_pids(self) -> tuple[Optional[Pid], ...]:
        """The partition processes, by index (a pid's partition is
        ``pid.id % partitions``)."""
        return tuple(self._partition_pids)

    # ------------------------------------------------------------- starting
    @staticmethod
    def start_link(*, keys: str, name: Optional[str] = None, partitions: int = 1) -> "Registry":
        """Start a registry linked to the caller; returns its handle.

        ``keys`` is ``"unique"`` or ``"duplicate"``; ``name`` (a str) is
        registered for the registry's supervisor and lets every function
        here take the name instead of the handle; ``partitions`` is how
        many cleanup processes share the owners.

        Raises:
            BadArg: bad ``keys`` or ``partitions``.
            StartError: ``name`` is taken (``("already_started", ...)``).
        """
        if keys not in KINDS:
            raise BadArg(f"keys must be one of {KINDS}, got {keys!r}")
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise BadArg(f"partitions must be a positive int, got {partitions!r}")
        reg = Registry(keys, name, partitions)
        _RegistrySupervisor.start_link(reg, name=name)
        return reg

    @staticmethod
    def child_spec(*, keys: str, name: Optional[str] = None, partitions: int = 1) -> ChildSpec:
        """A supervisor child for a registry, usually named::

            Supervisor.start_link([Registry.child_spec(keys="unique", name="rooms"), Rooms])
        """
        return ChildSpec(id=("Registry", name), start=_start_for_supervisor,
                         kwargs={"keys": keys, "name": name, "partitions": partitions},
                         type="supervisor", shutdown="infinity")

    # ---------------------------------------------------------------- writes
    @staticmethod
    def register(registry: "Registry | str", key: Any, value: Any) -> None:
        """Register the calling process under ``key`` with ``value``.

        In a duplicate registry a process may register a key more than
        once (each registration is an entry).

        Raises:
            AlreadyRegistered: unique registry, and a live process (the
                caller, perhaps) holds ``key``; ``.pid`` is the holder.
            UnknownRegistry: no such running registry.
        """
        _insert(_get(registry), key, current_process().pid, value)

    @staticmethod
    def unregister(registry: "Registry | str", key: Any) -> None:
        """Drop all of the caller's entries under ``key`` (no-op if none)."""
        reg = _get(registry)
        pid = current_process().pid
        if reg._table.remove(key, pid):
            _sync(reg, pid)

    @staticmethod
    def update_value(registry: "Registry | str", key: Any,
                     fn: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Unique registries: set the caller's value under ``key`` to
        ``fn(old)``; returns ``(new, old)``.

        Raises:
            BadArg: a duplicate registry, or the caller does not hold ``key``.
        """
        reg = _get(registry)
        if reg.kind != "unique":
            raise BadArg(f"update_value needs a unique registry, {reg!r} is not")
        pid = current_process().pid
        res = reg._table.replace_value(key, pid, fn)
        if res is None:
            raise BadArg(f"{pid!r} does not hold key {key!r} in {reg!r}")
        return res

    # ----------------------------------------------------------------- reads
    @staticmethod
    def lookup(registry: "Registry | str", key: Any) -> list[Entry]:
        """``[(pid, value), ...]`` registered under ``key`` (``[]`` if none).

        Unique registries report only a live holder.  Duplicate registries
        may, for an instant after a process ends, still list its entries.
        """
        reg = _get(registry)
        if reg.kind == "unique":
            entry = reg._table.holder(key)
            if entry is None or not is_alive(entry[0]):
                return []
            return [entry]
        return reg._table.lookup(key)

    @staticmethod
    def values(registry: "Registry | str", key: Any, pid: Pid) -> list[Any]:
        """The values ``pid`` registered under ``key``."""
        return _get(registry)._table.values(key, pid)

    @staticmethod
    def keys(registry: "Registry | str", pid: Pid) -> list[Any]:
        """The keys ``pid`` holds, once per entry; ``[]`` if it is dead."""
        reg = _get(registry)
        if not is_alive(pid):
            return []
        return reg._table.keys_of(pid)

    @staticmethod
    def count(registry: "Registry | str") -> int:
        """How many entries the registry holds."""
        return _get(registry)._table.size

    @staticmethod
    def dispatch(registry: "Registry | str", key: Any, fn: Callable[[list[Entry]], Any]) -> None:
        """Call ``fn(entries)`` with ``key``'s ``[(pid, value), ...]``, in the
        caller, if there are any (Elixir's ``dispatch``, one batch)."""
        entries = Registry.lookup(registry, key)
        if entries:
            fn(entries)

    # ------------------------------------------------- via-name protocol
    def _register_name(registry: "Registry | str", key: Any, pid: Pid) -> None:
        """Register ``pid`` (not the caller) under ``key``, with value None.

        A GenServer started with ``name=("via", reg, key)`` calls this from
        its own process.  Raises AlreadyRegistered, or BadArg for a
        duplicate registry."""
        reg = _get(registry)
        if reg.kind != "unique":
            raise BadArg(f"via names need a unique registry, {reg!r} is not")
        _insert(reg, key, pid, None)

    def _unregister_name(registry: "Registry | str", key: Any) -> None:
        """Drop ``key``, whichever process holds it."""
        reg = _get(registry)
        entry = reg._table.holder(key) if reg.kind == "unique" else None
        if entry is not None and reg._table.remove(key, entry[0]):
            _sync(reg, entry[0])

    def _whereis_name(registry: "Registry | str", key: Any) -> Optional[Pid]:
        """The live process holding ``key``, or None.

        Also None when the registry itself is gone (a name in a registry
        that no longer runs names no process): ``call`` then fails with
        ``noproc`` and ``cast`` does nothing, as OTP's ``cast`` never fails."""
        try:
            reg = _get(registry)
        except UnknownRegistry:
            return None
        entry = reg._table.holder(key) if reg.kind == "unique" else None
        if entry is None or not is_alive(entry[0]):
            return None
        return entry[0]

    register_name = _ViaFunction(_register_name)
    unregister_name = _ViaFunction(_unregister_name)
    whereis_name = _ViaFunction(_whereis_name)
    del _register_name, _unregister_name, _whereis_name

    @staticmethod
    def running() -> list["Registry"]:
        """The handles of the registries running on this node (named and
        anonymous), named first, by name."""
        regs = [r for r in _named.values() if r._open]
        return sorted(regs, key=lambda r: (r.name is None, str(r.name), r.pid.id))

    # -------------------------------------------------------------- private
    def _close(self) -> None:
        self._open = False
        self._table.clear()


def _get(registry: Any) -> Registry:
    """The open handle of ``registry`` (a handle or a registry name)."""
    if isinstance(registry, Registry):
        if registry._open and registry.pid is not None and is_alive(registry.pid):
            return registry
        raise UnknownRegistry(registry)
    if isinstance(registry, str):
        reg = _named.get(registry)
        if reg is not None and reg._open and reg.pid is not None and whereis(registry) == reg.pid:
            return reg
        raise UnknownRegistry(registry)
    raise BadArg(f"not a registry or a registry name: {registry!r}")


def _insert(reg: Registry, key: Any, pid: Pid, value: Any) -> None:
    table = reg._table
    if table.unique:
        entry = table.holder(key)
        if entry is not None:
            holder = entry[0]
            if holder == pid or is_alive(holder):
                raise AlreadyRegistered(reg, key, holder)
            # Held by a process that ended and is not purged yet: take over.
            if table.remove(key, holder):
                _sync(reg, holder)
    if table.add(key, pid, value):
        _sync(reg, pid)


def _sync(reg: Registry, pid: Pid) -> None:
    """Tell ``pid``'s partition that its set of owners changed."""
    ppid = reg._partition_pids[pid.id % reg.partitions]
    if ppid is not None:
        # To a dead partition the cast is dropped; its successor
        # re-reads the whole owner table when it starts.
        cast(ppid, ("sync", pid))


def _start_for_supervisor(*, keys: str, name: Optional[str], partitions: int) -> Optional[Pid]:
    return Registry.start_link(keys=keys, name=name, partitions=partitions).pid


# ------------------------------------------------------------- processes
class _Partition(GenServer):
    """Watches the owners of one partition: one monitor per owner pid."""

    def init(self, reg: Registry, index: int) -> None:
        self._reg = reg
        self._owners: dict[Pid, dict[Any, int]] = reg._table.owners[index]
        self._refs: dict[Pid, Ref] = {}   # owner pid -> monitor ref
        reg._partition_pids[index] = current_process().pid
        for pid in list(self._owners):
            self._reconcile(pid)

    def handle_cast(self, msg: Any) -> None:
        self._reconcile(msg[1])

    def handle_info(self, msg: Any) -> Any:
        if msg.__class__ is Down:
            pid = msg.pid
            if self._refs.get(pid) == msg.ref:
                del self._refs[pid]
                self._reg._table.purge(pid)
            return None
        return super().handle_info(msg)

    def _reconcile(self, pid: Pid) -> None:
        ref: Optional[Ref] = self._refs.get(pid)
        if pid in self._owners:
            if ref is None:
                self._refs[pid] = monitor(pid)
        elif ref is not None:
            del self._refs[pid]
            demonitor(ref, flush=True)


class _RegistrySupervisor(Supervisor):
    """The registry's own process: supervises its partitions."""

    def init(self, reg: Registry) -> Any:  # type: ignore[override]
        self._reg = reg
        reg.pid = current_process().pid
        put_instance("registry", reg.name if reg.name is not None else reg.pid, reg)
        children = [ChildSpec(id=("partition", i), start=_Partition.start_link, args=(reg, i))
                    for i in range(reg.partitions)]
        return self.supervise(children, strategy="one_for_one")

    def terminate(self, reason: Any) -> None:
        super().terminate(reason)
        self._reg._close()
