"""The C frame decoder (csrc/speedups/flat_json.c) gives exactly what orjson.loads gives, or declines.

FramePath decodes the common frame, a flat JSON object of plain ASCII strings, numbers, booleans and
nulls, itself, and hands an `smd` frame to the C sink as key/value pairs. Everything it declines
goes to orjson as before, so the only thing that matters is that what it accepts decodes to the
same values, types and key order, frame after frame (it remembers keys and values per position).
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibkrws import speedups
from ibkrws.client.market_sink import MarketDataSinkPy
from ibkrws.engine.fast_path import HANDLED, frame_path_py, new_frame_path
from ibkrws.protocol.market_data import _NAMES
from tests.conftest import read_jsonl
from tests.unit.test_speedups import _run_sink, _Sub, needs_c

C = speedups.module

keys = st.one_of(st.sampled_from([*list(_NAMES)[:12], "conid", "_updated", "topic", "error", "server_id", "a", ""]),
                 st.text(max_size=4))
numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,18})?([eE][+-]?[0-9]{1,3})?", fullmatch=True)
not_numbers = st.sampled_from(["01", "1.", ".5", "-", "+1", "1e", "1e+", "0x1", "--1", "1.e3", "Infinity", "NaN", "tru",
                               "nul", "falsey", "1 2"])
values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
    st.sampled_from(["181.50", "1,200", "RpB", "q1", "265598", "", "caf\u00e9", "a\"b", "a\\\\b", "\x01"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
).map(lambda v: json.dumps(v, ensure_ascii=False)) | numbers | not_numbers


@st.composite
def documents(draw):
    """JSON-ish objects: mostly valid, flat or not, with repeated keys, odd spacing and broken ends."""
    ws = draw(st.sampled_from(["", "", " ", "\n", " \t\r"]))
    pairs = draw(st.lists(st.tuples(keys.map(lambda k: json.dumps(k, ensure_ascii=draw(st.booleans()))), values),
                          max_size=12))
    body = ("," + ws).join(f"{k}{ws}:{ws}{v}" for k, v in pairs)
    text = f"{ws}{{{ws}{body}{ws}}}{ws}"
    cut = draw(st.sampled_from([None, None, None, "short", "tail", "comma", "array"]))
    if cut == "short":
        text = text[:draw(st.integers(0, max(len(text) - 1, 0)))]
    elif cut == "tail":
        text += draw(st.sampled_from(["x", "}", "{}", ","]))
    elif cut == "comma" and pairs:
        text = text.replace("}", ",}", 1) if text.rstrip().endswith("}") else text
    elif cut == "array":
        text = f"[{text}]"
    return text.encode("utf-8")


def _same(a, b):
    """Equal, with equal types all the way down, floats bit for bit and keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a.hex() == b.hex()
    return a == b


def _loads(payload):
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return JSON_ERROR


JSON_ERROR = object()


@needs_c
@given(st.lists(documents(), min_size=1, max_size=8))
def test_flat_decoder_equals_orjson_or_declines(payloads):
    """Frame after frame (the per-position memo carries over): never a different value, type or order."""
    for payload in payloads:
        flat, expected = C.decode_flat(payload), _loads(payload)
        if flat is not None:
            assert expected is not JSON_ERROR and _same(flat, expected), payload


@needs_c
@given(st.lists(st.tuples(st.lists(st.sampled_from(["a", "b", "c", "topic"]), max_size=5), st.integers(-1, 4)),
                min_size=1, max_size=10))
def test_flat_decoder_never_lets_a_repeated_key_through(frames):
    """orjson keeps a repeated key's last value at its first place; the decoder declines such frames, whatever
    frames came before, including frames it gave up on halfway (`broken`: the value at that place is not JSON).
    Its memo vouches for a position only while it holds one earlier frame's distinct keys."""
    for n, (key_list, broken) in enumerate(frames):
        values = [f"{n * 10 + i}" if i != broken else "[" for i in range(len(key_list))]
        payload = ("{" + ",".join(f'"{k}":{v}' for k, v in zip(key_list, values, strict=True)) + "}").encode()
        flat = C.decode_flat(payload)
        if len(set(key_list)) < len(key_list) or 0 <= broken < len(key_list):
            assert flat is None, payload
        else:
            assert flat is not None and _same(flat, orjson.loads(payload)), payload


