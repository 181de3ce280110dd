"""The terminal UI, driven headlessly with textual's pilot against a fake
node: sort, filter, window, detail view, kill with confirmation, tree."""
import asyncio

import pytest
from textual.widgets import DataTable, Tree

from beamish.observer import (HistoryPoint, MonitorRow, NodeInfo, ProcessDetail, ProcRow,
                              SliceCost, TreeNode)
from beamish.observer._client import ProcessList
from beamish.observer._tui import ObserverApp, brief_call
from beamish.observer._tui_screens import ConfirmKill, ProcessScreen, TreeScreen, format_duration

pytestmark = pytest.mark.slow


def row(pid, name, reds, mq=0, mon=0, dup=0, call="app:worker"):
    return ProcRow(pid, name, call, call + ".loop", "waiting", reds, mq, 4000 + reds, 1, mon, 0,
                   dup, "<0.1.0>" if dup else None, False)


class FakeNode:
    """A node in memory, with the Client's five methods."""

    def __init__(self):
        self.rows = {r.pid: r for r in [
            row("<0.1.0>", "root_sup", 10),
            row("<0.2.0>", "web", 500, mq=3, call="web:handler"),
            row("<0.3.0>", "naive_pubsub", 50, mon=40, dup=39),
            row("<0.4.0>", None, 5)]}
        self.killed = []

    def node_info(self, history=False):
        pts = tuple(HistoryPoint(float(t), 4, 50 * 2**20, 3.0, 100.0, 0.1) for t in range(5))
        return NodeInfo("demo@host", 1234, 5.0, 60.0, "3.11", "26", "0.1", 50 * 2**20, 3.0,
                        len(self.rows), 100.0, 0.1, 0, pts if history else ())

    def processes(self):
        return ProcessList(list(self.rows.values()), SliceCost(1.0, 0.5, 1, 1.0))

    def process(self, pid, messages=20):
        r = self.rows.get(pid)
        if r is None:
            return None
        return ProcessDetail(r, ("<0.1.0>",), (MonitorRow("<0.1.0>", True, 40, ("#Ref<0.5>", "#Ref<0.6>")),),
                             (), ('  File "app.py", line 3, in loop\n',), ("('hello', 1)",), 3)

    def tree(self):
        return [TreeNode("root", "<0.1.0>", "supervisor", None, (
            TreeNode("web", "<0.2.0>", "worker", 2),
            TreeNode("pubsub", "<0.3.0>", "worker", 0)))]

    def kill(self, pid):
        self.killed.append(pid)
        return self.rows.pop(pid, None) is not None


def drive(scenario):
    """Run ``scenario(app, pilot)`` in a headless app over a fresh FakeNode."""
    node = FakeNode()

    async def main():
        app = ObserverApp(node, interval=3600)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            await scenario(app, pilot)
        return app
    asyncio.run(main())
    return node


def pids(app):
    return [r.pid for r in app.shown]


def test_the_table_lists_every_process_sorted_by_reductions_and_flags_duplicates():
    async def scenario(app, pilot):
        assert pids(app) == ["<0.2.0>", "<0.3.0>", "<0.1.0>", "<0.4.0>"]
        table = app.query_one(DataTable)
        assert [str(c.label) for c in table.columns.values()] == [
            "pid", "name", "reds", "msgq", "memory", "monitors", "dup mon", "links",
            "current function", "initial call"]
        assert "naive_pubsub" in str(app.query_one("#suspects").render())
        assert "demo@host" in str(app.query_one("#sysinfo").render())
    drive(scenario)


def test_sort_by_key_by_header_click_and_reverse():
    async def scenario(app, pilot):
        await pilot.press("s")          # next column after reductions: message queue
        assert app.sort_column == "message_queue_len" and pids(app)[0] == "<0.2.0>"
        app.sort_by("dup_monitors")
        assert pids(app)[0] == "<0.3.0>"
        await pilot.press("o")
        assert pids(app)[-1] == "<0.3.0>"
        await pilot.click("DataTable", offset=(3, 0))   # the "pid" header
        assert app.sort_column == "pid" and pids(app) == [
            "<0.1.0>", "<0.2.0>", "<0.3.0>", "<0.4.0>"]
    drive(scenario)


def test_filter_narrows_the_table_and_escape_clears_it():
    async def scenario(app, pilot):
        await pilot.press("slash")
        await pilot.press(*"web")
        assert pids(app) == ["<0.2.0>"]
        assert "showing 1 of 1" in str(app.query_one("#status").render())
        await pilot.press("escape")
        assert len(pids(app)) == 4
        await pilot.press("slash", "d", "u", "p", "enter")
        assert pids(app) == ["<0.3.0>"]
    drive(scenario)


