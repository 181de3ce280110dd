"""presence_state encoded once per topic version: n clients joining a room
within one diff window, over real websockets, cost one encode of the
listing between them, and each still ends with the whole room."""
import gevent
import pytest

from beamish import Supervisor, send, stop
from beamish import self as self_pid
from beamish.channels import Channel, Endpoint, Socket
from beamish.channels import _serializer
from beamish.presence import Presence, list_presence, track
from beamish.pubsub import PubSub
from tools.harness.client import PhxClient

pytestmark = pytest.mark.timeout(60)
N = 20
WINDOW = 1.0   # every join of the test falls in one window


class RoomChannel(Channel):
    def join(self, topic, payload):
        send(self_pid(), "after_join")
        return ("ok", {})

    def handle_info(self, msg):
        if msg == "after_join":
            track("enc_presence", self_pid(), self.topic, self.assigns["user"], {})
            self.push("presence_state", list_presence("enc_presence", self.topic))


class RoomSocket(Socket):
    channels = [("room:*", RoomChannel)]

    def connect(self, params, connect_info):
        return {"user": params.get("user", "anon")}


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("enc_ps"),
        Presence.child_spec("enc_presence", pubsub="enc_ps", diff_window=WINDOW),
        Endpoint.child_spec(pubsub="enc_ps", sockets={"/socket": RoomSocket}, port=0,
                            name="enc_endpoint", on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def test_n_joins_within_one_window_encode_the_presence_state_once(port, monkeypatch):
    encodes = []
    frozen = _serializer._json_frozen
    encode = frozen.encode

    def counting(topic, event, payload):
        if event == "presence_state":
            encodes.append(payload)   # the listing's part of a frame
        return encode(topic, event, payload)

    monkeypatch.setattr(frozen, "encode", counting)
    clients = [PhxClient(port, f"vsn=2.0.0&user=u{i}") for i in range(N)]
    try:
        for c in clients:
            c.join("room:big")
        states = [c.event("presence_state", timeout=10)[4] for c in clients]
        assert len(encodes) == 1, f"{len(encodes)} encodes of the room's listing for {N} joins"
        assert states[0] and all(s == states[0] for s in states)
        # what a state lacks comes in the window's diff: every client ends with everyone
        want = {f"u{i}" for i in range(N)}
        for c, state in zip(clients, states):
            seen = set(state)
            while seen != want:
                seen |= set(c.event("presence_diff", timeout=3 * WINDOW)[4]["joins"])
    finally:
        for c in clients:
            c.close()
        gevent.sleep(0.1)


def test_a_frozen_payload_is_spliced_into_the_same_frame_it_would_encode_to():
    from beamish.channels import Message, MsgpackSerializer, V2JSONSerializer
    from beamish.presence._presence import Listing
    listing = Listing({"é": {"metas": [{"phx_ref": "r1", "n": 1}]}, "bob": {"metas": []}})
    for ser in (V2JSONSerializer(), MsgpackSerializer()):
        for join_ref, topic in (("3", "room:a"), (None, "room:b"), ("4", "room:a")):
            msg = Message(join_ref, None, topic, "presence_state", listing)
            plain = Message(join_ref, None, topic, "presence_state", dict(listing))
            assert ser.encode_push(msg) == ser.encode_push(plain)
            assert ser.client_decode(ser.encode_push(msg), 1 if ser.name == "json" else 2) \
                == ser.client_decode(ser.encode_push(plain), 1 if ser.name == "json" else 2)


def test_pushes_of_one_listing_with_one_head_share_one_frame():
    """n joiners of one window whose heads are alike (the same join_ref; a
    push has no ref) get the very same frame: the O(n) listing is spliced
    into a frame once, not once per joiner; another head gets its own."""
    from beamish.channels import Message, MsgpackSerializer, V2JSONSerializer
    from beamish.presence._presence import Listing
    listing = Listing({f"u{i}": {"metas": [{"phx_ref": f"r{i}"}]} for i in range(100)})
    for ser in (V2JSONSerializer(), MsgpackSerializer()):
        frames = [ser.encode_push(Message("1", None, "room:f", "presence_state", listing))
                  for _ in range(5)]
        assert all(f is frames[0] for f in frames)
        other = ser.encode_push(Message("7", None, "room:f", "presence_state", listing))
        assert other is not frames[0]
        assert other == ser.encode_push(Message("7", None, "room:f", "presence_state",
                                                dict(listing)))
        newer = Listing(listing, u100={"metas": [{"phx_ref": "r100"}]})
        fresh = ser.encode_push(Message("1", None, "room:f", "presence_state", newer))
        assert fresh is not frames[0] and fresh == ser.encode_push(
            Message("1", None, "room:f", "presence_state", dict(newer)))
