"""Socket connections and channel joins are logged at info level as
Phoenix logs them ("CONNECTED TO ... in ...", "JOINED topic in ..."),
with secret-looking parameters filtered."""
import logging

import pytest

from beamish.channels import Channel, Endpoint, Socket
from beamish.pubsub import PubSub
from beamish import Supervisor, stop
from beamish.testing import eventually
from tools.harness.client import PhxClient, Rejected


class LobbyChannel(Channel):
    def join(self, topic, payload):
        if payload.get("refuse"):
            return ("error", {"reason": "no"})
        return ("ok", {})


class LoggedSocket(Socket):
    channels = [("lobby:*", LobbyChannel)]

    def connect(self, params, connect_info):
        return params.get("user") != "mallory"


@pytest.fixture
def endpoint():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("log_lines_ps"),
        Endpoint.child_spec(pubsub="log_lines_ps", sockets={"/socket": LoggedSocket}, port=0,
                            name="log_lines_endpoint", on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def test_connect_and_join_are_logged_like_phoenix(endpoint, caplog):
    caplog.set_level(logging.INFO, logger="beamish.channels")
    client = PhxClient(endpoint, "vsn=2.0.0&user=alice&token=s3cret-value")
    try:
        assert client.reply(client.join("lobby:1", {"password": "hunter2"}))[4]["status"] == "ok"
        assert client.reply(client.join("lobby:2", {"refuse": True}))[4]["status"] == "error"
    finally:
        client.close()
    text = eventually(lambda: "REFUSED JOIN" in caplog.text and caplog.text)
    assert "CONNECTED TO LoggedSocket in " in text
    assert "Transport: websocket" in text and "Serializer: V2JSONSerializer" in text
    assert "JOINED lobby:1 in " in text
    assert "REFUSED JOIN lobby:2 in " in text
    assert "s3cret-value" not in text and "hunter2" not in text
    assert "[FILTERED]" in text


def test_a_refused_connection_is_logged(endpoint, caplog):
    caplog.set_level(logging.INFO, logger="beamish.channels")
    with pytest.raises(Rejected):   # 403: the upgrade is refused
        PhxClient(endpoint, "vsn=2.0.0&user=mallory")
    assert "REFUSED CONNECTION TO LoggedSocket in " in caplog.text
