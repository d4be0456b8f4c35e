"""`HealthReport`: a plain data object an operator or a probe can read without parsing logs."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ibkrws.client.delivery import Delivery
from ibkrws.engine.engine import Engine


@dataclass
class SubscriptionHealth:
    """One desired subscription: whether it is active, its attempts and how long it has been silent."""
    channel: str
    active: bool
    state: str
    attempts: int
    last_message_age: float | None


@dataclass
class HealthReport:
    """The client's health at one moment (ages in seconds)."""

    state: str
    running: bool
    connected: bool
    authenticated: bool | None
    competing: bool | None
    last_heartbeat_age: float | None
    last_pong_age: float | None
    reconnects: int
    gaps: int
    auth_losses: int
    frames: int
    invalid_frames: int
    repaired_utf8: int
    empty_market_data: int = 0
    queue_depths: dict[str, list[int]] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    messages_per_second: dict[str, float] = field(default_factory=dict)
    subscriptions: list[SubscriptionHealth] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """Running, ready, authenticated and every subscription active."""
        return (self.running and self.state == "ready" and self.authenticated is not False
                and all(s.active for s in self.subscriptions))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (with `healthy`), for probes."""
        result = asdict(self)
        result["healthy"] = self.healthy
        return result


class RateMeter:
    """Messages per second per key between two reports."""

    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery
        self._last_time = time.monotonic()
        self._last_counts = dict(delivery.counts)

    def rates(self) -> dict[str, float]:
        now = time.monotonic()
        counts = dict(self._delivery.counts)
        elapsed = max(now - self._last_time, 1e-6)
        rates = {k.name: round((counts[k] - self._last_counts.get(k, 0)) / elapsed, 2)
                 for k in counts if counts[k] != self._last_counts.get(k, 0)}
        self._last_time, self._last_counts = now, counts
        return rates


def build_report(engine: Engine | None, delivery: Delivery, meter: RateMeter, running: bool) -> HealthReport:
    """Collect a report; reads counters only, so it is safe from any thread."""
    def name(key: Any) -> str:
        return str(getattr(key, "name", key))

    depths = {name(k): v for k, v in delivery.queues.depths().items() if v}
    drops = {name(k): v for k, v in delivery.queues.drops().items() if v}
    if engine is None:
        return HealthReport(state="stopped", running=False, connected=False, authenticated=None, competing=None,
                            last_heartbeat_age=None, last_pong_age=None, reconnects=0, gaps=0, auth_losses=0,
                            frames=0, invalid_frames=0, repaired_utf8=0, queue_depths=depths, drops=drops)
    now = engine.monotonic()
    live = engine.liveness
    subs = [
        SubscriptionHealth(
            channel=s.channel, active=s.active, state=s.state.value, attempts=s.attempts,
            last_message_age=None if s.last_message_at is None else round(now - s.last_message_at, 3),
        )
        for s in engine.table.all()
    ]
    stats = engine.stats
    return HealthReport(
        state=engine.state.value if running else "stopped",
        running=running,
        connected=engine.connected,
        authenticated=engine.authenticated,
        competing=engine.competing,
        last_heartbeat_age=None if live.last_heartbeat is None else round(now - live.last_heartbeat, 3),
        last_pong_age=None if live.last_pong is None else round(now - live.last_pong, 3),
        reconnects=stats.reconnects,
        gaps=stats.gaps,
        auth_losses=stats.auth_losses,
        frames=stats.frames,
        invalid_frames=stats.invalid_json,
        repaired_utf8=stats.repaired_utf8,
        empty_market_data=delivery.skipped,
        queue_depths=depths,
        drops=drops,
        messages_per_second=meter.rates(),
        subscriptions=subs,
    )
