"""How `ibkrws stream` writes each kind of message (pure: messages in the gateway's shapes)."""

from __future__ import annotations

import json
import time

from ibkrws import EventKind, IbkrWsKey, WsEvent
from ibkrws.commands.output import channel_of, event_line, format_lines, json_line

T = time.mktime((2026, 1, 2, 14, 2, 7, 0, 0, -1)) + 0.512


def test_market_data_line_names_the_fields_of_the_update() -> None:
    message = {265598: {"conid": 265598, "_updated": 1, "topic": "smd+265598", "last_price": "270.78",
                        "bid_price": "270.70", "volume": "27.5M", "volume_raw": 27533662.0}}
    assert format_lines(IbkrWsKey.MARKET_DATA, message, T) == [
        "14:02:07.512 md+265598 last_price=270.78 bid_price=270.70 volume=27.5M"]
    record = json.loads(json_line(IbkrWsKey.MARKET_DATA, message, T))
    assert record["channel"] == "md+265598" and record["key"] == "MARKET_DATA"
    assert record["data"]["last_price"] == "270.78" and record["time"] == round(T, 3)


def test_orders_trades_and_pnl_one_line_per_item() -> None:
    orders = {"topic": "sor", "args": [{"acct": "DU1", "orderId": 7, "status": "Submitted", "fgColor": "#00F000",
                                        "orderDesc": "Buy 10 AAPL Limit 270.62, Day"}]}
    assert format_lines(IbkrWsKey.ORDERS, orders, T) == [
        '14:02:07.512 or orderId=7 status=Submitted orderDesc="Buy 10 AAPL Limit 270.62, Day"']
    trades = {"topic": "str", "args": [{"execution_id": "e1", "symbol": "AAPL", "side": "B", "size": 10.0,
                                        "price": "271.25", "account": "DU1"}]}
    assert format_lines(IbkrWsKey.TRADES, trades, T) == [
        "14:02:07.512 tr execution_id=e1 symbol=AAPL side=B size=10 price=271.25"]
    assert format_lines(IbkrWsKey.TRADES, {"topic": "str", "args": []}, T) == []
    pnl = {"topic": "spl", "args": {"DU1.Core": {"rowType": 1, "dpl": -472.6, "nl": 1110884.25}}}
    assert format_lines(IbkrWsKey.PNL, pnl, T) == ["14:02:07.512 pl DU1.Core dpl=-472.6 nl=1110884.25"]


def test_account_summary_and_ladder() -> None:
    summary = {"topic": "ssd+DU1", "result": [
        {"key": "AccountType", "value": "INDIVIDUAL", "severity": 0, "timestamp": 1},
        {"key": "NetLiquidation", "currency": "USD", "monetaryValue": 1111087.45, "severity": 0, "timestamp": 1}]}
    assert channel_of(IbkrWsKey.ACCOUNT_SUMMARY, summary) == "sd+DU1"
    assert format_lines(IbkrWsKey.ACCOUNT_SUMMARY, summary, T) == [
        "14:02:07.512 sd+DU1 AccountType=INDIVIDUAL", "14:02:07.512 sd+DU1 NetLiquidation=1111087.45 USD"]
    ladder = {"topic": "sbd+DU1+265598", "data": [{"row": 0, "focus": 0, "price": "271.60", "ask": "5,300"},
                                                  {"row": 1, "focus": 1, "price": "200 @ 271.59", "ask": "2,800"},
                                                  {"row": 2, "focus": 0, "price": "271.51", "bid": "1,400"}]}
    assert format_lines(IbkrWsKey.PRICE_LADDER, ladder, T) == [
        "14:02:07.512 bd+DU1+265598 ask 271.60x5,300 [200 @ 271.59] bid 271.51x1,400"]


def test_events_as_lines_and_json() -> None:
    event = WsEvent(EventKind.DISCONNECTED, T, reason="closed by the server", detail={"code": 1011})
    assert event_line(event, False) == '14:02:07.512 event disconnected reason="closed by the server" code=1011'
    assert json.loads(event_line(event, True)) == {"time": round(T, 3), "event": event.to_dict()}
