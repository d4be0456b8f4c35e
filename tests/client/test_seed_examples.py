"""The seed's examples, run against the simulator once `from ibind` reads `from ibkrws`."""

from __future__ import annotations

import logging
import re

from ibkrws import IbkrClient, IbkrWsClient, IbkrWsKey, ibind_logs_initialize
from tests.client.conftest import drain, wait_for


def test_basic_example_pnl(sim, make_client, monkeypatch):
    # "Assumes IBIND_ACCOUNT_ID and IBIND_CACERT environment variables have been set."
    monkeypatch.setenv("IBIND_ACCOUNT_ID", sim.account_id)
    monkeypatch.setenv("IBIND_CACERT", sim.cacert)
    monkeypatch.setenv("IBIND_WS_URL", sim.ws_url)
    ws_client = IbkrWsClient(start=True)
    try:
        ibkr_ws_key = IbkrWsKey.PNL
        assert ws_client.subscribe(channel=ibkr_ws_key.channel)
        messages: list = []

        def seed_loop_once():  # the seed's `while True:` body, bounded here by wait_for
            while not ws_client.empty(ibkr_ws_key):
                messages.append(ws_client.get(ibkr_ws_key))
            return len(messages) >= 2

        wait_for(seed_loop_once, what="two PNL messages")
        assert messages and messages[0]["topic"] == "spl"
        assert any(f"{sim.account_id}.Core" in m.get("args", {}) for m in messages)
    finally:
        ws_client.shutdown()


def test_lifecycle_example_logs(sim, make_client, capsys):
    ibind_logs_initialize()
    ws_client = make_client()
    assert ws_client.start() is True
    print(ws_client.running)
    ws_client.shutdown()
    print(ws_client.running)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "True" in lines and "False" in lines
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\|I\| IbkrWsClient: "
    for text in ["Starting", "Trying to connect", "Connection open", "Shutting down", "Connection closed",
                 "Gracefully stopped"]:
        assert re.search(stamp + re.escape(text), out), f"missing log line {text!r} in:\n{out}"
    assert out.index("Starting") < out.index("Connection open") < out.index("Shutting down") \
        < out.index("Gracefully stopped")
    logging.getLogger("ibkrws").handlers.clear()


def test_ibkr_client_passed_explicitly(sim, make_client):
    ibkr_client = IbkrClient(url=sim.rest_url, account_id=sim.account_id, cacert=sim.cacert)
    assert ibkr_client.tickle().data["session"]
    ws_client = make_client(ibkr_client=ibkr_client, start=True)
    assert ws_client.ready() or wait_for(ws_client.ready, what="ready")
    ibkr_client.close()


def test_subscribe_orders_and_trades_examples(sim, make_client):
    ws_client = make_client(start=True)
    assert ws_client.subscribe(channel="or", data=None)
    assert ws_client.subscribe(channel="tr", data={"realtimeUpdatesOnly": True, "days": 5})
    assert ws_client.subscribe(channel="tr", data={"realtimeUpdatesOnly": True, "days": 5}, needs_confirmation=True)
    order_id = sim.place_order(conid=265598, side="BUY", quantity=3, order_type="LMT", price=1.0)
    orders = ws_client.new_queue_accessor(IbkrWsKey.ORDERS)
    sim.cancel_order(order_id)
    seen = wait_for(lambda: [m for m in [orders.get(block=True, timeout=0.2)] if m], what="an order update")
    assert seen[0]["topic"] == "sor"
    assert isinstance(seen[0]["args"], list)


def test_queue_accessor_example_market_data(sim, make_client):
    ws_client = make_client(start=True)
    qa = ws_client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    assert ws_client.subscribe(channel="md+265598", data={"fields": ["31", "84", "86"]})
    items = drain(qa, 3)
    for item in items:
        assert list(item) == [265598]
        row = item[265598]
        assert row["conid"] == 265598 and row["topic"] == "smd+265598" and "_updated" in row
    assert any("last_price" in item[265598] for item in items)


def test_unsolicited_channels_to_be_queued_example(sim, make_client):
    ws_client = make_client(unsolicited_channels_to_be_queued=[IbkrWsKey.ERROR, IbkrWsKey.AUTHENTICATION_STATUS])
    qa = ws_client.new_queue_accessor(IbkrWsKey.ERROR)
    status = ws_client.new_queue_accessor(IbkrWsKey.AUTHENTICATION_STATUS)
    assert ws_client.start()
    first = drain(status, 1)[0]
    assert first.get("authenticated") is True
    assert ws_client.send("xyz+{}")  # an unknown topic: the gateway answers with an error
    error = drain(qa, 1)[0]
    assert "error" in error
