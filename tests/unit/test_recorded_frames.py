"""Every recorded gateway frame parses and routes to the right key (protocol.md, fixtures/recorded)."""

from __future__ import annotations

import json

import pytest

from ibkrws import IbkrWsKey
from ibkrws.protocol.frames import Kind, decode, route
from ibkrws.protocol.market_data import unwrap
from tests.conftest import read_jsonl

EXPECTED_KIND = {
    "system": (Kind.UNSOLICITED, IbkrWsKey.SYSTEM),
    "act": (Kind.UNSOLICITED, IbkrWsKey.ACCOUNT_UPDATES),
    "sts": (Kind.UNSOLICITED, IbkrWsKey.AUTHENTICATION_STATUS),
    "tic": (Kind.TIC, None),
    "sor": (Kind.DATA, IbkrWsKey.ORDERS),
    "str": (Kind.DATA, IbkrWsKey.TRADES),
}


def _in_frames(recorded_dir):
    for path in sorted((recorded_dir / "ws").glob("*.jsonl")):
        for record in read_jsonl(path):
            if record["dir"] == "in":
                yield path.name, record


def test_every_recorded_in_frame_parses_and_routes(recorded_dir):
    count = 0
    for name, record in _in_frames(recorded_dir):
        raw = record["raw"]
        for payload in (raw, raw.encode("utf-8")):  # text and binary opcode
            message, repaired = decode(payload)
            assert not repaired
            if name != "spike-baseline.jsonl":
                assert message == json.loads(raw)
            kind, key, channel = route(message)
            topic = record["topic"]
            if topic.startswith("smd+"):
                assert (kind, key, channel) == (Kind.DATA, IbkrWsKey.MARKET_DATA, topic[1:])
            else:
                assert (kind, key) == EXPECTED_KIND[topic], (name, raw)
        count += 1
    assert count > 400


def test_recorded_market_data_unwraps_to_named_fields(recorded_dir):
    records = read_jsonl(recorded_dir / "ws" / "smd-single.jsonl")
    first = next(r for r in records if r["dir"] == "in" and r["topic"] == "smd+265598")
    message, _ = decode(first["raw"])
    data = unwrap(message)
    assert data is not None
    row = data[265598]
    assert row["conid"] == 265598
    assert row["topic"] == "smd+265598"
    assert row["_updated"] == message["_updated"]
    assert row["last_price"] == message["31"]
    assert row["bid_price"] == message["84"]
    assert row["ask_price"] == message["86"]
    assert row["market_data_availability"] == message["6509"]
    assert row["change_percent"] == message["83"]


def test_unknown_conid_shape_and_c_prefix_survive(recorded_dir):
    values = {}
    for record in read_jsonl(recorded_dir / "ws" / "smd-large.jsonl"):
        if record["dir"] == "in" and record["topic"].startswith("smd+"):
            message, _ = decode(record["raw"])
            row = unwrap(message)[message["conid"]]
            if "last_price" in row:
                values.setdefault(message["conid"], row["last_price"])
    assert "N/A" in values.values()
    assert any(str(v).startswith("C") for v in values.values())


@pytest.mark.parametrize("payload", [b'{"topic":"sor","args":[{"companyName":"ACME\x99 INC"}]}'])
def test_invalid_utf8_is_decoded_leniently(payload):
    message, repaired = decode(payload)
    assert repaired
    assert message["args"][0]["companyName"] == "ACME\u2122 INC"


def test_valid_utf8_next_to_invalid_byte_is_kept():
    frame = '{"topic":"ntf","args":{"text":"Zürich \x99"}}'.encode().replace(b"\xc2\x99", b"\x99")
    message, repaired = decode(frame)
    assert repaired
    assert message["args"]["text"] == "Zürich \u2122"


@pytest.mark.parametrize("payload", [b"{not json", b"[1,2]", "plain text", b"\x99\x98"])
def test_malformed_frames_raise_decode_error(payload):
    from ibkrws.protocol.frames import DecodeError

    with pytest.raises(DecodeError):
        decode(payload)


def test_topicless_messages_route():
    assert route({"message": "waiting for session"})[0] is Kind.WAITING_FOR_SESSION
    assert route({"message": "Unsubscribed 341115"}) == (Kind.UNSUBSCRIBED, IbkrWsKey.MARKET_HISTORY, "341115")
    assert route({"result": "unsubscribed from summary"})[:2] == (Kind.UNSUBSCRIBED, IbkrWsKey.ACCOUNT_SUMMARY)
    assert route({"result": "unsubscribed from ledger"})[:2] == (Kind.UNSUBSCRIBED, IbkrWsKey.ACCOUNT_LEDGER)
    assert route({"error": "Topic unknown '{\"s'", "code": 1})[0] is Kind.ERROR
    assert route({"topic": "smd", "error": "No accounts", "code": 500})[:2] == (Kind.ERROR, IbkrWsKey.ERROR)
    assert route({"something": 1})[0] is Kind.UNKNOWN


def test_solicited_topics_route_to_their_channel():
    assert route({"topic": "ssd+DU1234567", "result": []}) == (Kind.DATA, IbkrWsKey.ACCOUNT_SUMMARY, "sd+DU1234567")
    assert route({"topic": "sld+DU1234567"}) == (Kind.DATA, IbkrWsKey.ACCOUNT_LEDGER, "ld+DU1234567")
    assert route({"topic": "smh+265598"}) == (Kind.DATA, IbkrWsKey.MARKET_HISTORY, "mh+265598")
    assert route({"topic": "sbd+DU1+265598"}) == (Kind.DATA, IbkrWsKey.PRICE_LADDER, "bd+DU1+265598")
    assert route({"topic": "spl", "args": {}}) == (Kind.DATA, IbkrWsKey.PNL, "pl")
    assert route({"topic": "blt", "args": {}})[:2] == (Kind.UNSOLICITED, IbkrWsKey.BULLETINS)
    assert route({"topic": "ntf", "args": []})[:2] == (Kind.UNSOLICITED, IbkrWsKey.NOTIFICATIONS)
    assert route({"topic": "smdx"})[0] is Kind.UNKNOWN
