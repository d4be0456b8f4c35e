"""Merged market-data state equals applying the deltas by hand (property test), and dedup rules."""

from __future__ import annotations

from contextlib import contextmanager

from hypothesis import given
from hypothesis import strategies as st

from ibkrws.protocol import market_rows
from ibkrws.protocol.live_state import LiveState
from ibkrws.protocol.market_data import unwrap

FIELDS = ["31", "84", "85", "86", "88", "7059", "83", "87", "87_raw"]
values = st.one_of(st.text(min_size=1, max_size=6), st.floats(allow_nan=False, allow_infinity=False),
                   st.integers())
delta = st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=len(FIELDS))


@given(st.lists(st.tuples(st.sampled_from([265598, 8314]), delta), min_size=1, max_size=200),
       st.integers(min_value=1, max_value=6))
def test_merged_state_equals_manual_application(deltas, max_shapes):
    state = LiveState()
    manual: dict[int, dict] = {}
    manual_times: dict[int, dict] = {}
    counts: dict[int, int] = {}
    with shapes_bound(max_shapes):  # small bounds fold often: the folded times must be the same
        for i, (conid, fields) in enumerate(deltas):
            message = {"topic": f"smd+{conid}", "conid": conid, "_updated": 1_000 + i, "server_id": "q1", **fields}
            row = unwrap(message)[conid]
            assert state.merge_market_data(conid, row)
            manual.setdefault(conid, {}).update(row)
            manual_times.setdefault(conid, {}).update(dict.fromkeys(row, 1_000 + i))
            counts[conid] = counts.get(conid, 0) + 1
            if i % 7 == 0:  # reads between merges see the state so far
                assert state.market_data(conid)["fields_updated"] == manual_times[conid]
    for conid, expected in manual.items():
        snapshot = state.market_data(conid)
        times = snapshot.pop("fields_updated")
        assert snapshot.pop("updates") == counts[conid]
        assert snapshot == expected
        assert times == manual_times[conid]


@contextmanager
def shapes_bound(limit):
    saved = market_rows.MAX_SHAPES
    market_rows.MAX_SHAPES = limit
    try:
        yield
    finally:
        market_rows.MAX_SHAPES = saved


def test_distinct_key_sets_stay_bounded_per_conid():
    state = LiveState()
    for i in range(1_000):  # every message a different key set
        state.merge_market_data(1, {"conid": 1, "_updated": i, f"field{i}": i})
    row = state.market.rows[1]
    assert len(row.history[1]) <= market_rows.MAX_SHAPES
    times = state.market_data(1)["fields_updated"]
    assert times["field0"] == 0 and times["field999"] == 999 and times["_updated"] == 999


def test_repeated_first_message_is_not_an_update():
    state = LiveState()
    first = {"topic": "smd+1", "conid": 1, "_updated": 5, "31": "10.00", "84": "9.99"}
    same_other_order = {"84": "9.99", "31": "10.00", "_updated": 5, "conid": 1, "topic": "smd+1"}
    assert state.merge_market_data(1, unwrap(first)[1])
    assert not state.merge_market_data(1, unwrap(same_other_order)[1])
    assert state.market_data(1)["updates"] == 1 and state.duplicates == 1
    assert state.market_data("1")["last_price"] == "10.00"


def test_orders_merge_partial_updates_and_trades_keep_latest():
    state = LiveState()
    state.merge_orders({"topic": "sor", "args": [{"orderId": 7, "status": "Inactive", "ticker": "AAPL"}]})
    state.merge_orders({"topic": "sor", "args": [{"orderId": 7, "status": "Submitted"}]})
    assert state.order(7) == {"orderId": 7, "status": "Submitted", "ticker": "AAPL"}
    state.merge_trades({"topic": "str", "args": [{"execution_id": "e1", "price": "1"}]})
    state.merge_trades({"topic": "str", "args": [{"execution_id": "e1", "price": "1", "commission": "0.5"}]})
    assert state.trades() == {"e1": {"execution_id": "e1", "price": "1", "commission": "0.5"}}
    state.merge_ladder({"topic": "sbd+DU1+265598", "data": [{"row": 0, "price": "1"}]})
    assert state.ladder("bd+DU1+265598") == [{"row": 0, "price": "1"}]


def test_orders_and_trades_kept_are_bounded_oldest_first():
    state = LiveState(max_kept=3)
    for i in range(5):
        state.merge_orders({"topic": "sor", "args": [{"orderId": i, "status": "Submitted"}]})
        state.merge_trades({"topic": "str", "args": [{"execution_id": f"e{i}"}]})
    assert sorted(state.orders()) == [2, 3, 4]
    assert sorted(state.trades()) == ["e2", "e3", "e4"]
    state.merge_orders({"topic": "sor", "args": [{"orderId": 3, "status": "Filled"}]})  # an update keeps its place
    assert state.order(3)["status"] == "Filled" and sorted(state.orders()) == [2, 3, 4]
