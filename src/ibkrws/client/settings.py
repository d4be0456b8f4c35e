"""Validated client settings, shared by the sync and async front doors.

Every argument of the seed and of IBind's configuration is checked here, once, with an error
that names it and says what is accepted; `IBIND_*` variables are read when this runs (at client
construction), never frozen at import.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ibkrws import config
from ibkrws.engine.connector import rest_url_from_ws
from ibkrws.engine.engine import DEFAULT_STALE_AFTER, EngineConfig
from ibkrws.protocol.keys import SOLICITED_KEYS, IbkrWsKey
from ibkrws.protocol.payloads import IbkrSubscriptionProcessor, SubscriptionProcessor, check_data
from ibkrws.queues.controller import DEFAULT_MAX_QUEUE_SIZE
from ibkrws.rest.model import check_cacert, check_url, ssl_context

OAUTH_WS_URL = "wss://api.ibkr.com/v1/api/ws"


def check_channel(channel: Any) -> IbkrWsKey:
    """The key of a channel string such as `'md+265598'`; ValueError naming what is accepted."""
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


def subscription_arguments(settings: Settings, channel: Any, data: Any, needs_confirmation: bool | None,
                           processor: SubscriptionProcessor | None, subscribing: bool
                           ) -> tuple[dict[str, Any] | None, bool, SubscriptionProcessor]:
    """Validate subscribe/unsubscribe arguments (ValueError names the bad one) and fill in the defaults.

    Confirmation comes from the channel's IbkrWsKey when not given; payloads are built once here so
    that unserialisable data fails at the call, not on the engine's loop.
    """
    key = check_channel(channel)
    data = check_data(data)
    if needs_confirmation is None:
        needs_confirmation = key.confirms_subscribing if subscribing else key.confirms_unsubscribing
    processor = processor or settings.processor
    if subscribing:
        processor.make_subscribe_payload(channel, data)
    else:
        processor.make_unsubscribe_payload(channel, data)
    return data, bool(needs_confirmation), processor


SETTINGS_ARGUMENTS: frozenset[str] = frozenset()  # filled below from build_settings' signature


def settings_from(arguments: dict[str, Any]) -> Settings:
    """build_settings from a front door's constructor `locals()` (only the parameters it knows)."""
    return build_settings(**{k: v for k, v in arguments.items() if k in SETTINGS_ARGUMENTS})