def test_windowed_mode_ranks_by_growth_since_the_last_refresh():
    node = FakeNode()

    async def main():
        app = ObserverApp(node, interval=3600)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            r = node.rows["<0.4.0>"]
            node.rows["<0.4.0>"] = r._replace(reductions=r.reductions + 1000)
            await pilot.press("w")
            await app.refresh_data()
            assert pids(app)[0] == "<0.4.0>"
            assert "window: growth of reductions" in str(app.query_one("#status").render())
            assert "growth" in [str(c.label) for c in app.query_one(DataTable).columns.values()]
    asyncio.run(main())


def test_enter_opens_the_detail_view():
    async def scenario(app, pilot):
        app.sort_by("dup_monitors")
        assert app.selected_pid() == "<0.2.0>", "the cursor stays on its process"
        app.query_one(DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ProcessScreen) and app.screen.pid == "<0.3.0>"
        text = str(app.screen.query_one("#detail").render())
        assert "naive_pubsub" in text and "1 DUPLICATE" not in text and "39 DUPLICATE" in text
        assert "<0.1.0>  x40  #Ref<0.5> #Ref<0.6> +38 more" in text and "('hello', 1)" in text
        assert "first 1 of 3 messages" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, ProcessScreen)
    drive(scenario)


def test_kill_asks_first_and_no_leaves_the_process_alone():
    async def scenario(app, pilot):
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmKill) and app.screen.pid == "<0.2.0>"
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmKill)
    node = drive(scenario)
    assert node.killed == []


def test_kill_confirmed_kills_and_the_table_refreshes():
    async def scenario(app, pilot):
        await pilot.press("down", "k")
        await pilot.pause()
        assert app.screen.pid == "<0.3.0>"
        await pilot.click("#yes")
        await pilot.pause()
        await pilot.pause()
        assert "<0.3.0>" not in pids(app)
    node = drive(scenario)
    assert node.killed == ["<0.3.0>"]


def test_kill_from_the_detail_view():
    async def scenario(app, pilot):
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("k")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        await pilot.pause()
        assert "not alive" in str(app.screen.query_one("#detail").render())
    node = drive(scenario)
    assert node.killed == ["<0.2.0>"]


def test_the_tree_shows_restart_counts():
    async def scenario(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TreeScreen)
        tree = app.screen.query_one(Tree)
        (root,) = tree.root.children
        labels = [str(n.label) for n in root.children]
        assert labels == ["web  <0.2.0>  restarts: 2", "pubsub  <0.3.0>  restarts: 0"]
    drive(scenario)


def test_interval_keys_and_pause():
    async def scenario(app, pilot):
        app.interval = 2.0
        await pilot.press("plus")
        assert app.interval == 5.0
        await pilot.press("minus", "minus")
        assert app.interval == 1.0
        await pilot.press("space")
        assert app.paused and "PAUSED" in str(app.query_one("#status").render())
    drive(scenario)


def test_a_node_that_stops_answering_is_reported_not_fatal():
    async def scenario(app, pilot):
        def boom():
            raise ConnectionResetError("node went away")
        app.source.processes = boom
        await app.refresh_data()
        assert "node went away" in str(app.query_one("#status").render())
        assert len(pids(app)) == 4, "the last rows stay on screen"
    drive(scenario)


def test_calls_are_shown_without_their_package_and_uptime_in_friendly_units():
    assert brief_call("beamish.otp._gen_server:_server_main") == "_gen_server:_server_main"
    assert brief_call("app:worker") == "app:worker" and brief_call("adopted:greenlet") == \
        "adopted:greenlet"
    assert [format_duration(s) for s in (42, 600, 9000)] == ["42 s", "10 min", "2.5 h"]

    async def scenario(app, pilot):
        node = app.source
        r = node.rows["<0.4.0>"]
        node.rows["<0.4.0>"] = r._replace(initial_call="beamish.otp._gen_server:_server_main")
        await app.refresh_data()
        table = app.query_one(DataTable)
        assert str(table.get_cell("<0.4.0>", "initial_call")) == "_gen_server:_server_main"
        await pilot.press("slash", *"otp._gen")     # the filter still sees the whole name
        assert pids(app) == ["<0.4.0>"]
        assert "up 60 s" in str(app.query_one("#sysinfo").render())
    drive(scenario)
