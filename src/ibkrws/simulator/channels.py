"""Per-connection subscription records and the small helpers that parse client commands.

A gateway connection holds at most one record per channel key (``md+<conid>``, ``or``, ``pl``...).
Records are plain data; the behaviour lives in :mod:`ibkrws.simulator.model`.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

# Commands the gateway understands, and whether their subscriptions need the brokerage session.
BROKERAGE = frozenset({"smd", "smh", "sbd", "sor", "str"})
SUBSCRIBE = frozenset({"smd", "smh", "sbd", "sor", "str", "spl", "ssd", "sld"})

HISTORY_BARS = {"1min": 60, "2min": 120, "3min": 180, "5min": 300, "10min": 600, "15min": 900, "30min": 1800,
                "1h": 3600, "2h": 7200, "3h": 10800, "4h": 14400, "8h": 28800, "1d": 86400, "1w": 604800,
                "1m": 2592000}
MAX_RECEIVED = 10_000  # client frames kept per connection for observability

_PERIOD = re.compile(r"^(\d+)(min|h|d|w|m|y)$")
_PERIOD_UNIT = {"min": 60, "h": 3600, "d": 86400, "w": 604800, "m": 2592000, "y": 31536000}
_PERIOD_MAX = {"min": 30, "h": 8, "d": 1000, "w": 792, "m": 182, "y": 15}


@dataclass(frozen=True)
class Command:
    """A parsed client text frame ``TOPIC[+TARGET...][+{JSON}]``."""

    name: str
    targets: tuple[str, ...]
    args: dict[str, Any]

    @property
    def channel(self) -> str:
        """The channel key, e.g. ``md+265598`` or ``or`` (the topic minus its first letter)."""
        return "+".join((self.name[1:], *self.targets))


class BadArguments(ValueError):
    """The JSON part of a command did not parse to an object."""


def parse_command(text: str) -> Command:
    """Split ``smd+265598+{"fields":["31"]}`` into name, targets and JSON args (``{}`` when absent)."""
    head, sep, tail = text.partition("+{")
    args: dict[str, Any] = {}
    if sep:
        try:
            parsed = orjson.loads("{" + tail)
        except orjson.JSONDecodeError as exc:
            raise BadArguments(f"arguments of '{head}' are not valid JSON") from exc
        if not isinstance(parsed, dict):
            raise BadArguments(f"arguments of '{head}' must be a JSON object")
        args = parsed
    parts = head.split("+")
    return Command(parts[0][:3], tuple(p for p in parts[1:] if p), args)


def parse_period(value: object, default_s: int = 7200) -> int:
    """A history period (``30min``, ``2h``, ``5d``...) in seconds; bad values give the default."""
    m = _PERIOD.match(value) if isinstance(value, str) else None
    if m is None or not (1 <= int(m.group(1)) <= _PERIOD_MAX[m.group(2)]):
        return default_s
    return int(m.group(1)) * _PERIOD_UNIT[m.group(2)]


def string_list(value: object) -> list[str] | None:
    """The strings of a JSON list (non-strings ignored, as the gateway ignores them); None if absent."""
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


@dataclass
class MarketDataSub:
    """``smd``: what was last sent per field, so ticks send only what changed."""

    target: str
    conid: int
    fields: list[str]
    server_id: str
    start_at: float
    expires_at: float
    unknown: bool = False
    started: bool = False
    sent: dict[str, object] = field(default_factory=dict)


@dataclass
class HistorySub:
    """``smh``: one response, then the slot is held until ``umh``."""

    conid: int
    server_id: str
    period_s: int
    bar_s: int
    outside_rth: bool
    start_at: float
    started: bool = False


@dataclass
class LadderSub:
    """``sbd``: the price ladder of one conid."""

    account: str
    conid: int
    start_at: float
    started: bool = False
    last: bytes = b""


@dataclass
class OrdersSub:
    """``sor``: optional single status filter (lower-cased)."""

    filters: tuple[str, ...] = ()


@dataclass
class TradesSub:
    """``str``: history (unless realtime only) then new executions."""

    realtime_only: bool
    days: int
    start_at: float
    started: bool = False


@dataclass
class PeriodicSub:
    """``spl``, ``ssd``, ``sld``: a first message, then one every interval."""

    account: str
    keys: tuple[str, ...]
    fields: tuple[str, ...]
    start_at: float
    next_at: float = 0.0
    started: bool = False
    last: dict[str, object] = field(default_factory=dict)


@dataclass
class Frame:
    """One frame queued for a socket; ``kind`` decides which fault switches apply.

    kinds: ``control`` (greeting, replies, errors, unsolicited), ``hb`` (heartbeats), ``data``
    (subscription data), ``raw`` (fault frames sent as given), ``close`` (close frame with
    ``code``), ``reset`` (abort the TCP connection).
    """

    topic: str
    payload: bytes
    kind: str
    binary: bool | None = None
    code: int = 0
    reason: str = ""


@dataclass
class Connection:
    """Everything the gateway knows about one WebSocket; lost when it closes (no replay)."""

    id: int
    greeted: bool = False
    closing: bool = False
    next_hb: float = 0.0
    outbox: deque[Frame] = field(default_factory=deque)
    received: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_RECEIVED))
    sent: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    suppressed: int = 0
    close_code: int | None = None
    seen_channels: set[str] = field(default_factory=set)
    md: dict[str, MarketDataSub] = field(default_factory=dict)
    history: dict[str, HistorySub] = field(default_factory=dict)
    ladders: dict[tuple[str, int], LadderSub] = field(default_factory=dict)
    orders: OrdersSub | None = None
    trades: TradesSub | None = None
    pnl: PeriodicSub | None = None
    summary: dict[str, PeriodicSub] = field(default_factory=dict)
    ledger: dict[str, PeriodicSub] = field(default_factory=dict)

    def drop_brokerage(self) -> None:
        """Forget every subscription that needs the brokerage session."""
        self.md.clear()
        self.history.clear()
        self.ladders.clear()
        self.orders = None
        self.trades = None
