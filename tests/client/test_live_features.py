"""Callbacks, live state, events and health from the sync front door (issue 4)."""

from __future__ import annotations

import threading

from ibkrws import EventKind, IbkrWsKey
from tests.client.conftest import drain, wait_for


def test_sync_callbacks_raising_and_blocking_do_not_stall_delivery(sim, make_client):
    client = make_client(start=True, max_queue_size=10)
    release = threading.Event()
    calls = {"failing": 0, "blocking": 0}

    def failing(message):
        calls["failing"] += 1
        raise ValueError("callback bug")

    def blocking(message):
        calls["blocking"] += 1
        release.wait(30)

    remove_failing = client.on(IbkrWsKey.MARKET_DATA, failing)
    client.on(IbkrWsKey.MARKET_DATA, blocking)
    events = client.new_event_accessor()
    reader = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    assert client.subscribe("md+265598", {"fields": ["31"]})
    assert len(drain(reader, 30)) == 30  # more than the blocked callback's queue holds
    wait_for(lambda: calls["failing"] >= 5, what="the failing callback to keep being called")
    assert calls["blocking"] == 1
    failure = wait_for(lambda: next((e for e in iter(events.get, None) if e.kind is EventKind.CALLBACK_FAILED),
                                    None), what="a CALLBACK_FAILED event")
    assert "callback bug" in failure.reason
    wait_for(lambda: client.health().drops, what="the blocked callback's drops to be counted")
    remove_failing()
    release.set()


def test_live_state_orders_trades_and_market_data(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("or")
    assert client.subscribe("tr")
    assert client.subscribe("md+265598", {"fields": ["31", "84", "86"]})
    wait_for(lambda: any(f.startswith("sor") for f in sim.received_frames()), what="sor at the gateway")
    order_id = sim.place_order(conid=265598, side="BUY", quantity=3, order_type="MKT")
    order = wait_for(lambda: (o := client.order(order_id)) and o.get("status") == "Filled" and o,
                     what="the order filled")
    assert order["ticker"] == "AAPL" and order["filledQuantity"] == 3.0
    trades = wait_for(lambda: [t for t in client.trades().values() if t.get("order_id") == order_id
                               and "commission" in t], what="the execution with its commission")
    assert len(trades) == 1  # sent twice by the gateway, kept once
    snapshot = wait_for(lambda: (s := client.market_data(265598)) and s["updates"] >= 3 and s, what="updates")
    assert {"last_price", "bid_price", "ask_price"} <= set(snapshot)
    assert set(snapshot["fields_updated"]) >= {"last_price", "bid_price", "ask_price"}


def test_price_ladder_state(sim, make_client):
    client = make_client(start=True)
    channel = f"bd+{sim.account_id}+265598"
    assert client.subscribe(channel)
    rows = wait_for(lambda: client.price_ladder(channel), what="ladder rows")
    assert all("row" in r and "price" in r for r in rows)


def test_health_report_shapes(sim, make_client):
    client = make_client(start=True)
    kept = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)  # not read: its depth shows in the report
    assert client.subscribe("md+265598", {"fields": ["31"]})
    drain(client.new_queue_accessor(IbkrWsKey.MARKET_DATA), 5)
    report = client.health()
    assert report.queue_depths["MARKET_DATA"] and kept.qsize()
    assert report.healthy and report.state == "ready" and report.authenticated is True
    assert report.last_heartbeat_age is not None and report.last_heartbeat_age < 5
    assert report.subscriptions[0].channel == "md+265598" and report.subscriptions[0].active
    data = report.to_dict()
    assert data["healthy"] is True and "messages_per_second" in data
    client.shutdown()
    assert client.health().state == "stopped" and not client.health().healthy


def test_unread_default_accessor_stops_filling_once_an_own_accessor_exists(sim, make_client):
    client = make_client(start=True)
    own = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    assert client.subscribe("md+265598", {"fields": ["31"]})
    drain(own, 5)
    assert client.empty(IbkrWsKey.MARKET_DATA)  # the default was never read: it was not fed
    assert client.get(IbkrWsKey.MARKET_DATA, block=True, timeout=5) is not None  # reading resumes it
    assert drain(own, 3)
