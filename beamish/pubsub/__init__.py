"""PubSub: sharded by subscriber pid, one monitor per subscriber, fastlane,
and adapters for clusters: Redis across machines, a host relay between the
workers of one machine."""
from ._broadcast import Broadcast
from ._dispatch import FASTLANE_TAG, Fastlane, register_dispatcher
from ._pubsub import (Adapter, LocalAdapter, PubSub, broadcast, broadcast_from,
                      direct_broadcast, instances, local_broadcast, local_broadcast_from,
                      node_name, shard_stats, subscribe, subscribers, topic_counts, unsubscribe)
from ._memory import MemoryAdapter, MemoryCluster
from ._redis import RedisAdapter
from ._host import HOST_CLUSTER_ENV, HostAdapter
from ._host_relay import HostRelay, RelayStats, relay_statistics
from ._default import default_adapter

__all__ = [
    "Adapter", "Broadcast", "FASTLANE_TAG", "Fastlane", "HOST_CLUSTER_ENV", "HostAdapter",
    "HostRelay", "LocalAdapter", "MemoryAdapter", "MemoryCluster", "PubSub", "RedisAdapter",
    "RelayStats", "broadcast", "broadcast_from", "default_adapter", "direct_broadcast",
    "instances", "local_broadcast", "local_broadcast_from", "node_name", "register_dispatcher",
    "relay_statistics", "shard_stats", "subscribe", "subscribers", "topic_counts",
    "unsubscribe",
]
