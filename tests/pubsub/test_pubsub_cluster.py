"""Several node OS processes over a real redis-server, and over a host relay
(the workers' transport, here run by the test process)."""
import os
import shutil
import tempfile

import gevent
import pytest

from beamish import stop
from beamish.pubsub import HostRelay
from support import Node

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def relay():
    """A host relay in this process: ``(pid holder, path)``; restartable."""
    directory = tempfile.mkdtemp(prefix="bh-")
    path = os.path.join(directory, "relay.sock")
    holder = {"pid": HostRelay.start(path)}
    yield holder, path
    if holder["pid"] is not None:
        stop(holder["pid"])
    shutil.rmtree(directory)


def start_nodes(*transport):
    started = [Node("tests.pubsub.node_app", *transport, name=f"n{i}@test")
               for i in range(1, 4)]
    try:
        for n in started:
            n.expect("ready", timeout=20)
    except BaseException:
        for n in started:
            n.stop()
        raise
    return started


@pytest.fixture(params=["redis", "host"])
def nodes(request):
    if request.param == "redis":
        started = start_nodes("--redis", request.getfixturevalue("redis_server").url)
    else:
        started = start_nodes("--host-relay", request.getfixturevalue("relay")[1])
    try:
        yield started
    finally:
        for n in started:
            n.stop()


@pytest.fixture
def redis_nodes(redis_server):
    started = start_nodes("--redis", redis_server.url)
    try:
        yield started
    finally:
        for n in started:
            n.stop()


@pytest.fixture
def host_nodes(relay):
    started = start_nodes("--host-relay", relay[1])
    try:
        yield started
    finally:
        for n in started:
            n.stop()


def subscribe_all(nodes, topic):
    for n in nodes:
        n.send(f"sub {topic}")
    for n in nodes:
        n.expect(f"subscribed {topic}")


def test_a_broadcast_on_one_node_reaches_subscribers_on_all(nodes):
    subscribe_all(nodes, "room")
    nodes[0].send("bcast room hello")
    for n in nodes:
        assert n.expect("got room") == "got room hello"


def test_broadcast_from_skips_only_the_sender(nodes):
    subscribe_all(nodes, "room")
    nodes[1].send("bfrom room skipme")
    nodes[0].expect("got room skipme")
    nodes[2].expect("got room skipme")
    nodes[1].no_line("got room skipme")


def test_local_broadcast_stays_on_its_node_and_direct_reaches_one_node(nodes):
    subscribe_all(nodes, "room")
    nodes[0].send("local room mine")
    nodes[0].expect("got room mine")
    nodes[1].send("direct n3@test room onlythree")
    nodes[2].expect("got room onlythree")
    nodes[0].no_line("got room onlythree")
    nodes[1].no_line("got room onlythree", wait=0.05)
    nodes[1].no_line("got room mine", wait=0.05)
    nodes[2].no_line("got room mine", wait=0.05)


def heals(nodes, tag):
    """Broadcast until every node hears node 0 again (at most once: some
    broadcasts during the gap may be lost)."""
    for attempt in range(100):
        nodes[0].send(f"bcast room {tag}{attempt}")
        gevent.sleep(0.1)
        try:
            for n in nodes[1:]:
                n.expect(f"got room {tag}", timeout=0.05)
            return attempt
        except AssertionError:
            continue
    raise AssertionError("the cluster did not heal")


def test_a_redis_restart_heals_and_local_delivery_never_stops(redis_nodes, redis_server):
    nodes = redis_nodes
    subscribe_all(nodes, "room")
    redis_server.stop()
    nodes[0].send("bcast room during_outage")
    nodes[0].expect("got room during_outage")   # local subscribers are still served
    for _ in range(50):   # the listener notices within its health-check interval
        nodes[0].send("status")
        if "connected=False" in nodes[0].expect("status"):
            break
        gevent.sleep(0.1)
    else:
        raise AssertionError("node 0 never noticed that Redis was gone")
    redis_server.start()
    heals(nodes, "after_restart")


def test_a_killed_subscriber_connection_heals(redis_nodes, redis_server):
    nodes = redis_nodes
    subscribe_all(nodes, "room")
    reply = redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
    assert reply.startswith(b":") and int(reply[1:].strip()) >= 3
    heals(nodes, "after_kill")


def test_a_relay_restart_heals_and_local_delivery_never_stops(host_nodes, relay):
    nodes, (holder, path) = host_nodes, relay
    subscribe_all(nodes, "room")
    stop(holder["pid"])
    holder["pid"] = None
    for _ in range(50):
        nodes[0].send("status")
        if "connected=False" in nodes[0].expect("status"):
            break
        gevent.sleep(0.1)
    else:
        raise AssertionError("node 0 never noticed that the relay was gone")
    nodes[0].send("bcast room during_outage")
    nodes[0].expect("got room during_outage")   # local subscribers are still served
    nodes[0].send("status")
    assert nodes[0].expect("status") == "status connected=False dropped=1"
    holder["pid"] = HostRelay.start(path)
    heals(nodes, "after_restart")
    nodes[1].no_line("got room during_outage", wait=0.05)
