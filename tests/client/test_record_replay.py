"""record_to then replay: the replayed stream yields the same delivered messages."""

from __future__ import annotations

import json

from ibkrws import IbkrWsClient, IbkrWsKey
from ibkrws.simulator import Simulator
from ibkrws.simulator.replay import Replayer
from tests.client.conftest import drain, wait_for

CHANNELS = [("md+265598", {"fields": ["31", "84", "86"]}), ("pl", None), ("or", None)]
KEYS = (IbkrWsKey.MARKET_DATA, IbkrWsKey.PNL, IbkrWsKey.ORDERS)


def _client(url: str, cacert, record_to=None) -> tuple[IbkrWsClient, dict]:
    client = IbkrWsClient(url=url, cacert=cacert, account_id="DU1234567", timeout=3, subscription_timeout=0.5,
                          record_to=record_to)
    accessors = {key: client.new_queue_accessor(key) for key in KEYS}
    assert client.start()
    for channel, data in CHANNELS:
        assert client.subscribe(channel, data)
    return client, accessors


def _all(accessor) -> list:
    items = []
    while (item := accessor.get()) is not None:
        items.append(item)
    return items


def test_record_then_replay_yields_the_same_messages(tmp_path):
    path = tmp_path / "session.jsonl"
    with Simulator(tls=True, md_interval=0.05, pnl_interval=0.2, seed=11) as sim:
        client, accessors = _client(sim.ws_url, sim.cacert, record_to=str(path))
        # `sor` has no confirmation: place the order once the gateway has the subscription
        wait_for(lambda: any(f.startswith("sor") for f in sim.received_frames()), what="sor at the gateway")
        order_id = sim.place_order(conid=265598, side="BUY", quantity=5, order_type="MKT")
        wait_for(lambda: all(accessors[k].qsize() >= 3 for k in KEYS) and accessors[KEYS[0]].qsize() >= 20,
                 timeout=30, what="messages on every key")
        session_id = sim.session_id
        client.shutdown()
    original = {key: _all(accessors[key]) for key in KEYS}

    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert {r["dir"] for r in records} == {"in", "out", "meta"}
    assert all(set(r) == {"ts", "dir", "topic", "raw", "parsed"} for r in records)
    assert session_id and session_id not in text  # secrets redacted

    with Replayer(path, tls=False) as replayer:
        client, accessors = _client(replayer.ws_url, False)
        try:
            replayed = {key: drain(accessors[key], len(original[key]), timeout=20) for key in KEYS}
        finally:
            client.shutdown()
    assert replayed == original
    assert any(o.get("orderId") == order_id for m in replayed[IbkrWsKey.ORDERS] for o in m.get("args", []))


def test_replay_cli_serves_a_recording(tmp_path, recorded_dir):
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "ibkrws", "replay", str(recorded_dir / "ws" / "smd-single.jsonl"),
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.split("ws_url=")[1].split()[0]
        client = IbkrWsClient(url=url, cacert=False, timeout=3, subscription_timeout=0.5)
        md = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
        try:
            assert client.start()
            assert client.subscribe("md+265598", {"fields": ["31", "84", "86", "6509", "83"]})
            first = drain(md, 2)
            assert first[0] == first[1]  # IBKR's duplicated first message, replayed as recorded
            assert first[0][265598]["last_price"] == "271.67"
        finally:
            client.shutdown()
    finally:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(10) == 0
