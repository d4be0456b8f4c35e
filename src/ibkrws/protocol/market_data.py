"""Unwrapping `smd` messages into named fields, as IBind users read them."""

from __future__ import annotations

from typing import Any

from ibkrws.protocol.fields import FIELD_NAMES, RAW_SUFFIX

_NAMES: dict[str, str] = dict(FIELD_NAMES)
_NAMES.update({fid + RAW_SUFFIX: name + RAW_SUFFIX for fid, name in FIELD_NAMES.items()})


def unwrap_row(message: dict[str, Any], conid: Any) -> dict[str, Any]:
    """`{"conid", "_updated", "topic", <field names>}` of one `smd` message (its conid given)."""
    get = _NAMES.get
    result: dict[str, Any] = {"conid": conid, "_updated": message.get("_updated"), "topic": message.get("topic")}
    for field, value in message.items():
        name = get(field)
        if name is not None:
            result[name] = value
    return result


def unwrap(message: dict[str, Any]) -> dict[Any, dict[str, Any]] | None:
    """`{conid: {"conid", "_updated", "topic", <field names>}}`, or None for a message without conid."""
    conid = message.get("conid")
    if conid is None:
        return None
    return {conid: unwrap_row(message, conid)}


def wrap_raw(message: dict[str, Any]) -> dict[Any, dict[str, Any]] | None:
    """`{conid: message}` for `unwrap_market_data=False`, or None without conid."""
    conid = message.get("conid")
    if conid is None:
        return None
    return {conid: message}
