"""Subscription payloads: the text frames that subscribe and unsubscribe channels.

`s`/`u` + channel, then `+` and compact JSON data (protocol.md 3.1). Channels whose documented
form carries no JSON (`sbd+acct+conid`, `ubd+acct`, `umh+serverId`) get none unless data is given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

_NO_JSON_ON_SUBSCRIBE = frozenset({"bd"})
_NO_JSON_ON_UNSUBSCRIBE = frozenset({"bd", "mh"})


def check_data(data: Any) -> dict[str, Any] | None:
    """Validate the `data` argument of subscribe/unsubscribe: a dict or None."""
    if data is None or isinstance(data, dict):
        return data
    raise ValueError(f"data must be a dict (or None for no arguments), got {type(data).__name__}: {data!r}")


def _encode(data: dict[str, Any]) -> str:
    try:
        return orjson.dumps(data).decode()
    except TypeError as exc:
        raise ValueError(f"data must be JSON-serialisable: {exc}") from None


class SubscriptionProcessor(ABC):
    """Builds the payloads that subscribe and unsubscribe a channel."""

    @abstractmethod
    def make_subscribe_payload(self, channel: str, data: dict | None = None) -> str:
        """The frame that subscribes `channel` with optional `data`."""

    @abstractmethod
    def make_unsubscribe_payload(self, channel: str, data: dict | None = None) -> str:
        """The frame that unsubscribes `channel` with optional `data`."""


class IbkrSubscriptionProcessor(SubscriptionProcessor):
    """IBKR payloads: `smd+265598+{"fields":["31"]}`, `sor+{}`, `umd+265598+{}`, `ubd+DU123`."""

    def make_subscribe_payload(self, channel: str, data: dict | None = None) -> str:
        data = check_data(data)
        payload = f"s{channel}"
        if data is None and channel[:2] in _NO_JSON_ON_SUBSCRIBE:
            return payload
        return f"{payload}+{_encode(data if data is not None else {})}"

    def make_unsubscribe_payload(self, channel: str, data: dict | None = None) -> str:
        data = check_data(data)
        payload = f"u{channel}"
        if data is None and channel[:2] in _NO_JSON_ON_UNSUBSCRIBE:
            return payload
        return f"{payload}+{_encode(data if data is not None else {})}"
