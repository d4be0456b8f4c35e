"""Typed lifecycle events: everything that changes how far consumers can trust the stream.

Every reconnect, auth loss, expiry refresh, stale subscription, gap and drop becomes one
`WsEvent` on the events channel (and one log line), so that nothing is lost silently.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ibkrws.protocol.keys import IbkrWsKey


class EventKind(enum.Enum):
    """What happened."""

    STATE = "state"  # connection state changed: detail has old, new, reason
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUBSCRIPTION_CONFIRMED = "subscription_confirmed"
    SUBSCRIPTION_FAILED = "subscription_failed"
    SUBSCRIPTION_EXPIRED = "subscription_expired"  # a stream the server ended by itself
    SUBSCRIPTION_REFRESHED = "subscription_refreshed"  # smd re-sent before IBKR's expiry
    SUBSCRIPTION_STALE = "subscription_stale"  # silent while heartbeats continue: re-subscribed once
    GAP = "gap"  # messages may have been missed between start and end for `keys`
    AUTH_LOST = "auth_lost"
    AUTH_RESTORED = "auth_restored"
    COMPETING = "competing"
    DROPPED = "dropped"  # a consumer's queue overflowed
    ORDERS_RESYNC = "orders_resync"  # REST live orders fetched after a gap: detail["orders"]
    CALLBACK_FAILED = "callback_failed"


@dataclass(frozen=True)
class WsEvent:
    """One lifecycle event; `time` is epoch seconds."""

    kind: EventKind
    time: float
    channel: str | None = None
    key: IbkrWsKey | None = None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "kind": self.kind.value,
            "time": self.time,
            "channel": self.channel,
            "key": self.key.name if self.key is not None else None,
            "reason": self.reason,
            "detail": {k: (sorted(x.name for x in v) if k == "keys" else v) for k, v in self.detail.items()},
        }


@dataclass
class Gap:
    """An interval during which messages may have been missed; closed when data flows again."""

    start: float
    reason: str
    keys: frozenset[IbkrWsKey]
    end: float | None = None