@needs_c
def test_flat_decoder_takes_every_recorded_market_data_frame(recorded_dir):
    """The frames it exists for are not declined: every recorded smd, system and tic frame."""
    taken = 0
    for path in sorted((recorded_dir / "ws").glob("*.jsonl")):
        for record in read_jsonl(path):
            if record["dir"] != "in" or not record["raw"].startswith('{"'):
                continue
            payload = record["raw"].encode()
            flat = C.decode_flat(payload)
            if record["topic"].startswith(("smd", "system", "tic")):
                assert flat is not None, payload
            if flat is not None:
                assert _same(flat, orjson.loads(payload))
                taken += 1
    assert taken > 300


@needs_c
def test_flat_decoder_edges():
    cases = [b'{}', b' {"a" : -0 , "b":-0.0,"c":1E5,"d":true,"e":null,"f":false} ', b'{"a":1e22,"b":1e-22,"c":0.1}',
             b'{"n":123456789012345678}', b'{"s":"\x7f ~"}']
    for payload in cases:
        assert _same(C.decode_flat(payload), orjson.loads(payload)), payload
    declined = [b'{"n":1234567890123456789}', b'{"f":1.2345678901234567}', b'{"f":1e23}', b'{"f":1e100}',
                b'{"a":"\\n"}', b'{"a":"\xc3\xa9"}', b'{"a":"\x01"}', b'{"a":[1]}', b'{"a":{}}', b'[1]', b'1', b'',
                b'{"a":1,}', b'{"a":1}x', b'{"a" 1}', b'{' + b','.join(b'"k%d":1' % i for i in range(65)) + b'}']
    for payload in declined:
        assert C.decode_flat(payload) is None, payload
    wide = b'{' + b','.join(b'"k%d":1' % i for i in range(64)) + b'}'
    assert _same(C.decode_flat(wide), orjson.loads(wide))
    # the memo after a frame given up halfway: position 0 now remembers "b", position 1 still "b" from before
    assert C.decode_flat(b'{"a":1,"b":2}') == {"a": 1, "b": 2}
    assert C.decode_flat(b'{"b":1,"x":[') is None
    assert C.decode_flat(b'{"b":1,"b":2}') is None


smd_frames = st.lists(
    st.fixed_dictionaries({"topic": st.sampled_from(["smd+1", "smd+1", "smd+1", "smd+2"])},
                          optional={"conid": st.sampled_from([1, 2, None]), "_updated": st.sampled_from([5, 6, 7]),
                                    "31": st.sampled_from(["1", "2", "caf\u00e9", "a\"b"]),
                                    "84": st.sampled_from(["1", "2.5", 2.5, 7]), "server_id": st.just("q1"),
                                    "7059": st.one_of(st.integers(0, 3), st.lists(st.integers(-9, 9), max_size=1)),
                                    "error": st.just("x")}).map(lambda m: orjson.dumps(m)),
    max_size=25)


def _feed_frames(make_frame_path):
    def feed(sink, frames):
        sub = _Sub()
        frame_path = make_frame_path({"smd+1": (sub, sink)})
        for now, payload in enumerate(frames):
            result = frame_path(payload, float(now))
            returned.append("handled" if result is HANDLED else ("message", result))
            returned.append(sub.last_message_at)
    returned: list = []
    return feed, returned


@needs_c
@given(smd_frames, st.booleans(), st.integers(min_value=1, max_value=4))
def test_c_frame_path_with_c_sink_equals_python(frames, unwrap, small):
    """From bytes to every consumer: the C path (flat decoder, sink fed pairs, orjson for the rest) and the
    Python twins give the same items, rows, counters and returned messages."""
    c_feed, c_returned = _feed_frames(lambda fast: new_frame_path(fast, orjson.loads))
    py_feed, py_returned = _feed_frames(lambda fast: frame_path_py(fast, orjson.loads, HANDLED))
    with_c = _run_sink(C.MarketDataSink, frames, unwrap, small, c_feed)
    with_python = _run_sink(MarketDataSinkPy, frames, unwrap, small, py_feed)
    assert with_c == with_python and c_returned == py_returned


@needs_c
def test_a_sink_that_was_never_initialised_fails_clearly_on_both_paths():
    """A sink made without __init__ must raise, not crash, whether it is called or fed a decoded frame's pairs."""
    sink = C.MarketDataSink.__new__(C.MarketDataSink)
    frame_path = new_frame_path({"smd+1": (_Sub(), sink)}, orjson.loads)
    with pytest.raises(TypeError, match="initialised"):
        frame_path(b'{"topic":"smd+1","conid":1}', 0.0)
    with pytest.raises(TypeError):
        sink({"topic": "smd+1", "conid": 1})
