"""The terminal UI's kill dialog, tree, sort keys, help, sockets and
applications views, labels and names, the 80x24 layout, and a node that
goes away and comes back (a real ``beamish run`` OS process)."""
import asyncio
import os
import time

import pytest
from textual.widgets import Button, DataTable, Tree

from beamish.observer import MonitorRow, ProcessDetail, SocketRow, TreeNode
from beamish.observer._client import Redialer, connect
from beamish.observer._tui import ObserverApp
from beamish.observer._tui_screens import (AppsScreen, ConfirmKill, HelpScreen,
                                           SocketsScreen, TreeScreen, group_by_application)

from test_check import Node
from test_tui import FakeNode, pids

pytestmark = pytest.mark.slow


class Node2(FakeNode):
    """The fake node, with labels, named links and sockets."""

    def __init__(self):
        super().__init__()
        r = self.rows["<0.4.0>"]
        self.rows["<0.4.0>"] = r._replace(label="room lobby")
        r = self.rows["<0.2.0>"]
        self.rows["<0.2.0>"] = r._replace(name="beamish.control")

    def process(self, pid, messages=20):
        r = self.rows.get(pid)
        if r is None:
            return None
        return ProcessDetail(r, ("<0.1.0>",), (MonitorRow("<0.3.0>", True, 1, ("#Ref<0.5>",)),),
                             ("<0.4.0>",), (), (), 0,
                             names={"<0.1.0>": "root_sup", "<0.3.0>": "naive_pubsub",
                                    "<0.4.0>": "room lobby"})

    def sockets(self):
        return [SocketRow(9, "tcp", "127.0.0.1:4000", "127.0.0.1:50000", "ESTABLISHED", 12.0,
                          2048, 4096),
                SocketRow(7, "tcp", "127.0.0.1:4000", "", "LISTEN", 30.0, 0, 0)]


def drive(scenario, size=(160, 50), node=None):
    node = node or Node2()

    async def main():
        app = ObserverApp(node, interval=3600)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(app, pilot)
    asyncio.run(main())
    return node


def text_of(widget):
    return str(widget.render())


def test_k_in_the_tree_names_the_highlighted_node_and_enter_cancels():
    async def scenario(app, pilot):
        await pilot.press("t")
        await pilot.pause()
        tree = app.screen.query_one(Tree)
        await pilot.press("down", "down", "down")     # root, web, then pubsub
        assert tree.cursor_node.data[0] == "<0.3.0>"
        await pilot.press("k")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmKill) and dialog.pid == "<0.3.0>"
        assert dialog.proc_name == "naive_pubsub"
        assert app.focused is dialog.query_one("#no", Button), "Cancel is the default"
        assert str(dialog.query_one("#yes", Button).label) == "Kill [y]"
        assert str(dialog.query_one("#no", Button).label) == "Cancel [n]"
        question = dialog.query_one("#question")
        assert 'signalled with "killed".' in text_of(question)
        assert question.size.height >= 3, "the explanation wraps, it is not cut"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TreeScreen)
    node = drive(scenario, size=(80, 24))
    assert node.killed == []


def test_y_in_the_tree_kills_the_highlighted_node_and_the_tree_refreshes_itself():
    async def scenario(app, pilot):
        app.interval = 0.2
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down", "down", "k")
        await pilot.pause()
        assert app.screen.pid == "<0.2.0>"
        await pilot.press("y")
        await pilot.pause()
        node = app.source
        node.tree = lambda: [TreeNode("root", "<0.1.0>", "supervisor", None, (
            TreeNode("web", "<0.9.0>", "worker", 3),))]
        deadline = time.monotonic() + 10
        tree = app.screen.query_one(Tree)
        while time.monotonic() < deadline:
            labels = [str(n.label) for n in tree.root.children[0].children]
            if labels == ["web  <0.9.0>  restarts: 3"]:
                break
            await pilot.pause(0.1)
        assert labels == ["web  <0.9.0>  restarts: 3"]
    node = drive(scenario)
    assert node.killed == ["<0.2.0>"]


def test_killing_the_control_endpoint_warns_first():
    async def scenario(app, pilot):
        app.sort_by("name")
        assert app.selected_pid() == "<0.2.0>"
        await pilot.press("k")
        await pilot.pause()
        assert "node's control endpoint" in text_of(app.screen.query_one("#question"))
    drive(scenario)


