"""tools.leakdemo: the historic PubSub monitor leak, live, for ``beamish observer``.

Phoenix.PubSub once monitored a subscriber on *every* subscribe and never
demonitored (phoenix_pubsub issue #23): a process that hopped between
topics left one more monitor on the PubSub server with every hop, and the
server's memory grew until something died.  Erlang's observer found it in
seconds.  This application reproduces it so you can find it the same way::

    beamish run tools.leakdemo --name leakdemo@localhost      # in one terminal
    beamish observer leakdemo@localhost                       # in another
    beamish observer leakdemo@localhost --check               # in a script

Options:

``--mode naive|beamish|both`` (default ``both``)
    which subscription servers the clients use: the deliberately naive one
    (registered as ``naive_subscriptions``), beamish's PubSub (registered
    as ``leakdemo_pubsub``, its shards under it), or both side by side
    under exactly the same load.
``--rate N`` (default 5)
    topic hops per second per client; a hop is one unsubscribe and one
    subscribe, so the naive server gains ``clients * rate`` monitors a
    second.
``--clients N`` (default 20), ``--rooms N`` (default 8), ``--pool-size N``
    (the PubSub's shards, default 2).

The supervision tree (one_for_one)::

    PubSub "leakdemo_pubsub"              beamish's: one monitor per subscriber
    NaiveSubscriptions "naive_subscriptions"  the leak: a monitor per subscribe
    Supervisor "leakdemo_clients"         Hopper "hopper_1" ... "hopper_N"
    Broadcaster "leakdemo_broadcaster"    news to every room, twice a second
"""
from __future__ import annotations

import argparse

from beamish import ChildSpec, Supervisor
from beamish.pubsub import PubSub

from ._load import Broadcaster, Hopper, NaiveBackend, PubSubBackend
from ._naive import NAME as NAIVE_NAME, NaiveSubscriptions

__all__ = ["PUBSUB", "NAIVE_NAME", "CLIENTS", "add_arguments", "children", "started"]

#: Registered names, as the observer shows them.
PUBSUB = "leakdemo_pubsub"
CLIENTS = "leakdemo_clients"
BROADCASTER = "leakdemo_broadcaster"
MODES = ("naive", "beamish", "both")


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=MODES, default="both",
                        help="which subscription servers take the load (default both)")
    parser.add_argument("--rate", type=_positive(float), default=5.0, metavar="N",
                        help="topic hops per second per client (default 5)")
    parser.add_argument("--clients", type=_positive(int), default=20, metavar="N",
                        help="long-lived client processes (default 20)")
    parser.add_argument("--rooms", type=_positive(int), default=8, metavar="N",
                        help="topics the clients hop between (default 8)")
    parser.add_argument("--pool-size", type=_positive(int), default=2, metavar="N",
                        help="shards of beamish's PubSub (default 2)")


def _backends(config: argparse.Namespace) -> list:
    out: list = []
    if config.mode in ("naive", "both"):
        out.append(NaiveBackend())
    if config.mode in ("beamish", "both"):
        out.append(PubSubBackend(PUBSUB))
    return out


def children(config: argparse.Namespace) -> list:
    backends = _backends(config)
    kids = []
    if config.mode in ("beamish", "both"):
        kids.append(PubSub.child_spec(PUBSUB, pool_size=config.pool_size))
    if config.mode in ("naive", "both"):
        kids.append(ChildSpec(id="naive", start=NaiveSubscriptions.start_link,
                              kwargs={"name": NAIVE_NAME}))
    hoppers = [ChildSpec(id=("hopper", i), start=Hopper.start_link,
                         args=(i, config.clients, backends, config.rooms, config.rate),
                         kwargs={"name": f"hopper_{i}"})
               for i in range(1, config.clients + 1)]
    kids.append(ChildSpec(id="clients", start=Supervisor.start_link, args=(hoppers,),
                          kwargs={"name": CLIENTS}, type="supervisor", shutdown="infinity"))
    kids.append(ChildSpec(id="broadcaster", start=Broadcaster.start_link,
                          args=(backends, config.rooms), kwargs={"name": BROADCASTER}))
    return kids


def started(config: argparse.Namespace) -> None:
    servers = " and ".join(b.label for b in _backends(config))
    leak = (f"; {NAIVE_NAME} leaks ~{config.clients * config.rate:g} monitors/s"
            if config.mode != "beamish" else "")
    print(f"leakdemo running on node {config.node} (mode {config.mode}): "
          f"{config.clients} clients hop {config.rooms} rooms {config.rate:g}x/s each "
          f"against {servers}{leak}.  Find it: beamish observer {config.node}", flush=True)
