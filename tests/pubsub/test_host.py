"""The host adapter and its relay, in one OS process: several PubSub
"workers" (one channel, distinct node names) joined through a real relay
on a real Unix socket.  The OS-process version is in
test_pubsub_cluster.py."""
import os
import shutil
import socket
import tempfile

import gevent
import pytest

from beamish import ANY, StartError, make_ref, receive, self, send, spawn, stop
from beamish.pubsub import (HOST_CLUSTER_ENV, HostAdapter, HostRelay, LocalAdapter, PubSub,
                            RedisAdapter, broadcast, broadcast_from, default_adapter,
                            direct_broadcast, local_broadcast, relay_statistics, subscribe,
                            unsubscribe)
from beamish.pubsub import _host_wire as wire
from beamish.testing import assert_receive, eventually, refute_receive

pytestmark = pytest.mark.timeout(60)


class Cluster:
    """A relay and the PubSubs ("workers") joined to it, all stopped at the end."""

    def __init__(self, **relay_opts):
        self.dir = tempfile.mkdtemp(prefix="bh-")
        self.path = os.path.join(self.dir, "relay.sock")
        self.relay_opts = relay_opts
        self.relay = HostRelay.start(self.path, **relay_opts)
        self.pubsubs = []
        self.adapters = {}

    def worker(self, name):
        adapter = HostAdapter(self.path, node_name=name, channel="c", reconnect_max=0.2)
        self.pubsubs.append(PubSub.start(f"ps_{name}", adapter=adapter))
        self.adapters[name] = adapter
        eventually(lambda: adapter.connected)
        return f"ps_{name}"

    def restart_relay(self):
        stop(self.relay)
        eventually(lambda: not any(a.connected for a in self.adapters.values()))
        self.relay = HostRelay.start(self.path, **self.relay_opts)

    def close(self):
        for pid in self.pubsubs:
            stop(pid)
        stop(self.relay)
        shutil.rmtree(self.dir)


@pytest.fixture
def cluster():
    c = Cluster()
    yield c
    c.close()


def subscriber(parent, pubsub, topic):
    subscribe(pubsub, topic)
    send(parent, ("subscribed", self()))
    while True:
        msg = receive()
        if msg == "stop":
            return
        send(parent, ("got", self(), msg))


def start_subscriber(pubsub, topic):
    pid = spawn(subscriber, self(), pubsub, topic)
    assert_receive(("subscribed", pid))
    return pid


