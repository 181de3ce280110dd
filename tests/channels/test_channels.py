"""The channel server behaviours of Phoenix, checked over real websockets
with a Python client, including every kind of bad input."""
import json

import gevent
import pytest

from beamish import Supervisor, process_count, stop, unlink
from beamish.channels import Endpoint, MsgpackSerializer, V2JSONSerializer, broadcast, disconnect
from beamish.pubsub import PubSub
from beamish.testing import eventually
from tools.harness.client import Close, PhxClient as Client, Rejected, WSClient, joined
from chanapp import TestSocket

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def port():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("chan_ps", pool_size=2),
        Endpoint.child_spec(pubsub="chan_ps", sockets={"/socket": TestSocket}, port=0,
                            name="test_endpoint", on_ready=ports.append),
    ])
    yield ports[0]
    stop(sup)


def test_heartbeat_is_answered(port):
    c = Client(port)
    ref = c.push("phoenix", "heartbeat", {})
    assert c.reply(ref) == [None, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    c.close()


def test_join_ok_and_error_replies(port):
    c = Client(port)
    ref = c.join("room:lobby", {"nick": "carol"})
    assert c.reply(ref) == [ref, ref, "room:lobby", "phx_reply",
                            {"status": "ok", "response": {"welcome": True, "user": "alice"}}]
    ref2 = c.join("room:forbidden")
    assert c.reply(ref2)[4] == {"status": "error", "response": {"reason": "unauthorized"}}
    c.close()


def test_join_reply_echoes_the_join_ref(port):
    c = Client(port)
    c.ws.send(json.dumps(["6", "6", "room:lobby", "phx_join", {"nick": "carol"}]))
    assert c.reply("6") == ["6", "6", "room:lobby", "phx_reply",
                            {"status": "ok", "response": {"welcome": True, "user": "alice"}}]
    c.close()


@pytest.mark.crashes_expected
def test_a_crashing_join_replies_join_crashed(port):
    c = Client(port)
    ref = c.join("room:crashjoin")
    assert c.reply(ref)[4] == {"status": "error", "response": {"reason": "join crashed"}}
    c.close()


def test_unmatched_topics(port):
    c = Client(port)
    ref = c.join("nowhere:1")
    assert c.reply(ref) == [None, ref, "nowhere:1", "phx_reply",
                            {"status": "error", "response": {"reason": "unmatched topic"}}]
    ref = c.push("room:notjoined", "echo", {})
    assert c.reply(ref)[4]["response"] == {"reason": "unmatched topic"}
    c.close()


def test_push_with_reply(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    ref = c.push("room:lobby", "echo", {"body": "hi"}, join_ref=jr)
    assert c.reply(ref) == [jr, ref, "room:lobby", "phx_reply",
                            {"status": "ok", "response": {"echoed": {"body": "hi"}}}]
    c.close()


def test_broadcast_reaches_every_socket_and_broadcast_from_skips_the_sender(port):
    a, b = Client(port), Client(port, "vsn=2.0.0&user=bob")
    ja, jb = joined(a, "room:lobby", {"nick": "a"}), joined(b, "room:lobby", {"nick": "b"})
    a.push("room:lobby", "shout", {"body": "hey"}, join_ref=ja)
    for c in (a, b):
        assert c.event("shout") == [None, None, "room:lobby", "shout",
                                    {"from": "a", "body": "hey"}]
    ref = b.push("room:lobby", "shout_from", {"body": "not to me"}, join_ref=jb)
    b.reply(ref)
    assert a.event("shout")[4]["body"] == "not to me"
    with pytest.raises(gevent.Timeout):
        b.event("shout", timeout=0.2)
    a.close()
    b.close()


def test_intercepted_events_go_through_handle_out(port):
    a = Client(port)
    ja = joined(a, "room:lobby")
    a.push("room:lobby", "censor", {"body": "darn it"}, join_ref=ja)
    assert a.event("censored") == [ja, None, "room:lobby", "censored", {"body": "**** it"}]
    a.close()


def test_endpoint_broadcast_from_the_server(port):
    a = Client(port)
    joined(a, "room:news")
    broadcast("chan_ps", "room:news", "flash", {"n": 1})
    assert a.event("flash") == [None, None, "room:news", "flash", {"n": 1}]
    a.close()


def test_leave_replies_ok_then_closes(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    ref = c.push("room:lobby", "phx_leave", {}, join_ref=jr)
    assert c.reply(ref)[4] == {"status": "ok", "response": {}}
    assert c.event("phx_close") == [jr, jr, "room:lobby", "phx_close", {}]
    ref = c.push("room:lobby", "phx_leave", {})
    assert c.reply(ref)[4]["status"] == "ok", "leaving a topic not joined is ok"
    c.close()


@pytest.mark.crashes_expected
def test_a_channel_crash_sends_phx_error_and_the_client_can_rejoin(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    c.push("room:lobby", "crash", {}, join_ref=jr)
    assert c.event("phx_error") == [jr, jr, "room:lobby", "phx_error",
                                    {"reason": "channel_crash"}]
    jr2 = joined(c, "room:lobby")
    ref = c.push("room:lobby", "echo", {"n": 1}, join_ref=jr2)
    assert c.reply(ref)[4]["status"] == "ok"
    c.close()


def test_stop_with_reply_then_phx_close(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    ref = c.push("room:lobby", "stop", {}, join_ref=jr)
    assert c.reply(ref)[4] == {"status": "ok", "response": {"bye": True}}
    assert c.event("phx_close")[0] == jr
    c.close()


def test_duplicate_join_replies_then_closes_the_old_instance(port):
    c = Client(port)
    old = joined(c, "room:lobby")
    new = c.join("room:lobby")
    first = c.expect(lambda f: f[3] in ("phx_reply", "phx_close"))
    assert first[1] == new and first[4]["status"] == "ok", "the new join's reply goes first"
    assert c.event("phx_close") == [old, old, "room:lobby", "phx_close", {}]
    c.close()


def test_messages_with_a_stale_join_ref_are_dropped(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    c.push("room:lobby", "echo", {}, join_ref="stale")
    ref = c.push("room:lobby", "echo", {"n": 2}, join_ref=jr)
    assert c.recv()[1] == ref
    c.close()


def test_too_many_channels(port):
    c = Client(port)
    for i in range(5):
        joined(c, f"room:{i}")
    ref = c.join("room:6")
    assert c.reply(ref)[4]["response"] == {"reason": "too many channels joined"}
    c.close()


def test_unknown_vsn_and_refused_connect_get_403(port):
    with pytest.raises(Rejected) as info:
        WSClient.connect(port, "/socket/websocket?vsn=9.9.9")
    assert info.value.status == 403
    with pytest.raises(Rejected) as info:
        WSClient.connect(port, "/socket/websocket")
    assert info.value.status == 403
    with pytest.raises(Rejected) as info:
        WSClient.connect(port, "/socket/websocket?vsn=2.0.0&token=bad")
    assert info.value.status == 403


def test_msgpack_serializer(port):
    ser = MsgpackSerializer()
    from beamish.channels import Message
    ws = WSClient.connect(port, "/socket/websocket?vsn=2.0.0-msgpack&user=m")
    ws.send(ser.client_encode(Message("1", "1", "room:lobby", "phx_join", {})))
    reply = ser.client_decode(ws.receive(), 2)
    assert reply.status == "ok" and reply.ref == "1"
    ws.send(ser.client_encode(Message("1", "2", "room:lobby", "echo", {"b": b"\x00\x01"})))
    reply = ser.client_decode(ws.receive(), 2)
    assert reply.response == {"echoed": {"b": b"\x00\x01"}}
    ws.close()
    ws.wait_eof(2)
    ws.sock.close()


def test_binary_payloads_round_trip(port):
    c = Client(port)
    jr = joined(c, "room:lobby")
    ser = V2JSONSerializer()
    from beamish.channels import Message
    c.ws.send(ser.client_encode(Message(jr, "77", "room:lobby", "binary_echo", b"\xde\xad")))
    reply = ser.client_decode(c.ws.receive(), 2)
    assert reply.ref == "77" and reply.status == "ok" and reply.response == b"\xde\xad"
    c.close()


def test_disconnect_by_socket_id_closes_with_1001(port):
    c = Client(port, "vsn=2.0.0&user=zed")
    joined(c, "room:lobby")
    disconnect("chan_ps", "user_socket:zed")
    assert c.closed().code == 1001
    c.ws.sock.close()


# ------------------------------------------------------------- bad input
@pytest.fixture
def bystander(port):
    """Another client, joined to room:lobby, that must keep getting broadcasts."""
    c = Client(port, "vsn=2.0.0&user=bystander")
    joined(c, "room:lobby")

    def still_served():
        broadcast("chan_ps", "room:lobby", "ping_all", {"ok": True})
        assert c.event("ping_all")[4] == {"ok": True}
    yield still_served
    c.close()


@pytest.mark.parametrize("frame", [
    "not json",
    '{"an": "object"}',
    '["1", "2", "room:lobby"]',
    '[1, 2, 3, 4, 5]',
    b"\x09\x01\x02",
    b"\x00\xff\xff\xff\xff",
    '["1","1","room:lobby","phx_join",{}]'.encode(),  # JSON text in a binary frame
])
def test_malformed_frames_close_with_1007_and_others_carry_on(port, bystander, frame):
    c = Client(port)
    c.ws.send(frame)
    assert c.closed().code == 1007
    c.ws.sock.close()
    bystander()


def test_an_oversized_frame_closes_with_1009_and_others_carry_on(port, bystander):
    c = Client(port)
    c.ws.send("x" * (2 << 20))
    assert c.closed(timeout=5).code == 1009
    c.ws.sock.close()
    bystander()


@pytest.mark.crashes_expected
def test_an_unknown_event_crashes_only_that_channel(port, bystander):
    c = Client(port)
    jr = joined(c, "room:lobby")
    c.push("room:lobby", "no_such_event", {}, join_ref=jr)
    assert c.event("phx_error")[0] == jr
    c.close()
    bystander()


def test_a_flood_of_messages_is_cut_off_with_1008(port, bystander):
    c = Client(port)
    for i in range(200):
        try:
            c.push("phoenix", "heartbeat", {})
        except OSError:
            break
    assert c.closed().code == 1008
    c.ws.sock.close()
    bystander()


def test_a_join_flood_gets_error_replies_then_the_rate_limit(port, bystander):
    c = Client(port)
    codes = []
    for i in range(100):
        try:
            c.join(f"room:flood{i}")
        except OSError:
            break
    statuses = []
    with gevent.Timeout(5):
        while True:
            f = c.recv()
            if isinstance(f, Close):
                codes.append(f.code)
                break
            statuses.append(f[4]["status"])
    assert statuses.count("ok") <= 5 and codes == [1008]
    c.ws.sock.close()
    bystander()


@pytest.mark.slow
def test_a_client_that_stops_reading_is_disconnected_and_a_reader_is_not(port):
    from chanapp import TestSocket
    slow = Client(port, "vsn=2.0.0&user=slow")
    fast = Client(port, "vsn=2.0.0&user=fast")
    joined(slow, "room:lobby")
    joined(fast, "room:lobby")
    got = []

    def read_fast():
        while True:
            f = fast.recv(timeout=30)
            if isinstance(f, Close):
                got.append(f)
                return
            got.append(f[3])
    reader = gevent.spawn(read_fast)
    big = {"blob": "y" * 60_000}
    for _ in range(400):
        broadcast("chan_ps", "room:lobby", "big", big)
        gevent.sleep(0)
    broadcast("chan_ps", "room:lobby", "last", {})
    # the slow client never reads: it is cut off within the send timeout,
    # and draining its socket then ends in EOF
    gevent.sleep(TestSocket.send_timeout + 0.5)
    assert slow.ws.wait_eof(10)
    slow.ws.sock.close()
    with gevent.Timeout(10):
        while "last" not in got:
            gevent.sleep(0.05)
    assert got.count("big") == 400 and not any(isinstance(g, Close) for g in got)
    reader.kill()
    fast.close()


def test_no_process_outlives_its_connection(port):
    base = process_count()
    clients = [Client(port, f"vsn=2.0.0&user=u{i}") for i in range(5)]
    for c in clients:
        joined(c, "room:a")
        joined(c, "room:b")
    assert process_count() >= base + 15
    for c in clients[:2]:
        c.close()
    for c in clients[2:]:
        c.ws.abort()
    eventually(lambda: process_count() <= base, timeout=3)
