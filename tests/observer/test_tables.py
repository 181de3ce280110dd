"""The tables view (issue 16 item 6): PubSub topics with subscriber
counts, Registry sizes, Tracker and Presence sizes, from the public
listing functions, through the control endpoint's ``tables`` op (a real
``beamish run`` node) and in the terminal UI (key ``T``)."""
import asyncio
import os
import subprocess
import sys
import time

import pytest
from textual.widgets import DataTable, Static

from beamish import Registry, exit, receive, spawn, stop, unlink
from beamish.observer import RemoteError
from beamish.observer._client import Redialer, connect
from beamish.observer._tables import (MAX_TOP, PubSubRow, RegistryRow, Tables, TrackerRow,
                                      collect_tables, fetch_tables)
from beamish.observer._tui import ObserverApp
from beamish.observer._tui_tables import TablesScreen
from beamish.presence import Presence, track, trackers
from beamish.pubsub import PubSub, instances, subscribe, topic_counts, unsubscribe
from beamish.testing import eventually

from test_tui import FakeNode

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ------------------------------------------------- the listing functions
def _subscriber(topics):
    for t in topics:
        subscribe("tbl_ps", t)
    receive("never")


def test_topic_counts_sums_shards_counts_processes_and_keeps_the_top():
    ps = PubSub.start("tbl_ps", pool_size=3)
    subs = [spawn(_subscriber, ["big", "mid", f"own{i}"]) for i in range(5)]
    subs += [spawn(_subscriber, ["mid"]) for _ in range(2)]
    subscribe("tbl_ps", "big")
    subscribe("tbl_ps", "big")                       # twice: still one process
    try:
        eventually(lambda: topic_counts("tbl_ps", 100)[0] == 7)
        assert "tbl_ps" in instances()
        total, top = topic_counts("tbl_ps", 2)
        assert total == 7 and top == [("mid", 7), ("big", 6)]
        assert topic_counts("tbl_ps", 0) == (7, [])
    finally:
        unsubscribe("tbl_ps", "big")
        for pid in subs:
            exit(pid, "kill")
        stop(ps)
    assert "tbl_ps" not in instances()


def test_collect_tables_lists_every_component_with_its_size():
    ps = PubSub.start("tbl_ps")
    named = Registry.start_link(keys="duplicate", name="tbl_reg", partitions=2)
    anonymous = Registry.start_link(keys="unique")
    unlink(named.pid)
    unlink(anonymous.pid)
    pres = Presence.start("tbl_presence", pubsub="tbl_ps", pool_size=2)
    holder = spawn(receive, "never")
    try:
        Registry.register("tbl_reg", "k", 1)
        Registry.register("tbl_reg", "k", 2)
        track("tbl_presence", holder, "room:a", "ann", {})
        track("tbl_presence", holder, "room:b", "ann", {})
        subscribe("tbl_ps", "room:a")
        t = collect_tables(top=5)
        assert PubSubRow("tbl_ps", 3, [("room:a", 1)]) in [
            r._replace(top=[x for x in r.top if x[0] == "room:a"]) for r in t.pubsubs]
        assert RegistryRow("tbl_reg", "duplicate", 2, 2) in t.registries
        assert RegistryRow(f"(anonymous) {anonymous.pid!r}", "unique", 1, 0) in t.registries
        assert TrackerRow("tbl_presence", "Presence", 2, 2, 2) in t.trackers
        assert Tables.from_wire(t.to_wire()) == t
        assert len(collect_tables(top=10_000).pubsubs[0].top) <= MAX_TOP
    finally:
        unsubscribe("tbl_ps", "room:a")
        Registry.unregister("tbl_reg", "k")
        exit(holder, "kill")
        for pid in (pres, named.pid, anonymous.pid, ps):
            stop(pid)
    t = collect_tables()
    assert all(r.name != "tbl_ps" for r in t.pubsubs)
    assert all(r.name != "tbl_reg" for r in t.registries)
    assert "tbl_presence" not in trackers()


# ----------------------------------------------------- a real node
class TablesNode:
    """``beamish run tests.observer.tables_app`` as an OS process."""

    def __init__(self, name):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "beamish.cli", "run", "tests.observer.tables_app",
             "--name", name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line or line.strip() == "started":
                break
        assert self.proc.poll() is None, self.proc.stderr.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        finally:
            self.proc.kill()


@pytest.fixture
def tables_node(observer_dirs):
    node = TablesNode("tables@localhost")
    yield node
    node.stop()


def test_the_tables_op_of_a_real_node(tables_node):
    client = connect("tables@localhost")
    try:
        t = Tables.from_wire(client.request("tables", top=1)["tables"])
        # room:big, room:small and the presence shard's replication topic.
        assert t.pubsubs == [PubSubRow("tables_ps", 3, [("room:big", 3)])]
        assert t.registries == [RegistryRow("tables_reg", "unique", 1, 4)]
        assert t.trackers == [TrackerRow("tables_presence", "Presence", 1, 4, 2)]
        top = fetch_tables(Redialer(client)).pubsubs[0].top   # the UI's path
        assert top[0] == ("room:big", 3)
        assert sorted(top[1:]) == [("beamish_presence:tables_presence:0", 1),
                                   ("room:small", 1)]
        with pytest.raises(RemoteError):
            client.request("tables", top="many")
    finally:
        client.close()


# ---------------------------------------------------------- the UI
class TablesFake(FakeNode):
    def tables(self):
        return Tables([PubSubRow("chat", 2, [("room:lobby", 12), ("room:x", 3)])],
                      [RegistryRow("rooms", "unique", 2, 40)],
                      [TrackerRow("presence", "Presence", 1, 57, 2)])


def test_T_opens_the_tables_view():
    async def main():
        app = ObserverApp(TablesFake(), interval=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("T")
            await pilot.pause()
            assert isinstance(app.screen, TablesScreen)
            table = app.screen.query_one(DataTable)
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert rows == [
                ["PubSub", "chat", "2 topics", "busiest 2 by subscriber processes"],
                ["  topic", "room:lobby", "12 subscribers", ""],
                ["  topic", "room:x", "3 subscribers", ""],
                ["Registry", "rooms", "40 entries", "unique keys, 2 partitions"],
                ["Presence", "presence", "57 entries", "2 topics, 1 shard"],
            ]
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, TablesScreen)
            await pilot.press("question_mark")
            await pilot.pause()
            help_text = "\n".join(str(w.render()) for w in app.screen.query(Static))
            assert "T        tables" in help_text
    asyncio.run(main())
