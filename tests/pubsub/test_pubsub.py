"""PubSub semantics, run against every adapter (one parametrized fixture),
so the embedded default cannot drift from the clustered one."""
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import gevent
import pytest

from beamish import ANY, exit, monitor, process_info, receive, self, send, spawn, stop, unlink
from beamish.pubsub import (Fastlane, HostAdapter, HostRelay, LocalAdapter, PubSub,
                            RedisAdapter, broadcast, broadcast_from, direct_broadcast,
                            local_broadcast, node_name, shard_stats, subscribe, subscribers,
                            unsubscribe)
from beamish.core._codec import register
from beamish.testing import assert_receive, refute_receive, settle


@pytest.fixture(params=["local", "redis", "host"])
def pubsub(request):
    """A running PubSub named "ps" with the adapter under test."""
    relay = relay_dir = None
    if request.param == "local":
        adapter = LocalAdapter()
    elif request.param == "redis":
        server = request.getfixturevalue("redis_server")
        adapter = RedisAdapter(server.url, channel=f"test:{time.monotonic_ns()}")
    else:
        relay_dir = tempfile.mkdtemp(prefix="bh-")
        path = os.path.join(relay_dir, "relay.sock")
        relay = HostRelay.start(path)
        adapter = HostAdapter(path)
    pid = PubSub.start_link("ps", pool_size=4, adapter=adapter)
    if request.param != "local":
        deadline = time.monotonic() + 5
        while not adapter.connected and time.monotonic() < deadline:
            gevent.sleep(0.01)
        assert adapter.connected
    yield "ps"
    unlink(pid)
    stop(pid)
    if relay is not None:
        stop(relay)
        shutil.rmtree(relay_dir)


def subscriber(parent, pubsub, *topics):
    for t in topics:
        subscribe(pubsub, t)
    send(parent, ("subscribed", self()))
    while True:
        msg = receive()
        if msg == "stop":
            return
        send(parent, ("got", self(), msg))


def start_subscriber(pubsub, *topics):
    pid = spawn(subscriber, self(), pubsub, *topics)
    assert_receive(("subscribed", pid))
    return pid


def test_broadcast_reaches_every_subscriber_of_the_topic_only(pubsub):
    a = start_subscriber(pubsub, "room:1")
    b = start_subscriber(pubsub, "room:1", "room:2")
    c = start_subscriber(pubsub, "room:2")
    broadcast(pubsub, "room:1", "hello")
    got = {assert_receive(("got", ANY, "hello"))[1] for _ in range(2)}
    assert got == {a, b}
    refute_receive(("got", c, ANY), timeout=0.02)
    for p in (a, b, c):
        send(p, "stop")


def test_the_caller_receives_its_own_broadcast_when_subscribed(pubsub):
    subscribe(pubsub, "t")
    broadcast(pubsub, "t", "mine")
    assert_receive("mine")
    unsubscribe(pubsub, "t")


def test_subscribing_twice_delivers_twice_and_unsubscribe_removes_both(pubsub):
    subscribe(pubsub, "t")
    subscribe(pubsub, "t", {"second": True})
    assert len(subscribers(pubsub, "t")) == 2
    broadcast(pubsub, "t", "m")
    assert_receive("m")
    assert_receive("m")
    unsubscribe(pubsub, "t")
    broadcast(pubsub, "t", "gone")
    refute_receive("gone", timeout=0.02)
    assert subscribers(pubsub, "t") == []


def test_broadcast_from_skips_exactly_the_sender(pubsub):
    a = start_subscriber(pubsub, "t")
    subscribe(pubsub, "t")
    broadcast_from(pubsub, self(), "t", "from me")
    assert_receive(("got", a, "from me"))
    refute_receive("from me", timeout=0.02)
    unsubscribe(pubsub, "t")
    send(a, "stop")


def test_local_and_direct_broadcast_to_this_node(pubsub):
    subscribe(pubsub, "t")
    local_broadcast(pubsub, "t", "local")
    assert_receive("local")
    direct_broadcast(pubsub, node_name(pubsub), "t", "direct")
    assert_receive("direct")
    direct_broadcast(pubsub, "some_other_node@nowhere", "t", "elsewhere")
    refute_receive("elsewhere", timeout=0.02)
    unsubscribe(pubsub, "t")


def test_a_dead_subscriber_is_dropped_from_every_topic(pubsub):
    a = start_subscriber(pubsub, "x", "y", "z")
    assert sum(s["pids"] for s in shard_stats(pubsub)) == 1
    exit(a, "kill")
    settle()
    assert subscribers(pubsub, "x") == [] and subscribers(pubsub, "z") == []
    assert all(s["pids"] == 0 and s["monitors"] == 0 and s["topics"] == 0
               for s in shard_stats(pubsub))


