"""A presence node for the real-cluster tests, driven by lines on stdin.

Commands:
  track TOPIC KEY [N]     N processes (default 1) each tracked under KEY
  churn TOPIC PREFIX N    N tracks then untrack every other one
  leave TOPIC KEY         kill every process tracked under KEY here
  list TOPIC              prints ``list TOPIC <json sorted [key, count] pairs>``
  refs TOPIC              prints ``refs TOPIC <json sorted phx_refs>``
Prints ``ready`` once started.
"""
import json
import sys

import gevent
from gevent.fileobject import FileObjectPosix

from beamish import ChildSpec, exit, receive, spawn, spawn_link
from beamish.presence import Presence, track
from beamish.presence import list_tracked as tracker_list
from beamish.pubsub import PubSub, RedisAdapter
from beamish.lowlevel import instance

PUBSUB, PRESENCE = "cluster", "presence"


def add_arguments(parser):
    parser.add_argument("--redis", required=True)
    parser.add_argument("--period", type=float, default=0.1)
    parser.add_argument("--down", type=float, default=1.0)
    parser.add_argument("--permdown", type=float, default=30.0)
    parser.add_argument("--silent", type=int, default=3)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def holder():
    receive("never")


def console():
    adapter = instance("pubsub", PUBSUB).adapter
    while not adapter.connected:
        gevent.sleep(0.01)
    out("ready")
    held = {}
    for line in FileObjectPosix(0, "r", close=False):
        cmd, *args = line.split()
        if cmd == "track":
            topic, key = args[0], args[1]
            for _ in range(int(args[2]) if len(args) > 2 else 1):
                pid = spawn(holder)
                track(PRESENCE, pid, topic, key, {"n": 1})
                held.setdefault((topic, key), []).append(pid)
            out(f"tracked {topic} {key}")
        elif cmd == "churn":
            topic, prefix, n = args[0], args[1], int(args[2])
            pids = []
            for i in range(n):
                pid = spawn(holder)
                track(PRESENCE, pid, topic, f"{prefix}{i}", {"n": i})
                pids.append(pid)
            for pid in pids[::2]:
                exit(pid, "kill")
            out(f"churned {topic} {prefix}")
        elif cmd == "leave":
            for pid in held.pop((args[0], args[1]), []):
                exit(pid, "kill")
            out(f"left {args[0]} {args[1]}")
        elif cmd == "list":
            counts = {}
            for key, meta in tracker_list(PRESENCE, args[0]):
                counts[key] = counts.get(key, 0) + 1
            out(f"list {args[0]} " + json.dumps(sorted(counts.items())))
        elif cmd == "refs":
            refs = sorted(meta["phx_ref"] for _, meta in tracker_list(PRESENCE, args[0]))
            out(f"refs {args[0]} " + json.dumps(refs))


def children(config):
    return [PubSub.child_spec(PUBSUB, adapter=RedisAdapter(config.redis)),
            Presence.child_spec(PRESENCE, pubsub=PUBSUB, broadcast_period=config.period,
                                down_period=config.down, permdown_period=config.permdown,
                                max_silent_periods=config.silent),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
