"""The official ``phoenix`` npm client (1.8.x, under Node with ``ws`` as its
transport) against beamish: every scenario in tests/js/official/scenarios.mjs."""
import gevent
import pytest

from beamish import Supervisor, stop
from beamish.channels import Endpoint
from beamish.pubsub import PubSub
from chanapp import TestSocket
import officialjs

SCRIPT = "scenarios.mjs"

pytestmark = officialjs.MARKS


@pytest.fixture(scope="module", autouse=True)
def node_modules():
    officialjs.require_node_modules()


def start_server(port=0):
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("js_ps", pool_size=2),
        Endpoint.child_spec(pubsub="js_ps", sockets={"/socket": TestSocket}, port=port,
                            name="js_endpoint", on_ready=ports.append),
    ])
    return sup, ports[0]


def node(scenario, port):
    return officialjs.node(SCRIPT, scenario, port)


def finish(proc, timeout=30):
    return officialjs.finish(proc, timeout)


@pytest.mark.parametrize("scenario", [
    "join_ok_and_error", "push_reply_and_timeout", "broadcast_between_two_sockets", "leave",
    "heartbeat", pytest.param("channel_crash_then_rejoin", marks=pytest.mark.crashes_expected),
    "binary_payloads",
])
def test_official_client(scenario):
    sup, port = start_server()
    try:
        finish(node(scenario, port))
    finally:
        stop(sup)


def test_official_client_reconnects_and_rejoins_after_a_server_restart():
    sup, port = start_server()
    proc = node("server_restart_then_rejoin", port)
    try:
        assert proc.stdout.readline().strip() == "step joined"
        stop(sup)       # endpoint closes every socket with 1012
        assert proc.stdout.readline().strip() == "step disconnected"
        gevent.sleep(0.3)
        sup, _ = start_server(port)
        finish(proc)
    finally:
        proc.kill()
        stop(sup)


def test_official_client_presence_sync_against_apps_chat():
    from test_chat_support import start_chat
    sup, port = start_chat()
    try:
        finish(node("presence_sync", port))
    finally:
        stop(sup)
