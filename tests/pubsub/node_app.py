"""A node for the cluster tests, driven by lines on stdin.

Commands: ``sub TOPIC``, ``bcast TOPIC MSG``, ``bfrom TOPIC MSG`` (from this
node's subscriber of TOPIC), ``local TOPIC MSG``, ``direct NODE TOPIC MSG``,
``status``.  Output: ``ready``, ``subscribed TOPIC``, ``got TOPIC MSG``,
``status connected=BOOL dropped=N``.
"""
import sys

import gevent
from gevent.fileobject import FileObjectPosix

from beamish import ChildSpec, receive, self, send, spawn_link
from beamish.pubsub import (HostAdapter, PubSub, RedisAdapter, broadcast, broadcast_from,
                            direct_broadcast, local_broadcast, subscribe)
from beamish.lowlevel import instance

PUBSUB = "cluster"


def add_arguments(parser):
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--redis", help="a Redis URL")
    group.add_argument("--host-relay", help="a host relay's socket path")


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def reporter(topic):
    subscribe(PUBSUB, topic)
    out(f"subscribed {topic}")
    while True:
        out(f"got {topic} {receive()}")


def console():
    reporters = {}
    adapter = instance("pubsub", PUBSUB).adapter
    while not adapter.connected:
        gevent.sleep(0.01)
    out("ready")
    stdin = FileObjectPosix(0, "r", close=False)
    for line in stdin:
        cmd, *args = line.split()
        if cmd == "sub":
            reporters[args[0]] = spawn_link(reporter, args[0])
        elif cmd == "bcast":
            broadcast(PUBSUB, args[0], args[1])
        elif cmd == "bfrom":
            broadcast_from(PUBSUB, reporters[args[0]], args[0], args[1])
        elif cmd == "local":
            local_broadcast(PUBSUB, args[0], args[1])
        elif cmd == "direct":
            direct_broadcast(PUBSUB, args[0], args[1], args[2])
        elif cmd == "status":
            out(f"status connected={adapter.connected} dropped={adapter.dropped}")


def children(config):
    adapter = RedisAdapter(config.redis) if config.redis else HostAdapter(config.host_relay)
    return [PubSub.child_spec(PUBSUB, pool_size=2, adapter=adapter),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
