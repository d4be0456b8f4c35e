"""Delivery shared by both front doors: from routed messages to queues, live state and events.

Runs on the engine's loop for every data message, so it does one unwrap, one state merge and
one fan-out per message, and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ibkrws.client.market_sink import MarketDataSink, Sink
from ibkrws.protocol.events import EventKind, WsEvent
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.live_state import LiveState
from ibkrws.protocol.market_data import NAMES
from ibkrws.protocol.market_rows import MAX_SHAPES, MarketRow
from ibkrws.queues.controller import QueueController

EVENTS = "EVENTS"
"""Queue key of lifecycle events (not an IbkrWsKey: those are IBKR's channels)."""

_MD = IbkrWsKey.MARKET_DATA
_ORDERS = IbkrWsKey.ORDERS
_TRADES = IbkrWsKey.TRADES
_LADDER = IbkrWsKey.PRICE_LADDER
_ARGS_ONLY = frozenset({IbkrWsKey.AUTHENTICATION_STATUS, IbkrWsKey.NOTIFICATIONS})


class Delivery:
    """Routes messages to the queue controller, keeps the live state and counts per key."""

    def __init__(self, queues: QueueController[Any], unwrap_market_data: bool,
                 unsolicited_queued: frozenset[IbkrWsKey]) -> None:
        self.queues = queues
        self.unwrap_market_data = unwrap_market_data
        self.unsolicited_queued = unsolicited_queued
        self.state = LiveState()
        self._counts: dict[IbkrWsKey, int] = dict.fromkeys(IbkrWsKey, 0)
        queues.register_queues([*IbkrWsKey, EVENTS])
        queues.on_drop = self._on_drop
        self.market_data: Sink = MarketDataSink(
            NAMES, self.state.market, MarketRow, MAX_SHAPES, queues.fanouts, _MD, unwrap_market_data, queues.put_full)
        """One `smd` message: unwrap, merge into the live state, fan out (the hot path; C when built)."""

    @property
    def skipped(self) -> int:
        """Market-data messages without a conid (IBKR's empty updates): counted, nothing to deliver."""
        return self.market_data.skipped

    @property
    def counts(self) -> dict[IbkrWsKey, int]:
        """Messages received per key (a copy)."""
        counts = dict(self._counts)
        counts[_MD] = self.market_data.count
        return counts

    def handler(self, key: IbkrWsKey) -> Callable[[dict[str, Any]], None]:
        """What the engine calls with each solicited data message of `key`."""
        if key is _MD:
            return self.market_data
        return partial(self.deliver, key)

    def deliver(self, key: IbkrWsKey, message: dict[str, Any]) -> None:
        """One solicited data message of any key."""
        if key is _MD:
            self.market_data(message)
            return
        self._counts[key] += 1
        if key is _ORDERS:
            self.state.merge_orders(message)
        elif key is _TRADES:
            self.state.merge_trades(message)
        elif key is _LADDER:
            self.state.merge_ladder(message)
        self.queues.put_to_queue(key, message)

    def deliver_unsolicited(self, key: IbkrWsKey, message: dict[str, Any]) -> None:
        """One unsolicited message: queued only for keys the user asked for (IBind queues `args` of sts/ntf)."""
        self._counts[key] += 1
        if key not in self.unsolicited_queued:
            return
        self.queues.put_to_queue(key, message.get("args", {}) if key in _ARGS_ONLY else message)

    def emit(self, event: WsEvent) -> None:
        self.queues.put_to_queue(EVENTS, event)

    def _on_drop(self, key: Any, dropped: int) -> None:
        if key != EVENTS:
            self.emit(WsEvent(EventKind.DROPPED, time.time(), key=key if isinstance(key, IbkrWsKey) else None,
                              detail={"dropped": dropped}))
