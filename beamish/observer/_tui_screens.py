"""The terminal UI's secondary screens: process detail, kill confirmation,
supervision tree.  See :mod:`._tui` for the main screen."""
from __future__ import annotations

from typing import Any, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Label, Static, Tree

from ._records import ProcessDetail, TreeNode

__all__ = ["ConfirmKill", "ProcessScreen", "TreeScreen", "format_bytes", "format_duration",
           "detail_text"]


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
    for label, value in (("initial call", r.initial_call), ("current function", r.current_function),
                         ("status", r.status), ("reductions", r.reductions),
                         ("memory", format_bytes(r.memory)), ("trap_exit", r.trap_exit),
                         ("message queue", d.messages_total)):
        t.append(f"{label:>17}: ", style="dim")
        t.append(f"{value}\n")
    t.append(f"\nlinks ({r.links}): ", style="bold")
    t.append(", ".join(d.links) or "none")
    t.append(f"\n\nmonitors ({r.monitors} on {len(d.monitors)} targets", style="bold")
    if r.dup_monitors:
        t.append(f", {r.dup_monitors} DUPLICATE", style="bold red")
    t.append("):\n", style="bold")
    for m in d.monitors:
        t.append(f"  {m.target}", style="bold")
        t.append(f"  x{m.count}", style="bold red" if m.count > 1 else "dim")
        more = f" +{m.count - len(m.refs)} more" if m.count > len(m.refs) else ""
        t.append(f"  {' '.join(m.refs)}{more}")
        t.append("\n" if m.target_alive else "  (target dead!)\n",
                 style="" if m.target_alive else "red")
    t.append(f"\nmonitored by ({r.monitored_by}): ", style="bold")
    t.append(", ".join(d.monitored_by) or "none")
    t.append("\n\ncurrent stack:\n", style="bold")
    t.append("".join(d.stack) or "  (not started, or running)\n")
    shown = len(d.messages)
    t.append(f"\nmailbox: first {shown} of {d.messages_total} messages\n", style="bold")
    for i, m in enumerate(d.messages):
        t.append(f"  {i:>4}  {m}\n")
    return t


class ConfirmKill(ModalScreen):
    """Ask before ``exit(pid, "kill")``; dismisses with True to go ahead."""

    BINDINGS = [Binding("y", "answer(True)", "Kill"), Binding("n", "answer(False)", "Cancel"),
                Binding("escape", "answer(False)", "Cancel", show=False)]
    DEFAULT_CSS = """
    ConfirmKill { align: center middle; }
    #dialog { width: 60; height: auto; border: thick $error; background: $surface; padding: 1 2; }
    #buttons { height: auto; margin-top: 1; }
    """

    def __init__(self, pid: str, name: Optional[str]) -> None:
        super().__init__()
        self.pid = pid
        self.proc_name = name

    def compose(self) -> ComposeResult:
        who = f"{self.pid} ({self.proc_name})" if self.proc_name else self.pid
        with Vertical(id="dialog"):
            yield Label(f"Kill {who}?\nexit(pid, \"kill\") cannot be trapped; its links "
                        f"and monitors are signalled with \"killed\".")
            with Horizontal(id="buttons"):
                yield Button("Kill [y]", variant="error", id="yes")
                yield Button("Cancel [n]", id="no")

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
        self.detail = await self.app.fetch_detail(self.pid)  # type: ignore[attr-defined]
        body = self.query_one("#detail", Static)
        body.update(detail_text(self.detail) if self.detail is not None
                    else Text(f"{self.pid} is not alive", style="bold red"))

    def action_kill(self) -> None:
        name = self.detail.row.name if self.detail is not None else None
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
    """The supervision trees with restart counts; enter opens a process."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back"), Binding("r", "reload", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tree("supervision", id="tree")
        yield Footer()

    async def on_mount(self) -> None:
        await self.action_reload()

    async def action_reload(self) -> None:
        roots = await self.app.fetch_tree()  # type: ignore[attr-defined]
        tree = self.query_one("#tree", Tree)
        tree.clear()
        if not roots:
            tree.root.set_label("no root supervisors known to this node")
        for root in roots:
            self._add(tree.root, root)
        tree.root.expand_all()

    def _add(self, parent: Any, node: TreeNode) -> None:
        if node.children:
            branch = parent.add(_tree_label(node), data=node.pid)
            for c in node.children:
                self._add(branch, c)
        else:
            parent.add_leaf(_tree_label(node), data=node.pid)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data:
            self.app.push_screen(ProcessScreen(event.node.data))
