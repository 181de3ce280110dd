"""Channel and socket processes are behaviour processes: they answer the
system messages (get_state, get_status, stop), show the user's class as
their initial call and label themselves (socket: its id; channel: its
topic).  Over real websockets against a real Endpoint."""
import gevent
import pytest

from beamish import Supervisor, get_label, process_info, processes, stop
from beamish.channels import Endpoint
from beamish.otp import get_state, get_status
from beamish.pubsub import PubSub
from tools.harness.client import PhxClient as Client, joined
from chanapp import RoomChannel, TestSocket

pytestmark = pytest.mark.timeout(60)

SOCKET_CALL = f"{TestSocket.__module__}:TestSocket.connect"
CHANNEL_CALL = f"{RoomChannel.__module__}:RoomChannel.join"


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("beh_ps", pool_size=1),
        Endpoint.child_spec(pubsub="beh_ps", sockets={"/socket": TestSocket}, port=0,
                            name="beh_endpoint", on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def _find(initial_call, timeout=5.0):
    """The pids whose initial call is ``initial_call``, once there is one."""
    with gevent.Timeout(timeout):
        while True:
            found = [p for p in processes()
                     if (i := process_info(p)) is not None and i.initial_call == initial_call]
            if found:
                return found
            gevent.sleep(0.01)


def test_a_socket_shows_its_class_and_its_id_and_answers_system_messages(port):
    c = Client(port, "vsn=2.0.0&user=bob")
    [sock] = _find(SOCKET_CALL)
    assert get_label(sock) == "user_socket:bob"
    state = get_state(sock)
    assert isinstance(state.socket, TestSocket) and state.assigns == {"user": "bob"}
    status = get_status(sock)
    assert (status.behaviour, status.callback, status.label) == \
        ("socket", f"{TestSocket.__module__}:TestSocket", "user_socket:bob")
    # still serving: the system messages went to the base, not the connection
    ref = c.push("phoenix", "heartbeat", {})
    assert c.reply(ref)[4] == {"status": "ok", "response": {}}
    c.close()


def test_a_channel_shows_its_class_and_topic_and_answers_system_messages(port):
    c = Client(port)
    jr = joined(c, "room:lobby", {"nick": "carol"})
    [chan] = _find(CHANNEL_CALL)
    assert get_label(chan) == "room:lobby"
    state = get_state(chan)
    assert isinstance(state, RoomChannel) and state.topic == "room:lobby"
    assert state.pid == chan   # self.pid, as a GenServer's
    assert state.assigns["nick"] == "carol"
    status = get_status(chan)
    assert (status.behaviour, status.callback) == \
        ("channel", f"{RoomChannel.__module__}:RoomChannel")
    ref = c.push("room:lobby", "echo", {"x": 1}, join_ref=jr)
    assert c.reply(ref)[4] == {"status": "ok", "response": {"echoed": {"x": 1}}}
    c.close()


def test_stopping_a_channel_by_its_pid_closes_it_on_the_client(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    [chan] = _find(CHANNEL_CALL)
    stop(chan, "shutdown")
    assert c.event("phx_close") == [jr, jr, "room:lobby", "phx_close", {}]
    c.close()
