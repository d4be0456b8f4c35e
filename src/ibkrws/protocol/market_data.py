"""Unwrapping `smd` messages into named fields, as IBind users read them."""

from __future__ import annotations

from typing import Any

from ibkrws.protocol.fields import FIELD_NAMES, RAW_SUFFIX

_NAMES: dict[str, str] = dict(FIELD_NAMES)
_NAMES.update({fid + RAW_SUFFIX: name + RAW_SUFFIX for fid, name in FIELD_NAMES.items()})


def unwrap(message: dict[str, Any]) -> dict[Any, dict[str, Any]] | None:
    """`{conid: {"conid", "_updated", "topic", <field names>}}`, or None for a message without conid."""
    conid = message.get("conid")
    if conid is None:
        return None
    names = _NAMES
    result: dict[str, Any] = {"conid": conid, "_updated": message.get("_updated"), "topic": message.get("topic")}
    result.update({names[field]: value for field, value in message.items() if field in names})
    return {conid: result}


def wrap_raw(message: dict[str, Any]) -> dict[Any, dict[str, Any]] | None:
    """`{conid: message}` for `unwrap_market_data=False`, or None without conid."""
    conid = message.get("conid")
    if conid is None:
        return None
    return {conid: message}
