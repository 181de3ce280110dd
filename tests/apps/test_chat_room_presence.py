"""apps.chat's big room over real websockets: the room's diff window grows
with the room (``--presence-diff-rate``, ``--presence-max-diff-window``),
so a member of a busy room gets a few diffs, not one per join, and still
sees everyone soon after the last join (the room's diff goes out once
no one joined for ``--presence-diff-window``).

The windows are scaled up (a room of 40 is "big" at 20 deliveries a
second, and the quiet period is 0.2 s, longer than a join here takes) so
that the counts hold with wide margins on a loaded machine.
"""
import json
import time

import gevent
import pytest

from beamish import stop
from test_chat_support import start_chat
from tools.harness.client import PhxClient, http_request, joined

pytestmark = pytest.mark.timeout(120)

RATE = 20          # --presence-diff-rate: a busy room of n members waits n/20 s ...
MAX_WINDOW = 1.5   # ... at most this long (the room below holds 40 to 121)
QUIET = 0.2        # --presence-diff-window: no join for this long ends a burst


@pytest.fixture
def chat():
    sup, port = start_chat("--secret", "s-room", "--presence-period", "1.5",
                           "--presence-diff-rate", str(RATE),
                           "--presence-max-diff-window", str(MAX_WINDOW),
                           "--presence-diff-window", str(QUIET))
    yield port
    stop(sup)


def user(port, name):
    resp = http_request(port, "GET", f"/api/token?name={name}")
    assert resp.status == 200, resp.body
    return PhxClient(port, f"vsn=2.0.0&token={json.loads(resp.body)['token']}")


def enter(port, name, room):
    c = user(port, name)
    joined(c, room)
    c.event("presence_state")
    return c


class Watcher:
    """A member who keeps the online list as ``syncDiff`` does (by
    ``phx_ref``) and stamps each presence_diff as it arrives."""

    def __init__(self, client, state):
        self.client = client
        self.refs = {k: {m["phx_ref"] for m in v["metas"]} for k, v in state.items()}
        self.diffs: list = []                      # (time, list size after it)
        self.halt = False
        self.reader = gevent.spawn(self._read)

    def _read(self):
        while not self.halt:
            try:
                f = self.client.recv(timeout=0.2)
            except gevent.Timeout:
                continue
            if isinstance(f, list) and f[3] == "presence_diff":
                for key, v in f[4]["leaves"].items():
                    left = self.refs.get(key, set()) - {m["phx_ref"] for m in v["metas"]}
                    if left:
                        self.refs[key] = left
                    else:
                        self.refs.pop(key, None)
                for key, v in f[4]["joins"].items():
                    self.refs.setdefault(key, set()).update(m["phx_ref"] for m in v["metas"])
                self.diffs.append((time.monotonic(), len(self.refs)))

    def stop(self):
        self.halt = True
        self.reader.join(5)


def test_a_big_rooms_members_get_one_diff_a_window_and_a_complete_list(chat):
    room = "room:hall"
    crowd = [enter(chat, f"early{i}", room) for i in range(40)]
    gevent.sleep(MAX_WINDOW + 0.5)                 # their diffs are gone
    w = user(chat, "watcher")
    joined(w, room)
    watcher = Watcher(w, w.event("presence_state")[4])
    try:
        start = time.monotonic()
        for i in range(80):                        # 80 more, one by one, over a few seconds
            crowd.append(enter(chat, f"late{i}", room))
        last = time.monotonic()
        deadline = last + MAX_WINDOW + 5
        while len(watcher.refs) < 121:
            assert time.monotonic() < deadline, f"the list holds {len(watcher.refs)} of 121"
            gevent.sleep(0.02)
    finally:
        watcher.stop()
        for c in crowd + [w]:
            c.close()
    complete = [t for t, size in watcher.diffs if size == 121][0]
    # a few diffs, not one a join (a fixed short window sends 80): one per
    # started window over the burst, and no more early ones (on a pause in
    # the burst longer than QUIET) than the room's bucket pays for: three at
    # first, then two a window
    late = [t for t, _ in watcher.diffs if t >= start]
    span = last - start
    bound = 3 * span / MAX_WINDOW + 4
    assert 1 <= len(late) <= bound, [round(t - start, 2) for t in late]
    # the burst's last diff comes once it is quiet, not a window later
    assert complete - last <= QUIET + 0.7, [round(t - start, 2) for t in late]
