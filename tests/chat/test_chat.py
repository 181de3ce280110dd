"""apps.chat over real websockets: login, rooms, history, presence, validation."""
import json

import gevent
import pytest

from beamish import stop
from test_chat_support import start_chat
from tools.harness.client import PhxClient as Client, Rejected, http_request, joined

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def chat():
    sup, port = start_chat("--secret", "s3")
    yield port
    stop(sup)


def login(port, name):
    resp = http_request(port, "GET", f"/api/token?name={name}")
    assert resp.status == 200, resp.body
    return json.loads(resp.body)["token"]


def user(port, name):
    return Client(port, f"vsn=2.0.0&token={login(port, name)}")


def test_a_bad_or_missing_token_is_refused(chat):
    with pytest.raises(Rejected) as info:
        Client(chat, "vsn=2.0.0&token=forged")
    assert info.value.status == 403
    resp = http_request(chat, "GET", "/api/token?name=" + "x" * 40)
    assert resp.status == 400


def test_two_users_chat_see_history_and_each_other_online(chat):
    alice = user(chat, "alice")
    joined(alice, "room:lobby")
    state = alice.event("presence_state")[4]
    [meta] = state["alice"]["metas"]
    assert list(state) == ["alice"] and meta["status"] == "online" and len(meta["phx_ref"]) == 16
    ref = alice.push("room:lobby", "new_msg", {"body": "hello"}, join_ref=None)
    msg = alice.event("new_msg")[4]
    assert msg["user"] == "alice" and msg["body"] == "hello"
    bob = user(chat, "bob")
    ref = bob.join("room:lobby")
    reply = bob.reply(ref)
    assert [m["body"] for m in reply[4]["response"]["messages"]] == ["hello"]
    state = bob.event("presence_state")[4]
    assert set(state) == {"alice", "bob"}
    diff = alice.expect(lambda f: f[3] == "presence_diff" and "bob" in f[4]["joins"])[4]
    assert diff["leaves"] == {}
    bob.close()
    diff = alice.expect(lambda f: isinstance(f, list) and f[3] == "presence_diff"
                        and "bob" in f[4]["leaves"])
    assert diff[4]["joins"] == {}
    alice.close()


def test_one_user_with_two_tabs_is_one_key_with_two_metas(chat):
    tab1, tab2 = user(chat, "carol"), user(chat, "carol")
    joined(tab1, "room:r")
    joined(tab2, "room:r")
    # The state is the listing of the current diff window; what it lacks
    # comes in that window's presence_diff (as the official client syncs).
    state = tab2.event("presence_state")[4]
    metas = {m["phx_ref"]: m for m in state.get("carol", {"metas": []})["metas"]}
    while len(metas) < 2:
        diff = tab2.event("presence_diff", timeout=2.0)[4]
        metas.update({m["phx_ref"]: m for m in diff["joins"].get("carol", {"metas": []})["metas"]})
    assert list(state) in (["carol"], []) and len(metas) == 2
    tab1.close()
    tab2.close()


def test_status_changes_go_through_presence_update(chat):
    dave = user(chat, "dave")
    jr = joined(dave, "room:s")
    dave.event("presence_state")
    ref = dave.push("room:s", "status", {"status": "away"}, join_ref=jr)
    assert dave.reply(ref)[4]["status"] == "ok"
    diff = dave.expect(lambda f: f[3] == "presence_diff" and f[4]["leaves"])[4]
    [meta] = diff["joins"]["dave"]["metas"]
    assert meta["status"] == "away" and meta["phx_ref_prev"] == diff["leaves"]["dave"]["metas"][0]["phx_ref"]
    ref = dave.push("room:s", "status", {"status": "asleep"}, join_ref=jr)
    assert dave.reply(ref)[4] == {"status": "error", "response": {
        "reason": "status must be one of online, away, typing"}}
    dave.close()


@pytest.mark.parametrize("payload,reason", [
    ({"body": 42}, "body must be a string"),
    ({"body": "   "}, "empty message"),
    ({"body": "x" * 501}, "message longer than 500 characters"),
    ({}, "body must be a string"),
])
def test_bad_messages_get_an_error_reply(chat, payload, reason):
    eve = user(chat, "eve")
    jr = joined(eve, "room:v")
    ref = eve.push("room:v", "new_msg", payload, join_ref=jr)
    assert eve.reply(ref)[4] == {"status": "error", "response": {"reason": reason}}
    eve.close()


def test_posting_too_fast_is_refused(chat):
    fay = user(chat, "fay")
    jr = joined(fay, "room:w")
    refs = [fay.push("room:w", "new_msg", {"body": f"m{i}"}, join_ref=jr) for i in range(12)]
    statuses = [fay.reply(r)[4]["status"] for r in refs]
    assert statuses.count("ok") <= 6 and "error" in statuses
    fay.close()
