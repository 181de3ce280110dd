"""apps.chat: rooms, messages and a live online list.

``beamish run apps.chat`` serves the chat on http://127.0.0.1:4000 on one
node with nothing else installed; ``beamish run apps.chat --workers auto``
serves it from one worker process per core, sharing the port and forming
one cluster through their master; ``--cluster redis://HOST:PORT`` joins the
nodes that use the same Redis (give each its own ``--name`` and the same
``--secret``).

The supervision tree (one_for_one)::

    PubSub "chat"                     local, the host relay (--workers), or Redis
    Presence "chat_presence"          who is online, replicated over the PubSub
    Registry "chat_rooms"             room name -> room process
    DynamicSupervisor "chat_room_sup" one Room GenServer per room, on demand,
                                      at most --max-rooms; an idle room stops
    RoomStarter "chat_room_starter"   starts rooms, --rooms-per-user a minute
    Endpoint                          /socket (UserSocket), /api/token, static/
"""
from __future__ import annotations

import argparse
import logging
import os
from urllib.parse import urlsplit

from beamish import ChildSpec, DynamicSupervisor, Registry
from beamish.channels import Endpoint
from beamish.presence import Presence
from beamish.pubsub import PubSub, default_adapter

from .room import RoomStarter
from .socket import UserSocket, token_handler
from . import settings

log = logging.getLogger(__name__)

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def add_arguments(parser):
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4000, help="port to listen on")
    parser.add_argument("--cluster", metavar="REDIS_URL", default=None, type=redis_url,
                        help="join the cluster of chat nodes on this Redis, e.g. "
                             "redis://127.0.0.1:6379")
    parser.add_argument("--secret", default=os.environ.get("BEAMISH_CHAT_SECRET"),
                        help="token signing secret (the same on every node of a cluster)")
    parser.add_argument("--history", type=int, default=50, help="messages kept per room")
    parser.add_argument("--room-idle", type=float, default=60.0,
                        help="seconds after which a room nobody is in and nobody posts to "
                             "stops (its history goes with it)")
    parser.add_argument("--rooms-per-user", type=int, default=10,
                        help="rooms one user may start per minute")
    parser.add_argument("--max-rooms", type=int, default=1000,
                        help="rooms open at once on this node")
    parser.add_argument("--presence-period", type=float, default=1.5,
                        help="presence heartbeat period in seconds")
    parser.add_argument("--down-period", type=float, default=None,
                        help="seconds of silence after which a node's users leave")
    parser.add_argument("--presence-diff-window", type=non_negative, default=None,
                        metavar="SECONDS",
                        help="collect a room's joins and leaves for this long and send one "
                             "presence_diff for them (default: Presence's, 25 ms); 0 sends "
                             "one diff per change, as Phoenix does")
    parser.add_argument("--presence-diff-rate", type=non_negative, default=None, metavar="N",
                        help="size a busy big room's window for about N presence_diff "
                             "deliveries a second: a room of n users collects for n/N "
                             "seconds, at least the diff window, and sends at once when no "
                             "one joined or left for the diff window (default: Presence's, "
                             "10,000); 0 gives every room the diff window")
    parser.add_argument("--presence-max-diff-window", type=non_negative, default=None,
                        metavar="SECONDS",
                        help="the longest a busy big room collects its joins and leaves "
                             "(default: Presence's, 1 s)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="share the port with other processes (SO_REUSEPORT); "
                             "--workers N sets it")


def redis_url(value):
    """``--cluster``: a ``redis://`` (or ``rediss://``) URL, checked while
    the options are parsed so that a wrong one is a usage error (exit 2)
    before anything starts, rather than a failure in every node."""
    try:
        parts = urlsplit(value)
        parts.port   # a port that is not a number raises ValueError
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a Redis URL, redis://HOST:PORT[/DB], "
                                         f"got {value!r}")
    return value


def non_negative(value):
    """``--presence-diff-window`` and the like: a number, 0 or more,
    checked while the options are parsed (a usage error, exit 2)."""
    try:
        out = float(value)
    except ValueError:
        out = -1.0
    if not out >= 0:
        raise argparse.ArgumentTypeError(f"expected a number (0 or more), got {value!r}")
    return out


def children(config):
    settings.configure(config)
    adapter = default_adapter(config.cluster)
    presence_opts = {"broadcast_period": config.presence_period}
    if config.down_period is not None:
        presence_opts["down_period"] = config.down_period
        presence_opts["permdown_period"] = max(config.down_period * 40, 60.0)
    for flag, opt in (("presence_diff_window", "diff_window"),
                      ("presence_diff_rate", "diff_rate"),
                      ("presence_max_diff_window", "max_diff_window")):
        if getattr(config, flag) is not None:
            presence_opts[opt] = getattr(config, flag)
    return [
        PubSub.child_spec(settings.PUBSUB, pool_size=2, adapter=adapter),
        Presence.child_spec(settings.PRESENCE, pubsub=settings.PUBSUB, **presence_opts),
        Registry.child_spec(keys="unique", name=settings.ROOMS, partitions=2),
        ChildSpec(id="rooms", start=DynamicSupervisor.start_link,
                  kwargs={"name": settings.ROOM_SUP, "max_children": config.max_rooms},
                  type="supervisor", shutdown="infinity"),
        RoomStarter.child_spec(name=settings.ROOM_STARTER),
        # WebSocket origin checking: the page and /socket are served from
        # this one Endpoint, so the browser's Origin is the Endpoint's own.
        # Origins to allow besides (a proxy's host name) go here, as the
        # Endpoint's origin option.
        Endpoint.child_spec(host=config.host, port=config.port, pubsub=settings.PUBSUB,
                            sockets={"/socket": UserSocket}, static=STATIC,
                            handlers={"/api/token": token_handler},
                            # the fallback of clients whose websockets are
                            # blocked (the page's client falls back by itself)
                            longpoll=True,
                            reuse_port=config.reuse_port, on_ready=_announce(config)),
    ]


def _announce(config):
    def ready(port):
        print(f"chat running at http://{config.host}:{port}/  (node {config.node})", flush=True)
    return ready
