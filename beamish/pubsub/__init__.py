"""PubSub: sharded by subscriber pid, one monitor per subscriber, fastlane,
and a Redis adapter for clusters."""
from ._dispatch import FASTLANE_TAG, Fastlane, register_dispatcher
from ._pubsub import (Adapter, LocalAdapter, PubSub, broadcast, broadcast_from,
                      direct_broadcast, local_broadcast, local_broadcast_from, node_name,
                      shard_stats, subscribe, subscribers, unsubscribe)
from ._memory import MemoryAdapter, MemoryCluster
from ._redis import RedisAdapter

__all__ = [
    "Adapter", "FASTLANE_TAG", "Fastlane", "LocalAdapter", "MemoryAdapter", "MemoryCluster", "PubSub", "RedisAdapter", "broadcast",
    "broadcast_from", "direct_broadcast", "local_broadcast", "local_broadcast_from",
    "node_name", "register_dispatcher", "shard_stats", "subscribe", "subscribers",
    "unsubscribe",
]
