"""The desired-subscription table and its state machine (pure: time is an argument).

The table is the truth: the wire is reconciled to it after every (re)connect. Each entry moves
PENDING -> ACTIVE when its confirmation arrives (or at once when it needs none), is re-sent every
`timeout` seconds up to `retries` attempts, and goes back to PENDING when the connection is lost.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ibkrws.protocol.payloads import SubscriptionProcessor


class SubState(enum.Enum):
    """Where a desired subscription stands on the current connection."""

    PENDING = "pending"  # sent (or to be sent) and waiting for its confirmation
    ACTIVE = "active"  # confirmed, or sent when no confirmation is expected
    FAILED = "failed"  # every attempt on this connection went unanswered


class Action(enum.Enum):
    """What the engine must do after a subscription timer fires."""

    NONE = "none"
    RESEND = "resend"
    FAIL = "fail"


@dataclass(slots=True)
class Subscription:
    """One desired subscription: what to send, and how it stands."""

    channel: str
    data: dict[str, Any] | None
    needs_confirmation: bool
    processor: SubscriptionProcessor
    state: SubState = SubState.PENDING
    attempts: int = 0
    sent_at: float | None = None
    confirmed_at: float | None = None
    last_message_at: float | None = None
    ever_active: bool = False
    in_flight: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def payload(self) -> str:
        return self.processor.make_subscribe_payload(self.channel, self.data)

    @property
    def active(self) -> bool:
        return self.state is SubState.ACTIVE


class SubscriptionTable:
    """Desired subscriptions keyed by channel (`md+265598`, `or`, `sd+DU123`, ...)."""

    def __init__(self, retries: int, timeout: float) -> None:
        self.retries = max(1, int(retries))
        self.timeout = float(timeout)
        self._subs: dict[str, Subscription] = {}
        self.fast: dict[str, tuple[Subscription, Callable[[dict[str, Any]], None]]] = {}
        """Server topic -> (active subscription, its delivery handler): the receive path's one lookup.

        Holds only ACTIVE subscriptions; emptied whenever the table changes in any other way."""

    def __contains__(self, channel: str) -> bool:
        return channel in self._subs

    def __len__(self) -> int:
        return len(self._subs)

    def get(self, channel: str) -> Subscription | None:
        return self._subs.get(channel)

    def all(self) -> list[Subscription]:
        return list(self._subs.values())

    def desire(
        self,
        channel: str,
        data: dict[str, Any] | None,
        needs_confirmation: bool,
        processor: SubscriptionProcessor,
    ) -> Subscription:
        """Add (or replace the arguments of) a desired subscription; it starts PENDING."""
        self.fast.clear()
        sub = Subscription(channel, data, needs_confirmation, processor)
        old = self._subs.get(channel)
        if old is not None:
            sub.ever_active = old.ever_active
        self._subs[channel] = sub
        return sub

    def remove(self, channel: str) -> Subscription | None:
        self.fast.clear()
        return self._subs.pop(channel, None)

    def mark_sent(self, sub: Subscription, now: float) -> None:
        """Record one attempt; a subscription without confirmation is active once sent."""
        sub.attempts += 1
        sub.sent_at = now
        if not sub.needs_confirmation:
            self._activate(sub, now)
        elif sub.state is not SubState.ACTIVE:
            sub.state = SubState.PENDING

    def on_timer(self, channel: str, now: float) -> Action:
        """A confirmation timer fired: re-send, give up, or nothing (already confirmed)."""
        sub = self._subs.get(channel)
        if sub is None or sub.state is not SubState.PENDING:
            return Action.NONE
        if sub.attempts < self.retries:
            return Action.RESEND
        self.fast.clear()
        sub.state = SubState.FAILED
        return Action.FAIL

    def match(self, channel: str) -> Subscription | None:
        """The subscription a data message of `channel` belongs to.

        Exact match first; then a subscription with more target segments than the server echoes
        (`bd+ACCT+CONID+EXCH` receives `sbd+ACCT+CONID`).
        """
        sub = self._subs.get(channel)
        if sub is not None:
            return sub
        prefix = channel + "+"
        for candidate, sub in self._subs.items():
            if candidate.startswith(prefix):
                return sub
        return None

    def on_data(self, channel: str, now: float) -> tuple[Subscription | None, bool]:
        """A data message arrived: returns (subscription, became_active)."""
        sub = self.match(channel)
        if sub is None:
            return None, False
        sub.last_message_at = now
        if sub.state is SubState.ACTIVE:
            return sub, False
        self._activate(sub, now)
        return sub, True

    def _activate(self, sub: Subscription, now: float) -> None:
        sub.state = SubState.ACTIVE
        sub.confirmed_at = now
        sub.ever_active = True

    def connection_lost(self) -> list[Subscription]:
        """Every subscription is gone from the server on a new socket: all back to PENDING."""
        self.fast.clear()
        for sub in self._subs.values():
            sub.state = SubState.PENDING
            sub.attempts = 0
            sub.sent_at = None
        return list(self._subs.values())
