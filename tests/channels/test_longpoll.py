"""The LongPoll transport over real loopback HTTP: sessions, polls, POST
batches, the statuses the official client reacts to, bad input and limits.

Each test starts an Endpoint with ``longpoll`` on and speaks HTTP/1.1 to it
with ``http.client``, as the official client's ``Ajax`` does."""
import http.client
import json
import logging

import gevent
import pytest

from beamish import Supervisor, process_count, stop
from beamish.channels import Endpoint, broadcast, disconnect
from beamish.pubsub import PubSub
from beamish.testing import eventually

from chanapp import TestSocket

pytestmark = [pytest.mark.timeout(60)]

WINDOW = 0.5      # a short poll window, so that holds and expiry are quick


@pytest.fixture
def server():
    ports = []
    sup = Supervisor.start([
        PubSub.child_spec("lp_ps", pool_size=1),
        Endpoint.child_spec(pubsub="lp_ps", sockets={"/socket": TestSocket}, port=0,
                            name="lp_endpoint", on_ready=ports.append,
                            longpoll={"window": WINDOW}, max_frame_size=4096),
    ])
    yield ports[0]
    stop(sup)


def request(port, method, query="", body=None, headers=None):
    """One request; ``(HTTP status, decoded JSON body or raw bytes)``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, "/socket/longpoll" + (("?" + query) if query else ""), body=body,
                     headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data
    finally:
        conn.close()


def open_session(port, params="user=lp"):
    status, body = request(port, "GET", params + "&vsn=2.0.0")
    assert status == 200 and body["status"] == 410 and body["messages"] == [], body
    return body["token"]


def post(port, token, *messages, ctype="application/x-ndjson"):
    return request(port, "POST", f"user=lp&vsn=2.0.0&token={token}",
                   body="\n".join(json.dumps(m) for m in messages).encode(),
                   headers={"Content-Type": ctype})


def poll(port, token):
    return request(port, "GET", f"user=lp&vsn=2.0.0&token={token}")


def sessions(count_before):
    return process_count() - count_before


def test_join_push_reply_and_broadcast_over_polls(server):
    token = open_session(server)
    status, body = post(server, token, ["1", "1", "room:lobby", "phx_join", {"nick": "ann"}],
                        ["1", "2", "room:lobby", "echo", {"hi": 1}])
    assert (status, body) == (200, {"status": 200})
    status, body = poll(server, token)
    assert status == 200 and body["status"] == 200 and body["token"] == token
    msgs = [json.loads(m) for m in body["messages"]]
    assert msgs == [["1", "1", "room:lobby", "phx_reply",
                     {"status": "ok", "response": {"welcome": True, "user": "lp"}}],
                    ["1", "2", "room:lobby", "phx_reply",
                     {"status": "ok", "response": {"echoed": {"hi": 1}}}]]
    # a held poll is answered as soon as a broadcast comes
    waiting = gevent.spawn(poll, server, token)
    gevent.sleep(0.1)
    broadcast("lp_ps", "room:lobby", "news", {"text": 'quote " and \\ slash \n ok'})
    status, body = waiting.get(timeout=5)
    assert body["status"] == 200
    assert [json.loads(m) for m in body["messages"]] == [
        [None, None, "room:lobby", "news", {"text": 'quote " and \\ slash \n ok'}]]


def test_an_empty_poll_is_held_for_the_window_then_answers_204(server):
    token = open_session(server)
    started = gevent.get_hub().loop.now()
    status, body = poll(server, token)
    assert (status, body["status"], body["messages"]) == (200, 204, [])
    assert gevent.get_hub().loop.now() - started >= WINDOW * 0.8


def test_a_quiet_session_ends_with_its_channels_and_its_token_then_gets_410(server):
    before = process_count()
    token = open_session(server)
    post(server, token, ["1", "1", "room:lobby", "phx_join", {}])
    eventually(lambda: sessions(before) == 2)    # socket and channel processes
    eventually(lambda: sessions(before) == 0, timeout=WINDOW * 6)
    assert poll(server, token) == (200, {"status": 410})
    assert post(server, token, ["1", "2", "room:lobby", "echo", {}]) == (200, {"status": 410})


def test_disconnect_ends_the_session_and_a_held_poll_answers_410(server):
    token = open_session(server)
    waiting = gevent.spawn(poll, server, token)
    gevent.sleep(0.1)
    disconnect("lp_ps", "user_socket:lp")
    assert waiting.get(timeout=5) == (200, {"status": 410})


def test_wrong_and_tampered_tokens_get_410_and_start_nothing(server):
    token = open_session(server)
    before = process_count()
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "garbage", "v1.e30.x", token + "x"):
        assert poll(server, bad) == (200, {"status": 410})
        assert post(server, bad, ["1", "1", "room:lobby", "phx_join", {}]) == (200, {"status": 410})
    assert process_count() == before
    assert poll(server, token)[1]["status"] == 204     # the real session is untouched


def test_vsn_connect_refusal_and_origin_get_403(server):
    before = process_count()
    assert request(server, "GET", "user=x") == (200, {"status": 403})
    assert request(server, "GET", "vsn=2.0.0-msgpack") == (200, {"status": 403})
    assert request(server, "GET", "x=1&vsn=2.0.0&token=bad") == (200, {"status": 410})
    assert request(server, "GET", "vsn=2.0.0", headers={"Origin": "http://evil.example"}) == (
        200, {"status": 403})
    assert process_count() == before


def test_a_params_token_of_the_socket_is_not_the_session_token(server):
    # the client appends its session token after the socket's params: the
    # socket's own ``token`` param reaches connect (chanapp refuses "bad")
    assert request(server, "GET", "token=bad&vsn=2.0.0&") == (200, {"status": 403})
    status, body = request(server, "GET", "token=fine&vsn=2.0.0&")
    assert body["status"] == 410


def test_garbage_bodies_get_400_and_a_malformed_message_ends_the_session(server, caplog):
    caplog.set_level(logging.CRITICAL, "beamish.channels")
    before = process_count()
    token = open_session(server)
    # neither a JSON array nor base64: refused, the session goes on
    status, body = request(server, "POST", f"vsn=2.0.0&token={token}", body=b"{not json\n!!",
                           headers={"Content-Type": "application/x-ndjson"})
    assert (status, body) == (400, {"status": 400})
    assert poll(server, token)[1]["status"] == 204
    # a JSON array that is no message: the session ends, as a WebSocket with 1007
    status, body = request(server, "POST", f"vsn=2.0.0&token={token}", body=b"[1,2",
                           headers={"Content-Type": "text/plain"})
    assert (status, body) == (400, {"status": 400})
    assert poll(server, token) == (200, {"status": 410})
    eventually(lambda: process_count() == before)


def test_an_oversize_body_gets_413(server):
    token = open_session(server)
    status, _ = request(server, "POST", f"vsn=2.0.0&token={token}", body=b"[" + b" " * 5000 + b"]",
                        headers={"Content-Type": "application/x-ndjson"})
    assert status == 413


def test_over_the_rate_limit_gets_429_and_ends_the_session(server, caplog):
    caplog.set_level(logging.CRITICAL, "beamish.channels")
    before = process_count()
    token = open_session(server)
    heartbeat = ["phoenix", "heartbeat", {}]
    lines = [[None, str(i)] + heartbeat for i in range(int(TestSocket.max_rate) + 5)]
    assert post(server, token, *lines[:90]) == (429, {"status": 429})
    assert poll(server, token) == (200, {"status": 410})
    eventually(lambda: process_count() == before)


def test_options_preflight_and_other_methods(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    conn.request("OPTIONS", "/socket/longpoll",
                 headers={"Access-Control-Request-Headers": "content-type"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    assert resp.getheader("access-control-allow-methods") == "get, post, options"
    assert resp.getheader("access-control-allow-headers") == "content-type"
    conn.close()
    assert request(server, "PUT", "vsn=2.0.0")[0] == 400


def test_stopping_the_endpoint_answers_a_held_poll_410_and_ends_sessions():
    ports = []
    before = process_count()
    sup = Supervisor.start([
        PubSub.child_spec("lp_ps2", pool_size=1),
        Endpoint.child_spec(pubsub="lp_ps2", sockets={"/socket": TestSocket}, port=0,
                            name="lp_endpoint2", on_ready=ports.append, longpoll={"window": 5.0}),
    ])
    token = open_session(ports[0])
    waiting = gevent.spawn(poll, ports[0], token)
    gevent.sleep(0.1)
    stop(sup)
    assert waiting.get(timeout=3) == (200, {"status": 410})
    eventually(lambda: process_count() == before)
