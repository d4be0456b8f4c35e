"""How `ibkrws stream` writes messages: readable lines or JSON lines.

Readable lines start with the local receive time and the channel, then `name=value` pairs::

    14:02:07.512 md+265598 last_price=270.78 bid_price=270.70 ask_price=270.74
    14:02:08.003 or orderId=932286197 ticker=AAPL side=BUY status=Submitted
    14:02:08.140 pl DU1234567.Core dpl=-472.6 nl=1110884.25 upl=22105.0 mv=81753.5

JSON lines are one object each: `{"time", "key", "channel", "data"}` (`data`: the named fields of
a market-data update, the message as the gateway sent it otherwise) or, with `--events`,
`{"time", "event": {...}}`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ibkrws import IbkrWsKey, WsEvent

_MD_SKIP = frozenset({"conid", "_updated", "topic"})
_ORDER_SKIP = frozenset({"bgColor", "fgColor", "acct"})
_TRADE_FIELDS = ("execution_id", "symbol", "side", "size", "price", "exchange", "commission", "order_description",
                 "trade_time")
_KEYED_SKIP = frozenset({"key", "severity", "timestamp"})
_LIST_LIMIT = 4


def channel_of(key: IbkrWsKey, message: Any) -> str:
    """The channel a message belongs to: `md+265598`, `or`, `sd+DU1234567`, ... (from its topic)."""
    if key is IbkrWsKey.MARKET_DATA and isinstance(message, dict) and len(message) == 1:
        conid = next(iter(message))
        return f"md+{conid}"
    topic = message.get("topic") if isinstance(message, dict) else None
    if isinstance(topic, str) and topic.startswith("s") and len(topic) >= 3:
        return topic[1:]
    try:
        return key.channel
    except ValueError:
        return key.name.lower()


def _value(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return value if value and " " not in value else orjson.dumps(value).decode()
    if isinstance(value, list) and len(value) > _LIST_LIMIT:
        return f"[{len(value)} items]"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    return str(value)


def _pairs(items: Any, skip: frozenset[str] = frozenset()) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in items if k not in skip and not str(k).endswith("_raw"))


def _keyed(item: dict[str, Any]) -> str:
    """`AvailableFunds-S=1090473.89 USD` for a summary item, `key=... <pairs>` for a ledger row."""
    value = item.get("monetaryValue", item.get("value"))
    if value is not None:
        currency = f" {item['currency']}" if item.get("currency") else ""
        return f"{item['key']}={_value(value)}{currency}"
    return f"{item['key']} {_pairs(item.items(), _KEYED_SKIP)}"


def _ladder(rows: list[Any]) -> str:
    """Ladder rows top to bottom: `ask 271.63x12,100 ... [200 @ 271.59] ... bid 271.51x1,400`."""
    parts = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        if row.get("focus"):
            parts.append(f"[{row.get('price')}]")
        elif "ask" in row:
            parts.append(f"ask {row.get('price')}x{row['ask']}")
        elif "bid" in row:
            parts.append(f"bid {row.get('price')}x{row['bid']}")
    return " ".join(parts)


def _stamp(received: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(received)) + f".{int(received * 1000) % 1000:03d}"


def format_lines(key: IbkrWsKey, message: Any, received: float) -> list[str]:
    """Readable lines for one message of `key` (none for an empty list, such as the first `str` answer)."""
    stamp = _stamp(received)
    channel = channel_of(key, message)
    if key is IbkrWsKey.MARKET_DATA and isinstance(message, dict):
        return [f"{stamp} {channel} {_pairs(fields.items(), _MD_SKIP)}".rstrip()
                for fields in message.values() if isinstance(fields, dict)]
    args = message.get("args") if isinstance(message, dict) else None
    if key is IbkrWsKey.ORDERS and isinstance(args, list):
        return [f"{stamp} {channel} {_pairs(order.items(), _ORDER_SKIP)}" for order in args if isinstance(order, dict)]
    if key is IbkrWsKey.TRADES and isinstance(args, list):
        return [f"{stamp} {channel} {_pairs((k, t[k]) for k in _TRADE_FIELDS if k in t)}"
                for t in args if isinstance(t, dict)]
    if key is IbkrWsKey.PNL and isinstance(args, dict):
        return [f"{stamp} {channel} {row_key} {_pairs(row.items(), frozenset({'rowType'}))}"
                for row_key, row in args.items() if isinstance(row, dict)]
    if key is IbkrWsKey.PRICE_LADDER and isinstance(message, dict) and isinstance(message.get("data"), list):
        return [f"{stamp} {channel} {_ladder(message['data'])}"]
    if args is None and isinstance(message, dict) and isinstance(message.get("result"), list):
        args = message["result"]  # account summary and ledger
    if isinstance(args, list):
        if not args:
            return []
        if all(isinstance(item, dict) and "key" in item for item in args):
            return [f"{stamp} {channel} {_keyed(item)}" for item in args]
        return [f"{stamp} {channel} {_pairs(item.items()) if isinstance(item, dict) else _value(item)}"
                for item in args]
    if isinstance(args, dict):
        return [f"{stamp} {channel} {_pairs(args.items())}"]
    if isinstance(message, dict):
        return [f"{stamp} {channel} {_pairs(message.items(), frozenset({'topic'}))}"]
    return [f"{stamp} {channel} {_value(message)}"]


def json_line(key: IbkrWsKey, message: Any, received: float) -> str:
    """One JSON line for one message of `key`."""
    channel = channel_of(key, message)
    data = message
    if key is IbkrWsKey.MARKET_DATA and isinstance(message, dict) and len(message) == 1:
        data = next(iter(message.values()))
    record = {"time": round(received, 3), "key": key.name, "channel": channel, "data": data}
    return orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def event_line(event: WsEvent, as_json: bool) -> str:
    """One line for a lifecycle event: `{"time", "event": {...}}` or `HH:MM:SS.mmm event <kind> ...`."""
    if as_json:
        return orjson.dumps({"time": round(event.time, 3), "event": event.to_dict()},
                            option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    detail = event.to_dict()["detail"]
    parts = [f"{_stamp(event.time)} event {event.kind.value}"]
    if event.channel:
        parts.append(event.channel)
    if event.reason:
        parts.append(f"reason={_value(event.reason)}")
    if detail:
        parts.append(_pairs(detail.items()))
    return " ".join(parts)
