"""The engine: the connection (connection.py) plus subscriptions and gaps.

The desired-subscription table is the truth: subscriptions are sent once the gateway greets a
connection, re-sent until confirmed, restored after every reconnect and auth recovery; a gap is
opened when the wire loses them and closed (and reported) when every one is active again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ibkrws.engine.config import DEFAULT_STALE_AFTER, EngineConfig, EngineStats
from ibkrws.engine.connection import ConnectionEngine
from ibkrws.engine.offloop import call_maybe_async
from ibkrws.protocol.events import EventKind, Gap
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.payloads import SubscriptionProcessor
from ibkrws.protocol.subscriptions import Action, Subscription

__all__ = ["DEFAULT_STALE_AFTER", "Engine", "EngineConfig", "EngineStats"]

_LOGGER = logging.getLogger("ibkrws.client")


class Engine(ConnectionEngine):
    """Connection, subscriptions and health for one IBKR WebSocket client."""

    def open_gap(self, reason: str) -> None:
        """Messages may be missed from now on for every desired subscription."""
        if self.gap is not None or not len(self.table):
            return
        keys = frozenset(IbkrWsKey.from_channel(sub.channel) for sub in self.table.all())
        self.gap = Gap(start=time.time(), reason=reason, keys=keys)

    def close_gap(self) -> None:
        """Subscriptions are restored: report the gap once."""
        gap, self.gap = self.gap, None
        if gap is None:
            return
        gap.end = time.time()
        self.gaps.append(gap)
        del self.gaps[:-100]
        self.stats.gaps += 1
        _LOGGER.warning("%s: gap of %.3f s (%s) for %s", self.name, gap.end - gap.start, gap.reason,
                        ", ".join(sorted(k.name for k in gap.keys)))
        self.emit(EventKind.GAP, reason=gap.reason, start=gap.start, end=gap.end, keys=gap.keys)
        if self.config.resync_orders_after_gap and IbkrWsKey.ORDERS in gap.keys:
            self._spawn(self.upkeep.resync_orders())

    def _close_gap_if_restored(self) -> None:
        """Close an open gap once every desired subscription is active again."""
        if self.gap is not None and all(s.active for s in self.table.all()):
            self.close_gap()

    def _track_server_id(self, channel: str, message: dict[str, Any]) -> None:
        target = channel.split("+", 2)[1] if "+" in channel else None
        conid: Any = target
        if target is not None and target.isdigit():
            conid = int(target)
        self.server_ids[IbkrWsKey.MARKET_HISTORY][str(message["serverId"])] = conid

    def _on_unsubscribed(self, key: IbkrWsKey, server_id: str | None) -> None:
        if key is IbkrWsKey.MARKET_HISTORY and server_id is not None:
            conid = self.server_ids[key].pop(server_id, None)
            _LOGGER.info("%s: Received unsubscribing confirmation for server_id=%r/conid=%r", self.name,
                         server_id, conid)
            self._settle(self._unsub_waiters, f"mh+{server_id}", True)
            if conid is not None:
                self._settle(self._unsub_waiters, f"mh+{conid}", True)
            return
        for channel in list(self._unsub_waiters):
            if channel[:2] == key.channel:
                self._settle(self._unsub_waiters, channel, True)

    @staticmethod
    def _settle(waiters: dict[str, list[asyncio.Future[bool]]], channel: str, ok: bool) -> None:
        for fut in waiters.pop(channel, ()):
            if not fut.done():
                fut.set_result(ok)

    # --------------------------------------------------------- subscriptions

    async def _before_subscribe(self, sub: Subscription) -> None:
        """REST steps IBKR wants before a channel: accounts and an order-cache reset before `sor`."""
        if sub.channel[:2] != "or" or self.rest is None:
            return
        for step, kwargs in (("receive_brokerage_accounts", {}), ("live_orders", {"force": True}),
                             ("live_orders", {})):
            try:
                await asyncio.wait_for(call_maybe_async(getattr(self.rest, step), **kwargs),
                                       self.config.timeout * 2)
            except Exception as exc:  # noqa: BLE001 - the subscription is still worth sending
                _LOGGER.warning("%s: %s before subscribing orders failed: %s", self.name, step, exc)

    def _current(self, sub: Subscription, epoch: int, attempts: int) -> bool:
        return (epoch == self._epoch and self.table.get(sub.channel) is sub
                and sub.attempts == attempts and not sub.in_flight)

    async def _send_subscription(self, sub: Subscription, epoch: int, attempts: int = 0) -> None:
        """Send attempt number `attempts + 1` of `sub`, unless another path already did."""
        if not self._current(sub, epoch, attempts):
            return
        sub.in_flight = True
        try:
            if attempts == 0:
                await self._before_subscribe(sub)
            else:
                _LOGGER.info("%s: Subscribing reattempt (%d/%d): %s", self.name, attempts + 1,
                             self.table.retries, sub.channel)
            if epoch != self._epoch or self.table.get(sub.channel) is not sub:
                return
            if not await self._send_text(sub.payload):
                return
        finally:
            sub.in_flight = False
        assert self._loop is not None
        self.table.mark_sent(sub, time.monotonic())
        if sub.active:
            self._on_active(sub)
        else:
            self._loop.call_later(self.table.timeout, self._on_subscription_timer, sub, epoch)

    def _on_active(self, sub: Subscription) -> None:
        self._settle(self._waiters, sub.channel, True)
        self.emit(EventKind.SUBSCRIPTION_CONFIRMED, channel=sub.channel, key=IbkrWsKey.from_channel(sub.channel),
                  attempts=sub.attempts)
        self.upkeep.on_active(sub, self._epoch)
        self._close_gap_if_restored()

    def _on_subscription_timer(self, sub: Subscription, epoch: int) -> None:
        if epoch != self._epoch or self.table.get(sub.channel) is not sub or self._loop is None:
            return
        action = self.table.on_timer(sub.channel, time.monotonic())
        if action is Action.RESEND:
            self._spawn(self._send_subscription(sub, epoch, sub.attempts))
        elif action is Action.FAIL:
            _LOGGER.warning("%s: Subscription %r not confirmed after %d attempts", self.name, sub.channel,
                            sub.attempts)
            self._settle(self._waiters, sub.channel, False)
            self.emit(EventKind.SUBSCRIPTION_FAILED, channel=sub.channel, key=IbkrWsKey.from_channel(sub.channel),
                      attempts=sub.attempts)

    async def _reconcile(self, epoch: int) -> None:
        """Send every desired subscription on a newly ready connection."""
        subs = self.table.all()
        if subs:
            _LOGGER.info("%s: Recreating %d subscription(s)", self.name, len(subs))
        for sub in subs:
            await self._send_subscription(sub, epoch)
        self._close_gap_if_restored()

    async def subscribe(self, channel: str, data: dict[str, Any] | None, needs_confirmation: bool,
                        processor: SubscriptionProcessor) -> bool:
        """Desire `channel`; resolves True once active, False after the retries or at shutdown."""
        if self._stopping:
            return False
        sub = self.table.desire(channel, data, needs_confirmation, processor)
        assert self._loop is not None
        future: asyncio.Future[bool] = self._loop.create_future()
        self._waiters[channel].append(future)
        if self.ready:
            self._spawn(self._send_subscription(sub, self._epoch))
        budget = self.config.timeout + self.table.retries * self.table.timeout + self.config.timeout * 2
        try:
            ok = await asyncio.wait_for(asyncio.shield(future), budget)
        except TimeoutError:
            ok = False
        if not ok and not sub.ever_active and self.table.get(channel) is sub:
            self.table.remove(channel)
        return ok

    def _resolve_unsubscribe_channel(self, channel: str) -> tuple[str, str]:
        """(channel in the table, channel on the wire); `mh` is unsubscribed by serverId."""
        if channel[:3] != "mh+":
            return channel, channel
        target = channel[3:]
        ids = self.server_ids[IbkrWsKey.MARKET_HISTORY]
        if target in ids:
            return f"mh+{ids[target]}", channel
        for server_id, conid in ids.items():
            if str(conid) == target:
                return channel, f"mh+{server_id}"
        return channel, channel

    async def unsubscribe(self, channel: str, data: dict[str, Any] | None, needs_confirmation: bool,
                          processor: SubscriptionProcessor) -> bool:
        """Forget `channel` and tell the server; waits for the confirmation when one is expected."""
        table_channel, wire_channel = self._resolve_unsubscribe_channel(channel)
        self.table.remove(table_channel)
        self._close_gap_if_restored()
        if not self.connected:
            return True
        payload = processor.make_unsubscribe_payload(wire_channel, data)
        if not needs_confirmation:
            return await self._send_text(payload)
        assert self._loop is not None
        for attempt in range(1, self.table.retries + 1):
            future: asyncio.Future[bool] = self._loop.create_future()
            self._unsub_waiters[wire_channel].append(future)
            if not await self._send_text(payload):
                return False
            try:
                if await asyncio.wait_for(asyncio.shield(future), self.table.timeout):
                    return True
                return False
            except TimeoutError:
                _LOGGER.info("%s: Unsubscribing attempt %d/%d for %r not confirmed", self.name, attempt,
                             self.table.retries, channel)
        return False

    async def wait_ready(self, timeout: float) -> bool:
        assert self._ready_event is not None
        if self.ready:
            return True
        try:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        except TimeoutError:
            return False
        return self.ready

    async def tic(self) -> dict[str, Any] | None:
        """Send `tic` and wait for a reply with a new `lastAccessed`."""
        assert self._loop is not None
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._tic_waiters.append(future)
        if not await self._send_text("tic"):
            future.cancel()
            return None
        try:
            return await asyncio.wait_for(future, self.config.timeout)
        except (TimeoutError, asyncio.CancelledError):
            return None

    def subscription_status(self) -> dict[str, bool]:
        """Channel -> active, for every desired subscription."""
        return {sub.channel: sub.active for sub in self.table.all()}

