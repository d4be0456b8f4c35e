"""Decoding server frames and routing them by topic, in one place.

Payloads arrive as bytes (binary opcode) or str (text opcode). IBKR sometimes sends bytes that
are not UTF-8 (0x99, Windows-1252 for a trademark sign): those bytes are decoded as
Windows-1252 and the rest of the frame stays UTF-8, so nothing else in the frame changes.
"""

from __future__ import annotations

import codecs
import enum
from typing import Any

import orjson

from ibkrws.protocol.keys import _CHANNEL_TO_KEY, UNSOLICITED_TOPICS, IbkrWsKey

_ERROR_HANDLER = "ibkrws-cp1252"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error(_ERROR_HANDLER, _cp1252_fallback)

ECHO = b"ech+hb"


class DecodeError(ValueError):
    """A frame that is not a JSON object; the frame is skipped and counted."""


def decode(payload: bytes | str) -> tuple[dict[str, Any], bool]:
    """Parse one frame into a JSON object.

    Returns (message, repaired): `repaired` is True when invalid UTF-8 had to be decoded leniently.
    Raises DecodeError for anything that is not a JSON object.
    """
    repaired = False
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        if not isinstance(payload, bytes):
            raise DecodeError(f"malformed JSON: {payload[:200]!r}") from None
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            text = payload.decode("utf-8", errors=_ERROR_HANDLER)
        else:
            raise DecodeError(f"malformed JSON: {payload[:200]!r}") from None
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise DecodeError(f"malformed JSON: {payload[:200]!r}") from None
        repaired = True
    if not isinstance(message, dict):
        raise DecodeError(f"expected a JSON object, got {type(message).__name__}: {str(message)[:200]}")
    return message, repaired


class Kind(enum.Enum):
    """What a decoded message is, for the engine to act on."""

    DATA = "data"  # solicited channel data: key and channel set
    UNSOLICITED = "unsolicited"  # act, sts, blt, ntf, system: key set
    ERROR = "error"  # any message with an `error` key
    TIC = "tic"  # reply to our `tic`
    WAITING_FOR_SESSION = "waiting"  # {"message": "waiting for session"}
    UNSUBSCRIBED = "unsubscribed"  # topic-less unsubscribe confirmation: channel hint set
    UNKNOWN = "unknown"


def route(message: dict[str, Any]) -> tuple[Kind, IbkrWsKey | None, str | None]:
    """Classify a message: (kind, key, channel). One lookup for the common data case."""
    topic = message.get("topic")
    if "error" in message:
        return Kind.ERROR, IbkrWsKey.ERROR, topic[1:] if isinstance(topic, str) and topic else None
    if topic is None:
        return _route_topicless(message)
    if not isinstance(topic, str):
        return Kind.UNKNOWN, None, None
    key = _CHANNEL_TO_KEY.get(topic[1:3])
    if key is not None and topic[0] == "s" and (len(topic) == 3 or topic[3] == "+"):
        return Kind.DATA, key, topic[1:]
    unsolicited = UNSOLICITED_TOPICS.get(topic)
    if unsolicited is not None:
        return Kind.UNSOLICITED, unsolicited, None
    if topic == "tic":
        return Kind.TIC, None, None
    return Kind.UNKNOWN, None, None


def _route_topicless(message: dict[str, Any]) -> tuple[Kind, IbkrWsKey | None, str | None]:
    text = message.get("message")
    if text == "waiting for session":
        return Kind.WAITING_FOR_SESSION, None, None
    if isinstance(text, str) and text.startswith("Unsubscribed "):
        return Kind.UNSUBSCRIBED, IbkrWsKey.MARKET_HISTORY, text[len("Unsubscribed ") :].strip()
    result = message.get("result")
    if result == "unsubscribed from summary":
        return Kind.UNSUBSCRIBED, IbkrWsKey.ACCOUNT_SUMMARY, None
    if result == "unsubscribed from ledger":
        return Kind.UNSUBSCRIBED, IbkrWsKey.ACCOUNT_LEDGER, None
    return Kind.UNKNOWN, None, None
