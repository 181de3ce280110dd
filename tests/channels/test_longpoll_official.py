"""The official ``phoenix`` npm client (1.8.x, under Node) over its LongPoll
transport against beamish: every scenario in tests/js/official/longpoll.mjs."""
import gevent
import pytest

from beamish import Supervisor, stop
from beamish.channels import Endpoint
from beamish.pubsub import PubSub
from chanapp import TestSocket
from test_chat_support import start_chat
import officialjs

SCRIPT = "longpoll.mjs"

pytestmark = officialjs.MARKS


@pytest.fixture(scope="module", autouse=True)
def node_modules():
    officialjs.require_node_modules()


def start_server(port=0):
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("lpjs_ps", pool_size=2),
        Endpoint.child_spec(pubsub="lpjs_ps", sockets={"/socket": TestSocket}, port=port,
                            name="lpjs_endpoint", on_ready=ports.append,
                            longpoll={"window": 2.0}),
    ])
    return sup, ports[0]


def node(scenario, port):
    return officialjs.node(SCRIPT, scenario, port)


def finish(proc, timeout=40):
    return officialjs.finish(proc, timeout)


@pytest.mark.parametrize("scenario", [
    "join_and_push_reply", "broadcast_with_a_websocket_client", "leave",
])
def test_official_longpoll_client(scenario):
    sup, port = start_server()
    try:
        finish(node(scenario, port))
    finally:
        stop(sup)


def test_official_longpoll_client_rejoins_after_a_server_restart():
    sup, port = start_server()
    proc = node("server_restart_then_rejoin", port)
    try:
        assert proc.stdout.readline().strip() == "step joined"
        stop(sup)       # the held poll answers 410: the client reconnects
        assert proc.stdout.readline().strip() == "step disconnected"
        gevent.sleep(0.3)
        sup, _ = start_server(port)
        finish(proc)
    finally:
        proc.kill()
        stop(sup)


def test_official_longpoll_client_presence_with_a_websocket_user_in_the_chat():
    sup, port = start_chat()
    try:
        finish(node("presence_sync", port))
    finally:
        stop(sup)
