"""Idle connections hibernate: the socket and channel processes of a joined
client give their greenlets back after ``hibernate_after`` and serve
frames, replies, broadcasts and the idle timeout as before, over real
websockets."""
import pytest

from beamish import Supervisor, process_info, processes, stop
from beamish.channels import Channel, Endpoint, Socket, broadcast
from beamish.pubsub import PubSub
from beamish.testing import eventually
from tools.harness.client import Close, PhxClient as Client, WSClient, joined

pytestmark = pytest.mark.timeout(60)


class LeanChannel(Channel):
    hibernate_after = 0.1

    def join(self, topic, payload):
        return ("ok", {})

    def handle_in(self, event, payload, ref):
        return ("ok", {"echoed": payload})


class LeanSocket(Socket):
    channels = [("lean:*", LeanChannel)]
    hibernate_after = 0.1
    idle_timeout = 30.0


class SleepySocket(LeanSocket):
    idle_timeout = 1.0


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("lean_ps", pool_size=2),
        Endpoint.child_spec(pubsub="lean_ps", port=0, name="lean_endpoint",
                            sockets={"/socket": LeanSocket, "/sleepy": SleepySocket},
                            on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def _by_initial_call(suffix):
    found = []
    for pid in processes():
        info = process_info(pid)
        if info is not None and info.initial_call.endswith(suffix):
            found.append(pid)
    return found


def _all_hibernating(suffix, n):
    pids = _by_initial_call(suffix)
    if len(pids) != n:
        return False
    return all(getattr(process_info(p), "status", None) == "hibernating" for p in pids)


def test_defaults_are_phoenixs_fifteen_seconds():
    assert Socket.hibernate_after == 15.0
    assert Channel.hibernate_after == 15.0


def test_idle_socket_and_channel_hibernate_and_serve_on_waking(port):
    c = Client(port)
    jr = joined(c, "lean:1")
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    # a client frame wakes both; the reply comes back through them
    ref = c.push("lean:1", "echo", {"n": 1}, join_ref=jr)
    assert c.reply(ref)[4] == {"status": "ok", "response": {"echoed": {"n": 1}}}
    eventually(lambda: _all_hibernating("LeanSocket.connect", 1)
               and _all_hibernating("LeanChannel.join", 1))
    # a broadcast (fastlane, into the hibernated socket process)
    broadcast("lean_ps", "lean:1", "news", {"n": 2})
    assert c.event("news")[4] == {"n": 2}
    ref = c.push("phoenix", "heartbeat", {})
    assert c.reply(ref)[4] == {"status": "ok", "response": {}}
    c.close()
    eventually(lambda: not _by_initial_call("LeanSocket.connect"))


def test_idle_timeout_fires_into_a_hibernated_socket(port):
    c = _sleepy(port)
    joined(c, "lean:2")
    eventually(lambda: _all_hibernating("SleepySocket.connect", 1))
    assert c.closed(timeout=10.0) == Close(1001, "idle timeout")
    c.ws.sock.close()
    eventually(lambda: not _by_initial_call("SleepySocket.connect"))
    eventually(lambda: not _by_initial_call("LeanChannel.join"))


def _sleepy(port):
    """A client of the ``/sleepy`` socket (1 s idle timeout)."""
    c = Client.__new__(Client)
    c.ws = WSClient.connect(port, "/sleepy/websocket?vsn=2.0.0&user=bob")
    c.ref = 0
    c.pending = []
    return c
