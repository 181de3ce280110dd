"""``beamish observer``: the full-screen terminal UI (textual).

The app reads a node only through a *source*: a :class:`~._client.Client`
(wrapped in a :class:`~._client.Redialer` by ``beamish observer``), or
anything with the same five methods (tests pass a fake); ``sockets``,
``tables``, ``reconnect``, ``switch`` and ``cluster_view`` are used when
the source has them (tables
otherwise through the client's ``tables`` request).  Requests run in a worker
thread, one at a time, so a slow node never freezes the screen.  Every
refresh fetches the node info (with its sampler history) and the process
list, feeds the leak detectors with the samples seen so far, and redraws.
When serving the list costs the node more than 5% of the time between
refreshes, the refresh slows down to keep it at 5%.

When a request fails (the node stopped, the connection broke) the status
line says "node gone", the last data stays on screen, and the app tries
to reconnect, waiting 0.5 s, then twice as long each time up to 5 s.

Keys (``?`` shows them): ``r``/``m`` sort by reductions/memory, ``m q``
by message queue (observer_cli's ``mq``), ``s``/``o`` sort column/order
(or click a header), ``/`` filter, ``w`` windowed mode (rank by growth
since the last refresh), ``enter`` process detail, ``k`` kill (asks
first), ``t`` supervision tree, ``a`` processes by application, ``p``
sockets, ``T`` tables (PubSub topics, Registry and Presence sizes),
``N`` the cluster's nodes (enter observes the highlighted one),
``+``/``-`` refresh interval, ``space`` pause, ``R`` refresh
now, ``q`` quit.  A line under the system panel names the cluster's
nodes, up or down, as the observed node sees them.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any, Callable, Optional, Protocol

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Label, Sparkline, Static

from ._errors import ObserverError
from ._leaks import Sample, find_suspects
from ._records import NodeInfo, ProcessDetail, ProcRow
from ._table import NUMERIC, filter_rows, sort_rows, window
from ._tables import Tables, fetch_tables
from ._tui_screens import (AppsScreen, ConfirmKill, HelpScreen, NodeGone, ProcessScreen,
                           SocketsScreen, TreeScreen, format_bytes, format_duration)
from ._tui_nodes import NodesScreen, cluster_line, node_rows, view_of
from ._tui_tables import TablesScreen

__all__ = ["ObserverApp", "Source", "SHOWN_COLUMNS", "INTERVALS", "brief_call"]

#: (ProcRow field, header) of the table, in order: the counts come first,
#: so reds, msgq, memory and monitors stay visible on an 80-column terminal.
SHOWN_COLUMNS = (("pid", "pid"), ("name", "name"), ("reductions", "reds"),
                 ("message_queue_len", "msgq"), ("memory", "memory"),
                 ("monitors", "monitors"), ("dup_monitors", "dup mon"), ("links", "links"),
                 ("current_function", "current function"), ("initial_call", "initial call"))
#: Widest name shown in the table (the detail view shows it whole).
NAME_WIDTH = 18
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Most rows drawn (after sorting and filtering); the status line says how many matched.
MAX_ROWS = 500
#: Most of the node's time the list may cost: refreshes slow down past it.
MAX_SHARE = 0.05
_SAMPLES = 30
#: Seconds ``q`` after ``m`` means "sort by message queue", not "quit".
CHORD_WINDOW = 1.5
#: Reconnection delays: the first, and the longest (doubling in between).
RETRY_FIRST = 0.5
RETRY_MAX = 5.0
#: What a failing request raises when the node went away.
GONE_ERRORS = (OSError, EOFError, ObserverError)
#: Columns of ``module:function`` text, shown without the module's package.
_CALLS = ("initial_call", "current_function")


def _clip(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _open_files(i: NodeInfo) -> str:
    """``"57 of 1024"`` (the soft limit), ``"57"`` when the limit is unknown."""
    if not i.open_files:
        return "?"
    if not i.open_files_limit:
        return str(i.open_files)
    share = i.open_files / i.open_files_limit
    return f"{i.open_files} of {i.open_files_limit}" + (" (NEAR THE LIMIT)" if share > 0.8
                                                        else "")


def brief_call(call: str) -> str:
    """``"beamish.otp._gen_server:_loop"`` -> ``"_gen_server:_loop"``: the
    table shows calls without their package path, so the count columns
    (monitors, duplicates) still fit a 150-column terminal; the detail
    view and the filter use the whole name."""
    module, sep, function = call.partition(":")
    return module.rsplit(".", 1)[-1] + sep + function if sep else call


class Source(Protocol):
    """What the UI needs of a node (a Client fits)."""

    def node_info(self, history: bool = False) -> NodeInfo: ...
    def processes(self) -> Any: ...
    def process(self, pid: str, messages: int = 20) -> Optional[ProcessDetail]: ...
    def tree(self) -> list: ...
    def kill(self, pid: str) -> bool: ...


class ObserverApp(App):
    """The observer's main screen: system panel, process table, suspects."""

    TITLE = "beamish observer"
    CSS = """
    #system { height: 8; }
    #cluster { height: 1; }
    #sysinfo { width: 52; }
    #sparks { width: 1fr; }
    #sparks Sparkline { height: 1; margin-bottom: 1; }
    #sparks Label { height: 1; }
    #filter { height: 3; display: none; }
    #filter.shown { display: block; }
    #status { height: 1; background: $panel; }
    #status.gone { background: $error; }
    #suspects { height: auto; max-height: 6; color: $error; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit_or_queue", "Quit"), Binding("question_mark", "help", "Help"),
        Binding("r", "sort_key('reductions')", "Reds"),
        Binding("m", "sort_key('memory')", "Mem"), Binding("s", "next_sort", "Sort"),
        Binding("o", "reverse", "Order", show=False), Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("w", "window", "Window", show=False), Binding("k", "kill", "Kill"),
        Binding("t", "tree", "Tree"), Binding("a", "apps", "Apps"),
        Binding("p", "sockets", "Sockets"), Binding("T", "tables", "Tables"),
        Binding("N", "nodes", "Nodes"),
        Binding("plus,equals_sign", "slower", "+interval", show=False),
        Binding("minus", "faster", "-interval", show=False),
        Binding("space", "pause", "Pause", show=False),
        Binding("R", "refresh_now", "Refresh", show=False),
    ]

    def __init__(self, source: Source, interval: float = 2.0, *, polling: bool = True) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.polling = polling
        self.paused = False
        self.sort_column = "reductions"
        self.descending: Optional[bool] = None
        self.filter_text = ""
        self.windowed = False
        self.rows: list = []
        self.previous: dict = {}
        self.info: Optional[NodeInfo] = None
        self.cost_ms = 0.0
        self.suspects: list = []
        self.samples: deque = deque(maxlen=_SAMPLES)
        self.shown: list = []           # rows drawn, in order
        self.error: Optional[str] = None
        #: The node stopped answering; we are reconnecting.
        self.gone = False
        self.retry_delay = RETRY_FIRST
        self._m_pressed = -1.0
        self._lock = threading.Lock()
        self._timer: Any = None

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="system"):
            yield Static("connecting...", id="sysinfo")
            with Vertical(id="sparks"):
                yield Label("processes", id="l_procs")
                yield Sparkline([], id="s_procs")
                yield Label("memory (RSS)", id="l_rss")
                yield Sparkline([], id="s_rss")
                yield Label("CPU", id="l_cpu")
        yield Static("", id="cluster")
        yield Input(placeholder="filter: words in pid, name, calls, status; 'dup'", id="filter")
        yield Static("", id="status")
        yield DataTable(id="procs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="suspects")
        yield Footer()

    async def on_mount(self) -> None:
        self._build_columns()
        self.query_one("#procs", DataTable).focus()
        if self.polling:
            await self.refresh_data()

    def _build_columns(self) -> None:
        table = self.query_one("#procs", DataTable)
        table.clear(columns=True)
        for field, header in SHOWN_COLUMNS:
            table.add_column(header, key=field)
        if self.windowed:
            table.add_column("growth", key="growth")

    # ------------------------------------------------------------ source
    def _locked(self, fn: Callable, *args: Any) -> Any:
        with self._lock:
            return fn(*args)

    async def _ask(self, fn: Callable, *args: Any) -> Any:
        """``fn(*args)`` in the worker thread.

        Raises:
            NodeGone: the node is gone (now, or since an earlier request).
        """
        if self.gone:
            raise NodeGone(self.error or "reconnecting")
        try:
            return await asyncio.to_thread(self._locked, fn, *args)
        except GONE_ERRORS as e:
            self._lost(e)
            raise NodeGone(self.error) from None

    def _lost(self, e: BaseException) -> None:
        if not self.gone:
            self.gone = True
            self.retry_delay = RETRY_FIRST
        self.error = f"{type(e).__name__}: {e}"

    async def _reconnect(self) -> bool:
        """Try once to reach the node again; True if it answers."""
        redial = getattr(self.source, "reconnect", None)
        try:
            if redial is not None:
                await asyncio.to_thread(self._locked, redial)
            self.gone = False
            return True
        except GONE_ERRORS as e:
            self.error = f"{type(e).__name__}: {e}"
            self.retry_delay = min(self.retry_delay * 2, RETRY_MAX)
            return False

    async def refresh_data(self) -> None:
        """Fetch the node info and process list now, then redraw.  While
        the node is gone, try to reconnect first."""
        if self.gone and not await self._reconnect():
            self.redraw()
            self._schedule()
            return
        try:
            info = await self._ask(self.source.node_info, True)
            plist = await self._ask(self.source.processes)
        except NodeGone:
            pass        # keep the last data; the status line says why
        else:
            self.error = None
            self.previous = {r.pid: r for r in self.rows}
            self.rows = plist.rows
            self.cost_ms = plist.cost.busy_ms
            self.info = info
            self.samples.append(Sample.of(info.time, info.process_count, info.message_rate,
                                          plist.rows))
            self.suspects = find_suspects(list(self.samples))
        self.redraw()
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.polling and (self.gone or not self.paused):
            delay = self.retry_delay if self.gone else self.effective_interval()
            self._timer = self.set_timer(delay, self.refresh_data)

    def effective_interval(self) -> float:
        """The chosen interval, stretched so the list costs the node at most
        :data:`MAX_SHARE` of its time."""
        return max(self.interval, self.cost_ms / 1000 / MAX_SHARE)

    async def fetch_detail(self, pid: str) -> Optional[ProcessDetail]:
        return await self._ask(self.source.process, pid, 50)

    async def fetch_tree(self) -> list:
        return await self._ask(self.source.tree)

    async def fetch_sockets(self) -> list:
        sockets = getattr(self.source, "sockets", None)
        if sockets is None:
            raise NodeGone("this source lists no sockets")
        return await self._ask(sockets)

    async def fetch_tables(self) -> Tables:
        return await self._ask(fetch_tables, self.source)

    async def fetch_nodes(self) -> list:
        """The nodes view's rows: the host's view of the cluster when the
        source can look at the host's sockets, else the observed node's."""
        look = getattr(self.source, "cluster_view", None)
        if look is not None:
            view = await self._ask(look)
        else:
            view = view_of(await self._ask(self.source.node_info))
        return node_rows(view, self.info.node if self.info is not None else None)

    async def switch_node(self, name: str) -> bool:
        """Observe ``name`` instead, starting afresh; False (and a notice)
        if it cannot be reached: the current node stays."""
        switch = getattr(self.source, "switch", None)
        if switch is None:
            self.notify("this source observes one node only", severity="error")
            return False
        if self.info is not None and name == self.info.node and not self.gone:
            return True
        try:
            await asyncio.to_thread(self._locked, switch, name)
        except GONE_ERRORS as e:
            self.notify(f"cannot observe {name}: {e}", severity="error")
            return False
        self.gone, self.error, self.retry_delay = False, None, RETRY_FIRST
        self.rows, self.previous, self.info, self.cost_ms = [], {}, None, 0.0
        self.samples.clear()
        self.suspects = []
        await self.refresh_data()
        self.notify(f"observing {name}")
        return True

    def name_of(self, pid: str) -> Optional[str]:
        """The registered name (else the label) of a process of the last list."""
        row = next((r for r in self.rows if r.pid == pid), None)
        return (row.name or row.label) if row is not None else None

    # ------------------------------------------------------------- views
    def visible_rows(self) -> list:
        """``(row, growth or None)`` pairs in display order (before the cap)."""
        rows = filter_rows(self.rows, self.filter_text)
        if self.windowed:
            column = self.sort_column if self.sort_column in NUMERIC else "reductions"
            return window(self.previous, rows, column)
        return [(r, None) for r in sort_rows(rows, self.sort_column, self.descending)]

    def redraw(self) -> None:
        table = self.query_one("#procs", DataTable)
        keep = self.selected_pid()
        pairs = self.visible_rows()
        shown = pairs[:MAX_ROWS]
        table.clear()
        flagged = {s.pid for s in self.suspects if s.pid}
        for row, growth in shown:
            cells = [self._cell(row, f, flagged) for f, _ in SHOWN_COLUMNS]
            if self.windowed:
                cells.append(Text(f"+{growth}", style="bold"))
            table.add_row(*cells, key=row.pid)
        self.shown = [r for r, _ in shown]
        if keep is not None:
            for i, r in enumerate(self.shown):
                if r.pid == keep:
                    table.move_cursor(row=i, animate=False)
                    break
        self._draw_status(len(pairs))
        self._draw_system()
        self.query_one("#suspects", Static).update("\n".join(
            "LEAK? " + s.describe() for s in self.suspects[:6]))

    @staticmethod
    def _cell(row: ProcRow, field: str, flagged: set) -> Any:
        value = getattr(row, field)
        if field == "name":
            if value is None and row.label is not None:
                return Text(_clip(row.label), style="italic")
            return _clip(value) if value else ""
        if field == "memory":
            return format_bytes(value)
        if field in _CALLS and value:
            return brief_call(value)
        if field == "dup_monitors" and value:
            return Text(str(value), style="bold red")
        if field == "pid" and row.pid in flagged:
            return Text(value, style="bold red")
        return "" if value is None else str(value)

    def _draw_status(self, matched: int) -> None:
        order = "window: growth of " + (self.sort_column if self.sort_column in NUMERIC
                                          else "reductions") if self.windowed else \
            f"sort: {self.sort_column} " + ("desc" if self._desc() else "asc")
        bits = [order, f"showing {min(matched, MAX_ROWS)} of {matched}"
                + (f" (filter {self.filter_text!r})" if self.filter_text else ""),
                f"every {self.effective_interval():g} s" + (" PAUSED" if self.paused else ""),
                f"list cost {self.cost_ms:.0f} ms"]
        status = self.query_one("#status", Static)
        if self.gone:
            bits.insert(0, f"NODE GONE ({self.error}); reconnecting every "
                           f"{self.retry_delay:g} s, showing the last data")
        elif self.error:
            bits.append(f"ERROR {self.error}")
        status.set_class(self.gone, "gone")
        status.update(Text(" | ".join(bits)))

    def _desc(self) -> bool:
        return self.sort_column in NUMERIC if self.descending is None else self.descending

    def _draw_system(self) -> None:
        i = self.info
        if i is None:
            return
        self.sub_title = i.node
        self.query_one("#cluster", Static).update(cluster_line(i))
        self.query_one("#sysinfo", Static).update(
            f"node {i.node}  (os pid {i.os_pid})\n"
            f"up {format_duration(i.uptime)}  python {i.python}  gevent {i.gevent}\n"
            f"processes {i.process_count:,}   RSS {format_bytes(i.rss)}\n"
            f"CPU {i.cpu_percent:.0f}%   msgs {i.message_rate:,.0f}/s\n"
            f"hub latency {i.hub_latency_ms:.2f} ms   run queue {i.run_queue}\n"
            f"open files {_open_files(i)}")
        h = i.history
        self.query_one("#s_procs", Sparkline).data = [p.process_count for p in h]
        self.query_one("#s_rss", Sparkline).data = [p.rss for p in h]
        if h:
            last = h[-1]
            counts = [p.process_count for p in h]
            rss = [p.rss for p in h]
            self.query_one("#l_procs", Label).update(
                f"processes over {h[-1].t - h[0].t:.0f} s: {last.process_count:,} "
                f"(min {min(counts):,}, max {max(counts):,})")
            self.query_one("#l_rss", Label).update(
                f"memory (RSS): {format_bytes(last.rss)} (min {format_bytes(min(rss))}, "
                f"max {format_bytes(max(rss))})")
            cpu = " ".join(f"{p.cpu_percent:.0f}" for p in list(h)[-12:])
            self.query_one("#l_cpu", Label).update(f"CPU % (last 12 s): {cpu}")

    def selected_pid(self) -> Optional[str]:
        """The pid under the table's cursor, if any."""
        table = self.query_one("#procs", DataTable)
        if not self.shown or table.cursor_row is None or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row].pid

    # ----------------------------------------------------------- actions
    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        field = str(event.column_key.value)
        if field == "growth":
            return
        self.sort_by(field)

    def sort_by(self, field: str) -> None:
        """Sort by ``field``; sorting by the current column flips the order."""
        if field == self.sort_column:
            self.descending = not self._desc()
        else:
            self.sort_column, self.descending = field, None
        self.redraw()

    def action_sort_key(self, field: str) -> None:
        """observer_cli's direct sort keys: ``r`` reductions, ``m`` memory."""
        if field == "memory":
            self._m_pressed = time.monotonic()
        self.sort_column, self.descending = field, None
        self.redraw()

    async def action_quit_or_queue(self) -> None:
        """``q`` quits, except right after ``m``: ``m q`` sorts by message
        queue (observer_cli's ``mq``)."""
        if time.monotonic() - self._m_pressed < CHORD_WINDOW:
            self._m_pressed = -1.0
            self.action_sort_key("message_queue_len")
            return
        await self.action_quit()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_apps(self) -> None:
        self.push_screen(AppsScreen())

    def action_sockets(self) -> None:
        self.push_screen(SocketsScreen())

    def action_tables(self) -> None:
        self.push_screen(TablesScreen())

    def action_nodes(self) -> None:
        self.push_screen(NodesScreen())

    def action_next_sort(self) -> None:
        fields = [f for f, _ in SHOWN_COLUMNS]
        i = fields.index(self.sort_column) if self.sort_column in fields else -1
        self.sort_column, self.descending = fields[(i + 1) % len(fields)], None
        self.redraw()

    def action_reverse(self) -> None:
        self.descending = not self._desc()
        self.redraw()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#procs", DataTable).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.filter_text = ""
        self.query_one("#procs", DataTable).focus()
        self.redraw()

    def action_window(self) -> None:
        self.windowed = not self.windowed
        self._build_columns()
        self.redraw()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.push_screen(ProcessScreen(str(event.row_key.value)))

    def action_kill(self) -> None:
        pid = self.selected_pid()
        if pid is not None:
            row = next(r for r in self.shown if r.pid == pid)
            self.confirm_kill(pid, row.name or row.label)

    def confirm_kill(self, pid: str, name: Optional[str]) -> None:
        """Ask, then kill ``pid`` on the node if the answer is yes."""
        async def answered(yes: Optional[bool]) -> None:
            if not yes:
                self.notify(f"{pid} left alone")
                return
            try:
                killed = await self._ask(self.source.kill, pid)
            except NodeGone as e:
                self.notify(f"kill {pid} failed: {e}", severity="error")
                return
            self.notify(f"killed {pid}" if killed else f"{pid} was not alive")
            if self.screen.__class__ is ProcessScreen:
                await self.screen.action_reload()  # type: ignore[attr-defined]
            await self.refresh_data()
        self.push_screen(ConfirmKill(pid, name), answered)

    def action_tree(self) -> None:
        self.push_screen(TreeScreen())

    def action_slower(self) -> None:
        self.interval = next((i for i in INTERVALS if i > self.interval), INTERVALS[-1])
        self._schedule()
        self.redraw()

    def action_faster(self) -> None:
        self.interval = next((i for i in reversed(INTERVALS) if i < self.interval), INTERVALS[0])
        self._schedule()
        self.redraw()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._schedule()
        self.redraw()

    async def action_refresh_now(self) -> None:
        await self.refresh_data()