def raw_client(path, channel="c", node="raw", version=wire.VERSION):
    """A hand-driven relay connection (a worker that misbehaves on purpose)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    hello = wire.hello(channel, node)
    sock.sendall(hello[:5] + bytes((version,)) + hello[6:])
    return sock


def test_a_broadcast_reaches_every_other_worker_once_with_pids_refs_and_tuples_intact(cluster):
    a, b, c = (cluster.worker(n) for n in ("a@h", "b@h", "c@h"))
    subs = [start_subscriber(ps, "room") for ps in (a, b, c)]
    ref = make_ref()
    broadcast(a, "room", ("new_msg", self(), ref, frozenset({1})))
    got = {assert_receive(("got", ANY, ("new_msg", self(), ref, frozenset({1}))))[1]
           for _ in range(3)}
    assert got == set(subs)
    refute_receive(("got", ANY, ANY), timeout=0.1)   # exactly once each, no echo
    assert [cluster.adapters[n].received for n in ("a@h", "b@h", "c@h")] == [0, 1, 1]
    for pid in subs:
        send(pid, "stop")


def test_broadcast_from_skips_the_sender_on_every_worker(cluster):
    a, b = cluster.worker("a@h"), cluster.worker("b@h")
    other = start_subscriber(b, "t")
    subscribe(a, "t")
    subscribe(b, "t")
    broadcast_from(a, self(), "t", "not for me")
    assert_receive(("got", other, "not for me"))
    refute_receive("not for me", timeout=0.1)
    unsubscribe(a, "t")
    unsubscribe(b, "t")
    send(other, "stop")


def test_direct_and_local_broadcasts_reach_one_worker_only(cluster):
    a, b, c = (cluster.worker(n) for n in ("a@h", "b@h", "c@h"))
    sa, sb, sc = (start_subscriber(ps, "t") for ps in (a, b, c))
    direct_broadcast(a, "c@h", "t", "to c")
    assert_receive(("got", sc, "to c"))
    local_broadcast(b, "t", "b only")
    assert_receive(("got", sb, "b only"))
    direct_broadcast(a, "nobody@h", "t", "lost")
    refute_receive(("got", ANY, ANY), timeout=0.1)
    eventually(lambda: relay_statistics(cluster.relay).undeliverable == 1)
    for pid in (sa, sb, sc):
        send(pid, "stop")


def test_relay_statistics_name_the_connected_workers_and_count_frames(cluster):
    a, b = cluster.worker("a@h"), cluster.worker("b@h")
    sub = start_subscriber(b, "t")
    for i in range(5):
        broadcast(a, "t", i)
    for i in range(5):
        assert_receive(("got", sub, i))   # in order
    stats = relay_statistics(cluster.relay)
    assert stats.peers == {"c": ["a@h", "b@h"]}
    assert (stats.frames_in, stats.frames_out, stats.slow_closed) == (5, 5, 0)
    send(sub, "stop")


def test_a_relay_restart_loses_at_most_the_gap_and_the_links_rejoin(cluster):
    a, b = cluster.worker("a@h"), cluster.worker("b@h")
    far, near = start_subscriber(b, "t"), start_subscriber(a, "t")
    stop(cluster.relay)
    eventually(lambda: not cluster.adapters["a@h"].connected)
    broadcast(a, "t", "during the gap")
    assert_receive(("got", near, "during the gap"))   # local subscribers are served
    assert cluster.adapters["a@h"].dropped == 1
    cluster.relay = HostRelay.start(cluster.path)
    eventually(lambda: all(x.connected for x in cluster.adapters.values()))
    broadcast(a, "t", "after")
    assert_receive(("got", far, "after"))
    assert_receive(("got", near, "after"))
    refute_receive(("got", far, "during the gap"), timeout=0.05)
    for pid in (far, near):
        send(pid, "stop")


def test_a_worker_that_does_not_read_is_disconnected_and_the_others_get_everything():
    cluster = Cluster(max_pending=1 << 20)
    try:
        a, b = cluster.worker("a@h"), cluster.worker("b@h")
        sub = start_subscriber(b, "t")
        slow = raw_client(cluster.path, node="slow@h")
        assert slow.recv(6) == wire.welcome()
        eventually(lambda: "slow@h" in relay_statistics(cluster.relay).peers["c"])
        body = "x" * 1000
        for i in range(4000):
            broadcast(a, "t", (i, body))
            if i % 100 == 0:
                gevent.sleep(0)
        for i in range(4000):
            assert assert_receive(("got", sub, ANY), timeout=5)[2][0] == i
        stats = relay_statistics(cluster.relay)
        assert stats.slow_closed == 1 and stats.peers == {"c": ["a@h", "b@h"]}
        slow.close()
        send(sub, "stop")
    finally:
        cluster.close()


@pytest.mark.crashes_expected
def test_garbage_or_a_wrong_version_closes_that_connection_only(cluster):
    a, b = cluster.worker("a@h"), cluster.worker("b@h")
    sub = start_subscriber(b, "t")
    bad_version = raw_client(cluster.path, version=9)
    assert bad_version.recv(64) == b""   # closed without a welcome
    garbage = raw_client(cluster.path, node="garbage@h")
    assert garbage.recv(6) == wire.welcome()
    garbage.sendall(b"\xff\xff\xff\xff")
    assert garbage.recv(64) == b""
    no_hello = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    no_hello.settimeout(5)
    no_hello.connect(cluster.path)
    no_hello.sendall(wire.broadcast(b"\x01"))
    assert no_hello.recv(64) == b""
    broadcast(a, "t", "still fine")
    assert_receive(("got", sub, "still fine"))
    for s in (bad_version, garbage, no_hello):
        s.close()
    send(sub, "stop")


@pytest.mark.crashes_expected
def test_an_undecodable_broadcast_is_logged_and_skipped_by_the_receiver(cluster, caplog):
    b = cluster.worker("b@h")
    sub = start_subscriber(b, "t")
    evil = raw_client(cluster.path, node="evil@h")
    assert evil.recv(6) == wire.welcome()
    evil.sendall(wire.broadcast(b"\xc1"))   # 0xc1 is never valid msgpack
    evil.sendall(wire.broadcast(wire_term("t", "after garbage")))
    assert_receive(("got", sub, "after garbage"))
    assert "undecodable relay frame" in caplog.text
    evil.close()
    send(sub, "stop")


def wire_term(topic, message):
    from beamish.core._codec import encode
    return encode(("evil@h", topic, message, "default", None))


def test_hello_again_under_the_same_name_replaces_the_older_connection(cluster):
    first = raw_client(cluster.path, node="dup@h")
    assert first.recv(6) == wire.welcome()
    second = raw_client(cluster.path, node="dup@h")
    assert second.recv(6) == wire.welcome()
    assert first.recv(64) == b""
    eventually(lambda: relay_statistics(cluster.relay).peers == {"c": ["dup@h"]})
    second.close()
    first.close()
    eventually(lambda: relay_statistics(cluster.relay).peers == {})


@pytest.mark.crashes_expected
def test_a_live_relay_path_is_refused_and_a_stale_one_replaced(cluster):
    with pytest.raises(StartError, match="live relay"):
        HostRelay.start(cluster.path)
    stale = os.path.join(cluster.dir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()   # the file stays, nobody listens
    relay = HostRelay.start(stale)
    stop(relay)
    assert not os.path.exists(stale)


def test_default_adapter_prefers_redis_then_the_host_relay_then_local(monkeypatch):
    monkeypatch.delenv(HOST_CLUSTER_ENV, raising=False)
    assert isinstance(default_adapter(None), LocalAdapter)
    monkeypatch.setenv(HOST_CLUSTER_ENV, "/nonexistent/relay.sock")
    host = default_adapter(None)
    assert isinstance(host, HostAdapter) and host.path == "/nonexistent/relay.sock"
    assert isinstance(default_adapter("redis://127.0.0.1:1/0"), RedisAdapter)
    from beamish import BadArg
    with pytest.raises(BadArg, match="not supported"):
        default_adapter("http://127.0.0.1:6379")


def test_a_host_adapter_without_a_path_says_how_to_get_one(monkeypatch):
    from beamish import BadArg
    monkeypatch.delenv(HOST_CLUSTER_ENV, raising=False)
    with pytest.raises(BadArg, match="--workers"):
        HostAdapter()
