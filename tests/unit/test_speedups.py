"""The C speedups give exactly what their pure-Python twins give, and are in use where they were built."""

from __future__ import annotations

import os

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibkrws import speedups
from ibkrws.client.market_sink import MarketDataSinkPy
from ibkrws.engine.fast_path import HANDLED, frame_path_py, new_frame_path
from ibkrws.protocol import market_data, market_rows
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.market_data import _NAMES, unwrap_row_py
from ibkrws.queues import BoundedBuffer, QueueAccessor, QueueController

C = speedups.module
needs_c = pytest.mark.skipif(C is None, reason="the C speedups are not built or IBKRWS_NO_EXTENSIONS is set")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
field_keys = st.sampled_from([*list(_NAMES)[:40], "conid", "_updated", "topic", "server_id", "conidEx", "9999", ""])
messages = st.dictionaries(st.one_of(field_keys, st.text(max_size=6)), json_values, max_size=20)


def test_the_extension_is_in_use_unless_disabled():
    """CI builds it (setup.py, gcc): a silent fall-back to pure Python would go unnoticed otherwise."""
    if os.environ.get("IBKRWS_NO_EXTENSIONS", "") not in ("", "0"):
        assert C is None and market_data.unwrap_row is unwrap_row_py
    else:
        assert C is not None, "ibkrws._speedups was not built: is a C compiler installed?"
        assert market_data.unwrap_row is not unwrap_row_py and market_rows._merge is C.merge
        assert type(new_frame_path({}, orjson.loads)) is C.FramePath


@needs_c
@given(messages, json_values)
def test_c_unwrap_equals_python_unwrap(message, conid):
    c_row, py_row = C.unwrap_row(_NAMES, message, conid), unwrap_row_py(message, conid)
    assert c_row == py_row and list(c_row) == list(py_row)  # same keys in the same order


shared_keys = st.sampled_from([("conid", "31"), ("conid", "31", "84"), ("conid", "84"), ("conid", "7059", "31")])


@needs_c
@given(st.lists(st.tuples(st.sampled_from([1, 2]), st.one_of(shared_keys.map(lambda keys: dict.fromkeys(keys, "v")),
                                                              messages),
                          st.sampled_from([5, 6, None])), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=4))
def test_c_merge_equals_python_merge(updates, max_shapes):
    """Same rows, update counts, field times and duplicate verdicts, with repeated first messages, runs of one
    key set (the pending-stamp path) and folds."""
    c_rows: dict = {}
    py_rows: dict = {}
    for conid, named, updated in updates:
        named = {**named, "_updated": updated}
        c_result = C.merge(c_rows, conid, dict(named), market_rows.MarketRow, max_shapes)
        py_result = market_rows.merge_py(py_rows, conid, dict(named), market_rows.MarketRowPy, max_shapes)
        assert c_result is py_result
        c_row, py_row = c_rows[conid], py_rows[conid]
        assert (c_row.values, c_row.updates, c_row.field_times()) == (py_row.values, py_row.updates,
                                                                       py_row.field_times())
        assert len(c_row.history[1]) <= max_shapes and len(py_row.history[1]) <= max_shapes
    assert c_rows.keys() == py_rows.keys()


@needs_c
def test_c_row_keeps_its_history_well_formed():
    row = market_rows.MarketRow()
    with pytest.raises(TypeError, match="history must be"):
        row.history = ({}, [])
    with pytest.raises(AttributeError):
        row.values = {}
    with pytest.raises(TypeError, match="rows made by"):
        C.merge({1: market_rows.MarketRowPy()}, 1, {"_updated": 1}, market_rows.MarketRowPy, 4)


@needs_c
def test_c_functions_reject_wrong_arguments_clearly():
    with pytest.raises(TypeError, match="names, message, conid"):
        C.unwrap_row(_NAMES, {})
    with pytest.raises(TypeError, match="dict message"):
        C.unwrap_row(_NAMES, [("31", 1)], 1)
    with pytest.raises(TypeError, match="rows, conid, named"):
        C.merge({}, 1, {})
    with pytest.raises(TypeError, match="dicts for rows and named"):
        C.merge([], 1, {}, market_rows.MarketRow, 4)


def test_c_unwrap_memo_follows_the_names_and_the_keys():
    """The per-position memo of names must not outlive a change of names dict or of key at a position."""
    if C is None:
        pytest.skip("the C speedups are not built")
    a_names, b_names = {"31": "a"}, {"31": "b"}
    message = {"31": 1, "84": 2}
    assert C.unwrap_row(a_names, message, 9) == {"conid": 9, "_updated": None, "topic": None, "a": 1}
    assert C.unwrap_row(b_names, message, 9)["b"] == 1
    swapped = {"84": 2, "31": 1}  # same key objects, other positions
    assert C.unwrap_row(b_names, swapped, 9) == {"conid": 9, "_updated": None, "topic": None, "b": 1}


def _drain(accessor):
    items = []
    while (item := accessor.get()) is not None:
        items.append(item)
    return items


