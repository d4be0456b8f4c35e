"""`AsyncIbkrWsClient`: the same engine on the caller's running loop, with `async for` streams.

It never starts, nests or blocks a loop: `start()` creates the engine task on the running loop
(Jupyter, FastAPI and plain `asyncio.run` alike) and every call is awaited directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ibkrws.client.callbacks import TaskCallbacks
from ibkrws.client.delivery import EVENTS, Delivery
from ibkrws.client.health import RateMeter
from ibkrws.client.settings import settings_from, subscription_arguments
from ibkrws.client.views import ClientViews
from ibkrws.engine.engine import Engine
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.payloads import IbkrSubscriptionProcessor, SubscriptionProcessor
from ibkrws.queues.async_stream import AsyncBuffer, AsyncStream
from ibkrws.queues.controller import DEFAULT_MAX_QUEUE_SIZE, QueueController
from ibkrws.rest.client import AsyncIbkrClient

_LOGGER = logging.getLogger("ibkrws.client")


class AsyncIbkrWsClient(ClientViews):
    """Asyncio front door: `async with AsyncIbkrWsClient(...) as client: async for m in client.stream(key)`.

    Takes the same parameters as `IbkrWsClient` (except `start` and `queue_controller_class`);
    `ibkr_client` defaults to an `AsyncIbkrClient`, and a synchronous one is called off the loop.
    """

    def __init__(
        self,
        account_id: str | None = None,
        url: str | None = None,
        host: str = "127.0.0.1",
        port: str | int = "5000",
        base_route: str = "/v1/api/ws",
        ibkr_client: Any = None,
        subscription_processor_class: type[SubscriptionProcessor] = IbkrSubscriptionProcessor,
        log_raw_messages: bool | None = None,
        unsolicited_channels_to_be_queued: Iterable[IbkrWsKey] | None = None,
        unwrap_market_data: bool = True,
        use_oauth: bool | None = None,
        access_token: str | None = None,
        ping_interval: float | None = None,
        max_ping_interval: float | None = None,
        timeout: float | None = None,
        restart_on_close: bool = True,
        restart_on_critical: bool = True,
        max_connection_attempts: int = 10,
        cacert: str | bool | None = None,
        recreate_subscriptions_on_reconnect: bool = True,
        subscription_retries: int | None = None,
        subscription_timeout: float | None = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        tickler_interval: float | None = None,
        md_refresh_interval: float | None = 540.0,
        stale_after: dict[str, float | None] | None = None,
        init_brokerage_session_on_auth_loss: bool = False,
        resync_orders_after_gap: bool = False,
        reconnect_backoff_max: float = 30.0,
        record_to: str | None = None,
    ) -> None:
        self._settings = settings_from(locals())
        s = self._settings
        self._queues: QueueController[Any] = QueueController(max_queue_size=s.max_queue_size)
        self._delivery = Delivery(self._queues, s.unwrap_market_data, s.unsolicited_queued)
        self._rate_meter = RateMeter(self._delivery)
        self._owns_rest = ibkr_client is None
        self._ibkr_client = ibkr_client if ibkr_client is not None else AsyncIbkrClient(
            account_id=s.account_id, url=s.rest_url, cacert=s.cacert, timeout=max(s.timeout, 5.0))
        self._engine: Engine | None = None
        self._task: asyncio.Task[None] | None = None
        self._streams: list[AsyncStream] = []
        self._callbacks = TaskCallbacks(str(self), self._delivery.emit)

    def __str__(self) -> str:
        return type(self).__qualname__

    async def __aenter__(self) -> AsyncIbkrWsClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> bool:
        """Start the engine on the running loop; True when connected within `timeout` seconds."""
        if self.running:
            return self.connected
        _LOGGER.info("%s: Starting", self)
        loop = asyncio.get_running_loop()
        delivery = self._delivery
        self._engine = Engine(self._settings.engine_config(str(self)), self._ibkr_client, delivery.handler,
                              delivery.deliver_unsolicited, delivery.emit)
        first: asyncio.Future[bool] = loop.create_future()
        self._task = loop.create_task(self._engine.run(first), name=f"{self}-engine")
        try:
            return await asyncio.wait_for(asyncio.shield(first), self._settings.timeout)
        except TimeoutError:
            return False

    async def shutdown(self) -> None:
        """Close the connection and stop the engine within `timeout` seconds; ends every stream."""
        task, engine = self._task, self._engine
        if task is None or engine is None:
            return
        _LOGGER.info("%s: Shutting down", self)
        engine.request_stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._settings.timeout)
        except TimeoutError:
            task.cancel()
            _LOGGER.warning("%s: engine did not stop within %g s; cancelled", self, self._settings.timeout)
        except Exception:  # noqa: BLE001 - the engine logged it
            pass
        self._task = None
        await self._callbacks.stop()
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        if self._owns_rest and isinstance(self._ibkr_client, AsyncIbkrClient):
            await self._ibkr_client.aclose()
        _LOGGER.info("%s: Gracefully stopped", self)

    @property
    def running(self) -> bool:
        """Whether the engine task is running (started and not shut down)."""
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        """Whether the WebSocket is open."""
        return self.running and self._engine is not None and self._engine.connected

    def ready(self) -> bool:
        """Whether the client is connected and greeted by the gateway (subscriptions accepted)."""
        return self.running and self._engine is not None and self._engine.ready

    def hard_reset(self, restart: bool = False) -> None:
        """Close the connection now; reconnect when `restart` (or `restart_on_close`)."""
        if self._engine is not None and self.running:
            self._engine.request_reset(restart, "hard reset")

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait (bounded by `timeout`, default the client's) until ready; False if not."""
        if self._engine is None or not self.running:
            return False
        return await self._engine.wait_ready(self._settings.timeout if timeout is None else timeout)

    # ---------------------------------------------------------- subscriptions

    async def subscribe(self, channel: str, data: dict | None = None, needs_confirmation: bool | None = None,
                        subscription_processor: SubscriptionProcessor | None = None) -> bool:
        """Subscribe `channel`; True once active (see `IbkrWsClient.subscribe`)."""
        data, needs_confirmation, processor = subscription_arguments(
            self._settings, channel, data, needs_confirmation, subscription_processor, subscribing=True)
        if not self.running or self._engine is None:
            _LOGGER.warning("%s: subscribe(%r) called while not running: call start() first", self, channel)
            return False
        return await self._engine.subscribe(channel, data, needs_confirmation, processor)

    async def unsubscribe(self, channel: str, data: dict | None = None, needs_confirmation: bool | None = None,
                          subscription_processor: SubscriptionProcessor | None = None) -> bool:
        """Unsubscribe `channel` (see `IbkrWsClient.unsubscribe`)."""
        data, needs_confirmation, processor = subscription_arguments(
            self._settings, channel, data, needs_confirmation, subscription_processor, subscribing=False)
        if not self.running or self._engine is None:
            return False
        return await self._engine.unsubscribe(channel, data, needs_confirmation, processor)

    async def send(self, payload: str) -> bool:
        """Send a raw text frame; False when not connected."""
        return await self._engine.send(payload) if self._engine is not None and self.running else False

    async def tic(self) -> dict[str, Any] | None:
        """Send `tic` and return the gateway's reply (None when not connected or no reply in time)."""
        return await self._engine.tic() if self._engine is not None and self.running else None

    # --------------------------------------------------------------- streams

    def stream(self, key: IbkrWsKey | str, max_size: int | None = None) -> AsyncStream:
        """An async iterator of every message of `key` (or `"EVENTS"`) from now on, bounded (drops counted)."""
        if not (isinstance(key, IbkrWsKey) or key == EVENTS):
            raise ValueError(f"key must be an IbkrWsKey member or 'EVENTS', got {key!r}")
        size = self._settings.max_queue_size if max_size is None else max_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"max_size must be a positive integer, got {max_size!r}")
        buffer = AsyncBuffer(size)
        self._queues.attach(key, buffer)
        stream = AsyncStream(buffer, key, lambda: self._queues.detach(key, buffer))
        self._streams.append(stream)
        return stream

    def events(self) -> AsyncStream:
        """An async iterator of lifecycle events (`WsEvent`)."""
        return self.stream(EVENTS)

    def on(self, key: IbkrWsKey | str, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `callback(message)` (sync or async) for every message of `key`, isolated from delivery."""
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        return self._callbacks.add(self.stream(key), callback)
