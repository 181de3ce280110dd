"""apps.chat as the talk benchmarked it: the hot-topic variant.

``beamish run tools.bench.chat_lobby --port P --secret S`` serves exactly
apps.chat (token endpoint, ``room:*`` channel with history in the join
reply, ``new_msg`` broadcasts, rooms, PubSub, Presence process, options
such as ``--cluster`` and ``--reuse-port``), except that a join does not
``track`` the client in Presence nor push ``presence_state``.

Why: on one topic with n members, every join of the real chat pushes the
whole presence list (O(n) bytes) and broadcasts a ``presence_diff`` to all
n members, so n joins cost O(n^2); the scale benchmark measured the real
chat stalling near 1k clients on one room (see tools/bench/scale.py).
Phoenix has the same cost, and the 2M-connection benchmark ran the chat
example's ``bench`` branch "with the after-join broadcast removed" for the
same reason.  Scenario 4 of the benchmark (the presence storm) runs the
real ``apps.chat``.
"""
from __future__ import annotations

import dataclasses

import apps.chat as chat
from apps.chat.socket import RoomChannel, UserSocket



def add_arguments(parser):
    chat.add_arguments(parser)
    parser.add_argument("--gc", choices=("default", "off", "freeze", "stats"), default="default",
                        help="experiment: leave Python's cyclic GC alone, turn it off, "
                             "gc.freeze() every 5 s so full collections skip old objects, or "
                             "leave it on and print the time it takes every 5 s")


class LobbyChannel(RoomChannel):
    """The chat's room channel without the after-join presence."""

    def handle_info(self, msg):
        if msg == "after_join":
            return None
        return super().handle_info(msg)


class LobbySocket(UserSocket):
    channels = [("room:*", LobbyChannel)]


def _gc_mode(mode: str) -> None:
    import gc
    if mode == "off":
        gc.disable()
    elif mode == "stats":
        import sys
        import time

        import gevent
        spent = [0.0, 0.0, 0.0]
        count = [0, 0, 0]
        started = [0.0]

        def timer(phase, info):
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                g = info["generation"]
                spent[g] += time.perf_counter() - started[0]
                count[g] += 1

        gc.callbacks.append(timer)

        def report():
            t0 = time.monotonic()
            while True:
                gevent.sleep(5.0)
                print(f"gc t={time.monotonic() - t0:.0f}s collections {count} seconds "
                      f"{[round(x, 2) for x in spent]} objects {len(gc.get_objects()):,}",
                      file=sys.stderr, flush=True)
        gevent.spawn(report)
    elif mode == "freeze":
        import gevent

        def freezer():
            while True:
                gevent.sleep(5.0)
                gc.freeze()
        gevent.spawn(freezer)


def children(config):
    _gc_mode(getattr(config, "gc", "default"))
    out = []
    for spec in chat.children(config):
        if "sockets" in spec.kwargs:
            spec = dataclasses.replace(spec, kwargs=dict(spec.kwargs,
                                                         sockets={"/socket": LobbySocket}))
        out.append(spec)
    return out
