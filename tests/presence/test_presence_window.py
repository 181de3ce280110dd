"""A topic's diff window grows with the topic, so a big room's diffs cost
the node a bounded number of deliveries a second; once the burst is over
its last changes go out at once; a small topic keeps the short window,
and a zero window is still one diff per change (Phoenix).

Real shard processes and PubSub; the windows are scaled up (a few hundred
presences make a window of about a second) so that the counts hold with
wide margins on a loaded machine.
"""
import random
import time

import gevent
import pytest

from beamish import exit, is_alive, receive, send, spawn, stop
from beamish.presence import Presence, list_presence, track
from beamish.pubsub import PubSub, subscribe, unsubscribe
from beamish.testing import eventually, settle

pytestmark = pytest.mark.timeout(60)

RATE = 200.0          # diff deliveries a second a big topic's window is sized for
MAX_WINDOW = 1.5      # 300 presences / 200 a second = 1.5 s
SHORT = 0.05         # diff_window; the joins below come faster than this


def holder():
    receive("never")


@pytest.fixture
def presence():
    ps = PubSub.start("pw_ps")
    pr = Presence.start("pw_presence", pubsub="pw_ps", diff_window=SHORT, diff_rate=RATE,
                        max_diff_window=MAX_WINDOW)
    pids = []
    yield "pw_presence", pids
    for p in pids:
        exit(p, "kill")
    eventually(lambda: list_presence("pw_presence", "room:big") == {})
    stop(pr)
    stop(ps)


def diffs_until(topics, quiet):
    """``[(time, topic, payload)]`` of the presence_diffs received until
    none came for ``quiet`` seconds."""
    got = []
    while True:
        msg = receive(lambda m: getattr(m, "event", None) == "presence_diff", timeout=quiet,
                      default=None)
        if msg is None:
            return got
        assert msg.topic in topics
        got.append((time.monotonic(), msg.topic, msg.payload))


def collector(topics, got):
    """A subscriber that stamps each presence_diff as it arrives (the test
    process is busy tracking meanwhile), until sent "stop"."""
    for topic in topics:
        subscribe("pw_ps", topic)
    while True:
        msg = receive()
        if msg == "stop":
            break
        if getattr(msg, "event", None) == "presence_diff":
            got.append((time.monotonic(), msg.topic, msg.payload))
    for topic in topics:
        unsubscribe("pw_ps", topic)


def test_a_big_topic_gets_a_longer_window_and_a_small_one_keeps_the_short_one(presence):
    name, pids = presence
    for i in range(300):                       # the room is big before anyone watches
        pids.append(spawn(holder))
        track(name, pids[-1], "room:big", f"u{i}", {})
    gevent.sleep(MAX_WINDOW + 0.5)             # the first 300's diffs are gone
    got: list = []
    watcher = spawn(collector, ("room:big", "room:small"), got)
    try:
        settle()                                # subscribed
        start = time.monotonic()
        small_at = None
        for i in range(300, 400):              # a burst: 100 joins over a second or so
            pids.append(spawn(holder))
            track(name, pids[-1], "room:big", f"u{i}", {})
            if i == 350:
                pids.append(spawn(holder))
                small_at = time.monotonic()
                track(name, pids[-1], "room:small", "solo", {})
            gevent.sleep(0.005)
        last_at = time.monotonic()
        joined = lambda: sorted(k for _, t, d in got if t == "room:big" for k in d["joins"])
        eventually(lambda: len(joined()) == 100, timeout=MAX_WINDOW + 5)
    finally:
        send(watcher, "stop")
        eventually(lambda: not is_alive(watcher))
    big = [(t, d) for t, topic, d in got if topic == "room:big"]
    [(t_small, _, small)] = [g for g in got if g[1] == "room:small"]
    # a few diffs, not one a join (a fixed short window sends ~100): one per
    # started window over the burst, and no more early ones (on a pause of
    # the burst longer than SHORT) than the bucket pays for: three at
    # first, then two a window
    span = last_at - start
    bound = 3 * span / MAX_WINDOW + 4
    assert 1 <= len(big) <= bound, [round(t - start, 2) for t, _ in big]
    # every join is in exactly one diff, the last one soon after the burst
    # (within a third of the window it would have waited)
    assert joined() == sorted(f"u{i}" for i in range(300, 400))
    assert big[-1][0] - last_at <= MAX_WINDOW / 3, [round(t - start, 2) for t, _ in big]
    # the small room's diff did not wait for the big room's window
    assert list(small["joins"]) == ["solo"]
    assert t_small - small_at < MAX_WINDOW / 2


