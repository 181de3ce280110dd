"""The in-memory adapter: several PubSub "nodes" in one OS process.

For fast cluster tests: each PubSub started with ``MemoryAdapter(cluster,
node_name)`` is a node of ``cluster``; broadcasts reach the other nodes'
subscribers asynchronously (through the hub, as a network would), and a
:class:`MemoryCluster` can cut the link between two nodes and heal it, to
make netsplits on demand.  Messages are not encoded (they are shared, as
all beamish messages are).
"""
from __future__ import annotations

from typing import Any

from ..lowlevel import run_callback

__all__ = ["MemoryCluster", "MemoryAdapter"]


class MemoryCluster:
    """A set of in-process nodes and the links between them."""

    def __init__(self) -> None:
        self.nodes: dict = {}          # node name -> pubsub Instance
        self.cut: set = set()          # frozenset({a, b}) of partitioned pairs

    def partition(self, group_a: Any, group_b: Any) -> None:
        """Cut every link between the nodes of ``group_a`` and ``group_b``."""
        for a in group_a:
            for b in group_b:
                self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        """Restore every link."""
        self.cut.clear()

    def isolate(self, node: str) -> None:
        """Cut ``node`` off from every other node."""
        self.partition([node], [n for n in self.nodes if n != node])

    def _send(self, sender: str, target: str, topic: str, message: Any, dispatcher: str,
              from_: Any) -> None:
        if frozenset((sender, target)) in self.cut:
            return
        inst = self.nodes.get(target)
        if inst is not None:
            run_callback(inst.local_dispatch, topic, from_, message, dispatcher)


class MemoryAdapter:
    """PubSub adapter for one node of a :class:`MemoryCluster`."""

    def __init__(self, cluster: MemoryCluster, node_name: str) -> None:
        self.cluster = cluster
        self.node_name = node_name

    def child_specs(self, pubsub: Any) -> list:
        self.cluster.nodes[self.node_name] = pubsub
        return []

    def broadcast(self, topic: str, message: Any, dispatcher: str, from_: Any) -> None:
        for name in list(self.cluster.nodes):
            if name != self.node_name:
                self.cluster._send(self.node_name, name, topic, message, dispatcher, from_)

    def direct_broadcast(self, node: str, topic: str, message: Any, dispatcher: str,
                         from_: Any) -> None:
        if node != self.node_name:
            self.cluster._send(self.node_name, node, topic, message, dispatcher, from_)