def test_one_monitor_per_subscriber_pid_however_many_subscribe_cycles(pubsub):
    """The regression test for Phoenix.PubSub's monitor-ref leak (#23):
    a process hopping topics 100k times holds one monitor while subscribed
    and none after."""
    me = self()
    shard_index = me.id % 4
    subscribe(pubsub, "home")
    for i in range(100_000):
        topic = f"topic:{i % 97}"
        subscribe(pubsub, topic)
        unsubscribe(pubsub, topic)
    stats = shard_stats(pubsub)[shard_index]
    assert stats["monitors"] == 1 and stats["pids"] == 1 and stats["topics"] == 1
    assert process_info(stats["shard"]).monitors[0].target == me
    unsubscribe(pubsub, "home")
    stats = shard_stats(pubsub)[shard_index]
    assert stats["monitors"] == 0 and process_info(stats["shard"]).monitors == ()


def test_subscribers_are_sharded_by_pid(pubsub):
    pids = [start_subscriber(pubsub, "hot") for _ in range(8)]
    per_shard = [s["pids"] for s in shard_stats(pubsub)]
    assert per_shard == [sum(1 for p in pids if p.id % 4 == i) for i in range(4)]
    for p in pids:
        send(p, "stop")


@pytest.mark.crashes_expected
def test_a_crashed_shard_keeps_its_subscriptions_and_monitors_them_again(pubsub):
    a = start_subscriber(pubsub, "t")
    shard = shard_stats(pubsub)[a.id % 4]["shard"]
    ref = monitor(shard)
    exit(shard, "kill")
    assert_receive(("DOWN", ref, ANY, ANY, ANY))
    settle()
    stats = shard_stats(pubsub)[a.id % 4]
    assert stats["shard"] != shard and stats["monitors"] == 1
    broadcast(pubsub, "t", "still here")
    assert_receive(("got", a, "still here"))
    send(a, "stop")


class CountingSerializer:
    """A serializer that counts its encodes (the fastlane contract)."""

    def __init__(self, tag):
        self.tag, self.encodes = tag, 0

    def fastlane(self, message):
        self.encodes += 1
        return f"{self.tag}:{message.event}:{message.payload}".encode()


@register
@dataclass(frozen=True)
class Bcast:
    event: str
    payload: str


def fastlane_subscriber(parent, pubsub, topic, serializer, intercepts=frozenset()):
    subscribe(pubsub, topic, Fastlane(self(), serializer, frozenset(intercepts)))
    send(parent, ("subscribed", self()))
    while True:
        msg = receive()
        if msg == "stop":
            return
        send(parent, ("got", self(), msg))


def test_fastlane_encodes_once_per_serializer_and_honours_intercepts(pubsub):
    json_like, other = CountingSerializer("j"), CountingSerializer("m")
    subs = []
    for ser in [json_like] * 5 + [other] * 3:
        subs.append(spawn(fastlane_subscriber, self(), pubsub, "room", ser))
    spawn_i = spawn(fastlane_subscriber, self(), pubsub, "room", json_like, {"new_msg"})
    subs.append(spawn_i)
    for _ in subs:
        assert_receive(("subscribed", ANY))
    broadcast(pubsub, "room", Bcast("new_msg", "hi"), dispatcher="fastlane")
    frames = [assert_receive(("got", ANY, ("socket_push", ANY)))[2][1] for _ in range(8)]
    assert json_like.encodes == 1 and other.encodes == 1
    assert sorted(set(frames)) == [b"j:new_msg:hi", b"m:new_msg:hi"]
    intercepted = assert_receive(("got", spawn_i, ANY))[2]
    assert isinstance(intercepted, Bcast), "intercepted events reach the subscriber, unencoded"
    broadcast(pubsub, "room", Bcast("other", "x"), dispatcher="fastlane")
    assert json_like.encodes == 2 and other.encodes == 2
    for _ in range(9):
        assert_receive(("got", ANY, ("socket_push", ANY)))
    for p in subs:
        send(p, "stop")


def test_unknown_pubsub_and_unknown_dispatcher_raise_clear_errors(pubsub):
    from beamish import BadArg
    with pytest.raises(BadArg, match="no PubSub named 'nope'"):
        subscribe("nope", "t")
    subscribe(pubsub, "t")
    with pytest.raises(BadArg, match="unknown dispatcher"):
        local_broadcast(pubsub, "t", "m", dispatcher="nonexistent")
    unsubscribe(pubsub, "t")
