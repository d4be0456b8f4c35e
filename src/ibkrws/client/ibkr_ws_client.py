"""`IbkrWsClient`: the seed's IBKR WebSocket client, on the shared engine.

Construction validates every argument (ValueError naming it and what is accepted) and reads
`IBIND_*` environment variables at that moment. Messages are delivered by `IbkrWsKey` to bounded,
fan-out queues; a default accessor per key exists from construction, so messages that arrive
between `subscribe` and the first `get` are kept.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ibkrws import config
from ibkrws.client.ws_client import WsClient
from ibkrws.engine.connector import rest_url_from_ws
from ibkrws.engine.engine import DEFAULT_STALE_AFTER, Engine, EngineConfig
from ibkrws.protocol.events import EventKind, WsEvent
from ibkrws.protocol.keys import SOLICITED_KEYS, IbkrWsKey
from ibkrws.protocol.market_data import unwrap, wrap_raw
from ibkrws.protocol.payloads import IbkrSubscriptionProcessor, SubscriptionProcessor, check_data
from ibkrws.queues.controller import DEFAULT_MAX_QUEUE_SIZE, QueueAccessor, QueueController
from ibkrws.rest.client import IbkrClient
from ibkrws.rest.model import check_cacert, check_url, ssl_context

_LOGGER = logging.getLogger("ibkrws.client")

OAUTH_WS_URL = "wss://api.ibkr.com/v1/api/ws"
EVENTS = "EVENTS"
"""Queue key of lifecycle events (not an IbkrWsKey: those are IBKR's channels)."""


def _check_channel(channel: Any) -> IbkrWsKey:
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"channel must be a non-empty string such as 'md+265598' or 'or', got {channel!r}")
    try:
        return IbkrWsKey.from_channel(channel)
    except ValueError:
        raise ValueError(
            f"channel {channel!r} is not an IBKR channel: expected one of "
            f"{', '.join(k.channel for k in SOLICITED_KEYS)}, optionally followed by '+' and its target "
            "(e.g. 'md+265598', 'sd+DU1234567')"
        ) from None


