"""The terminal UI's secondary screens: process detail, kill confirmation,
supervision tree, sockets, applications, help.  See :mod:`._tui` for the
main screen.

A screen that asks the node for something while it is gone gets
:class:`NodeGone` from the app, says so and keeps what it showed; the app
reconnects by itself.
"""
from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Static, Tree

from ._endpoint import REGISTERED_NAME
from ._errors import ObserverError
from ._records import ProcessDetail, TreeNode

__all__ = ["AppsScreen", "ConfirmKill", "HelpScreen", "NodeGone", "ProcessScreen",
           "SocketsScreen", "TreeScreen", "format_bytes", "format_duration", "detail_text",
           "group_by_application"]


class NodeGone(ObserverError):
    """The node stopped answering (it stopped, or its connection broke)."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_duration(seconds: float) -> str:
    """``42`` -> ``"42 s"``, ``600`` -> ``"10 min"``, ``9000`` -> ``"2.5 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def detail_text(d: ProcessDetail) -> Text:
    """The detail view's text for one process."""
    r = d.row
    t = Text()
    t.append(f"{r.pid}", style="bold")
    t.append(f"  {r.name or ''}\n", style="bold cyan")
    memory = format_bytes(r.memory) + (f" (state {format_bytes(r.state_memory)})"
                                       if r.state_memory else "")
    for label, value in (("label", r.label), ("initial call", r.initial_call),
                         ("current function", r.current_function),
                         ("status", r.status), ("reductions", r.reductions),
                         ("memory", memory), ("trap_exit", r.trap_exit),
                         ("message queue", d.messages_total)):
        if label == "label" and value is None:
            continue
        t.append(f"{label:>17}: ", style="dim")
        t.append(f"{value}\n")
    t.append(f"\nlinks ({r.links}): ", style="bold")
    t.append(", ".join(d.name_of(p) for p in d.links) or "none")
    t.append(f"\n\nmonitors ({r.monitors} on {len(d.monitors)} targets", style="bold")
    if r.dup_monitors:
        t.append(f", {r.dup_monitors} DUPLICATE", style="bold red")
    t.append("):\n", style="bold")
    for m in d.monitors:
        t.append(f"  {d.name_of(m.target)}", style="bold")
        t.append(f"  x{m.count}", style="bold red" if m.count > 1 else "dim")
        more = f" +{m.count - len(m.refs)} more" if m.count > len(m.refs) else ""
        t.append(f"  {' '.join(m.refs)}{more}")
        t.append("\n" if m.target_alive else "  (target dead!)\n",
                 style="" if m.target_alive else "red")
    t.append(f"\nmonitored by ({r.monitored_by}): ", style="bold")
    t.append(", ".join(d.name_of(p) for p in d.monitored_by) or "none")
    if d.state is not None:
        t.append("\n\nstate:\n", style="bold")
        t.append(f"  {d.state}")
    t.append("\n\ncurrent stack:\n", style="bold")
    t.append("".join(d.stack) or "  (not started, or running)\n")
    shown = len(d.messages)
    t.append(f"\nmailbox: first {shown} of {d.messages_total} messages\n", style="bold")
    for i, m in enumerate(d.messages):
        t.append(f"  {i:>4}  {m}\n")
    return t


