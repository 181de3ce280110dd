"""apps.chat against abusive users, over real websockets: idle rooms stop,
room starts are bounded, status floods are limited, hidden-character names
are refused."""
import json
import time
from urllib.parse import quote

import gevent
import pytest

from beamish import DynamicSupervisor, Registry, stop
from beamish.channels import broadcast
from beamish.testing import eventually
from test_chat_support import start_chat
from tools.harness import Node, free_port
from tools.harness.client import PhxClient as Client, http_request, joined

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def chat_with():
    """``chat_with(*options)``: the port of a chat node in this process."""
    sups = []

    def start(*args):
        sup, port = start_chat(*args)
        sups.append(sup)
        return port
    yield start
    for sup in sups:
        stop(sup)


@pytest.fixture
def chat(chat_with):
    return chat_with()


def login(port, name):
    resp = http_request(port, "GET", f"/api/token?name={quote(name)}")
    assert resp.status == 200, resp.body
    return json.loads(resp.body)["token"]


def user(port, name):
    return Client(port, f"vsn=2.0.0&token={login(port, name)}")


def join_reply(client, topic):
    """The join's reply payload: ``{"status": ..., "response": ...}``."""
    return client.reply(client.join(topic))[4]


def leave(client, topic, join_ref):
    ref = client.push(topic, "phx_leave", {}, join_ref=join_ref)
    assert client.reply(ref)[4]["status"] == "ok"


def room_pid(name):
    from apps.chat import settings
    return Registry.whereis_name((settings.ROOMS, name))


def live_rooms():
    from apps.chat import settings
    return DynamicSupervisor.count_children(settings.ROOM_SUP)["active"]


# -------------------------------------------------------------- (a) idle rooms
@pytest.mark.slow
def test_an_idle_empty_room_stops_and_a_later_join_starts_it_afresh(chat_with):
    chat = chat_with("--room-idle", "0.6")
    alice = user(chat, "alice")
    jr = joined(alice, "room:quiet")
    alice.push("room:quiet", "new_msg", {"body": "hello"}, join_ref=jr)
    alice.event("new_msg")
    first = room_pid("quiet")
    gevent.sleep(1.5)                      # idle period over, but alice is in it
    assert room_pid("quiet") == first
    leave(alice, "room:quiet", jr)
    # Posts from elsewhere (another node's users) keep an empty room going.
    for i in range(20):                    # 1 s of posts, far apart less than 0.6 s
        broadcast("chat", "room:quiet", "new_msg", {"user": "zed", "body": f"z{i}", "at": 0})
        gevent.sleep(0.05)
    assert room_pid("quiet") == first
    eventually(lambda: room_pid("quiet") is None and live_rooms() == 0)
    bob = user(chat, "bob")
    reply = join_reply(bob, "room:quiet")
    assert reply["status"] == "ok" and reply["response"]["messages"] == []
    assert room_pid("quiet") not in (None, first)
    alice.close()
    bob.close()


@pytest.mark.slow
def test_joins_racing_a_stopping_room_all_succeed(chat_with):
    """Join and leave again and again around the idle period: some joins
    meet a room that is just stopping; each must still succeed."""
    chat = chat_with("--room-idle", "0.05", "--rooms-per-user", "100")
    carol = user(chat, "carol")
    rooms = set()
    for i in range(30):
        jr = carol.join("room:flicker")
        reply = carol.reply(jr)[4]
        assert reply["status"] == "ok", reply
        rooms.add(room_pid("flicker"))
        leave(carol, "room:flicker", jr)
        gevent.sleep(0.03 + (i % 5) * 0.02)
    assert len(rooms) > 1                   # the room did stop and start again
    carol.close()
    eventually(lambda: live_rooms() == 0)


# --------------------------------------------------------- (b) room creation
def test_starting_rooms_is_bounded_per_user_and_per_node(chat_with):
    chat = chat_with("--rooms-per-user", "3", "--max-rooms", "5")
    mallory = user(chat, "mallory")
    for i in range(3):
        assert join_reply(mallory, f"room:m{i}")["status"] == "ok"
    assert join_reply(mallory, "room:m3") == {"status": "error", "response": {
        "reason": "you may start at most 3 rooms a minute; join an existing room or "
                  "try again later"}}
    # Joining rooms that are running is not starting one.
    assert join_reply(mallory, "room:m3")["status"] == "error"
    bob = user(chat, "bob")
    assert join_reply(bob, "room:m0")["status"] == "ok"
    assert join_reply(bob, "room:b0")["status"] == "ok"
    assert join_reply(bob, "room:b1")["status"] == "ok"
    assert live_rooms() == 5
    assert join_reply(bob, "room:b2") == {"status": "error", "response": {
        "reason": "5 rooms are open, the most this server allows; join an existing room"}}
    assert live_rooms() == 5
    mallory.close()
    bob.close()


