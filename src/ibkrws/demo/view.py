"""The demo's two faces: a rich live view for terminals, and plain lines for pipes and CI.

Plain lines start with a marker word, so that tools (and the tests) can pick them out::

    demo   simulator wss://127.0.0.1:40117/v1/api/ws, account DU1234567, ...
    state  connecting -> open
    md     AAPL 265598 last=271.12 bid=271.04 ask=271.12 size=3,200x1,100 change=+2.37 (0.88%) upd/s=4.0
    order  923460717 BUY 25 AAPL Limit 271.08: Submitted, filled 0/25
    pnl    DU1234567.Core daily=-631.00 unrealized=22,094.70 net_liq=1,110,884.25 market_value=81,743.20
    sim    simulator drops every WebSocket now (close code 1011)
    reconnected ready again 0.41 s after the drop; re-subscribing
    health state=ready heartbeat=0.4s reconnects=1 gaps=1 frames=1234
    summary 25.0 s: ...
"""

from __future__ import annotations

import time
from typing import IO, Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ibkrws.demo.tracker import Tracker, price_value

STATE_STYLES = {
    "ready": "bold green", "open": "cyan", "connecting": "yellow", "reconnecting": "bold yellow",
    "degraded": "bold red", "stopping": "dim", "stopped": "dim",
}
NOTE_STYLES = {
    "state": "cyan", "event": "white", "reconnected": "bold green", "gap": "yellow", "sim": "magenta",
    "log": "red", "order": "blue",
}
STATUS_STYLES = {"Filled": "green", "Cancelled": "dim", "Submitted": "cyan", "PreSubmitted": "yellow"}
EVENT_LINES = 12
PNL_COLUMNS = (("dpl", "Daily P&L"), ("upl", "Unrealized"), ("nl", "Net liquidation"), ("mv", "Market value"))


def _money(value: Any) -> str:
    number = price_value(value)
    return "" if number is None else f"{number:,.2f}"


def _signed(text: str) -> Text:
    number = price_value(text.lstrip("+")) if text else None
    style = "" if number is None or number == 0 else "green" if number > 0 else "red"
    return Text(text, style=style)


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


WIDE = 110
"""Terminal columns from which orders and P&L sit side by side and every market-data column shows."""


def render(tracker: Tracker, title: str, height: int | None = None, width: int | None = None) -> RenderableType:
    """The live view: connection header, market data, orders and P&L, events (fitted to `height` x `width`)."""
    wide = width is None or width >= WIDE
    orders = _orders(tracker, wide)
    lower: RenderableType
    if wide:
        grid = Table.grid(expand=True, padding=(0, 3))
        grid.add_column(ratio=1)
        grid.add_column(no_wrap=True)
        grid.add_row(orders, _pnl(tracker))
        lower, used = grid, 24
    else:
        lower, used = Group(orders, _pnl_lines(tracker)), 27
    lines = EVENT_LINES if height is None else max(3, min(EVENT_LINES, height - used - len(tracker.quotes)))
    return Group(_header(tracker, title), _market(tracker, wide), lower, _events(tracker, lines))


def _header(tracker: Tracker, title: str) -> RenderableType:
    health = tracker.health
    header = Text.assemble(
        ("state ", "dim"), (health.state.upper(), STATE_STYLES.get(health.state, "")),
        ("   heartbeat age ", "dim"), _age(health.last_heartbeat_age),
        ("   reconnects ", "dim"), str(health.reconnects),
        ("   gaps ", "dim"), str(health.gaps),
        ("   frames ", "dim"), str(health.frames),
        ("   uptime ", "dim"), f"{tracker.uptime():.0f} s",
    )
    return Panel(header, title=title, subtitle="Ctrl-C or q to exit", title_align="left",
                 border_style=STATE_STYLES.get(health.state, "white").replace("bold ", ""))


def _market(tracker: Tracker, wide: bool) -> RenderableType:
    market = Table(title="Market data", title_justify="left", box=box.SIMPLE_HEAVY, expand=wide, pad_edge=False,
                   collapse_padding=not wide)
    names = ["Symbol", "Conid", "Last", "Bid", "Ask", "Bid size", "Ask size", "Change", "Chg %", "Updates", "Upd/s"]
    if not wide:
        names.remove("Conid")
        names.remove("Updates")
    short = {} if wide else {"Bid size": "Bid sz", "Ask size": "Ask sz", "Chg %": "Chg%"}
    for name in names:
        market.add_column(short.get(name, name), justify="left" if name in ("Symbol", "Conid") else "right",
                          no_wrap=True)
    for quote in tracker.quotes.values():
        last_style = "green" if quote.direction > 0 else "red" if quote.direction < 0 else ""
        cells: dict[str, Any] = {
            "Symbol": quote.symbol or "…", "Conid": str(quote.conid), "Last": Text(quote.last, style=last_style),
            "Bid": quote.bid, "Ask": quote.ask, "Bid size": quote.bid_size, "Ask size": quote.ask_size,
            "Change": _signed(quote.change), "Chg %": _signed(quote.change_percent), "Updates": str(quote.updates),
            "Upd/s": f"{quote.rate:.1f}",
        }
        market.add_row(*(cells[name] for name in names))
    return market