def _run_sink(sink_class, messages, unwrap, small, feed=None):
    """What a sink did with `messages`: counters, drops, each consumer's items, the rows (`feed(sink, messages)`
    hands them over some other way than calling the sink with each)."""
    market = market_rows.MarketRows()
    queues = QueueController(max_queue_size=small)
    big = BoundedBuffer(10_000)
    queues.attach(IbkrWsKey.MARKET_DATA, big)
    tiny = queues.new_queue_accessor(IbkrWsKey.MARKET_DATA)  # bounded at `small`: overflows
    make_row = market_rows.MarketRowPy if sink_class is MarketDataSinkPy else market_rows.MarketRow
    sink = sink_class(_NAMES, market, make_row, 3, queues.fanouts, IbkrWsKey.MARKET_DATA, unwrap, queues.put_full)
    if feed is None:
        for message in messages:
            sink(dict(message))
    else:
        feed(sink, messages)
    delivered = []
    while True:
        found, item = big.get()
        if not found:
            break
        delivered.append(item)
    rows = {c: (r.values, r.updates, r.field_times()) for c, r in market.rows.items()}
    return (sink.count, sink.skipped, market.duplicates, queues.dropped_total, tiny.dropped, _drain(tiny), delivered,
            rows)


smd_messages = st.lists(
    st.fixed_dictionaries({"topic": st.just("smd+1")},
                          optional={"conid": st.sampled_from([1, 2, None]), "_updated": st.sampled_from([5, 6, 7]),
                                    "31": st.text(max_size=3), "84": st.sampled_from(["1", "2"]),
                                    "server_id": st.just("q1"), "7059": st.integers(0, 3)}),
    max_size=25)


@needs_c
@given(smd_messages, st.booleans(), st.integers(min_value=1, max_value=4))
def test_c_sink_equals_python_sink(messages, unwrap, small):
    """Counters, duplicates, drops, what each consumer received (in order) and the rows are the same."""
    assert _run_sink(C.MarketDataSink, messages, unwrap, small) == _run_sink(MarketDataSinkPy, messages, unwrap, small)


@needs_c
def test_c_sink_rejects_wrong_arguments_clearly():
    market = market_rows.MarketRows()
    with pytest.raises(TypeError):
        C.MarketDataSink(_NAMES, market, market_rows.MarketRow, 3, [], IbkrWsKey.MARKET_DATA, True, print)
    sink = C.MarketDataSink(_NAMES, market, market_rows.MarketRow, 3, {}, IbkrWsKey.MARKET_DATA, True, print)
    with pytest.raises(TypeError, match="dict message"):
        sink([("conid", 1)])


def _outcome(call, *args, **kwargs):
    try:
        return ("value", call(*args, **kwargs))
    except TypeError:  # CPython's wording for bad arguments differs between C and Python callables
        return ("TypeError",)
    except ValueError as exc:
        return ("ValueError", str(exc))


def _reader_outcomes(use_c, calls):
    queues = QueueController(max_queue_size=5)
    accessor = queues.new_queue_accessor("k")
    assert "get" in vars(accessor)  # the C reader is installed per instance

    def get(*args, **kwargs):
        return accessor.get(*args, **kwargs) if use_c else QueueAccessor.get(accessor, *args, **kwargs)

    seen = []
    for i, (args, kwargs) in enumerate(calls):
        queues.put_to_queue("k", {"n": i})
        seen.append(_outcome(get, *args, **kwargs))
    seen.append([get() for _ in range(len(calls) + 1)])  # drain, then one more: None
    accessor._buffer.close()
    seen.append((get(True, 0.01), get(True, 0.01)))  # closed stays closed for every reader
    return seen


@needs_c
def test_c_queue_reader_equals_python_get():
    """Values, None when empty or closed, and the errors for bad arguments are the same both ways."""
    calls = [((), {}), ((False,), {}), ((True, 0.01), {}), ((), {"block": True, "timeout": 0}),
             ((), {"timeout": -1}), ((True, -0.5), {}), ((), {"timeout": "soon"}), ((), {"blocking": True}),
             ((True,), {"block": True}), ((True, 1, 2), {})]
    with_c, with_python = _reader_outcomes(True, calls), _reader_outcomes(False, calls)
    assert with_c == with_python
    assert ("ValueError", "timeout must be None or a non-negative number of seconds, got -1") in with_c
    assert with_c[-1] == (None, None) and with_c[0] == ("value", {"n": 0})


class _Sub:
    __slots__ = ("last_message_at",)

    def __init__(self):
        self.last_message_at = None


def _frame_outcomes(make):
    sub, calls = _Sub(), []
    fast = {"smd+1": (sub, calls.append)}
    frame_path = make(fast)
    payloads = [b'{"topic":"smd+1","conid":1,"31":"2"}', b'{"topic":"smd+1","error":"x"}', b'{"topic":"smd+2"}',
                b'[1,2]', b'null', b'7', b'{"topic":5}', b'{"no":"topic"}', b'not json', '{"topic":"smd+1","s":1}']
    seen = []
    for now, payload in enumerate(payloads):
        try:
            result = frame_path(payload, float(now))
            seen.append("handled" if result is HANDLED else ("message", result))
        except orjson.JSONDecodeError:
            seen.append("undecodable")
        seen.append((list(calls), sub.last_message_at))
    return seen


@needs_c
def test_c_frame_path_equals_python_frame_path():
    """Only an active subscription's error-free data goes to its handler; everything else comes back decoded."""
    with_c = _frame_outcomes(lambda fast: C.FramePath(fast, orjson.loads, HANDLED))
    with_python = _frame_outcomes(lambda fast: frame_path_py(fast, orjson.loads, HANDLED))
    assert with_c == with_python
    assert with_c.count("handled") == 2 and "undecodable" in with_c
