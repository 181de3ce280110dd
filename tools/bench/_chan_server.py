"""The channels suite's server: an Endpoint with one simple socket and channel.

``beamish run tools.bench._chan_server [--port P]`` (port 0: any free one)
serves ``/socket/websocket`` with :class:`BenchSocket`: every connection
is accepted, ``room:*`` topics route to :class:`BenchChannel`, whose join
says ok and whose ``shout`` event broadcasts its payload to the topic (the
chat's ``new_msg``, and the broadcast the suite times).  No presence, no
tokens: the per-socket cost of the Channels layer itself.

``--hibernate-after S`` sets the socket's and the channel's
``hibernate_after`` (``none``: never; default: the classes' own, 15 s).

Commands on stdin (:func:`tools.harness.console.serve`): ``rss`` ->
``rss BYTES``, ``stats`` -> ``stats N`` (channels joined now), ``gc`` ->
``gc MS N0 N1 N2``: the time the cyclic garbage collector ran and its
collections of each generation since the last ``gc`` (measured with
``gc.callbacks``).  Prints ``listening PORT`` once the endpoint listens.
"""
import gc
import time

from beamish import ChildSpec, spawn_link
from beamish.channels import Channel, Endpoint, Socket
from beamish.pubsub import PubSub

from tools.harness.console import out, serve

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


def _seconds_or_none(text):
    return None if text == "none" else float(text)


def add_arguments(parser):
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hibernate-after", type=_seconds_or_none, default=15.0)


_gc = {"start": 0.0, "ms": 0.0, "runs": [0, 0, 0]}


def _on_gc(phase, info):
    if phase == "start":
        _gc["start"] = time.perf_counter()
    else:
        _gc["ms"] += (time.perf_counter() - _gc["start"]) * 1e3
        _gc["runs"][info["generation"]] += 1


def _gc_report():
    ms, runs = _gc["ms"], _gc["runs"]
    _gc["ms"], _gc["runs"] = 0.0, [0, 0, 0]
    return f"gc {ms:.1f} {runs[0]} {runs[1]} {runs[2]}"


def console():
    gc.callbacks.append(_on_gc)
    serve({"stats": lambda: f"stats {_joined[0]}", "gc": _gc_report})


def children(config):
    BenchSocket.hibernate_after = BenchChannel.hibernate_after = config.hibernate_after
    return [PubSub.child_spec(PUBSUB),
            Endpoint.child_spec(pubsub=PUBSUB, sockets={"/socket": BenchSocket},
                                host="127.0.0.1", port=config.port,
                                on_ready=lambda port: out(f"listening {port}")),
            ChildSpec(id="console", start=spawn_link, args=(console,))]
