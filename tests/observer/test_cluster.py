"""The observer and the cluster (issue 18): the control endpoint reports
the node's cluster view, and ``beamish observer`` lists the cluster's
nodes and attaches to any of them by name: through its socket on this
host, or through a local node's relay over distribution for a node whose
socket is out of reach (another host: here, another runtime directory).
Real node OS processes (tests/dist/node_app.py) over a real redis-server."""
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from textual.widgets import DataTable

from beamish.observer import NodeNotFound, RemoteError, connect
from beamish.observer._client import Redialer, cluster_view
from beamish.observer._tui import ObserverApp
from beamish.observer._tui_nodes import NodesScreen
from tools.harness import ROOT, Node

DOWN = 1.0


def text_of(widget):
    return str(widget.render())


def eventually(check, timeout=20.0, what="condition"):
    """Poll ``check()`` until it returns something true; return it."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:g} s")
        time.sleep(0.1)


def up_nodes(name):
    """The nodes ``name`` (a local node) is connected to, by its node_info."""
    with connect(name) as c:
        return sorted(c.node_info().connected())


@pytest.fixture
def cluster(observer_dirs, redis_server):
    """Boots node_app nodes over one redis-server.  ``remote=True`` puts a
    node's control socket in a runtime directory of its own, which the
    observer does not look at: a node of another host, as far as it knows."""
    started = []

    def boot(name, remote=False):
        env = {}
        if remote:
            env["BEAMISH_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="far-", dir=observer_dirs)
        n = Node("tests.dist.node_app", "--redis", redis_server.url, "--down", str(DOWN),
                 name=name, ready="ready", env=env)
        started.append(n)
        return n

    yield boot
    for n in started:
        n.stop()


@pytest.fixture
def three(cluster):
    """a@test and b@test on this host, c@test "elsewhere", all connected."""
    a, b, c = cluster("a@test"), cluster("b@test"), cluster("c@test", remote=True)
    for name, others in (("a@test", ["b@test", "c@test"]), ("b@test", ["a@test", "c@test"])):
        eventually(lambda: up_nodes(name) == others, what=f"{name} connected to {others}")
    return a, b, c


pytestmark = [pytest.mark.timeout(180)]


# ------------------------------------------------ one process, no cluster
def test_a_node_without_distribution_says_so_and_refuses_to_attach(endpoint):
    with endpoint.client() as c:
        info = c.node_info()
        assert info.dist is False and info.cluster == ()
        with pytest.raises(RemoteError, match="does not run distribution"):
            c.attach("elsewhere@test")
        assert c.node_info().node == info.node, "a refused attach leaves the connection as it was"
        c.attach(info.node)                       # attaching to itself is a no-op
        assert c.node_info().node == info.node


# --------------------------------------------------- real cluster of nodes
@pytest.mark.slow
def test_the_endpoint_reports_the_cluster_and_the_observer_lists_every_node(three):
    a, b, c = three
    with connect("a@test") as client:
        info = client.node_info()
    assert info.dist is True
    assert info.cluster == (("b@test", True), ("c@test", True))
    view = cluster_view()
    assert sorted(view) == ["a@test", "b@test", "c@test"]
    assert view["a@test"][:2] == (True, "a@test") and view["b@test"][:2] == (True, "b@test")
    up, label, seen_by = view["c@test"]
    assert up and label is None and sorted(seen_by) == ["a@test", "b@test"]


@pytest.mark.slow
def test_the_observer_attaches_by_name_to_a_local_node_and_to_one_of_another_host(three):
    a, b, c = three
    with connect("b@test") as local:
        assert local.via is None and local.node_info().os_pid == b.pid
    with connect("c@test") as far:                 # no socket of c on this host
        assert far.node == "c@test" and far.via in ("a@test", "b@test")
        info = far.node_info(history=True)
        assert (info.node, info.os_pid) == ("c@test", c.pid)
        assert info.cluster == (("a@test", True), ("b@test", True))
        rows = far.processes().rows
        assert len(rows) == info.process_count or abs(len(rows) - info.process_count) < 5
        console = next(r for r in rows if "console" in (r.initial_call or ""))
        detail = far.process(console.pid)
        assert detail is not None and detail.row.pid == console.pid
        assert far.tree(), "c's supervision tree, through the relay"
        assert far.tables().pubsubs[0].name == "cluster"
    with connect("c") as short:                    # the part before @, unique in the cluster
        assert short.node == "c@test"
    with pytest.raises(NodeNotFound, match="nor is a node 'nobody@test' connected"):
        connect("nobody@test")


@pytest.mark.slow
def test_beamish_observer_once_names_the_cluster_for_a_node_of_another_host(three):
    a, b, c = three
    run = subprocess.run([sys.executable, "-m", "beamish.cli", "observer", "c@test", "--once"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"node c@test (os pid {c.pid})")
    assert lines[1] == "cluster: a@test up, b@test up"


@pytest.mark.slow
def test_a_killed_node_is_down_in_the_view_and_its_relay_errors_cleanly(three):
    a, b, c = three
    far = connect("c@test")
    try:
        assert far.node_info().node == "c@test"
        c.signal(signal.SIGKILL)
        with pytest.raises(RemoteError, match="c@test"):
            far.node_info()
        eventually(lambda: cluster_view()["c@test"][0] is False, timeout=DOWN * 10,
                   what="c down for every local node")
        with connect("a@test") as local:
            assert local.node_info().cluster == (("b@test", True), ("c@test", False))
        with pytest.raises(NodeNotFound):
            connect("c@test")
    finally:
        far.close()


@pytest.mark.slow
def test_the_ui_lists_the_cluster_and_switches_to_a_node_of_another_host(three):
    a, b, c = three
    source = Redialer(connect("a@test"))

    async def main():
        app = ObserverApp(source, interval=3600)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            line = text_of(app.query_one("#cluster"))
            assert "a@test (observed)" in line and "b@test up" in line and "c@test up" in line
            await pilot.press("N")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, NodesScreen)
            for _ in range(50):
                if screen.names:
                    break
                await pilot.pause(0.1)
            table = screen.query_one(DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert rows[0] == ["a@test", "observed", "local socket"]
            assert rows[1] == ["b@test", "up", "local socket"]
            assert rows[2][:2] == ["c@test", "up"] and rows[2][2].startswith("through ")
            table.move_cursor(row=2)
            await pilot.press("enter")
            for _ in range(100):
                if not isinstance(app.screen, NodesScreen) and app.info is not None:
                    break
                await pilot.pause(0.1)
            assert not isinstance(app.screen, NodesScreen)
            assert (app.info.node, app.info.os_pid) == ("c@test", c.pid)
            assert app.sub_title == "c@test" and app.rows
            assert "c@test (observed)" in text_of(app.query_one("#cluster"))
    try:
        asyncio.run(main())
    finally:
        source.close()
