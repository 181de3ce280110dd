"""An application with shared tables for the tables-view tests, run as a
``beamish run`` OS process: a PubSub (two shards), a unique Registry and a
Presence, and members that use all three.

Three members join ``room:big`` and one joins ``room:small``: each
subscribes to its room, registers its user name and is tracked in the
room's presence.  ``started`` is printed once all of that is in place.
"""
from beamish import ChildSpec, GenServer, Registry, receive, spawn_link
from beamish import self as _self
from beamish.presence import Presence, track, trackers
from beamish.pubsub import PubSub, subscribe

PUBSUB, REGISTRY, PRESENCE = "tables_ps", "tables_reg", "tables_presence"
MEMBERS = (("room:big", "ann"), ("room:big", "bob"), ("room:big", "cy"), ("room:small", "dee"))


def member(topic, user):
    subscribe(PUBSUB, topic)
    Registry.register(REGISTRY, user, topic)
    track(PRESENCE, _self(), topic, user, {"online": True})
    receive("never")


class Members(GenServer):
    """Starts the members, linked, so they end with the application."""

    def init(self):
        for topic, user in MEMBERS:
            spawn_link(member, topic, user)


def children(config):
    return [PubSub.child_spec(PUBSUB, pool_size=2),
            Registry.child_spec(keys="unique", name=REGISTRY),
            Presence.child_spec(PRESENCE, pubsub=PUBSUB),
            ChildSpec(id="members", start=Members.start_link)]


def started(config):
    import gevent
    for _ in range(2000):
        if Registry.count(REGISTRY) == len(MEMBERS) and \
                trackers()[PRESENCE]["entries"] == len(MEMBERS):
            break
        gevent.sleep(0.005)
    print("started", flush=True)
