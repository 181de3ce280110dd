"""PubSub: topics, subscribers sharded by pid, and cluster adapters.

Phoenix.PubSub's semantics.  A PubSub is started under a name and is a
supervisor of ``pool_size`` shard processes plus whatever processes its
adapter needs; the API functions take that name::

    PubSub.start_link("chat", pool_size=4)                  # the local default
    PubSub.start_link("chat", adapter=RedisAdapter(url))    # a cluster on Redis

    subscribe("chat", "room:lobby")
    broadcast("chat", "room:lobby", ("new_msg", "hi"))      # every node
    broadcast_from("chat", self(), "room:lobby", msg)       # not to the sender
    local_broadcast("chat", "room:lobby", msg)              # this node only
    direct_broadcast("chat", "node2@host", "room:lobby", msg)

Subscribing twice delivers twice; ``unsubscribe`` removes all of the
caller's subscriptions to the topic.  Delivery to subscribers on this node
happens in the broadcasting process, shard by shard, with no process in
between; other nodes get one adapter message per broadcast.
"""
from __future__ import annotations

import heapq
import logging
from typing import Any, Optional, Protocol

from ..core import BadArg, node as _node
from ..lowlevel import current_process, instance_table, put_instance
from ..otp import ChildSpec, Supervisor, start_server
from ._dispatch import _dispatchers, dispatcher as _dispatcher
from ._shard import Shard, Table

log = logging.getLogger(__name__)

__all__ = ["PubSub", "Adapter", "LocalAdapter", "subscribe", "unsubscribe", "broadcast",
           "broadcast_from", "local_broadcast", "local_broadcast_from", "direct_broadcast",
           "node_name", "subscribers", "shard_stats", "instances", "topic_counts"]


class Adapter(Protocol):
    """How a PubSub reaches the other nodes of its cluster."""

    node_name: str

    def child_specs(self, pubsub: "Instance") -> list:
        """Processes the adapter needs, supervised beside the shards."""

    def broadcast(self, topic: str, message: Any, dispatcher: str, from_: Any) -> None:
        """Deliver to the subscribers on every *other* node."""

    def direct_broadcast(self, node: str, topic: str, message: Any, dispatcher: str,
                         from_: Any) -> None:
        """Deliver to the subscribers on ``node`` only (never this node)."""


class LocalAdapter:
    """The embedded single-node default: there are no other nodes."""

    def __init__(self, node_name: Optional[str] = None) -> None:
        self.node_name = node_name or _node()

    def child_specs(self, pubsub: "Instance") -> list:
        return []

    def broadcast(self, topic: str, message: Any, dispatcher: str, from_: Any) -> None:
        return None

    def direct_broadcast(self, node: str, topic: str, message: Any, dispatcher: str,
                         from_: Any) -> None:
        return None


class Instance:
    """A running PubSub's tables and adapter (what the name resolves to)."""

    __slots__ = ("name", "pool_size", "tables", "adapter")

    def __init__(self, name: str, pool_size: int, adapter: Any) -> None:
        self.name = name
        self.pool_size = pool_size
        self.tables = [Table() for _ in range(pool_size)]
        self.adapter = adapter

    def local_dispatch(self, topic: str, from_: Any, message: Any, dispatcher: str) -> None:
        groups = []
        for table in self.tables:
            subs = table.topics.get(topic)
            if subs:
                groups.append(subs)
        if groups:
            fn = _dispatchers.get(dispatcher)
            if fn is None:
                fn = _dispatcher(dispatcher)
            fn(groups, from_, message)


#: The running PubSubs' Instances by name, a live read-only view of the
#: named instances of kind ``"pubsub"``.  Each is owned by its PubSub's
#: supervisor process, so a PubSub that ends however it ends (even
#: killed) leaves no instance behind and its name can be started again.
_instances = instance_table("pubsub")
_lookup = _instances.get


def _get(pubsub: str) -> Instance:
    inst = _lookup(pubsub)
    if inst is None:
        raise BadArg(f"no PubSub named {pubsub!r} is running")
    return inst


class PubSub(Supervisor):
    """The supervisor of one PubSub's shards and adapter processes."""

    @classmethod
    def start_link(cls, name: str, *, pool_size: int = 1,  # type: ignore[override]
                   adapter: Any = None) -> Any:
        """Start the PubSub ``name`` (also its registered process name)."""
        return start_server(cls, (name, pool_size, adapter), {}, name=name, link=True)

    @classmethod
    def start(cls, name: str, *, pool_size: int = 1,  # type: ignore[override]
              adapter: Any = None) -> Any:
        return start_server(cls, (name, pool_size, adapter), {}, name=name, link=False)

    @classmethod
    def child_spec(cls, name: str, **opts: Any) -> ChildSpec:  # type: ignore[override]
        return ChildSpec(id=("pubsub", name), start=cls.start_link, args=(name,), kwargs=opts,
                         type="supervisor", shutdown="infinity")

    def init(self, name: str, pool_size: int, adapter: Any) -> Any:  # type: ignore[override]
        if not isinstance(pool_size, int) or pool_size < 1:
            raise BadArg(f"pool_size must be a positive int, got {pool_size!r}")
        inst = Instance(name, pool_size, adapter or LocalAdapter())
        put_instance("pubsub", name, inst)
        children = [ChildSpec(id=("shard", i), start=Shard.start_link, args=(t,))
                    for i, t in enumerate(inst.tables)]
        children += inst.adapter.child_specs(inst)
        return self.supervise(children, strategy="one_for_one", max_restarts=10,
                              max_seconds=5)