def optional_positive(value: float | None, argument: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{argument} must be a positive number of seconds or None (off), got {value!r}")
    return float(value)


def _positive_int(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    return value


@dataclass
class Settings:
    """Everything a front door needs, already validated."""

    account_id: str | None
    url: str
    rest_url: str
    cacert: str | bool
    use_oauth: bool
    access_token: str | None = field(repr=False)  # a secret: never in reprs or logs
    ping_interval: float
    max_ping_interval: float
    timeout: float
    subscription_retries: int
    subscription_timeout: float
    log_raw_messages: bool
    max_connection_attempts: int
    restart_on_close: bool
    restart_on_critical: bool
    recreate_subscriptions_on_reconnect: bool
    unwrap_market_data: bool
    processor: SubscriptionProcessor
    unsolicited_queued: frozenset[IbkrWsKey]
    max_queue_size: int
    tickler_interval: float | None
    md_refresh_interval: float | None
    stale_after: dict[str, float | None]
    init_brokerage_session_on_auth_loss: bool
    resync_orders_after_gap: bool
    reconnect_backoff_max: float
    record_to: str | None

    def engine_config(self, name: str) -> EngineConfig:
        return EngineConfig(
            ws_url=self.url, ssl=ssl_context(self.cacert), use_oauth=self.use_oauth,
            access_token=self.access_token, ping_interval=self.ping_interval,
            max_ping_interval=self.max_ping_interval, timeout=self.timeout,
            restart_on_close=self.restart_on_close, restart_on_critical=self.restart_on_critical,
            max_connection_attempts=self.max_connection_attempts,
            recreate_subscriptions_on_reconnect=self.recreate_subscriptions_on_reconnect,
            subscription_retries=self.subscription_retries, subscription_timeout=self.subscription_timeout,
            log_raw_messages=self.log_raw_messages, account_id=self.account_id, name=name,
            backoff_max=self.reconnect_backoff_max, tickler_interval=self.tickler_interval,
            md_refresh_interval=self.md_refresh_interval, stale_after=self.stale_after,
            init_brokerage_session_on_auth_loss=self.init_brokerage_session_on_auth_loss,
            resync_orders_after_gap=self.resync_orders_after_gap, record_to=self.record_to,
        )


def build_settings(
    account_id: str | None = None,
    url: str | None = None,
    host: str = "127.0.0.1",
    port: str | int = "5000",
    base_route: str = "/v1/api/ws",
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
) -> Settings:
    """Validate the constructor arguments of a front door (see `IbkrWsClient` for their meaning)."""
    use_oauth_value = config.resolve_bool(use_oauth, "IBIND_USE_OAUTH")
    ws_url = _resolve_url(url, host, port, base_route, use_oauth_value)
    if not (isinstance(subscription_processor_class, type)
            and issubclass(subscription_processor_class, SubscriptionProcessor)):
        raise ValueError("subscription_processor_class must be a SubscriptionProcessor subclass, got "
                         f"{subscription_processor_class!r}")
    return Settings(
        account_id=account_id if account_id is not None else config.env_str("IBIND_ACCOUNT_ID"),
        url=ws_url,
        rest_url=_rest_url(ws_url),
        cacert=check_cacert(os.environ.get("IBIND_CACERT", False) if cacert is None else cacert),
        use_oauth=use_oauth_value,
        access_token=access_token if access_token is not None else config.env_str("IBIND_OAUTH1A_ACCESS_TOKEN"),
        ping_interval=config.resolve_number(ping_interval, "IBIND_WS_PING_INTERVAL", "ping_interval"),
        max_ping_interval=config.resolve_number(max_ping_interval, "IBIND_WS_MAX_PING_INTERVAL",
                                                "max_ping_interval"),
        timeout=config.resolve_number(timeout, "IBIND_WS_TIMEOUT", "timeout"),
        subscription_retries=int(config.resolve_number(subscription_retries, "IBIND_WS_SUBSCRIPTION_RETRIES",
                                                       "subscription_retries", integer=True)),
        subscription_timeout=config.resolve_number(subscription_timeout, "IBIND_WS_SUBSCRIPTION_TIMEOUT",
                                                   "subscription_timeout"),
        log_raw_messages=config.resolve_bool(log_raw_messages, "IBIND_WS_LOG_RAW_MESSAGES"),
        max_connection_attempts=_positive_int(max_connection_attempts, "max_connection_attempts"),
        restart_on_close=bool(restart_on_close),
        restart_on_critical=bool(restart_on_critical),
        recreate_subscriptions_on_reconnect=bool(recreate_subscriptions_on_reconnect),
        unwrap_market_data=bool(unwrap_market_data),
        processor=subscription_processor_class(),
        unsolicited_queued=_check_unsolicited(unsolicited_channels_to_be_queued),
        max_queue_size=_positive_int(max_queue_size, "max_queue_size"),
        tickler_interval=config.resolve_number(tickler_interval, "IBIND_TICKLER_INTERVAL", "tickler_interval",
                                               allow_zero=True) or None,
        md_refresh_interval=optional_positive(md_refresh_interval, "md_refresh_interval"),
        stale_after=_check_stale_after(stale_after),
        init_brokerage_session_on_auth_loss=bool(init_brokerage_session_on_auth_loss),
        resync_orders_after_gap=bool(resync_orders_after_gap),
        reconnect_backoff_max=optional_positive(reconnect_backoff_max, "reconnect_backoff_max") or 30.0,
        record_to=_check_record_to(record_to),
    )


def _check_record_to(path: Any) -> str | None:
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"record_to must be a file path (str or Path) or None, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"record_to {str(path)!r}: directory {parent!r} does not exist")
    return str(path)


def _resolve_url(url: str | None, host: str, port: str | int, base_route: str, use_oauth: bool) -> str:
    if url is None:
        if use_oauth:
            url = config.env_str("IBIND_OAUTH1A_WS_URL") or OAUTH_WS_URL
        else:
            url = config.env_str("IBIND_WS_URL") or f"wss://{host}:{port}{base_route}"
    check_url(url, ("wss", "ws"), "url")
    if "oauth_token=" in (urlsplit(url).query or ""):
        raise ValueError("url must not contain oauth_token: pass access_token (or IBIND_OAUTH1A_ACCESS_TOKEN)")
    return url


def _rest_url(ws_url: str) -> str:
    """IBIND_REST_URL when the WebSocket URL also came from the environment, else derived from it."""
    explicit_rest = config.env_str("IBIND_REST_URL")
    if explicit_rest and ws_url == config.env_str("IBIND_WS_URL"):
        return explicit_rest
    return rest_url_from_ws(ws_url)


def _check_stale_after(overrides: dict[str, float | None] | None) -> dict[str, float | None]:
    result = dict(DEFAULT_STALE_AFTER)
    if overrides is None:
        return result
    if not isinstance(overrides, dict):
        raise ValueError(f"stale_after must be a dict of channel -> seconds or None, got {overrides!r}")
    for channel, seconds in overrides.items():
        if channel not in result:
            raise ValueError(f"stale_after: unknown channel {channel!r}, expected one of {', '.join(result)}")
        result[channel] = optional_positive(seconds, f"stale_after[{channel!r}]")
    return result


def _check_unsolicited(keys: Iterable[IbkrWsKey] | None) -> frozenset[IbkrWsKey]:
    if keys is None:
        return frozenset()
    if isinstance(keys, (str, IbkrWsKey)) or not isinstance(keys, Iterable):
        raise ValueError(f"unsolicited_channels_to_be_queued must be a list of IbkrWsKey, got {keys!r}")
    result = set()
    for key in keys:
        if not isinstance(key, IbkrWsKey) or key.solicited:
            raise ValueError(
                "unsolicited_channels_to_be_queued accepts unsolicited IbkrWsKey members "
                f"({', '.join(k.name for k in IbkrWsKey if not k.solicited)}), got {key!r}")
        result.add(key)
    return frozenset(result)


SETTINGS_ARGUMENTS = frozenset(inspect.signature(build_settings).parameters)
