"""Keeping a long-lived connection useful: the timers that are not about a single frame.

- a REST tickler (`tickler_interval`) and a WebSocket `tic` (`tic_interval`) keep the session alive;
- `smd` streams are re-sent before IBKR's 10-15 minute expiry (`md_refresh_interval`);
- a subscription silent for longer than its channel's `stale_after` while heartbeats continue is
  re-sent once and reported;
- after an auth loss, REST auth status is polled with backoff (optionally re-initialising the
  brokerage session) and the connection is re-established once authentication is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from typing import TYPE_CHECKING, Any

from ibkrws.engine.offloop import call_maybe_async
from ibkrws.protocol.events import EventKind
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.liveness import Backoff
from ibkrws.protocol.subscriptions import Subscription

if TYPE_CHECKING:
    from ibkrws.engine.connection import ConnectionEngine

_LOGGER = logging.getLogger("ibkrws.client")


class Upkeep:
    """The engine's long-period timers."""

    def __init__(self, engine: ConnectionEngine) -> None:
        self.engine = engine
        self.auth_recovering = False

    def start(self) -> None:
        engine, config = self.engine, self.engine.config
        if config.tickler_interval:
            engine._spawn(self._every(config.tickler_interval, self._tickle))
        if config.tic_interval:
            engine._spawn(self._every(config.tic_interval, self._tic))
        thresholds = [t for t in config.stale_after.values() if t]
        if thresholds:
            engine._spawn(self._every(max(0.05, min(thresholds) / 4), self._sweep_stale))

    async def _every(self, period: float, job: Any) -> None:
        while not self.engine._stopping:
            await asyncio.sleep(period)
            try:
                await job()
            except Exception:  # noqa: BLE001 - a failing timer job must not end the timer
                _LOGGER.exception("%s: periodic %s failed", self.engine.name, getattr(job, "__name__", job))

    async def _rest(self, method: str, **kwargs: Any) -> Any:
        engine = self.engine
        result = await asyncio.wait_for(call_maybe_async(getattr(engine.rest, method), **kwargs),
                                        engine.config.timeout * 2)
        return getattr(result, "data", result)

    async def _tickle(self) -> None:
        if self.engine.rest is None:
            return
        try:
            await self._rest("tickle")
        except Exception as exc:  # noqa: BLE001 - logged; the next tickle tries again
            _LOGGER.warning("%s: tickle failed: %s", self.engine.name, exc)

    async def _tic(self) -> None:
        if self.engine.ready:
            await self.engine._send_text("tic")

    # ------------------------------------------------------------ smd expiry

    def on_active(self, sub: Subscription, epoch: int) -> None:
        interval = self.engine.config.md_refresh_interval
        if interval and sub.channel.startswith("md+") and self.engine._loop is not None:
            self.engine._loop.call_later(interval, self._refresh, sub, epoch)

    def _refresh(self, sub: Subscription, epoch: int) -> None:
        engine = self.engine
        if epoch != engine._epoch or engine.table.get(sub.channel) is not sub or not sub.active:
            return
        engine.stats.md_refreshes += 1
        _LOGGER.info("%s: refreshing %s before IBKR's market-data expiry", engine.name, sub.channel)
        engine._spawn(engine._send_text(sub.payload))
        engine.emit(EventKind.SUBSCRIPTION_REFRESHED, channel=sub.channel, key=IbkrWsKey.MARKET_DATA)
        self.on_active(sub, epoch)

    # ------------------------------------------------------------- staleness

    async def _sweep_stale(self) -> None:
        engine = self.engine
        if not engine.ready:
            return
        now = engine.monotonic()
        heartbeat_age = engine.liveness.heartbeat_age(now)
        if heartbeat_age is None or heartbeat_age > engine.config.max_ping_interval:
            return  # the connection itself is unhealthy: the watchdog handles that
        for sub in engine.table.all():
            threshold = engine.config.stale_after.get(sub.channel[:2])
            if not threshold or not sub.active:
                continue
            last = sub.last_message_at or sub.confirmed_at or now
            stale_since = sub.extra.get("stale_since")
            if stale_since is not None:
                if last > stale_since:
                    sub.extra.pop("stale_since", None)
                continue
            if now - last > threshold:
                sub.extra["stale_since"] = now
                engine.stats.stale_resubscribes += 1
                _LOGGER.warning("%s: %s silent for %.1f s while heartbeats continue: re-subscribing once",
                                engine.name, sub.channel, now - last)
                engine.emit(EventKind.SUBSCRIPTION_STALE, channel=sub.channel,
                            key=IbkrWsKey.from_channel(sub.channel), silent_for=now - last)
                await engine._send_text(sub.payload)

    # ----------------------------------------------------------- auth loss

    def recover_auth(self) -> None:
        """Poll REST until the brokerage session is back, then reconnect (once at a time)."""
        self.auth_recovering = True
        self.engine._spawn(self._recover_auth())

    async def _recover_auth(self) -> None:
        engine, config = self.engine, self.engine.config
        backoff = Backoff(config.auth_poll_initial, config.auth_poll_max, healthy_after=math.inf)
        try:
            while not engine._stopping:
                if config.init_brokerage_session_on_auth_loss and engine.rest is not None:
                    try:
                        await self._rest("initialize_brokerage_session", publish=True, compete=True)
                    except Exception as exc:  # noqa: BLE001
                        _LOGGER.warning("%s: initialize_brokerage_session failed: %s", engine.name, exc)
                if engine.rest is not None:
                    try:
                        status = await self._rest("authentication_status")
                        if isinstance(status, dict) and status.get("authenticated") and not status.get("competing"):
                            break
                    except Exception as exc:  # noqa: BLE001
                        _LOGGER.warning("%s: authentication status check failed: %s", engine.name, exc)
                if await engine._sleep_or_stop(backoff.next_delay(engine.monotonic(), random.random())):
                    return
            else:
                return
        finally:
            self.auth_recovering = False
        _LOGGER.info("%s: brokerage session authenticated again: reconnecting to restore subscriptions", engine.name)
        engine.emit(EventKind.AUTH_RESTORED)
        engine.authenticated = None
        engine.request_reset(restart=True, reason="brokerage session restored")

    async def resync_orders(self) -> None:
        """Fetch today's orders over REST after a gap (the force call resets IBKR's order cache)."""
        engine = self.engine
        if engine.rest is None:
            return
        try:
            await self._rest("live_orders", force=True)
            data = await self._rest("live_orders")
        except Exception as exc:  # noqa: BLE001
            _LOGGER.warning("%s: order resync after the gap failed: %s", engine.name, exc)
            return
        orders = data.get("orders", []) if isinstance(data, dict) else []
        engine.emit(EventKind.ORDERS_RESYNC, key=IbkrWsKey.ORDERS, orders=orders)
