"""What the demo shows, derived from an `IbkrWsClient` through its public API.

`Tracker.poll()` (called by the view a few times a second) reads the merged market data, the
orders, the P&L queue, the lifecycle events and the health report, and turns what changed into
`Note`s: the lines of the plain output and of the live view's event panel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ibkrws import EventKind, HealthReport, IbkrWsClient, IbkrWsKey, WsEvent

RATE_WINDOW = 3.0
"""Seconds over which updates per second are measured."""


@dataclass(frozen=True)
class Note:
    """One thing that happened: `kind` (`state`, `event`, `reconnected`, `gap`, `order`, `sim`, `log`) and text."""

    time: float
    kind: str
    text: str


@dataclass
class Quote:
    """The market-data row of one conid, as shown."""

    conid: int
    symbol: str = ""
    last: str = ""
    bid: str = ""
    ask: str = ""
    bid_size: str = ""
    ask_size: str = ""
    change: str = ""
    change_percent: str = ""
    updates: int = 0
    rate: float = 0.0
    direction: int = 0
    """+1 when the last price went up since the previous poll, -1 down, 0 unchanged or unknown."""


@dataclass(frozen=True)
class OrderRow:
    """One order, as shown."""

    order_id: Any
    symbol: str
    side: str
    quantity: float
    order_type: str
    price: str
    status: str
    filled: float
    avg_price: str

    def describe(self) -> str:
        """`932286197 BUY 10 AAPL Limit 270.62: Submitted, filled 0/10`."""
        price = f" {self.price}" if self.price else ""
        avg = f" at {self.avg_price}" if self.avg_price and self.filled else ""
        return (f"{self.order_id} {self.side} {self.quantity:g} {self.symbol} {self.order_type}{price}: "
                f"{self.status}, filled {self.filled:g}/{self.quantity:g}{avg}")


def price_value(text: Any) -> float | None:
    """A display price as a number: `'271.05'`, `'C271.05'` (closed), `'1,500'` -> float; None if not one."""
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    cleaned = text.lstrip("CH").replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _number(value: Any) -> float:
    number = price_value(value)
    return number if number is not None else 0.0


class Tracker:
    """Reads `client` for the demo's view; `note()` may be called from any thread."""

    def __init__(self, client: IbkrWsClient, conids: Sequence[int]) -> None:
        self.client = client
        self.conids = [int(c) for c in conids]
        self.started = time.monotonic()
        self.notes: deque[Note] = deque(maxlen=200)
        self.pnl: dict[str, dict[str, Any]] = {}
        self.pnl_version = 0
        self.quotes: dict[int, Quote] = {c: Quote(c) for c in self.conids}
        self.health: HealthReport = client.health()
        self.reconnect_times: list[float] = []
        self.disconnects = 0
        self._pending: list[Note] = []
        self._lock = threading.Lock()
        self._pnl_accessor = client.new_queue_accessor(IbkrWsKey.PNL)
        self._events = client.new_event_accessor()
        self._samples: dict[int, deque[tuple[float, int]]] = {c: deque() for c in self.conids}
        self._orders_seen: dict[Any, tuple[Any, ...]] = {}
        self._down_since: float | None = None

    # ------------------------------------------------------------------ notes

    def note(self, kind: str, text: str) -> None:
        """Record something that happened (thread-safe)."""
        item = Note(time.time(), kind, text)
        with self._lock:
            self.notes.append(item)
            self._pending.append(item)

    def take_notes(self) -> list[Note]:
        """The notes recorded since the previous call, oldest first."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def recent_notes(self, count: int, exclude: Iterable[str] = ()) -> list[Note]:
        """The latest `count` notes whose kind is not in `exclude`, oldest first."""
        excluded = set(exclude)
        with self._lock:
            chosen = [n for n in self.notes if n.kind not in excluded]
        return chosen[-count:]

    # ------------------------------------------------------------------- poll

    def poll(self) -> None:
        """Read everything new from the client (call from one thread, a few times a second)."""
        now = time.monotonic()
        subscribed: list[str] = []
        while (event := self._events.get()) is not None:
            if event.kind is EventKind.SUBSCRIPTION_CONFIRMED:
                subscribed.append(event.channel or "?")
                continue
            if subscribed:
                self.note("event", "subscribed " + ", ".join(subscribed))
                subscribed = []
            self._on_event(event, now)
        if subscribed:
            self.note("event", "subscribed " + ", ".join(subscribed))
        self._read_pnl()
        self._read_quotes(now)
        self._read_orders()
        self.health = self.client.health()

    def _on_event(self, event: WsEvent, now: float) -> None:
        kind, detail = event.kind, event.detail
        if kind is EventKind.STATE:
            reason = f" ({event.reason})" if event.reason else ""
            self.note("state", f"{detail.get('old')} -> {detail.get('new')}{reason}")
            if detail.get("new") == "ready" and self._down_since is not None:
                downtime, self._down_since = now - self._down_since, None
                self.reconnect_times.append(downtime)
                self.note("reconnected", f"ready again {downtime:.2f} s after the drop; re-subscribing")
        elif kind is EventKind.DISCONNECTED:
            self.disconnects += 1
            if self._down_since is None:
                self._down_since = now
            reason = f": {event.reason}" if event.reason else ""
            self.note("event", f"disconnected (close code {detail.get('code')}){reason}")
        elif kind is EventKind.GAP:
            keys = ", ".join(sorted(getattr(k, "name", str(k)) for k in detail.get("keys") or ()))
            span = (detail.get("end") or 0) - (detail.get("start") or 0)
            self.note("gap", f"{span:.2f} s in which messages may be missing ({keys}); subscriptions restored")
        elif kind is EventKind.CONNECTED:
            pass  # the state change to "open" says it
        else:
            text = " ".join(part for part in (kind.value, event.channel or "", event.reason) if part)
            self.note("event", text)

    def _read_pnl(self) -> None:
        while (message := self._pnl_accessor.get()) is not None:
            args = message.get("args") if isinstance(message, dict) else None
            if not isinstance(args, dict):
                continue
            for row_key, row in args.items():
                if isinstance(row, dict):
                    self.pnl.setdefault(str(row_key), {}).update(row)
                    self.pnl_version += 1

    def _read_quotes(self, now: float) -> None:
        for conid in self.conids:
            data = self.client.market_data(conid)
            if data is None:
                continue
            quote = self.quotes[conid]
            previous = price_value(quote.last)
            quote.symbol = _text(data.get("symbol")) or quote.symbol
            quote.last = _text(data.get("last_price"))
            quote.bid = _text(data.get("bid_price"))
            quote.ask = _text(data.get("ask_price"))
            quote.bid_size = _text(data.get("bid_size"))
            quote.ask_size = _text(data.get("ask_size"))
            quote.change = _text(data.get("change"))
            quote.change_percent = _text(data.get("change_percent"))
            quote.updates = int(data.get("updates") or 0)
            current = price_value(quote.last)
            if previous is not None and current is not None and current != previous:
                quote.direction = 1 if current > previous else -1
            samples = self._samples[conid]
            samples.append((now, quote.updates))
            while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
                samples.popleft()
            first_time, first_updates = samples[0]
            quote.rate = (quote.updates - first_updates) / (now - first_time) if now > first_time else 0.0

    def _read_orders(self) -> None:
        for row in self.orders():
            signature = (row.status, row.filled, row.avg_price)
            if self._orders_seen.get(row.order_id) != signature:
                self._orders_seen[row.order_id] = signature
                self.note("order", row.describe())

    # ---------------------------------------------------------------- reading

    def orders(self, limit: int | None = None) -> list[OrderRow]:
        """Orders seen, oldest first (the latest `limit` when given)."""
        rows = []
        for order_id, order in self.client.orders().items():
            rows.append(OrderRow(
                order_id=order_id,
                symbol=_text(order.get("ticker") or order.get("description1") or order.get("conid")),
                side=_text(order.get("side")),
                quantity=_number(order.get("totalSize")),
                order_type=_text(order.get("orderType") or order.get("origOrderType")),
                price=_text(order.get("price")),
                status=_text(order.get("status")),
                filled=_number(order.get("filledQuantity")),
                avg_price=_text(order.get("avgPrice")),
            ))
        return rows[-limit:] if limit else rows

    def uptime(self) -> float:
        """Seconds since the tracker was created."""
        return time.monotonic() - self.started

    def summary(self) -> str:
        """One line: what was seen during the run."""
        updates = sum(q.updates for q in self.quotes.values())
        with_data = sum(1 for q in self.quotes.values() if q.updates)
        statuses: dict[str, int] = {}
        for row in self.orders():
            statuses[row.status] = statuses.get(row.status, 0) + 1
        orders = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items())) or "none"
        recovered = ", ".join(f"{t:.2f} s" for t in self.reconnect_times)
        reconnects = f"{len(self.reconnect_times)} reconnect(s)" + (f" (ready again after {recovered})"
                                                                    if recovered else "")
        drops = sum(self.health.drops.values())
        return (f"{self.uptime():.1f} s: {updates} market-data updates for {with_data} instruments; "
                f"orders: {orders}; {self.disconnects} disconnect(s), {reconnects}; "
                f"{self.health.gaps} gap(s) reported; {drops} queue drop(s)")


class NoteHandler(logging.Handler):
    """Routes library log records (errors; warnings repeat what the events say) into the tracker."""

    def __init__(self, tracker: Tracker, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.tracker = tracker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.tracker.note("log", f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
