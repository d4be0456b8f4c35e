"""`IbkrWsKey`: one member per kind of message the IBKR WebSocket delivers.

Solicited keys map to a two-letter channel (`md`, `or`, ...); unsolicited keys map to the
server topics that arrive without a subscription (`act`, `sts`, `blt`, `ntf`, `system`, errors).
Which channels confirm subscribing and unsubscribing follows protocol.md section 5.0.
"""

from __future__ import annotations

from enum import Enum


class IbkrWsKey(Enum):
    """Identifies a queue of IBKR WebSocket messages (and, for solicited keys, a channel)."""

    # subscription-based
    ACCOUNT_SUMMARY = "ACCOUNT_SUMMARY"
    ACCOUNT_LEDGER = "ACCOUNT_LEDGER"
    MARKET_DATA = "MARKET_DATA"
    MARKET_HISTORY = "MARKET_HISTORY"
    PRICE_LADDER = "PRICE_LADDER"
    ORDERS = "ORDERS"
    PNL = "PNL"
    TRADES = "TRADES"

    # unsolicited
    ACCOUNT_UPDATES = "ACCOUNT_UPDATES"
    AUTHENTICATION_STATUS = "AUTHENTICATION_STATUS"
    BULLETINS = "BULLETINS"
    ERROR = "ERROR"
    SYSTEM = "SYSTEM"
    NOTIFICATIONS = "NOTIFICATIONS"

    # Members are singletons compared by identity: the identity hash is consistent with that and,
    # unlike Enum's Python-level __hash__, costs nothing on the receive path's dict lookups.
    __hash__ = object.__hash__

    @classmethod
    def from_channel(cls, channel: str) -> IbkrWsKey:
        """The solicited key of a two-letter channel (`'md'` -> `MARKET_DATA`).

        Also accepts a full channel such as `'md+265598'`. Raises ValueError for anything else.
        """
        key = _CHANNEL_TO_KEY.get(str(channel)[:2]) if isinstance(channel, str) else None
        if key is None or (len(channel) > 2 and channel[2] != "+"):
            raise ValueError(
                f"No enum member associated with channel {channel!r}: expected one of "
                f"{', '.join(sorted(_CHANNEL_TO_KEY))}, optionally followed by '+' and arguments"
            )
        return key

    @property
    def channel(self) -> str:
        """The two-letter channel of a solicited key; ValueError for unsolicited keys."""
        try:
            return _KEY_TO_CHANNEL[self]
        except KeyError:
            raise ValueError(f"{self.name} is unsolicited and has no channel") from None

    @property
    def solicited(self) -> bool:
        """Whether messages of this key arrive only after a subscription."""
        return self in _KEY_TO_CHANNEL

    @property
    def confirms_subscribing(self) -> bool:
        """Whether the server answers a subscription with a message we can wait for."""
        return self in _CONFIRMS_SUBSCRIBING

    @property
    def confirms_unsubscribing(self) -> bool:
        """Whether the server answers an unsubscription with a message we can wait for."""
        return self in _CONFIRMS_UNSUBSCRIBING


_KEY_TO_CHANNEL: dict[IbkrWsKey, str] = {
    IbkrWsKey.ACCOUNT_SUMMARY: "sd",
    IbkrWsKey.ACCOUNT_LEDGER: "ld",
    IbkrWsKey.MARKET_DATA: "md",
    IbkrWsKey.MARKET_HISTORY: "mh",
    IbkrWsKey.PRICE_LADDER: "bd",
    IbkrWsKey.ORDERS: "or",
    IbkrWsKey.PNL: "pl",
    IbkrWsKey.TRADES: "tr",
}
_CHANNEL_TO_KEY: dict[str, IbkrWsKey] = {v: k for k, v in _KEY_TO_CHANNEL.items()}

_CONFIRMS_SUBSCRIBING = frozenset(
    {
        IbkrWsKey.ACCOUNT_SUMMARY,
        IbkrWsKey.ACCOUNT_LEDGER,
        IbkrWsKey.MARKET_DATA,
        IbkrWsKey.MARKET_HISTORY,
        IbkrWsKey.PNL,
        IbkrWsKey.TRADES,
    }
)
_CONFIRMS_UNSUBSCRIBING = frozenset(
    {IbkrWsKey.ACCOUNT_SUMMARY, IbkrWsKey.ACCOUNT_LEDGER, IbkrWsKey.MARKET_HISTORY}
)

SOLICITED_KEYS: tuple[IbkrWsKey, ...] = tuple(_KEY_TO_CHANNEL)
UNSOLICITED_KEYS: tuple[IbkrWsKey, ...] = tuple(k for k in IbkrWsKey if k not in _KEY_TO_CHANNEL)

UNSOLICITED_TOPICS: dict[str, IbkrWsKey] = {
    "act": IbkrWsKey.ACCOUNT_UPDATES,
    "sts": IbkrWsKey.AUTHENTICATION_STATUS,
    "blt": IbkrWsKey.BULLETINS,
    "ntf": IbkrWsKey.NOTIFICATIONS,
    "system": IbkrWsKey.SYSTEM,
    "error": IbkrWsKey.ERROR,
}
"""Server topic of an unsolicited message -> its key."""
