"""`IbkrWsClient`: the seed's IBKR WebSocket client, on the shared engine.

Construction validates every argument (ValueError naming it and what is accepted) and reads
`IBIND_*` environment variables at that moment. Messages are delivered by `IbkrWsKey` to bounded,
fan-out queues; a default accessor per key exists from construction, so messages that arrive
between `subscribe` and the first `get` are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from ibkrws.client.callbacks import ThreadCallbacks
from ibkrws.client.delivery import EVENTS, Delivery
from ibkrws.client.health import RateMeter
from ibkrws.client.settings import Settings, settings_from, subscription_arguments
from ibkrws.client.views import ClientViews
from ibkrws.client.ws_client import WsClient
from ibkrws.engine.engine import Engine
from ibkrws.protocol.events import WsEvent
from ibkrws.protocol.keys import SOLICITED_KEYS, IbkrWsKey
from ibkrws.protocol.payloads import IbkrSubscriptionProcessor, SubscriptionProcessor
from ibkrws.queues.controller import DEFAULT_MAX_QUEUE_SIZE, QueueAccessor, QueueController
from ibkrws.rest.client import IbkrClient

_LOGGER = logging.getLogger("ibkrws.client")


class IbkrWsClient(WsClient, ClientViews):
    """Streams IBKR Client Portal WebSocket data into queues, on a worker thread.

    Parameters (seed and IBind names; `None` means: from the `IBIND_*` variable, else the default):
        account_id: the account (IBIND_ACCOUNT_ID).
        url: WebSocket URL (IBIND_WS_URL; else `wss://{host}:{port}{base_route}`; with OAuth
            IBIND_OAUTH1A_WS_URL or `wss://api.ibkr.com/v1/api/ws`).
        ibkr_client: the REST client used to tickle before each connection; created from
            url/cacert/account_id when not given (`IbkrClient` or `AsyncIbkrClient`-like).
        unsolicited_channels_to_be_queued: unsolicited keys to queue (others are used internally).
        unwrap_market_data: deliver `{conid: {named fields}}` (True) or `{conid: raw message}`.
        use_oauth, access_token: OAuth 1.0a presentation (IBIND_USE_OAUTH, IBIND_OAUTH1A_ACCESS_TOKEN).
        ping_interval (45), max_ping_interval (300), timeout (5): health and bounded waits, seconds.
        restart_on_close, restart_on_critical, max_connection_attempts (10): reconnection policy.
        cacert: gateway certificate path, True (system CAs) or False (no verification; IBIND_CACERT).
        recreate_subscriptions_on_reconnect: re-send every subscription after each reconnect.
        subscription_retries (5), subscription_timeout (2): confirmation retries.
        max_queue_size (10000): bound of each accessor; overflow drops the oldest, counted.
        tickler_interval (IBIND_TICKLER_INTERVAL, 60; 0 = off): REST tickle period.
        md_refresh_interval (540; None = off): re-send `smd` before IBKR's 10-15 minute expiry.
        stale_after: per-channel silence (seconds, None = never) after which a subscription is re-sent once.
        init_brokerage_session_on_auth_loss (False): call `ssodh/init` while recovering from an auth loss.
        resync_orders_after_gap (False): fetch live orders over REST after a gap (ORDERS_RESYNC event).
        reconnect_backoff_max (30): cap of the exponential reconnection backoff, seconds.
        record_to: a path; every frame in both directions is appended there as JSON lines in the
            recorded-fixture format, session ids redacted (replay it with the simulator).
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
        queue_controller_class: type[QueueController[Any]] | Any = QueueController,
        log_raw_messages: bool | None = None,
        unsolicited_channels_to_be_queued: Iterable[IbkrWsKey] | None = None,
        unwrap_market_data: bool = True,
        start: bool = False,
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
        settings = self._settings
        queues = self._make_queue_controller(queue_controller_class, settings.max_queue_size)
        self._queue_controller = queues
        self._delivery = Delivery(queues, settings.unwrap_market_data, settings.unsolicited_queued)
        self._default_accessors = {key: queues.new_queue_accessor(key)
                                   for key in (*SOLICITED_KEYS, *settings.unsolicited_queued)}
        self._default_detached: set[IbkrWsKey] = set()
        self._default_read: set[IbkrWsKey] = set()
        self._event_accessor = queues.new_queue_accessor(EVENTS)
        self._rate_meter = RateMeter(self._delivery)
        super().__init__(settings.timeout)
        self._owns_rest = ibkr_client is None
        self._ibkr_client = ibkr_client if ibkr_client is not None else self._new_rest_client()
        self._callbacks = ThreadCallbacks(queues, str(self), self._delivery.emit)
        if start:
            self.start()

    @staticmethod
    def _make_queue_controller(cls: Any, max_queue_size: int) -> QueueController[Any]:
        try:
            return cls(max_queue_size=max_queue_size)
        except TypeError:
            return cls()

    def _new_rest_client(self) -> IbkrClient:
        s = self._settings
        return IbkrClient(account_id=s.account_id, url=s.rest_url, cacert=s.cacert, timeout=max(s.timeout, 5.0))

    def _new_engine(self) -> Engine:
        delivery = self._delivery
        return Engine(self._settings.engine_config(str(self)), self._ibkr_client, delivery.handler,
                      delivery.deliver_unsolicited, delivery.emit)

    def _before_start(self) -> None:
        if self._owns_rest and getattr(getattr(self._ibkr_client, "_http", None), "is_closed", False):
            self._ibkr_client = self._new_rest_client()

    def _after_shutdown(self) -> None:
        self._callbacks.stop(self._timeout)
        self._queue_controller.wake_all()
        if self._owns_rest:
            self._ibkr_client.close()

    # ---------------------------------------------------------------- queues

    def new_queue_accessor(self, key: IbkrWsKey) -> QueueAccessor[IbkrWsKey]:
        """A new accessor that receives every message of `key` from now on (fan-out).

        Creating one for a key whose default accessor (`get`/`empty`) was never read stops feeding
        that default accessor, so an unread default queue costs nothing; a later `get` resumes it.
        """
        if not isinstance(key, IbkrWsKey):
            raise ValueError(f"key must be an IbkrWsKey member, got {key!r}")
        default = self._default_accessors.get(key)
        if default is not None and key not in self._default_read and key not in self._default_detached:
            self._default_detached.add(key)
            self._queue_controller.detach(key, default._buffer)
        return self._queue_controller.new_queue_accessor(key)

    def _default_accessor(self, key: IbkrWsKey) -> QueueAccessor[IbkrWsKey]:
        accessor = self._default_accessors.get(key)
        if accessor is None:
            if not isinstance(key, IbkrWsKey):
                raise ValueError(f"key must be an IbkrWsKey member, got {key!r}")
            accessor = self._default_accessors.setdefault(key, self._queue_controller.new_queue_accessor(key))
        self._default_read.add(key)
        if key in self._default_detached:
            self._default_detached.discard(key)
            self._queue_controller.attach(key, accessor._buffer)
        return accessor

    def get(self, ibkr_ws_key: IbkrWsKey, block: bool = False, timeout: float | None = None) -> Any:
        """The next message of `ibkr_ws_key` from the default accessor, or None."""
        return self._default_accessor(ibkr_ws_key).get(block=block, timeout=timeout)

    def empty(self, ibkr_ws_key: IbkrWsKey) -> bool:
        """Whether the default accessor of `ibkr_ws_key` has nothing waiting."""
        return self._default_accessor(ibkr_ws_key).empty()

    def new_event_accessor(self) -> QueueAccessor[Any]:
        """A new accessor of lifecycle events (`WsEvent`): state changes, gaps, auth loss, drops, ..."""
        return self._queue_controller.new_queue_accessor(EVENTS)

    def get_event(self, block: bool = False, timeout: float | None = None) -> WsEvent | None:
        """The next lifecycle event from the default events accessor, or None."""
        result: WsEvent | None = self._event_accessor.get(block=block, timeout=timeout)
        return result

    def on(self, key: IbkrWsKey | str, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `callback(message)` for every message of `key` (or `"EVENTS"`) on a thread of its own.

        A slow or failing callback cannot stall delivery: it has its own bounded queue (drops are
        counted) and its exceptions are counted and logged. Returns a function that removes it.
        """
        if not (isinstance(key, IbkrWsKey) or key == EVENTS):
            raise ValueError(f"key must be an IbkrWsKey member or 'EVENTS', got {key!r}")
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        return self._callbacks.add(key, callback)


    # ---------------------------------------------------------- subscriptions

    def subscribe(self, channel: str, data: dict | None = None, needs_confirmation: bool | None = None,
                  subscription_processor: SubscriptionProcessor | None = None) -> bool:
        """Subscribe `channel` (`'md+265598'`, `'or'`, ...); True once the subscription is active.

        Confirmation is derived from the channel's `IbkrWsKey` when not given; unconfirmed requests
        are re-sent every `subscription_timeout` seconds up to `subscription_retries` attempts.
        """
        data, needs_confirmation, processor = subscription_arguments(
            self._settings, channel, data, needs_confirmation, subscription_processor, subscribing=True)
        engine = self._engine
        if not self.running or engine is None:
            _LOGGER.warning("%s: subscribe(%r) called while not running: call start() first", self, channel)
            return False
        try:
            return self._run(engine.subscribe(channel, data, needs_confirmation, processor), None)
        except RuntimeError:
            return False

    def unsubscribe(self, channel: str, data: dict | None = None, needs_confirmation: bool | None = None,
                    subscription_processor: SubscriptionProcessor | None = None) -> bool:
        """Unsubscribe `channel`; for market history pass `'mh+<serverId>'` (see `server_ids`)."""
        data, needs_confirmation, processor = subscription_arguments(
            self._settings, channel, data, needs_confirmation, subscription_processor, subscribing=False)
        engine = self._engine
        if not self.running or engine is None:
            return False
        try:
            return self._run(engine.unsubscribe(channel, data, needs_confirmation, processor), None)
        except RuntimeError:
            return False

    def is_subscription_active(self, channel: str) -> bool | None:
        """True/False for a desired subscription, None when `channel` is not subscribed."""
        return self.subscriptions().get(channel)

    def has_active_subscriptions(self) -> bool:
        """Whether any desired subscription is active."""
        return any(self.subscriptions().values())

    def tic(self) -> dict[str, Any] | None:
        """Send `tic` and return the gateway's reply (None when not connected or no reply in time)."""
        engine = self._engine
        if not self.running or engine is None:
            return None
        try:
            return self._run(engine.tic(), self._timeout + 1)
        except (RuntimeError, TimeoutError):
            return None

    @property
    def account_id(self) -> str | None:
        """The account this client expects (IBIND_ACCOUNT_ID when not given)."""
        return self._settings.account_id

    @property
    def settings(self) -> Settings:
        """The validated configuration this client runs with (arguments, then IBIND_* variables, then defaults)."""
        return self._settings
