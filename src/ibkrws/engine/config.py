"""What the engine is told (EngineConfig) and what it counts (EngineStats)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ibkrws.protocol.events import WsEvent
from ibkrws.protocol.keys import IbkrWsKey

CLOSE_NORMAL = 1000
CLOSE_UNEXPECTED = 1011

Handler = Callable[[dict[str, Any]], None]
HandlerFor = Callable[[IbkrWsKey], Handler]
"""Given a key, what to call with each solicited data message of it (looked up once per topic)."""
DeliverUnsolicited = Callable[[IbkrWsKey, dict[str, Any]], None]
EmitEvent = Callable[[WsEvent], None]

DEFAULT_STALE_AFTER: dict[str, float | None] = {
    "md": 120.0, "bd": 120.0, "ld": 60.0, "mh": None, "or": None, "tr": None, "pl": None, "sd": None,
}
"""Seconds of silence (while heartbeats continue) after which a subscription is re-sent once.

None: never (orders, trades and P&L can be quiet for hours; history answers once)."""


@dataclass
class EngineConfig:
    """Everything the engine needs to know, validated by the front door."""

    ws_url: str
    ssl: Any
    use_oauth: bool = False
    access_token: str | None = field(default=None, repr=False)  # a secret: never in reprs or logs
    ping_interval: float = 45
    max_ping_interval: float = 300
    timeout: float = 5
    restart_on_close: bool = True
    restart_on_critical: bool = True
    max_connection_attempts: int = 10
    recreate_subscriptions_on_reconnect: bool = True
    subscription_retries: int = 5
    subscription_timeout: float = 2
    log_raw_messages: bool = False
    account_id: str | None = None
    name: str = "IbkrWsClient"
    backoff_initial: float = 0.1
    backoff_max: float = 30.0
    healthy_after: float = 60.0
    tickler_interval: float | None = 60.0
    tic_interval: float | None = 55.0
    md_refresh_interval: float | None = 540.0
    stale_after: dict[str, float | None] = field(default_factory=lambda: dict(DEFAULT_STALE_AFTER))
    auth_poll_initial: float = 1.0
    auth_poll_max: float = 30.0
    init_brokerage_session_on_auth_loss: bool = False
    resync_orders_after_gap: bool = False
    record_to: str | None = None


@dataclass(slots=True)
class EngineStats:
    """Counters of what the receive path saw; nothing is lost without being counted here."""

    frames: int = 0
    invalid_json: int = 0
    undeliverable: int = 0
    """Decoded messages whose delivery raised (e.g. an unhashable conid): counted, logged, skipped."""
    repaired_utf8: int = 0
    unknown: int = 0
    errors: int = 0
    unrouted: int = 0
    connects: int = 0
    disconnects: int = 0
    stale_resets: int = 0
    reconnects: int = 0
    gaps: int = 0
    auth_losses: int = 0
    md_refreshes: int = 0
    stale_resubscribes: int = 0
    connections: list[tuple[int, bool]] = field(default_factory=list)
    """Per closed connection: (frames received on it, whether the client closed it)."""
    frames_at_connect: int = 0