class IbkrWsClient(WsClient):
    """Streams IBKR Client Portal WebSocket data into queues, on a worker thread."""

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
    ) -> None:
        self._account_id = account_id if account_id is not None else config.env_str("IBIND_ACCOUNT_ID")
        self._use_oauth = config.resolve_bool(use_oauth, "IBIND_USE_OAUTH")
        self._access_token = access_token if access_token is not None else config.env_str(
            "IBIND_OAUTH1A_ACCESS_TOKEN")
        self._url = self._resolve_url(url, host, port, base_route)
        self._cacert = check_cacert(os.environ.get("IBIND_CACERT", False) if cacert is None else cacert)
        self._ping_interval = config.resolve_number(ping_interval, "IBIND_WS_PING_INTERVAL", "ping_interval")
        self._max_ping_interval = config.resolve_number(max_ping_interval, "IBIND_WS_MAX_PING_INTERVAL",
                                                        "max_ping_interval")
        timeout_value = config.resolve_number(timeout, "IBIND_WS_TIMEOUT", "timeout")
        self._subscription_retries = int(config.resolve_number(
            subscription_retries, "IBIND_WS_SUBSCRIPTION_RETRIES", "subscription_retries", integer=True))
        self._subscription_timeout = config.resolve_number(subscription_timeout, "IBIND_WS_SUBSCRIPTION_TIMEOUT",
                                                           "subscription_timeout")
        self._log_raw_messages = config.resolve_bool(log_raw_messages, "IBIND_WS_LOG_RAW_MESSAGES")
        if isinstance(max_connection_attempts, bool) or not isinstance(max_connection_attempts, int) \
                or max_connection_attempts < 1:
            raise ValueError(f"max_connection_attempts must be a positive integer, got {max_connection_attempts!r}")
        self._max_connection_attempts = max_connection_attempts
        self._restart_on_close = bool(restart_on_close)
        self._restart_on_critical = bool(restart_on_critical)
        self._recreate_subscriptions_on_reconnect = bool(recreate_subscriptions_on_reconnect)
        self._unwrap_market_data = bool(unwrap_market_data)
        self._tickler_interval = config.resolve_number(tickler_interval, "IBIND_TICKLER_INTERVAL",
                                                       "tickler_interval", allow_zero=True) or None
        self._md_refresh_interval = self._optional_positive(md_refresh_interval, "md_refresh_interval")
        self._stale_after = self._check_stale_after(stale_after)
        self._init_brokerage_session_on_auth_loss = bool(init_brokerage_session_on_auth_loss)
        self._resync_orders_after_gap = bool(resync_orders_after_gap)
        self._reconnect_backoff_max = self._optional_positive(reconnect_backoff_max, "reconnect_backoff_max") or 30.0
        if not (isinstance(subscription_processor_class, type)
                and issubclass(subscription_processor_class, SubscriptionProcessor)):
            raise ValueError("subscription_processor_class must be a SubscriptionProcessor subclass, got "
                             f"{subscription_processor_class!r}")
        self._subscription_processor = subscription_processor_class()
        self._unsolicited_queued = self._check_unsolicited(unsolicited_channels_to_be_queued)
        self._queue_controller = self._make_queue_controller(queue_controller_class, max_queue_size)
        self._queue_controller.register_queues([*IbkrWsKey, EVENTS])
        self._queue_controller.on_drop = self._on_queue_drop
        self._event_accessor = self._queue_controller.new_queue_accessor(EVENTS)
        self._default_accessors = {key: self._queue_controller.new_queue_accessor(key)
                                   for key in (*SOLICITED_KEYS, *self._unsolicited_queued)}
        super().__init__(timeout_value)
        self._owns_rest = ibkr_client is None
        self._ibkr_client = ibkr_client if ibkr_client is not None else self._new_rest_client()
        if start:
            self.start()

    # -------------------------------------------------------- configuration

    def _resolve_url(self, url: str | None, host: str, port: str | int, base_route: str) -> str:
        if url is None:
            if self._use_oauth:
                url = config.env_str("IBIND_OAUTH1A_WS_URL") or OAUTH_WS_URL
            else:
                url = config.env_str("IBIND_WS_URL") or f"wss://{host}:{port}{base_route}"
        check_url(url, ("wss", "ws"), "url")
        if "oauth_token=" in (urlsplit(url).query or ""):
            raise ValueError("url must not contain oauth_token: pass access_token (or IBIND_OAUTH1A_ACCESS_TOKEN)")
        return url

    @staticmethod
    def _optional_positive(value: float | None, argument: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{argument} must be a positive number of seconds or None (off), got {value!r}")
        return float(value)

    @staticmethod
    def _check_stale_after(overrides: dict[str, float | None] | None) -> dict[str, float | None]:
        result = dict(DEFAULT_STALE_AFTER)
        if overrides is None:
            return result
        if not isinstance(overrides, dict):
            raise ValueError(f"stale_after must be a dict of channel -> seconds or None, got {overrides!r}")
        for channel, seconds in overrides.items():
            if channel not in result:
                raise ValueError(f"stale_after: unknown channel {channel!r}, expected one of {', '.join(result)}")
            result[channel] = IbkrWsClient._optional_positive(seconds, f"stale_after[{channel!r}]")
        return result

    @staticmethod
    def _check_unsolicited(keys: Iterable[IbkrWsKey] | None) -> frozenset[IbkrWsKey]:
        if keys is None:
            return frozenset()
        if isinstance(keys, (str, IbkrWsKey)) or not isinstance(keys, Iterable):
            raise ValueError("unsolicited_channels_to_be_queued must be a list of IbkrWsKey, got "
                             f"{keys!r}")
        result = set()
        for key in keys:
            if not isinstance(key, IbkrWsKey) or key.solicited:
                raise ValueError(
                    f"unsolicited_channels_to_be_queued accepts unsolicited IbkrWsKey members "
                    f"({', '.join(k.name for k in IbkrWsKey if not k.solicited)}), got {key!r}")
            result.add(key)
        return frozenset(result)

    @staticmethod
    def _make_queue_controller(cls: Any, max_queue_size: int) -> QueueController[Any]:
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"max_queue_size must be a positive integer, got {max_queue_size!r}")
        try:
            return cls(max_queue_size=max_queue_size)
        except TypeError:
            return cls()

    def _new_rest_client(self) -> IbkrClient:
        explicit_rest = config.env_str("IBIND_REST_URL")
        ws_from_env = config.env_str("IBIND_WS_URL")
        rest_url = explicit_rest if explicit_rest and self._url == ws_from_env else rest_url_from_ws(self._url)
        return IbkrClient(account_id=self._account_id, url=rest_url, cacert=self._cacert,
                          timeout=max(self._timeout, 5.0))

    def _new_engine(self) -> Engine:
        engine_config = EngineConfig(
            ws_url=self._url,
            ssl=ssl_context(self._cacert),
            use_oauth=self._use_oauth,
            access_token=self._access_token,
            ping_interval=self._ping_interval,
            max_ping_interval=self._max_ping_interval,
            timeout=self._timeout,
            restart_on_close=self._restart_on_close,
            restart_on_critical=self._restart_on_critical,
            max_connection_attempts=self._max_connection_attempts,
            recreate_subscriptions_on_reconnect=self._recreate_subscriptions_on_reconnect,
            subscription_retries=self._subscription_retries,
            subscription_timeout=self._subscription_timeout,
            log_raw_messages=self._log_raw_messages,
            account_id=self._account_id,
            name=str(self),
            backoff_max=self._reconnect_backoff_max,
            tickler_interval=self._tickler_interval,
            md_refresh_interval=self._md_refresh_interval,
            stale_after=self._stale_after,
            init_brokerage_session_on_auth_loss=self._init_brokerage_session_on_auth_loss,
            resync_orders_after_gap=self._resync_orders_after_gap,
        )
        return Engine(engine_config, self._ibkr_client, self._deliver, self._deliver_unsolicited, self._emit)

    def _before_start(self) -> None:
        if self._owns_rest and getattr(getattr(self._ibkr_client, "_http", None), "is_closed", False):
            self._ibkr_client = self._new_rest_client()

    def _after_shutdown(self) -> None:
        self._queue_controller.wake_all()
        if self._owns_rest:
            self._ibkr_client.close()

    # --------------------------------------------------------------- delivery

    def _deliver(self, key: IbkrWsKey, channel: str, message: dict[str, Any]) -> None:
        """Runs on the worker thread for every solicited data message."""
        if key is IbkrWsKey.MARKET_DATA:
            data = unwrap(message) if self._unwrap_market_data else wrap_raw(message)
            if data is None:
                return
            self._queue_controller.put_to_queue(key, data)
        else:
            self._queue_controller.put_to_queue(key, message)

    def _deliver_unsolicited(self, key: IbkrWsKey, message: dict[str, Any]) -> None:
        if key not in self._unsolicited_queued:
            return
        if key is IbkrWsKey.AUTHENTICATION_STATUS or key is IbkrWsKey.NOTIFICATIONS:
            self._queue_controller.put_to_queue(key, message.get("args", {}))
        else:
            self._queue_controller.put_to_queue(key, message)

    def _emit(self, event: WsEvent) -> None:
        self._queue_controller.put_to_queue(EVENTS, event)

    def _on_queue_drop(self, key: Any, dropped: int) -> None:
        if key != EVENTS:
            self._emit(WsEvent(EventKind.DROPPED, time.time(), key=key if isinstance(key, IbkrWsKey) else None,
                               detail={"dropped": dropped}))

    def new_event_accessor(self) -> QueueAccessor[Any]:
        """A new accessor of lifecycle events (`WsEvent`): state changes, gaps, auth loss, drops, ..."""
        return self._queue_controller.new_queue_accessor(EVENTS)

    def get_event(self, block: bool = False, timeout: float | None = None) -> WsEvent | None:
        """The next lifecycle event from the default events accessor, or None."""
        result: WsEvent | None = self._event_accessor.get(block=block, timeout=timeout)
        return result

    # ---------------------------------------------------------------- queues

    def new_queue_accessor(self, key: IbkrWsKey) -> QueueAccessor[IbkrWsKey]:
        """A new accessor that receives every message of `key` from now on (fan-out)."""
        if not isinstance(key, IbkrWsKey):
            raise ValueError(f"key must be an IbkrWsKey member, got {key!r}")
        return self._queue_controller.new_queue_accessor(key)

    def _default_accessor(self, key: IbkrWsKey) -> QueueAccessor[IbkrWsKey]:
        accessor = self._default_accessors.get(key)
        if accessor is None:
            if not isinstance(key, IbkrWsKey):
                raise ValueError(f"key must be an IbkrWsKey member, got {key!r}")
            accessor = self._default_accessors.setdefault(key, self._queue_controller.new_queue_accessor(key))
        return accessor

    def get(self, ibkr_ws_key: IbkrWsKey, block: bool = False, timeout: float | None = None) -> Any:
        """The next message of `ibkr_ws_key` from the default accessor, or None."""
        return self._default_accessor(ibkr_ws_key).get(block=block, timeout=timeout)

    def empty(self, ibkr_ws_key: IbkrWsKey) -> bool:
        """Whether the default accessor of `ibkr_ws_key` has nothing waiting."""
        return self._default_accessor(ibkr_ws_key).empty()

    # ---------------------------------------------------------- subscriptions

    def subscribe(self, channel: str, data: dict | None = None, needs_confirmation: bool | None = None,
                  subscription_processor: SubscriptionProcessor | None = None) -> bool:
        """Subscribe `channel` (`'md+265598'`, `'or'`, ...); True once the subscription is active.

        Confirmation is derived from the channel's `IbkrWsKey` when not given; unconfirmed requests
        are re-sent every `subscription_timeout` seconds up to `subscription_retries` attempts.
        """
        key = _check_channel(channel)
        data = check_data(data)
        if needs_confirmation is None:
            needs_confirmation = key.confirms_subscribing
        processor = subscription_processor or self._subscription_processor
        processor.make_subscribe_payload(channel, data)  # raises early on unserialisable data
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
        key = _check_channel(channel)
        data = check_data(data)
        if needs_confirmation is None:
            needs_confirmation = key.confirms_unsubscribing
        processor = subscription_processor or self._subscription_processor
        engine = self._engine
        if not self.running or engine is None:
            return False
        try:
            return self._run(engine.unsubscribe(channel, data, needs_confirmation, processor), None)
        except RuntimeError:
            return False

    def server_ids(self, key: IbkrWsKey) -> dict[str, Any]:
        """Server ids of `key`'s streams (market history: serverId -> conid)."""
        engine = self._engine
        return dict(engine.server_ids[key]) if engine is not None else {}

    def subscriptions(self) -> dict[str, bool]:
        """Every desired subscription and whether it is active on the current connection."""
        engine = self._engine
        return engine.subscription_status() if engine is not None else {}

    def is_subscription_active(self, channel: str) -> bool | None:
        """True/False for a desired subscription, None when `channel` is not subscribed."""
        return self.subscriptions().get(channel)

    def has_active_subscriptions(self) -> bool:
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
    def stats(self) -> Any:
        """Receive-path counters (frames, invalid JSON, repaired UTF-8, reconnects, ...)."""
        engine = self._engine
        return engine.stats if engine is not None else None

    @property
    def state(self) -> Any:
        """The connection state (`ConnectionState`)."""
        from ibkrws.protocol.state import ConnectionState

        engine = self._engine
        return engine.state if engine is not None and self.running else ConnectionState.STOPPED

    @property
    def account_id(self) -> str | None:
        return self._account_id