def test_a_zero_window_is_one_diff_per_change_whatever_the_rate():
    ps = PubSub.start("pw0_ps")
    pr = Presence.start("pw0_presence", pubsub="pw0_ps", diff_window=0, diff_rate=1.0,
                        max_diff_window=5.0)
    pids = [spawn(holder) for _ in range(5)]
    subscribe("pw0_ps", "room:z")
    try:
        for i, p in enumerate(pids):
            track("pw0_presence", p, "room:z", f"u{i}", {})
        got = diffs_until({"room:z"}, quiet=0.3)
        assert [list(d["joins"]) for _, _, d in got] == [[f"u{i}"] for i in range(5)]
    finally:
        unsubscribe("pw0_ps", "room:z")
        for p in pids:
            exit(p, "kill")
        eventually(lambda: list_presence("pw0_presence", "room:z") == {})
        stop(pr)
        stop(ps)


def test_the_listing_is_carried_forward_by_each_diff_not_rebuilt(monkeypatch):
    """Random tracks, untracks, updates and deaths (several tabs per key),
    window after window: after each window the shared listing equals the
    topic's state grouped afresh and its frame is the one a fresh dict
    encodes to, yet the full build ran once and each version's encode
    made JSON for the keys that changed only."""
    from beamish.channels import Message, V2JSONSerializer, _serializer
    from beamish.presence import _presence, group, list_tracked, untrack
    from beamish.presence._tracker import CARRY
    from beamish.presence import update as update_presence
    builds, members = [], []

    def counted(entries):
        builds.append(len(entries))
        return full(entries)
    full = _presence._listing
    monkeypatch.setattr(_presence, "_listing", counted)
    value = _serializer._json_value

    def member(v):
        members.append(v)
        return value(v)
    monkeypatch.setattr(_serializer, "_json_value", member)
    ser = V2JSONSerializer()
    ps = PubSub.start("pl_ps")
    pr = Presence.start("pl_presence", pubsub="pl_ps", diff_window=0.05, diff_rate=0)
    rng = random.Random(7)
    live: list = []                                   # (pid, key)
    name, topic = "pl_presence", "room:l"

    def as_refs(listing):
        return {k: sorted((m["phx_ref"], m.get("n")) for m in v["metas"])
                for k, v in listing.items()}
    base = [spawn(holder) for _ in range(CARRY)]    # a topic big enough to be carried
    try:
        for i, pid in enumerate(base):
            track(name, pid, topic, f"b{i}", {"n": i})
        pid = spawn(holder)
        live.append((pid, "k0"))
        track(name, pid, topic, "k0", {"n": 0})
        for batch in range(12):
            list_presence(name, topic)                # a joiner lists mid-window
            for _ in range(15):
                r = rng.random()
                if r < 0.5 or len(live) < 2:
                    pid = spawn(holder)
                    key = f"k{rng.randrange(40)}"
                    live.append((pid, key))
                    track(name, pid, topic, key, {"n": rng.randrange(100)})
                elif r < 0.65:
                    pid, key = live.pop(rng.randrange(len(live)))
                    untrack(name, pid, topic, key)
                    exit(pid, "kill")
                elif r < 0.8:
                    pid, key = live.pop(rng.randrange(len(live)))
                    exit(pid, "kill")                 # its entries leave when it dies
                else:
                    pid, key = live[rng.randrange(len(live))]
                    update_presence(name, pid, topic, key, {"n": rng.randrange(100)})
            eventually(lambda: as_refs(list_presence(name, topic))
                       == as_refs(group(list_tracked(name, topic))), timeout=5)
            listing = list_presence(name, topic)
            assert ser.encode_push(Message("1", None, topic, "presence_state", listing)) \
                == ser.encode_push(Message("1", None, topic, "presence_state", dict(listing)))
        assert builds == [CARRY + 1], builds
        # a key and its value per text: the first listing's keys, then at
        # most one key per operation (12 batches of 15), where encoding
        # every version whole would take ~100 keys a window
        assert len(members) <= 2 * (CARRY + 1 + 12 * 15), len(members)
    finally:
        for pid, _ in live:
            exit(pid, "kill")
        for pid in base:
            exit(pid, "kill")
        eventually(lambda: list_tracked(name, topic) == [])
        stop(pr)
        stop(ps)