def subscribe(pubsub: str, topic: str, metadata: Any = None) -> None:
    """Subscribe the caller to ``topic``.  O(1), whatever the topic's size.

    ``metadata`` is kept with the subscription for dispatchers (a
    :class:`~beamish.pubsub.Fastlane` record asks for encoded frames).
    """
    inst = _get(pubsub)
    pid = current_process().pid
    inst.tables[pid.id % inst.pool_size].subscribe(pid, topic, metadata)


def unsubscribe(pubsub: str, topic: str) -> None:
    """Remove all of the caller's subscriptions to ``topic``."""
    inst = _get(pubsub)
    pid = current_process().pid
    inst.tables[pid.id % inst.pool_size].unsubscribe(pid, topic)


def broadcast(pubsub: str, topic: str, message: Any, dispatcher: str = "default") -> None:
    """Deliver ``message`` to the subscribers of ``topic`` on every node."""
    inst = _get(pubsub)
    inst.adapter.broadcast(topic, message, dispatcher, None)
    inst.local_dispatch(topic, None, message, dispatcher)


def broadcast_from(pubsub: str, from_: Any, topic: str, message: Any,
                   dispatcher: str = "default") -> None:
    """As :func:`broadcast`, skipping the subscriptions of ``from_``."""
    inst = _get(pubsub)
    inst.adapter.broadcast(topic, message, dispatcher, from_)
    inst.local_dispatch(topic, from_, message, dispatcher)


def local_broadcast(pubsub: str, topic: str, message: Any, dispatcher: str = "default") -> None:
    """Deliver to the subscribers of ``topic`` on this node only."""
    _get(pubsub).local_dispatch(topic, None, message, dispatcher)


def local_broadcast_from(pubsub: str, from_: Any, topic: str, message: Any,
                         dispatcher: str = "default") -> None:
    """As :func:`local_broadcast`, skipping ``from_``."""
    _get(pubsub).local_dispatch(topic, from_, message, dispatcher)


def direct_broadcast(pubsub: str, node: str, topic: str, message: Any,
                     dispatcher: str = "default") -> None:
    """Deliver to the subscribers of ``topic`` on ``node`` only."""
    inst = _get(pubsub)
    if node == inst.adapter.node_name:
        inst.local_dispatch(topic, None, message, dispatcher)
    else:
        inst.adapter.direct_broadcast(node, topic, message, dispatcher, None)


def node_name(pubsub: str) -> str:
    """The node name this PubSub's adapter speaks for."""
    return _get(pubsub).adapter.node_name


def subscribers(pubsub: str, topic: str) -> list:
    """``[(pid, metadata), ...]`` subscribed to ``topic`` on this node."""
    out = []
    for table in _get(pubsub).tables:
        out.extend(table.subscribers(topic))
    return out


def shard_stats(pubsub: str) -> list:
    """Per shard: ``{"topics", "pids", "monitors"}`` (monitors the shard
    process really holds, read from the runtime, not from the table)."""
    out = []
    for table in _get(pubsub).tables:
        owner = table.owner
        out.append({"topics": len(table.topics), "pids": len(table.pids),
                    "monitors": len(owner.monitors or ()) if owner is not None else 0,
                    "shard": owner.pid if owner is not None else None})
    return out


def instances() -> list:
    """The names of the PubSubs running on this node, sorted by repr."""
    return sorted(_instances, key=repr)


def topic_counts(pubsub: str, top: int = 20) -> tuple:
    """``(topics, [(topic, subscribers), ...])``: how many topics have
    subscribers on this node, and the ``top`` topics with the most
    subscriber processes, most first (a process subscribed twice counts
    once).  One pass over the shard tables' topics in the caller, O(1)
    per topic: no subscriber set is walked or copied."""
    tables = _get(pubsub).tables
    if len(tables) == 1:
        counts = {topic: len(subs) for topic, subs in tables[0].topics.items()}
    else:
        counts = {}
        for table in tables:
            for topic, subs in table.topics.items():
                counts[topic] = counts.get(topic, 0) + len(subs)
    return len(counts), heapq.nlargest(max(0, top), counts.items(), key=_second)


def _second(pair: tuple) -> Any:
    return pair[1]
