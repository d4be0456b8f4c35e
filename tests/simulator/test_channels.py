"""The eight solicited channels and their confirmation behaviour (protocol.md 5.0 - 5.8)."""

from __future__ import annotations

import pytest

from ibkrws.simulator import AsyncSimulator
from tests.simulator.probe import connect, make_sim

META = {"topic", "conid", "conidEx", "_updated", "server_id", "6119"}


def _smd(topic: str):
    return lambda m: m.topic == topic


async def test_smd_first_message_twice_then_deltas(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31","84","86","6509","83","87","85","88"]}')
    first, second = await probe.collect(_smd("smd+265598"), 2)
    assert first.obj == second.obj and list(first.obj) != list(second.obj)
    assert META <= set(first.obj) and first.obj["server_id"] == first.obj["6119"]
    assert first.obj["server_id"].startswith("q") and first.obj["conid"] == 265598
    assert first.obj["conidEx"] == "265598" and isinstance(first.obj["_updated"], int)
    assert isinstance(first.obj["31"], str) and isinstance(first.obj["83"], float)
    assert first.obj["6509"] == "DPB" and isinstance(first.obj["87_raw"], float)
    assert first.obj["87"][-1] in "KMB" and isinstance(first.obj["88"], str)
    state = {k: v for k, v in first.obj.items() if k not in META}
    allowed = META | {"31", "84", "86", "6509", "83", "87", "87_raw", "85", "88", "6508"}
    for delta in await probe.collect(_smd("smd+265598"), 8):
        assert META <= set(delta.obj) <= allowed
        assert delta.obj["server_id"] == first.obj["server_id"]
        changed = {k: v for k, v in delta.obj.items() if k not in META and k != "6508"}
        assert changed, delta.obj
        assert all(state.get(k) != v for k, v in changed.items() if not k.endswith("_raw")), (state, changed)
        state.update(changed)
    await probe.close()


@pytest.mark.parametrize("text", ["smd+265598", "smd+265598+{}", 'smd+265598+{"fields": ["31", "84"]}'])
async def test_smd_request_forms(sim: AsyncSimulator, text: str) -> None:
    probe = await connect(sim)
    await probe.ws.send_str(text)
    first = await probe.topic("smd+265598")
    if "fields" in text:
        assert set(first.obj) == META | {"31", "84", "6509"}
    else:
        assert {"31", "55", "84", "86", "6509"} <= set(first.obj)
    await probe.close()


async def test_smd_unknown_conid_and_synthetic_conid(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+8595+{"fields":["31","84","86"]}')
    first, second = await probe.collect(_smd("smd+8595"), 2)
    assert set(first.obj) == META | {"55", "31"} and first.obj["55"] == "-" and first.obj["31"] == "N/A"
    await probe.ws.send_str('smd+80268543+{"fields":["31","84","86","6509","83"]}')
    meta_only = await probe.topic("smd+80268543")
    assert set(meta_only.obj) == META | {"6509"}
    priced = await probe.until(lambda m: m.topic == "smd+80268543" and "31" in m.obj)
    assert len(priced.obj["31"].split(".")[1]) == 3
    later = await probe.frames_until_heartbeats(3)
    assert not any(m.topic == "smd+8595" for m in later)
    await probe.close()


async def test_umd_no_reply_and_data_stops(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31","84","86"]}')
    await probe.collect(_smd("smd+265598"), 3)
    await probe.ws.send_str("umd+265598+{}")
    before = await probe.barrier()
    assert all(m.topic == "smd+265598" for m in before)
    assert await probe.frames_until_heartbeats(3) == []
    await probe.close()


async def test_smd_expires_silently_and_resubscribe_keeps_stream() -> None:
    async with make_sim(smd_expiry=0.6) as sim:
        probe = await connect(sim)
        await probe.ws.send_str('smd+272093+{"fields":["31","84","86"]}')
        first = await probe.topic("smd+272093")
        # keep re-sending before expiry for two expiry periods: same stream, no new first message
        for _ in range(6):
            await probe.collect(lambda m: m.is_hb, 1)
            await probe.ws.send_str('smd+272093+{"fields":["31","84","86"]}')
        frames = [m for m in probe.log if m.topic == "smd+272093"]
        assert {m.obj["server_id"] for m in frames} == {first.obj["server_id"]}
        assert sum(1 for m in frames if "6509" in m.obj) == 2  # only the original duplicated first message
        await probe.topic("smd+272093")  # still streaming after two expiry periods
        # stop re-sending: the stream ends without any message
        quiet_beats = 0
        while quiet_beats < 4:
            msg = await probe.next()
            quiet_beats = quiet_beats + 1 if msg.is_hb else 0
            assert msg.topic in ("system", "smd+272093")
        await probe.close()


async def test_market_data_line_limit() -> None:
    async with make_sim(market_data_lines=2) as sim:
        probe = await connect(sim)
        for conid in (265598, 272093, 8314):
            await probe.ws.send_str(f'smd+{conid}+{{"fields":["31"]}}')
        err = await probe.until(lambda m: m.obj is not None and "error" in m.obj)
        assert err.obj == {"topic": "smd+8314", "error": "Market data line limit reached (2 lines)", "code": 429}
        await probe.ws.send_str("umd+265598+{}")
        await probe.ws.send_str('smd+8314+{"fields":["31"]}')
        await probe.topic("smd+8314")
        await probe.close()


async def test_smh_once_limit_and_umh(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smh+265598+{"period":"1h","bar":"5min","outsideRth":false,"source":"trades"}')
    hist = await probe.topic("smh+265598")
    assert isinstance(hist.obj["serverId"], str) and hist.obj["symbol"] == "AAPL"
    assert len(hist.obj["data"]) == 12 and hist.obj["points"] == 11 and hist.obj["barLength"] == 300
    bar = hist.obj["data"][0]
    assert set(bar) == {"o", "c", "h", "l", "v", "t"} and isinstance(bar["t"], int)
    assert hist.obj["high"].count("/") == 2
    for conid in (272093, 8314, 3691937, 4815747):
        await probe.ws.send_str(f"smh+{conid}+{{}}")
        await probe.topic(f"smh+{conid}")
    await probe.ws.send_str("smh+107113386+{}")
    err = await probe.until(lambda m: m.obj is not None and "error" in m.obj)
    assert err.topic == "smh+107113386" and "(5)" in err.obj["error"]
    await probe.ws.send_str(f"umh+{hist.obj['serverId']}")
    reply = await probe.until(lambda m: not m.is_hb)
    assert reply.obj == {"message": f"Unsubscribed {hist.obj['serverId']}"}
    await probe.ws.send_str("smh+107113386+{}")
    await probe.topic("smh+107113386")
    assert not any(m.topic and m.topic.startswith("smh") for m in await probe.frames_until_heartbeats(2))
    await probe.close()


async def test_sbd_ladder_and_ubd(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    acct = sim.account_id
    await probe.ws.send_str(f"sbd+{acct}+265598+ARCA")
    ladder = await probe.topic(f"sbd+{acct}+265598")
    rows = ladder.obj["data"]
    assert [r["row"] for r in rows] == list(range(len(rows)))
    assert all(set(r) - {"bid", "ask"} == {"row", "focus", "price"} for r in rows)
    assert any("ask" in r for r in rows) and any("bid" in r for r in rows)
    await probe.ws.send_str(f"ubd+{acct}")
    await probe.barrier()
    assert await probe.frames_until_heartbeats(3) == []
    await probe.close()


async def test_no_reply_to_unsubscribes(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    for text in ("umd+265598+{}", "uor+{}", "upl+{}", "utr", "utr+{}", f"ubd+{sim.account_id}"):
        await probe.ws.send_str(text)
    assert await probe.barrier() == []
    await probe.close()


async def test_sor_no_snapshot_then_lifecycle_and_cancel(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str("sor+{}")
    assert await probe.frames_until_heartbeats(2) == []  # no snapshot on subscribe
    order_id = sim.place_order(conid=265598, side="BUY", quantity=1, order_type="LMT", price=1.0)
    placed = await probe.collect(lambda m: m.topic == "sor", 5)
    assert all(isinstance(m.obj["args"], list) and len(m.obj["args"]) == 1 for m in placed)
    args = [m.obj["args"][0] for m in placed]
    assert args[0]["status"] == "Inactive" and args[0]["orderDesc"] == "Buy 1 AAPL Limit 1.00, Day"
    assert args[0]["orderId"] == order_id and args[0]["price"] == "1.00" and args[0]["sizeAndFills"] == "0/1"
    assert [a.get("status") for a in args[1:]] == [None, "PendingSubmit", "PreSubmitted", "Submitted"]
    sim.cancel_order(order_id)
    pending, cancelled = (m.obj["args"][0] for m in await probe.collect(lambda m: m.topic == "sor", 2))
    assert pending["status"] == "PendingCancel" and "companyName" in pending
    assert cancelled == {"acct": sim.account_id, "orderId": order_id, "status": "Cancelled",
                         "order_ccp_status": "Cancelled", "bgColor": "#FFFFFF", "fgColor": "#AA0000"}
    with pytest.raises(ValueError, match="Cancelled"):
        sim.cancel_order(order_id)
    await probe.close()


async def test_market_order_fills_with_str_and_spl(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    for text in ("sor", 'str+{"realtimeUpdatesOnly":true}', "spl+{}"):
        await probe.ws.send_str(text)
    await probe.until(lambda m: m.topic == "str" and m.obj["args"] == [])
    await probe.topic("spl")
    order_id = sim.place_order(conid=8314, side="SELL", quantity=5, order_type="MKT")
    fill = await probe.until(lambda m: m.topic == "sor" and m.obj["args"][0].get("status") == "Filled")
    upd = fill.obj["args"][0]
    assert upd["sizeAndFills"] == "5" and upd["filledQuantity"] == 5.0 and upd["remainingQuantity"] == 0.0
    assert isinstance(upd["avgPrice"], str)
    plain, with_commission = await probe.collect(lambda m: m.topic == "str" and m.obj["args"] != [], 2)
    assert "commission" not in plain.obj["args"][0] and with_commission.obj["args"][0]["commission"] == "1.0"
    ex = with_commission.obj["args"][0]
    assert ex["order_id"] == order_id and ex["side"] == "S" and ex["size"] == 5.0 and ex["conid"] == 8314
    assert ex["position"] == "20"  # 25 held, 5 sold
    await probe.topic("spl")
    with pytest.raises(ValueError):
        sim.fill_order(order_id)
    await probe.close()


async def test_partial_fill_and_sor_filters(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('sor+{"filters":["Filled"]}')
    await probe.barrier()
    order_id = sim.place_order(conid=272093, side="BUY", quantity=10, price=400.0)
    sim.fill_order(order_id, quantity=3)
    assert await probe.frames_until_heartbeats(2) == []  # nothing matched the Filled filter yet
    await probe.ws.send_str("sor+{}")
    await probe.barrier()  # the simulator has processed the new subscription
    sim.fill_order(order_id, quantity=4)
    part = (await probe.topic("sor")).obj["args"][0]
    assert part["sizeAndFills"] == "7/3" and part["filledQuantity"] == 7.0 and part["avgPrice"] == "400.00"
    with pytest.raises(ValueError, match="<= 3"):
        sim.fill_order(order_id, quantity=5)
    await probe.close()


async def test_str_history_twice_and_days(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('str+{"realtimeUpdatesOnly":false}')
    empty = await probe.topic("str")
    assert empty.obj == {"topic": "str", "args": []}
    frames = await probe.frames_until_heartbeats(2)
    execs = [m.obj["args"][0] for m in frames if m.topic == "str"]
    assert len(execs) == 8  # four of today's executions, each without then with commission
    for plain, full in zip(execs[::2], execs[1::2], strict=True):
        assert "commission" not in plain and "commission" in full
        assert {k: v for k, v in full.items() if k != "commission"} == plain
    cash = [e for e in execs if e["sec_type"] == "CASH"]
    assert cash and all("listing_exchange" not in e and "position" not in e for e in cash)
    await probe.ws.send_str("utr")
    await probe.ws.send_str('str+{"days":7}')
    await probe.topic("str")
    week = [m for m in await probe.frames_until_heartbeats(2) if m.topic == "str"]
    assert len(week) == 10
    await probe.close()


async def test_spl_streams_core_row(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str("spl+{}")
    rows = await probe.collect(lambda m: m.topic == "spl", 3)
    for m in rows:
        assert list(m.obj["args"]) == [f"{sim.account_id}.Core"]
        row = m.obj["args"][f"{sim.account_id}.Core"]
        assert set(row) == {"rowType", "dpl", "nl", "upl", "uel", "mv"} and row["rowType"] == 1
    await probe.close()


async def test_ssd_filters_and_usd(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    acct = sim.account_id
    await probe.ws.send_str(f"ssd+{acct}+{{}}")
    full = await probe.topic(f"ssd+{acct}")
    keys = {e["key"] for e in full.obj["result"]}
    assert {"AccountCode", "NetLiquidation", "ExcessLiquidity-S"} <= keys
    for entry in full.obj["result"]:
        assert isinstance(entry["timestamp"], int) and entry["timestamp"] < 10_000_000_000
        assert ("value" in entry) != ("monetaryValue" in entry)
    await probe.ws.send_str(f"usd+{acct}+{{}}")
    await probe.until(lambda m: m.obj == {"result": "unsubscribed from summary"})
    await probe.ws.send_str(
        f'ssd+{acct}+{{"keys":["AccruedCash-S","ExcessLiquidity-S"],"fields":["currency","monetaryValue"]}}')
    filtered = await probe.topic(f"ssd+{acct}")
    assert [e["key"] for e in filtered.obj["result"]] == ["AccruedCash-S", "ExcessLiquidity-S"]
    assert all(set(e) == {"key", "currency", "monetaryValue", "timestamp"} for e in filtered.obj["result"])
    await probe.topic(f"ssd+{acct}")  # periodic
    await probe.close()


async def test_sld_ledger_changes_only_and_uld(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    acct = sim.account_id
    await probe.ws.send_str(f"sld+{acct}+{{}}")
    first = await probe.topic(f"sld+{acct}")
    base = first.obj["result"][0]
    assert base["key"] == "LedgerListBASE" and base["secondKey"] == "BASE" and "cashbalance" in base
    assert all(isinstance(base[k], float) for k in ("cashbalance", "netLiquidationValue", "exchangeRate"))
    later = await probe.collect(lambda m: m.topic == f"sld+{acct}", 4)
    for m in later:
        for entry in m.obj["result"]:
            assert set(entry) == {"key", "timestamp"} or len(entry) == len(base)
    await probe.ws.send_str(f"uld+{acct}+{{}}")
    await probe.until(lambda m: m.obj == {"result": "unsubscribed from ledger"})
    await probe.ws.send_str(f'sld+{acct}+{{"keys":["LedgerListUSD"],"fields":["cashBalance","exchangeRate"]}}')
    filtered = await probe.topic(f"sld+{acct}")
    assert [set(e) for e in filtered.obj["result"]] == [{"key", "cashbalance", "exchangeRate", "timestamp"}]
    await probe.close()


async def test_brokerage_topics_need_brokerage_session(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.lose_auth()
    await probe.collect(lambda m: m.topic == "sts", 3)
    await probe.ws.send_str('smd+265598+{"fields":["31"]}')
    err = await probe.until(lambda m: m.obj is not None and "error" in m.obj)
    assert err.obj == {"error": "No accounts", "code": 500, "topic": "smd"}
    await probe.ws.send_str("spl+{}")
    await probe.topic("spl")
    await probe.close()


@pytest.mark.parametrize("as_list", [False, True])
async def test_unsolicited_messages(sim: AsyncSimulator, as_list: bool) -> None:
    probe = await connect(sim)
    sim.send_bulletin("Exchange halted", as_list=as_list)
    sim.send_notification("CFD quotes reference the underlying", as_list=as_list)
    sim.send_account_update()
    sim.send_status({"authenticated": True})
    blt, ntf, act, sts = [await probe.until(lambda m: not m.is_hb) for _ in range(4)]
    item = blt.obj["args"][0] if as_list else blt.obj["args"]
    assert blt.topic == "blt" and item["message"] == "Exchange halted" and "id" in item
    note = ntf.obj["args"][0] if as_list else ntf.obj["args"]
    assert ntf.topic == "ntf" and set(note) == {"id", "text", "title", "url"}
    assert act.topic == "act" and act.obj["args"]["accounts"] == [sim.account_id]
    assert sts.obj == {"topic": "sts", "args": {"authenticated": True}}
    await probe.close()



async def test_documented_error_frames(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    cases = [
        ('smd+abc+{"fields":["31"]}', {"topic": "smd+abc", "error": "Invalid conid 'abc'", "code": 400}),
        ('smd+265598+{"fields":', {"error": "arguments of 'smd+265598' are not valid JSON", "code": 1, "topic": "smd"}),
        ("ssd+U999+{}", {"topic": "ssd+U999", "error": "Invalid account 'U999'", "code": 400}),
        ("smh+8595+{}", {"topic": "smh+8595", "error": "No historical data for this contract", "code": 404}),
    ]
    for text, expected in cases:
        await probe.ws.send_str(text)
        assert (await probe.until(lambda m: not m.is_hb)).obj == expected
    await probe.close()


async def test_market_states(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.set_market_state(8314, "closed")
    await probe.ws.send_str('smd+8314+{"fields":["31"]}')
    assert (await probe.topic("smd+8314")).obj["31"].startswith("C")
    sim.set_market_state(8314, "halted")
    await probe.until(lambda m: m.topic == "smd+8314" and m.obj.get("31", "").startswith("H"))
    with pytest.raises(ValueError, match="market state"):
        sim.set_market_state(8314, "frozen")
    await probe.close()