@pytest.mark.slow
def test_the_room_bounds_are_command_line_options_of_a_real_node():
    port = free_port()
    node = Node("apps.chat", "--port", str(port), "--secret", "t", "--room-idle", "0.3",
                "--rooms-per-user", "2", name="chat-abuse@test")
    try:
        node.expect("chat running at", timeout=20)
        dan = user(port, "dan")
        jr = joined(dan, "room:a")
        dan.push("room:a", "new_msg", {"body": "kept?"}, join_ref=jr)
        dan.event("new_msg")
        assert join_reply(dan, "room:b")["status"] == "ok"
        assert join_reply(dan, "room:c")["status"] == "error"
        leave(dan, "room:a", jr)
        # Once the idle room has stopped its history is gone: poll for that.
        deadline = time.monotonic() + 10
        while True:
            probe = user(port, "probe")     # another user: dan's starts are used up
            reply = join_reply(probe, "room:a")
            probe.close()
            assert reply["status"] == "ok"
            if reply["response"]["messages"] == []:
                break
            assert time.monotonic() < deadline, "room:a never stopped"
            gevent.sleep(0.5)
        dan.close()
    finally:
        node.stop()


# ------------------------------------------------------- (c) status updates
def test_a_status_flood_is_refused_and_reaches_watchers_only_as_allowed(chat):
    watcher = user(chat, "watcher")
    joined(watcher, "room:flood")
    watcher.event("presence_state")
    flooder = user(chat, "flooder")
    jr = joined(flooder, "room:flood")
    watcher.expect(lambda f: f[3] == "presence_diff" and "flooder" in f[4]["joins"])
    wanted = ["away" if i % 2 == 0 else "online" for i in range(100)]
    refs = [flooder.push("room:flood", "status", {"status": s}, join_ref=jr) for s in wanted]
    replies = [flooder.reply(r)[4] for r in refs]
    accepted, status = [], "online"        # the changes made (not the no-op repeats)
    for s, r in zip(wanted, replies):
        if r["status"] == "ok" and s != status:
            accepted.append(s)
            status = s
    refused = [r for r in replies if r["status"] == "error"]
    assert 1 <= len(accepted) <= 20, len(accepted)
    assert refused and all(r["response"] == {"reason": "slow down"} for r in refused)
    # Count the updates the watcher sees until the room has been quiet for a second.
    updates = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            f = watcher.expect(lambda f: isinstance(f, list) and f[3] == "presence_diff",
                               timeout=1.0)
        except gevent.Timeout:
            break
        if "flooder" in f[4]["joins"]:
            updates.append(f[4]["joins"]["flooder"]["metas"][0]["status"])
    assert 1 <= len(updates) <= len(accepted)
    assert updates[-1] == accepted[-1]      # refused updates changed nothing
    watcher.close()
    flooder.close()


def test_setting_the_status_one_already_has_sends_nothing(chat):
    watcher = user(chat, "watcher")
    joined(watcher, "room:same")
    idle = user(chat, "idle")
    jr = joined(idle, "room:same")
    watcher.expect(lambda f: f[3] == "presence_diff" and "idle" in f[4]["joins"])
    for _ in range(20):
        ref = idle.push("room:same", "status", {"status": "online"}, join_ref=jr)
        assert idle.reply(ref)[4]["status"] == "ok"
    with pytest.raises(gevent.Timeout):
        watcher.expect(lambda f: isinstance(f, list) and f[3] == "presence_diff"
                       and "idle" in f[4]["leaves"], timeout=0.5)
    watcher.close()
    idle.close()


# ------------------------------------------------------------------ (d) names
HIDDEN = [
    "lobby\n", "lobby\r\n", "\u3164", "lobby\u3164", "\u115f", "\u1160", "\uffa0",
    "lob\u200bby", "lobby\u2060", "\u202elobby", "\u2066lobby\u2069", "lo\x07bby", "lobby\x00",
    "lobby\u2028", "\ue000lobby", " lobby", "lobby ", "\u0378lobby",
]


@pytest.mark.parametrize("name", HIDDEN + ["ｌｏｂｂｙ", "lo\u0301bby"])
def test_room_names_with_hidden_characters_or_not_in_nfkc_are_refused(chat, name):
    eve = user(chat, "eve")
    reply = join_reply(eve, f"room:{name}")
    assert reply["status"] == "error" and reply["response"]["reason"].startswith(
        "a room name "), reply
    assert live_rooms() == 0
    eve.close()


@pytest.mark.parametrize("name", HIDDEN + ["ｅｖｅ"])
def test_user_names_with_hidden_characters_or_not_in_nfkc_are_refused(chat, name):
    resp = http_request(chat, "GET", f"/api/token?name={quote(name)}")
    assert resp.status == 400, (name, resp.body)
    assert json.loads(resp.body)["error"].startswith("a user name ")


def test_names_in_other_scripts_are_welcome(chat):
    zoe = user(chat, "Zoë Ångström")
    for room in ("café", "日本語", "δωμάτιο", "lobby 2.0"):
        assert join_reply(zoe, f"room:{room}")["status"] == "ok", room
    zoe.close()