def _orders(tracker: Tracker, wide: bool) -> Table:
    orders = Table(title="Latest orders", title_justify="left", box=box.SIMPLE, expand=wide, pad_edge=False,
                   collapse_padding=not wide)
    for name in ("Order", "Symbol", "Side", "Qty", "Type", "Price", "Status", "Filled", "Avg"):
        orders.add_column(name, justify="right" if name in ("Qty", "Price", "Filled", "Avg") else "left", no_wrap=True)
    for row in reversed(tracker.orders(limit=6)):
        orders.add_row(str(row.order_id), row.symbol, Text(row.side, style="green" if row.side == "BUY" else "red"),
                       f"{row.quantity:g}", row.order_type, row.price,
                       Text(row.status, style=STATUS_STYLES.get(row.status, "")), f"{row.filled:g}", row.avg_price)
    if not orders.row_count:
        orders.add_row("", "waiting for the first order…", "", "", "", "", "", "", "")
    return orders


def _pnl(tracker: Tracker) -> Table:
    pnl = Table(title="P&L", title_justify="left", box=box.SIMPLE, pad_edge=False)
    pnl.add_column("")
    rows = list(tracker.pnl.items())
    for row_key, _ in rows:
        pnl.add_column(row_key, justify="right", no_wrap=True)
    for field, name in PNL_COLUMNS:
        values = [_money(row.get(field)) for _, row in rows]
        pnl.add_row(name, *(_signed(v) if field in ("dpl", "upl") else v for v in values))
    return pnl


def _pnl_lines(tracker: Tracker) -> RenderableType:
    """P&L in one line per account row, for narrow terminals."""
    text = Text()
    for row_key, row in tracker.pnl.items():
        text.append("P&L ", style="bold")
        text.append(f"{row_key} ")
        for field, name in PNL_COLUMNS:
            value = _money(row.get(field))
            text.append(f" {name.lower()} ", style="dim")
            text.append_text(_signed(value) if field in ("dpl", "upl") else Text(value))
        text.append("\n")
    return text


def _events(tracker: Tracker, count: int) -> RenderableType:
    lines = [Text.assemble((f"{_clock(note.time)} ", "dim"), (f"{note.kind:<11} ", NOTE_STYLES.get(note.kind, "")),
                           note.text)
             for note in tracker.recent_notes(count, exclude=("order",))]
    text = Text("\n").join(lines) if lines else Text("…", style="dim")
    text.no_wrap, text.overflow = True, "ellipsis"
    return Panel(text, title="Connection and simulator events", title_align="left", border_style="dim")


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


class PlainPrinter:
    """Plain lines: every note as it happens, and a snapshot every `interval` seconds."""

    def __init__(self, tracker: Tracker, out: IO[str], interval: float) -> None:
        self.tracker = tracker
        self.out = out
        self.interval = interval
        self.broken = False
        self._next_snapshot = 0.0
        self._pnl_version = -1

    def line(self, kind: str, text: str) -> None:
        """Write `<kind> <text>`; a closed pipe sets `broken` instead of raising."""
        if self.broken:
            return
        try:
            self.out.write(f"{kind} {text}\n")
            self.out.flush()
        except BrokenPipeError:
            self.broken = True

    def tick(self, now: float) -> None:
        """Write what happened since the last tick, and a snapshot when one is due (`now`: monotonic)."""
        for note in self.tracker.take_notes():
            self.line(note.kind, note.text)
        if now >= self._next_snapshot:
            self._next_snapshot = now + self.interval
            self.snapshot()

    def snapshot(self) -> None:
        """One `md` line per instrument with data, `pnl` lines when P&L moved, one `health` line."""
        tracker = self.tracker
        for q in tracker.quotes.values():
            if q.updates:
                self.line("md", f"{q.symbol} {q.conid} last={q.last} bid={q.bid} ask={q.ask} "
                                f"size={q.bid_size}x{q.ask_size} change={q.change} ({q.change_percent}%) "
                                f"updates={q.updates} upd/s={q.rate:.1f}")
        if tracker.pnl_version != self._pnl_version:
            self._pnl_version = tracker.pnl_version
            for row_key, row in tracker.pnl.items():
                self.line("pnl", f"{row_key} daily={_money(row.get('dpl'))} unrealized={_money(row.get('upl'))} "
                                 f"net_liq={_money(row.get('nl'))} market_value={_money(row.get('mv'))}")
        h = tracker.health
        self.line("health", f"state={h.state} heartbeat_age={_age(h.last_heartbeat_age).replace(' ', '')} "
                            f"reconnects={h.reconnects} gaps={h.gaps} frames={h.frames}")