class ConfirmKill(ModalScreen):
    """Ask before ``exit(pid, "kill")``; dismisses with True to go ahead.

    Cancel has the focus, so a stray ``enter`` kills nothing; ``y`` or the
    Kill button kill.  Killing the node's own control endpoint is named as
    such: it cuts off every observer of the node, this one too.
    """

    BINDINGS = [Binding("y", "answer(True)", "Kill"), Binding("n", "answer(False)", "Cancel"),
                Binding("escape", "answer(False)", "Cancel", show=False)]
    DEFAULT_CSS = """
    ConfirmKill { align: center middle; }
    #dialog { width: 64; max-width: 100%; height: auto; border: thick $error;
              background: $surface; padding: 1 2; }
    #question { width: 100%; height: auto; }
    #buttons { height: auto; margin-top: 1; }
    """

    def __init__(self, pid: str, name: Optional[str]) -> None:
        super().__init__()
        self.pid = pid
        self.proc_name = name

    def question(self) -> Text:
        """The dialog's text (plain text: nothing in it is markup)."""
        who = f"{self.pid} ({self.proc_name})" if self.proc_name else self.pid
        t = Text(f"Kill {who}?\n", style="bold")
        t.append('exit(pid, "kill") cannot be trapped; its links and monitors are '
                 'signalled with "killed".')
        if self.proc_name == REGISTERED_NAME:
            t.append("\n\nThis is the node's control endpoint: killing it cuts off every "
                     "observer of this node, this one included, until its supervisor "
                     "restarts it.", style="bold red")
        return t

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question(), id="question")
            with Horizontal(id="buttons"):
                yield Button(Text("Kill [y]"), variant="error", id="yes")
                yield Button(Text("Cancel [n]"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ProcessScreen(Screen):
    """One process in detail; ``k`` kills it (after confirmation)."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"),
                Binding("r", "reload", "Refresh"), Binding("k", "kill", "Kill")]

    def __init__(self, pid: str) -> None:
        super().__init__()
        self.pid = pid
        self.detail: Optional[ProcessDetail] = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(f"loading {self.pid}...", id="detail")
        yield Footer()

    async def on_mount(self) -> None:
        await self.action_reload()

    async def action_reload(self) -> None:
        body = self.query_one("#detail", Static)
        try:
            detail = await self.app.fetch_detail(self.pid)  # type: ignore[attr-defined]
        except NodeGone as e:
            self.notify(f"node gone: {e}", severity="error")
            return      # keep what is shown
        self.detail = detail
        body.update(detail_text(detail) if detail is not None
                    else Text(f"{self.pid} is not alive", style="bold red"))

    def action_kill(self) -> None:
        name = (self.detail.row.name or self.detail.row.label) if self.detail is not None \
            else None
        self.app.confirm_kill(self.pid, name)  # type: ignore[attr-defined]


def _tree_label(n: TreeNode) -> Text:
    t = Text(n.id, style="bold" if n.type == "supervisor" else "")
    t.append(f"  {n.pid or '(not running)'}", style="cyan" if n.pid else "yellow")
    if n.restarts is not None:
        t.append(f"  restarts: {n.restarts}", style="red" if n.restarts else "dim")
    if n.error:
        t.append(f"  {n.error}", style="red")
    return t


class TreeScreen(Screen):
    """The supervision trees with restart counts, refreshed at the app's
    interval; enter opens the highlighted process, ``k`` kills it."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("r", "reload", "Refresh"),
                Binding("k", "kill", "Kill")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tree("supervision", id="tree")
        yield Footer()

    async def on_mount(self) -> None:
        await self.action_reload()
        self.set_interval(self.app.interval, self.action_reload)  # type: ignore[attr-defined]

    async def action_reload(self) -> None:
        try:
            roots = await self.app.fetch_tree()  # type: ignore[attr-defined]
        except NodeGone as e:
            self.sub_title = f"node gone: {e}"
            return      # keep the last tree
        self.sub_title = ""
        tree = self.query_one("#tree", Tree)
        keep = tree.cursor_node.data if tree.cursor_node is not None else None
        line = tree.cursor_line
        tree.clear()
        if not roots:
            tree.root.set_label("no root supervisors known to this node")
        for root in roots:
            self._add(tree.root, root)
        tree.root.expand_all()
        self._restore(tree, keep, line)

    def _restore(self, tree: Tree, pid: Optional[str], line: int) -> None:
        """Put the cursor back on the process it was on (else the same line)."""
        if line < 0:
            return
        found = next((n for n in _nodes(tree.root) if pid and n.data and n.data[0] == pid), None)
        if found is not None:
            tree.call_after_refresh(tree.move_cursor, found, animate=False)
        else:
            tree.call_after_refresh(setattr, tree, "cursor_line", line)

    def _add(self, parent: Any, node: TreeNode) -> None:
        data = (node.pid, node.id) if node.pid else None
        if node.children:
            branch = parent.add(_tree_label(node), data=data)
            for c in node.children:
                self._add(branch, c)
        else:
            parent.add_leaf(_tree_label(node), data=data)

    def highlighted(self) -> Optional[tuple]:
        """``(pid, child id)`` of the highlighted node, if it runs."""
        node = self.query_one("#tree", Tree).cursor_node
        return node.data if node is not None else None

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data:
            self.app.push_screen(ProcessScreen(event.node.data[0]))

    def action_kill(self) -> None:
        target = self.highlighted()
        if target is None:
            self.notify("nothing running is highlighted")
            return
        pid, child = target
        name = self.app.name_of(pid) or child  # type: ignore[attr-defined]
        self.app.confirm_kill(pid, name)  # type: ignore[attr-defined]


def _nodes(node: Any) -> Any:
    yield node
    for c in node.children:
        yield from _nodes(c)


class _TableScreen(Screen):
    """A screen with one table, filled by :meth:`fill`, refreshed at the
    app's interval."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("r", "reload", "Refresh")]
    COLUMNS: tuple = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="caption")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        table = self.query_one("#table", DataTable)
        for key, header in self.COLUMNS:
            table.add_column(header, key=key)
        table.focus()
        await self.action_reload()
        self.set_interval(self.app.interval, self.action_reload)  # type: ignore[attr-defined]

    async def action_reload(self) -> None:
        try:
            rows, caption = await self.fill()
        except NodeGone as e:
            self.query_one("#caption", Static).update(Text(f"node gone: {e}", style="red"))
            return
        table = self.query_one("#table", DataTable)
        table.clear()
        for r in rows:
            table.add_row(*r)
        self.query_one("#caption", Static).update(caption)

    async def fill(self) -> tuple:
        raise NotImplementedError


def _amount(n: Optional[int]) -> str:
    return "?" if n is None else format_bytes(n)


class SocketsScreen(_TableScreen):
    """The node's TCP and UDP sockets, the busiest first (observer_cli's
    and LiveDashboard's ports/sockets view)."""

    COLUMNS = (("fd", "fd"), ("kind", "kind"), ("local", "local"), ("peer", "peer"),
               ("status", "status"), ("age", "seen for"), ("in", "bytes in"),
               ("out", "bytes out"))

    async def fill(self) -> tuple:
        rows = await self.app.fetch_sockets()  # type: ignore[attr-defined]
        talkers = sum(1 for r in rows if (r.bytes_in or 0) + (r.bytes_out or 0) > 0)
        return ([(str(r.fd), r.kind, r.local, r.peer or "-", r.status, format_duration(r.age),
                  _amount(r.bytes_in), _amount(r.bytes_out)) for r in rows],
                f"{len(rows)} sockets, {talkers} with traffic; busiest first")


def group_by_application(roots: list, rows: list) -> list:
    """``(root label, processes, reductions, queued, memory)`` per supervision
    tree, then the processes in no tree, from the tree and the process list."""
    by_pid = {r.pid: r for r in rows}
    out = []
    placed: set = set()
    for root in roots:
        members = [n.pid for n in root.walk() if n.pid in by_pid and n.pid not in placed]
        placed.update(members)
        label = root.id + (f" ({by_pid[root.pid].name})" if root.pid in by_pid
                           and by_pid[root.pid].name else "")
        out.append(_totals(label, [by_pid[p] for p in members]))
    out.append(_totals("(in no supervision tree)", [r for r in rows if r.pid not in placed]))
    return out


def _totals(label: str, rows: list) -> tuple:
    return (label, len(rows), sum(r.reductions for r in rows),
            sum(r.message_queue_len for r in rows), sum(r.memory for r in rows))


class AppsScreen(_TableScreen):
    """The processes grouped by supervision tree root (one per application),
    with their totals."""

    COLUMNS = (("app", "application (root)"), ("procs", "processes"), ("reds", "reds"),
               ("msgq", "msgq"), ("memory", "memory"))

    async def fill(self) -> tuple:
        roots = await self.app.fetch_tree()  # type: ignore[attr-defined]
        groups = group_by_application(roots, self.app.rows)  # type: ignore[attr-defined]
        return ([(label, str(n), str(reds), str(mq), format_bytes(mem))
                 for label, n, reds, mq, mem in groups],
                "processes per supervision tree (workers' own processes count as no tree)")


HELP = """\
[b]beamish observer[/b]: keys

[b]main screen[/b]
  r        sort by reductions          m    sort by memory
  m q      sort by message queue (m then q, as observer_cli's mq)
  s / o    next sort column / reverse order (or click a header)
  /        filter (words in pid, name, label, calls; 'dup')   escape  clear
  w        windowed: rank by growth since the last refresh
  enter    process detail               k    kill (asks; Cancel is the default)
  t        supervision tree (k kills the highlighted process)
  a        processes by application     p    sockets
  T        tables: PubSub topics, Registry and Presence sizes
  N        the cluster's nodes: enter observes the highlighted one
  + / -    refresh interval             space  pause      R  refresh now
  ?        this help                    q    quit

[b]columns[/b]  reds: reductions (messages received and wake-ups); msgq: queued
messages; memory: process record, mailbox, monitors, frames and its state (a
GenServer's attributes, sampled); dup mon: monitors beyond one per target.

When the node goes away the status line says "node gone", the last data stays,
and the observer reconnects by itself when a node of that name is back.
"""


class HelpScreen(ModalScreen):
    """The keys and what the columns mean."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 80; max-width: 100%; height: auto; max-height: 100%; border: thick $accent;
            background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP)
