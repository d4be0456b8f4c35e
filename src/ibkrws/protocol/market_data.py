"""Unwrapping `smd` messages into named fields, as IBind users read them.

`unwrap_row` is the C version from `_speedups` when that optional extension was built (see
setup.py), else `unwrap_row_py`; both give equal results. On the receive path the whole
market-data step, unwrapping included, is `client/market_sink.py`'s sink.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ibkrws import speedups
from ibkrws.protocol.fields import FIELD_NAMES, RAW_SUFFIX

NAMES: dict[str, str] = dict(FIELD_NAMES)
"""Field id (and id + `_raw`) -> the name IBind users read."""
_NAMES = NAMES
_NAMES.update({fid + RAW_SUFFIX: name + RAW_SUFFIX for fid, name in FIELD_NAMES.items()})


def unwrap_row_py(message: dict[str, Any], conid: Any, names: dict[str, str] = _NAMES) -> dict[str, Any]:
    """`{"conid", "_updated", "topic", <field names>}` of one `smd` message (its conid given)."""
    get = names.get
    result: dict[str, Any] = {"conid": conid, "_updated": message.get("_updated"), "topic": message.get("topic")}
    for field, value in message.items():
        name = get(field)
        if name is not None:
            result[name] = value
    return result


unwrap_row: Callable[[dict[str, Any], Any], dict[str, Any]] = (
    unwrap_row_py if speedups.module is None else partial(speedups.module.unwrap_row, _NAMES))
"""`unwrap_row_py`'s contract, in C when available."""


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
