"""The market-data hot path: one call per `smd` message unwraps it, merges it into the live state
and hands it to every consumer of MARKET_DATA.

`MarketDataSinkPy` is the reference; `MarketDataSink` is the C version from the optional
`_speedups` extension when it was built, else the same Python class. Tests feed both the same
messages and compare what every consumer received, the rows, and the counters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ibkrws import speedups
from ibkrws.protocol.market_data import unwrap_row_py
from ibkrws.protocol.market_rows import MarketRow, MarketRows, merge_py

Fanouts = dict[Any, tuple[tuple[Callable[[], int], Callable[[Any], None], int, Any], ...]]


class Sink(Protocol):
    """What both versions offer: a call per message and two counters."""

    count: int
    skipped: int

    def __call__(self, message: dict[str, Any], /) -> None: ...


class MarketDataSinkPy:
    """Call with each `smd` message: counts it, unwraps it, merges it and fans out `{conid: row}`.

    `fanouts[key]` lists every consumer buffer as (size, append, maxsize, buffer); a full buffer goes
    to `on_full(key, buffer, item)`. `unwrap` False hands out `{conid: raw message}` instead.
    """

    def __init__(self, names: dict[str, str], market: MarketRows, make_row: Callable[[], MarketRow],
                 max_shapes: int, fanouts: Fanouts, key: Any, unwrap: bool,
                 on_full: Callable[[Any, Any, Any], None]) -> None:
        self.names, self.market, self.rows = names, market, market.rows
        self.make_row, self.max_shapes = make_row, max_shapes
        self.fanouts, self.key, self.unwrap, self.on_full = fanouts, key, unwrap, on_full
        self.count = 0
        self.skipped = 0

    def __call__(self, message: dict[str, Any]) -> None:
        self.count += 1
        conid = message.get("conid")
        if conid is None:
            self.skipped += 1  # IBKR sometimes sends an empty update: nothing to deliver
            return
        named = unwrap_row_py(message, conid, self.names)
        if not merge_py(self.rows, conid, named, self.make_row, self.max_shapes):
            self.market.duplicates += 1  # a repeated first message: counted, still delivered as IBind does
        item = {conid: named if self.unwrap else message}
        for size, append, maxsize, buffer in self.fanouts.get(self.key, ()):
            if size() < maxsize:
                append(item)
            else:
                self.on_full(self.key, buffer, item)


MarketDataSink: Callable[..., Sink] = (
    MarketDataSinkPy if speedups.module is None else speedups.module.MarketDataSink)
