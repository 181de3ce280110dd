"""Several node OS processes over a real redis-server, and over a host relay
(the workers' transport, here run by the test process)."""
import os
import shutil
import tempfile

import gevent
import pytest

from beamish import stop
from beamish.pubsub import HostRelay
from tools.harness import Node

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


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


# ------------------------------------------------------------ hostile input
def deep_tuples(levels):
    """A term of ``levels`` nested one-item tuples, built by hand (about 4
    bytes a level): a few hundred levels used to overflow the C stack of
    any node that decoded it."""
    import msgpack
    data = msgpack.packb(0)
    for _ in range(levels):
        data = msgpack.packb(msgpack.ExtType(3, b"\x91" + data))
    return data


def stderr_of(node):
    """Stop ``node`` and return everything it logged."""
    node.signal(15)
    node.proc.wait(10)
    return node.stderr_text()


def test_a_deep_term_published_on_redis_is_dropped_and_the_nodes_go_on(redis_nodes,
                                                                       redis_server):
    import redis
    nodes = redis_nodes
    subscribe_all(nodes, "room")
    client = redis.Redis.from_url(redis_server.url)
    try:
        for _ in range(20):
            assert client.publish("beamish:pubsub:cluster", deep_tuples(300)) == 3
    finally:
        client.close()
    nodes[0].send("bcast room after")
    for n in nodes:
        assert n.expect("got room", timeout=20) == "got room after"
        assert n.proc.poll() is None
    log = stderr_of(nodes[1])
    assert "undecodable" in log and "nested deeper than" in log
    assert log.count("undecodable") <= 5, f"one line a second, not one a message: {log}"


def test_a_deep_term_sent_through_the_host_relay_is_dropped_and_the_nodes_go_on(host_nodes,
                                                                                 relay):
    import socket
    from gevent import socket as gsocket
    from beamish.pubsub import _host_wire as wire
    nodes, (_, path) = host_nodes, relay
    subscribe_all(nodes, "room")
    evil = gsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    evil.settimeout(10)
    try:
        evil.connect(path)
        evil.sendall(wire.hello("cluster", "evil@test"))
        assert wire.kind_of(evil.recv(16)) == wire.WELCOME
        evil.sendall(b"".join(wire.broadcast(deep_tuples(300)) for _ in range(20)))
        nodes[0].send("bcast room after")
        for n in nodes:
            assert n.expect("got room", timeout=20) == "got room after"
            assert n.proc.poll() is None
    finally:
        evil.close()
    log = stderr_of(nodes[1])
    assert "undecodable" in log and "nested deeper than" in log
    assert log.count("undecodable") <= 5, f"one line a second, not one a message: {log}"
