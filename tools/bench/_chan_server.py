"""The channels suite's server: an Endpoint with one simple socket and channel.

``beamish run tools.bench._chan_server [--port P]`` (port 0: any free one)
serves ``/socket/websocket`` with :class:`BenchSocket`: every connection
is accepted, ``room:*`` topics route to :class:`BenchChannel`, whose join
says ok and whose ``shout`` event broadcasts its payload to the topic (the
chat's ``new_msg``, and the broadcast the suite times).  No presence, no
tokens: the per-socket cost of the Channels layer itself.

Commands on stdin (one answer line each):

  rss      RSS after a full collection   -> rss BYTES
  stats    channels joined now            -> stats N
Prints ``listening PORT`` once the endpoint listens.
"""
import gc
import sys

import psutil
from gevent.fileobject import FileObjectPosix

from beamish import ChildSpec, spawn_link
from beamish.channels import Channel, Endpoint, Socket
from beamish.pubsub import PubSub

PUBSUB = "bench"


_joined = [0]


class BenchChannel(Channel):
    def join(self, topic, payload):
        _joined[0] += 1
        return ("ok", {})

    def terminate(self, reason):
        _joined[0] -= 1

    def handle_in(self, event, payload, ref):
        if event == "shout":
            self.broadcast("shout", payload)
            return None
        return ("error", {"reason": f"unknown event {event}"})


class BenchSocket(Socket):
    channels = [("room:*", BenchChannel)]

    def connect(self, params, connect_info):
        return {}


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=0)


def _out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def console():
    me = psutil.Process()
    for line in FileObjectPosix(0, "r", close=False):
        cmd = line.strip()
        if cmd == "rss":
            gc.collect()
            _out(f"rss {me.memory_info().rss}")
        elif cmd == "stats":
            _out(f"stats {_joined[0]}")
        elif cmd:
            _out(f"error unknown command {cmd!r}")


def children(config):
    return [PubSub.child_spec(PUBSUB),
            Endpoint.child_spec(pubsub=PUBSUB, sockets={"/socket": BenchSocket},
                                host="127.0.0.1", port=config.port,
                                on_ready=lambda port: _out(f"listening {port}")),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
