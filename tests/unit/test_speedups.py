"""The C speedups give exactly what their pure-Python twins give, and are in use where they were built."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibkrws.protocol import market_data, market_rows, speedups
from ibkrws.protocol.market_data import _NAMES, unwrap_row_py

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
        assert C is not None, "ibkrws.protocol._speedups was not built: is a C compiler installed?"
        assert market_data.unwrap_row is not unwrap_row_py and market_rows._stamp is C.stamp


@needs_c
@given(messages, json_values)
def test_c_unwrap_equals_python_unwrap(message, conid):
    c_row, py_row = C.unwrap_row(_NAMES, message, conid), unwrap_row_py(message, conid)
    assert c_row == py_row and list(c_row) == list(py_row)  # same keys in the same order


@needs_c
@given(st.lists(messages, min_size=1, max_size=8))
def test_c_stamp_equals_python_stamp(named_rows):
    c_values, c_shapes, py_values, py_shapes = {}, {}, {}, {}
    for number, named in enumerate(named_rows):
        c_n = C.stamp(c_values, c_shapes, named, number, named.get("_updated"))
        py_n = market_rows.stamp_py(py_values, py_shapes, named, number, named.get("_updated"))
        assert c_n == py_n
    assert c_values == py_values and c_shapes == py_shapes


@needs_c
def test_c_functions_reject_wrong_arguments_clearly():
    with pytest.raises(TypeError, match="names, message, conid"):
        C.unwrap_row(_NAMES, {})
    with pytest.raises(TypeError, match="dict message"):
        C.unwrap_row(_NAMES, [("31", 1)], 1)
    with pytest.raises(TypeError, match="values, shapes, named"):
        C.stamp({}, {}, {})
    with pytest.raises(TypeError, match="dicts"):
        C.stamp({}, [], {}, 1, 2)
