"""The terminal UI's cluster: the header line naming the cluster's nodes,
and the nodes view (key ``N``), where enter switches the observer to the
highlighted node (through its local socket, or through the cluster for a
node of another host).  See :mod:`._client` for how a node is reached."""
from __future__ import annotations

from typing import Optional

from rich.text import Text
from textual.widgets import DataTable

from ._records import NodeInfo
from ._tui_screens import _TableScreen

__all__ = ["NodesScreen", "cluster_line", "node_rows", "view_of"]


def cluster_line(info: NodeInfo) -> Text:
    """The header line: this node and every node it knows, up or down."""
    t = Text("cluster: ", style="bold")
    if not info.dist:
        t.append("distribution is not running on this node (N lists the local nodes)",
                 style="dim")
        return t
    t.append(f"{info.node} (observed)")
    for name, up in info.cluster:
        t.append("  ")
        t.append(f"{name} {'up' if up else 'DOWN'}", style="" if up else "bold red")
    t.append("   N: nodes", style="dim")
    return t


def view_of(info: NodeInfo) -> dict:
    """A cluster view (as :func:`~._client.cluster_view`) from one node's
    info alone, for sources that cannot look at the host's sockets."""
    view = {info.node: (True, None, ())}
    for name, up in info.cluster:
        view[name] = (up, None, (info.node,) if up else ())
    return view


def node_rows(view: dict, current: Optional[str]) -> list:
    """The view's rows, ``(node, status, route)``, sorted by name."""
    rows = []
    for name in sorted(view):
        up, label, seen_by = view[name]
        status = "observed" if name == current else ("up" if up else "down")
        if label is not None:
            route = "local socket"
        elif up and seen_by:
            route = f"through {seen_by[0]}"
        else:
            route = "unreachable"
        rows.append((name, status, route))
    return rows


class NodesScreen(_TableScreen):
    """The cluster's nodes, up or down, and how each is reached; enter
    observes the highlighted one (erlang's ``observer``'s Nodes menu)."""

    COLUMNS = (("node", "node"), ("status", "status"), ("route", "reached by"))

    def __init__(self) -> None:
        super().__init__()
        self.names: list = []

    async def fill(self) -> tuple:
        rows = await self.app.fetch_nodes()  # type: ignore[attr-defined]
        self.names = [r[0] for r in rows]
        up = sum(1 for r in rows if r[1] != "down")
        return rows, (f"{len(rows)} node(s), {up} up; enter observes the highlighted node "
                      f"(nodes of other hosts through the cluster)")

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.names):
            name = self.names[event.cursor_row]
            if await self.app.switch_node(name):  # type: ignore[attr-defined]
                self.app.pop_screen()
