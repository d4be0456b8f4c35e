"""What both front doors let you read without a round trip to the engine: live state, health,
subscriptions and counters. Shared so the sync and async clients cannot drift apart."""

from __future__ import annotations

from typing import Any

from ibkrws.client.delivery import Delivery
from ibkrws.client.health import HealthReport, RateMeter, build_report
from ibkrws.engine.engine import Engine
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.state import ConnectionState


class ClientViews:
    """Read-only views over the engine and delivery of a front door."""

    _engine: Engine | None
    _delivery: Delivery
    _rate_meter: RateMeter

    @property
    def running(self) -> bool:  # pragma: no cover - each front door defines it
        raise NotImplementedError

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        engine = self._engine
        return engine.state if engine is not None and self.running else ConnectionState.STOPPED

    @property
    def stats(self) -> Any:
        """Receive-path counters (frames, invalid JSON, repaired UTF-8, reconnects, gaps, ...)."""
        engine = self._engine
        return engine.stats if engine is not None else None

    def subscriptions(self) -> dict[str, bool]:
        """Every desired subscription and whether it is active on the current connection."""
        engine = self._engine
        return engine.subscription_status() if engine is not None else {}

    def server_ids(self, key: IbkrWsKey) -> dict[str, Any]:
        """Server ids of `key`'s streams (market history: serverId -> conid)."""
        engine = self._engine
        return dict(engine.server_ids[key]) if engine is not None else {}

    def market_data(self, conid: int | str) -> dict[str, Any] | None:
        """Merged current market data of `conid`: named fields, `fields_updated`, `updates`; None if unseen."""
        return self._delivery.state.market_data(conid)

    def price_ladder(self, channel: str) -> list[dict[str, Any]] | None:
        """Latest ladder rows of `bd+ACCT+CONID`."""
        return self._delivery.state.ladder(channel)

    def order(self, order_id: Any) -> dict[str, Any] | None:
        """Latest merged state of one order."""
        return self._delivery.state.order(order_id)

    def orders(self) -> dict[Any, dict[str, Any]]:
        """Latest merged state of every order seen, by order id."""
        return self._delivery.state.orders()

    def trades(self) -> dict[str, dict[str, Any]]:
        """Executions seen, by execution id, latest copy of each."""
        return self._delivery.state.trades()

    def health(self) -> HealthReport:
        """A plain report of state, heartbeats, subscriptions, queues, drops and rates."""
        return build_report(self._engine, self._delivery, self._rate_meter, self.running)
