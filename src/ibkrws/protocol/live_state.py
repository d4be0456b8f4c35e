"""Merged live state: what users otherwise rebuild by hand from IBKR's deltas (pure).

- market data: one row per conid with every named field seen so far and the `_updated` time of
  each field; IBKR's repeated first message is recognised and not counted as an update;
- price ladder: the latest rows per ladder topic;
- orders: the merged state per order id (IBKR sends partial updates after the first full one);
- trades: one record per execution id, the latest copy merged over earlier ones (IBKR re-sends
  executions without and then with `commission`).
"""

from __future__ import annotations

import copy
from typing import Any

from ibkrws.protocol.market_rows import MarketRows

MAX_KEPT = 10_000
"""Orders and executions kept (the oldest are forgotten first), so a process running for weeks stays bounded."""


def _bounded(table: dict[Any, dict[str, Any]], key: Any, limit: int) -> dict[str, Any]:
    entry = table.get(key)
    if entry is None:
        entry = table[key] = {}
        if len(table) > limit:
            del table[next(iter(table))]
    return entry


class LiveState:
    """Merged current state of market data, ladders, orders and trades."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self.max_kept = max_kept
        self.market = MarketRows()
        self._ladders: dict[str, list[dict[str, Any]]] = {}
        self._orders: dict[Any, dict[str, Any]] = {}
        self._trades: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------- market data

    @property
    def duplicates(self) -> int:
        """IBKR's repeated first messages recognised (not counted as updates)."""
        return self.market.duplicates

    def merge_market_data(self, conid: Any, named: dict[str, Any]) -> bool:
        """Merge one unwrapped row; False when it repeats the previous message exactly."""
        return self.market.merge(conid, named)

    def market_data(self, conid: Any) -> dict[str, Any] | None:
        """A copy of the merged row of `conid` with `fields_updated` (field -> `_updated` ms) and `updates`."""
        return self.market.snapshot(conid)

    def conids(self) -> list[Any]:
        """Conids with market data seen so far."""
        return list(self.market.rows)

    # --------------------------------------------------------------- ladder

    def merge_ladder(self, message: dict[str, Any]) -> None:
        """Keep the rows of one `sbd` message as the latest ladder of its topic."""
        topic = message.get("topic")
        data = message.get("data")
        if isinstance(topic, str) and isinstance(data, list):
            self._ladders[topic[1:]] = data

    def ladder(self, channel: str) -> list[dict[str, Any]] | None:
        """Latest ladder rows of `bd+ACCT+CONID` (the channel as the server echoes it)."""
        rows = self._ladders.get(channel)
        return copy.deepcopy(rows) if rows is not None else None

    # --------------------------------------------------------------- orders

    def merge_orders(self, message: dict[str, Any]) -> None:
        """Merge the (partial) order updates of one `sor` message."""
        args = message.get("args")
        if not isinstance(args, list):
            return
        for update in args:
            if isinstance(update, dict) and "orderId" in update:
                _bounded(self._orders, update["orderId"], self.max_kept).update(update)

    def order(self, order_id: Any) -> dict[str, Any] | None:
        """A copy of the merged state of one order, or None."""
        order = self._orders.get(order_id)
        return dict(order) if order is not None else None

    def orders(self) -> dict[Any, dict[str, Any]]:
        """Copies of every order's merged state, by order id."""
        return {k: dict(v) for k, v in self._orders.items()}

    # --------------------------------------------------------------- trades

    def merge_trades(self, message: dict[str, Any]) -> None:
        """Merge the executions of one `str` message, by execution id."""
        args = message.get("args")
        if not isinstance(args, list):
            return
        for execution in args:
            if isinstance(execution, dict) and "execution_id" in execution:
                _bounded(self._trades, str(execution["execution_id"]), self.max_kept).update(execution)

    def trades(self) -> dict[str, dict[str, Any]]:
        """Executions by execution id, each the latest copy."""
        return {k: dict(v) for k, v in self._trades.items()}
