"""The Redis adapter: several nodes form one PubSub cluster over Redis.

One Redis channel per PubSub name (``beamish:pubsub:<name>``).  A broadcast
is one ``PUBLISH`` of one msgpack term (beamish's codec: pids, refs and
tuples survive) whatever the number of subscribers; every node's listener
process receives it and dispatches to its own subscribers.  A node ignores
what it published itself (it already delivered locally) and what is
addressed to another node (``direct_broadcast``).  A message that is not a
beamish term (anyone who can ``PUBLISH`` can send one) is counted in
``undecodable``, logged at most once a second, and dropped; the codec
bounds what decoding it may cost (see :func:`beamish.lowlevel.decode_term`).

Delivery across nodes is **at most once**: a broadcast published while
Redis is unreachable is dropped (and logged); a node whose subscriber
connection is down misses what is published until it is back.  Local
subscribers are served throughout.

The listener is a supervised process that never stays silently deaf: on
any connection error (Redis restarted, ``CLIENT KILL``, a timeout of its
health-check PING) it logs, backs off (0.1 s doubling to ``reconnect_max``)
and subscribes again; its state is visible as ``adapter.connected``.

Needs a gevent-patched process (``beamish run`` patches first): redis-py
does its I/O through the ``socket`` module.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

import gevent

from ..core import node as _node, spawn_link
from ..lowlevel import CodecError, decode_term as decode, encode_term as encode
from ..otp import ChildSpec

log = logging.getLogger(__name__)

__all__ = ["RedisAdapter"]

_VSN = 1


class RedisAdapter:
    """Cluster transport over a Redis server (``redis://host:port/db``).

    Every node of a cluster must use the same PubSub name (or the same
    ``channel``) and a distinct ``node_name`` (default: the beamish node's).
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *,
                 node_name: Optional[str] = None, channel_prefix: str = "beamish:pubsub",
                 channel: Optional[str] = None,
                 reconnect_max: float = 5.0, health_check_interval: float = 1.0,
                 socket_timeout: float = 2.0) -> None:
        from gevent import monkey
        if not monkey.is_module_patched("socket"):
            raise RuntimeError("the Redis adapter needs a gevent-patched process: call "
                               "gevent.monkey.patch_all() first (beamish run does)")
        import redis
        self._redis = redis
        self.url = url
        self.node_name = node_name or _node()
        self.channel_prefix = channel_prefix
        self.reconnect_max = reconnect_max
        self.health_check_interval = health_check_interval
        self.socket_timeout = socket_timeout
        self.connected = False
        self.dropped = 0          # broadcasts not published (Redis unreachable)
        self.received = 0
        self.undecodable = 0      # messages on the channel that were not beamish terms
        self.channel = channel or ""
        self._client = self._connect()
        self._last_error_log = 0.0
        self._last_undecodable_log = 0.0

    def _connect(self) -> Any:
        return self._redis.Redis.from_url(
            self.url, socket_timeout=self.socket_timeout, socket_connect_timeout=1.0,
            health_check_interval=self.health_check_interval)

    # ------------------------------------------------------------ adapter
    def child_specs(self, pubsub: Any) -> list:
        if not self.channel:
            self.channel = f"{self.channel_prefix}:{pubsub.name}"
        return [ChildSpec(id=("redis_listener", pubsub.name), start=spawn_link,
                          args=(_listen, self, pubsub), shutdown=1000)]

    def broadcast(self, topic: str, message: Any, dispatcher: str, from_: Any) -> None:
        self._publish(None, topic, message, dispatcher, from_)

    def direct_broadcast(self, node: str, topic: str, message: Any, dispatcher: str,
                         from_: Any) -> None:
        self._publish(node, topic, message, dispatcher, from_)

    def _publish(self, target: Optional[str], topic: str, message: Any, dispatcher: str,
                 from_: Any) -> None:
        data = encode((_VSN, self.node_name, target, topic, message, dispatcher, from_))
        try:
            self._client.publish(self.channel, data)
        except (self._redis.RedisError, OSError) as e:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_error_log > 1.0:
                self._last_error_log = now
                log.warning("pubsub %s: broadcast to other nodes dropped, Redis unreachable "
                            "(%s); %d dropped so far", self.channel, e, self.dropped)

    # ------------------------------------------------------------ receiving
    def _deliver(self, pubsub: Any, data: bytes) -> None:
        try:
            vsn, sender, target, topic, message, dispatcher, from_ = decode(data)
        except (CodecError, ValueError, TypeError) as e:
            self._undecodable(e)
            return
        if vsn != _VSN or sender == self.node_name:
            return
        if target is not None and target != self.node_name:
            return
        self.received += 1
        pubsub.local_dispatch(topic, from_, message, dispatcher)

    def _undecodable(self, error: Exception) -> None:
        """Count a message that is not ours, logging at most once a second:
        anyone who can PUBLISH on the channel could otherwise flood the log."""
        self.undecodable += 1
        now = time.monotonic()
        if now - self._last_undecodable_log > 1.0:
            self._last_undecodable_log = now
            log.error("pubsub %s: ignoring an undecodable message (%s); %d ignored so far",
                      self.channel, error, self.undecodable)


def _listen(adapter: RedisAdapter, pubsub: Any) -> None:
    """The listener process: subscribe, dispatch, reconnect with backoff."""
    redis = adapter._redis
    backoff = 0.1
    while True:
        client = ps = None
        try:
            client = adapter._connect()
            ps = client.pubsub(ignore_subscribe_messages=True)
            ps.subscribe(adapter.channel)
            if not adapter.connected:
                log.info("pubsub %s: subscribed on %s as node %s", adapter.channel,
                         adapter.url, adapter.node_name)
            adapter.connected = True
            backoff = 0.1
            while True:
                msg = ps.get_message(timeout=adapter.health_check_interval)
                if msg is not None and msg.get("type") == "message":
                    adapter._deliver(pubsub, msg["data"])
                elif msg is None:
                    ps.check_health()
        except (redis.RedisError, OSError) as e:
            if adapter.connected:
                log.warning("pubsub %s: lost the Redis subscription (%s); reconnecting",
                            adapter.channel, e)
            else:
                log.warning("pubsub %s: cannot subscribe on %s (%s); retrying in %.1f s",
                            adapter.channel, adapter.url, e, backoff)
            adapter.connected = False
        finally:
            for closable in (ps, client):
                if closable is not None:
                    try:
                        closable.close()
                    except Exception:  # closing a broken connection may raise anything
                        pass
        gevent.sleep(backoff)
        backoff = min(backoff * 2, adapter.reconnect_max)
