"""The threaded :class:`Simulator`: lifecycle, calls from other threads, observability, recording."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from ibkrws.simulator import Simulator
from tests.simulator.probe import FAST, Probe, cookie


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _open(sim: Simulator) -> Probe:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(sim.ws_url, headers=cookie(sim.session_id), ssl=False)
    probe = Probe(ws, http)
    await probe.greeting()
    return probe


def test_lifecycle_and_idempotent_stop() -> None:
    sim = Simulator(**FAST)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.ws_url
    sim.start()
    assert sim.rest_url.endswith("/v1/api/") and sim.ws_url.endswith("/v1/api/ws")
    assert sim.account_id == "DU1234567"
    before = time.monotonic()
    sim.stop()
    assert time.monotonic() - before < 3.0
    sim.stop()
    with pytest.raises(RuntimeError):
        sim.place_order(265598, "BUY", 1)


def test_stop_closes_open_sockets_quickly() -> None:
    sim = Simulator(tls=True, seed=3).start()

    async def scenario() -> aiohttp.WSMessage:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(sim.ws_url, headers=cookie(sim.session_id), ssl=False) as ws:
                await ws.receive(timeout=3)
                await asyncio.to_thread(sim.wait_for_connections, 1)
                started = time.monotonic()
                await asyncio.to_thread(sim.stop)
                assert time.monotonic() - started < 3.0
                while True:
                    msg = await ws.receive(timeout=3)
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        return msg

    msg = _run(scenario())
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="heartbeat_interval"):
        Simulator(heartbeat_interval=0)
    with pytest.raises(ValueError, match="account_id"):
        Simulator(account_id="")
    with pytest.raises(ValueError, match="port"):
        Simulator(port=70000)


def test_calls_from_other_threads_and_observability() -> None:
    with Simulator(**FAST) as sim:  # type: ignore[arg-type]

        async def scenario() -> Counter[str]:
            probe = await _open(sim)
            await probe.ws.send_str("sor+{}")
            await probe.ws.send_str("spl+{}")
            await probe.barrier()
            order_ids: list[int] = []
            worker = threading.Thread(target=lambda: order_ids.append(sim.place_order(265598, "BUY", 3)))
            worker.start()
            worker.join()
            await probe.collect(lambda m: m.topic == "sor", 5)
            sim.faults.drop_connections(1000)
            await probe.closing()
            await probe.close()
            return Counter(m.topic or "(none)" for m in probe.log)

        received = _run(scenario())
        sim.wait_for_connections(0)
        info = sim.connections()[-1]
        assert not info.open and info.close_code == 1000
        assert info.received[:2] == ("sor+{}", "spl+{}") and sim.received_frames() == list(info.received)
        assert sim.sent_counts() == sim.sent_counts(info.id) == dict(received)
        with pytest.raises(ValueError, match="no connection"):
            sim.received_frames(99)
        with pytest.raises(TimeoutError):
            sim.wait_for(lambda: sim.open_connections == 5, timeout=0.3)


def test_recording_in_fixture_format(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with Simulator(**{**FAST, "record_to": path}) as sim:  # type: ignore[arg-type]
        session = sim.session_id or ""

        async def scenario() -> None:
            http = aiohttp.ClientSession()
            ws = await http.ws_connect(sim.ws_url + "?oauth_token=tok123secret")
            probe = Probe(ws, http)
            await probe.next()
            await ws.send_str(json.dumps({"session": session}))
            await probe.greeting()
            await ws.send_str('smd+265598+{"fields":["31"]}')
            await probe.collect(lambda m: m.topic == "smd+265598", 2)
            await probe.barrier()
            await probe.close()

        _run(scenario())
        sim.wait_for_connections(0)
        second = tmp_path / "second.jsonl"
        sim.record_to = second
        assert sim.record_to == second
        sim.record_to = None
    text = path.read_text()
    assert session not in text and "tok123secret" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert all(set(r) == {"ts", "dir", "topic", "raw", "parsed"} for r in records)
    assert records[0]["dir"] == "meta" and records[0]["topic"] == "connect"
    assert records[0]["raw"].startswith("ws://127.0.0.1:") and records[0]["raw"].endswith("?oauth_token=<redacted>")
    assert records[-1]["topic"] == "disconnect"
    dirs = [(r["dir"], r["topic"]) for r in records]
    assert ("in", "(none)") not in dirs and ("in", "message") in dirs  # waiting for session, labelled
    auth = next(r for r in records if r["topic"] == "auth")
    assert auth["dir"] == "out" and auth["parsed"] == {"session": "<redacted>"} and "<redacted>" in auth["raw"]
    tic = next(r for r in records if r["dir"] == "in" and r["topic"] == "tic")
    assert tic["parsed"]["id"] == "<redacted>"
    smd = [r for r in records if r["topic"] == "smd+265598"]
    assert smd[0]["parsed"] == json.loads(smd[0]["raw"])
    assert ("out", "smd") in dirs and ("out", "tic") in dirs and ("in", "system") in dirs
    assert second.exists()