def test_labels_show_in_the_list_and_names_replace_bare_pids_in_the_detail():
    async def scenario(app, pilot):
        table = app.query_one(DataTable)
        assert str(table.get_cell("<0.4.0>", "name")) == "room lobby"
        app.query_one("#filter").value = "lobby"
        await pilot.pause()
        assert pids(app) == ["<0.4.0>"]
        await pilot.press("enter")
        await pilot.pause()
        text = text_of(app.screen.query_one("#detail"))
        assert "label: room lobby" in text
        assert "links (1): <0.1.0> (root_sup)" in text
        assert "<0.3.0> (naive_pubsub)  x1" in text
        assert "monitored by (0): <0.4.0> (room lobby)" in text
    drive(scenario)


def test_observer_cli_sort_keys_r_m_and_mq_and_q_still_quits():
    async def scenario(app, pilot):
        await pilot.press("m")
        assert app.sort_column == "memory" and pids(app)[0] == "<0.2.0>"
        await pilot.press("q")
        assert app.sort_column == "message_queue_len" and app.is_running
        await pilot.press("r")
        assert app.sort_column == "reductions"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "q")
        await pilot.pause()
        assert not app.is_running
    drive(scenario)


def test_sockets_and_applications_views():
    async def scenario(app, pilot):
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, SocketsScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        assert [str(c) for c in table.get_row_at(0)] == [
            "9", "tcp", "127.0.0.1:4000", "127.0.0.1:50000", "ESTABLISHED", "12 s",
            "2.0 KiB", "4.0 KiB"]
        await pilot.press("escape", "a")
        await pilot.pause()
        assert isinstance(app.screen, AppsScreen)
        table = app.screen.query_one(DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[:3] == ["root (root_sup)", "3", "560"]
        assert [str(c) for c in table.get_row_at(1)][:2] == ["(in no supervision tree)", "1"]
    drive(scenario)


def test_group_by_application_places_each_process_once():
    node = Node2()
    groups = group_by_application(node.tree(), list(node.rows.values()))
    assert [(g[0], g[1]) for g in groups] == [("root (root_sup)", 3),
                                              ("(in no supervision tree)", 1)]


def test_the_counts_fit_an_80_by_24_terminal_and_open_files_show():
    async def scenario(app, pilot):
        table = app.query_one(DataTable)
        right = 0
        for key in ("pid", "name", "reductions", "message_queue_len", "memory", "monitors"):
            right += table.columns[key].get_render_width(table)
        assert right <= 80, right
        assert table.size.height >= 6, "room for rows under the system panel"
    drive(scenario, size=(80, 24))


def test_a_failing_node_is_shown_gone_keys_do_not_crash_and_it_comes_back():
    async def scenario(app, pilot):
        node = app.source
        saved = node.processes

        def boom(*args):
            raise BrokenPipeError(32, "Broken pipe")
        node.processes = node.process = node.tree = boom
        node.reconnect = lambda: boom()
        await app.refresh_data()
        assert app.gone and "NODE GONE" in text_of(app.query_one("#status"))
        assert len(pids(app)) == 4, "the last rows stay"
        await pilot.press("enter")          # detail of a gone node: no traceback
        await pilot.pause()
        await pilot.press("escape", "t")
        await pilot.pause()
        assert isinstance(app.screen, TreeScreen) and "node gone" in app.screen.sub_title
        await pilot.press("escape")
        node.processes = saved
        node.reconnect = lambda: None
        await app.refresh_data()
        assert not app.gone and "NODE GONE" not in text_of(app.query_one("#status"))
    drive(scenario)


def test_the_ui_reconnects_when_a_node_of_that_name_restarts(observer_dirs):
    first = Node("phoenix@localhost")
    second = None
    try:
        source = Redialer(connect("phoenix"))

        async def main():
            app = ObserverApp(source, interval=3600)
            async with app.run_test(size=(120, 40)) as pilot:
                await pilot.pause()
                old = app.info.os_pid
                first.stop()
                await app.refresh_data()
                assert app.gone and "NODE GONE" in text_of(app.query_one("#status"))
                nonlocal second
                second = Node("phoenix@localhost")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and (app.gone or app.info.os_pid == old):
                    await pilot.pause(0.2)
                assert not app.gone and app.info.os_pid == second.proc.pid
                assert "NODE GONE" not in text_of(app.query_one("#status"))
                assert os.path.basename(source.client.sock.getpeername()) == \
                    "phoenix@localhost.sock"
        asyncio.run(main())
        source.close()
    finally:
        first.stop()
        if second is not None:
            second.stop()
