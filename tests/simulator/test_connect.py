"""WebSocket connect, session presentation, greeting, heartbeats, tic/echo, unknown topics, reconnect."""

from __future__ import annotations

import json
import ssl

import aiohttp
import pytest

from ibkrws.simulator import AsyncSimulator
from tests.simulator.probe import connect, load_jsonl, make_sim


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def _recorded_greeting() -> dict[str, dict]:
    frames = {}
    for rec in load_jsonl("ws/spike-2026-04-29.jsonl"):
        if rec["dir"] == "in" and rec["topic"] in ("system", "act", "sts") and "hb" not in rec["parsed"]:
            frames[rec["topic"]] = rec["parsed"]
    return frames


async def test_json_cookie_gets_greeting_shaped_like_recording(sim: AsyncSimulator) -> None:
    probe = await connect(sim, greet=False)
    system, act, sts = await probe.greeting()
    rec = _recorded_greeting()
    assert all(m.type == aiohttp.WSMsgType.BINARY for m in (system, act, sts))
    assert _shape(system.obj) == _shape(rec["system"])
    act_rec = json.loads(json.dumps(rec["act"]).replace("U25235077", sim.account_id))
    assert _shape(act.obj) == _shape(act_rec)
    assert act.obj["args"]["accounts"] == [sim.account_id]
    assert act.obj["args"]["sessionId"] != sim.session_id
    assert _shape(sts.obj) == _shape(rec["sts"])
    assert sts.obj["args"]["authenticated"] is True
    await probe.close()


@pytest.mark.parametrize("form", ["json", "bare"])
async def test_cookie_forms_and_oauth_token(sim: AsyncSimulator, form: str) -> None:
    probe = await connect(sim, form=form, query="?oauth_token=anything")
    await probe.close()


async def test_x_sess_uuid_cookie_from_tickle(sim: AsyncSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.rest_url + "tickle") as resp:
            uuid = resp.cookies["x-sess-uuid"].value
        async with http.ws_connect(sim.ws_url, headers={"Cookie": f"x-sess-uuid={uuid}"}) as ws:
            first = await ws.receive(timeout=3)
            assert json.loads(first.data)["topic"] == "system"


async def test_empty_oauth_token_is_rejected(sim: AsyncSimulator) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await connect(sim, query="?oauth_token=")
    assert err.value.status == 401


async def test_without_session_waits_and_drops_early_subscriptions(sim: AsyncSimulator) -> None:
    probe = await connect(sim, form=None, greet=False)
    first = await probe.next()
    assert first.obj == {"message": "waiting for session"}
    await probe.ws.send_str('spl+{}')  # before the greeting: dropped, not queued
    await probe.ws.send_str(json.dumps({"session": "0" * 32}))  # wrong id: still waiting
    again = await probe.next()
    assert again.obj == {"message": "waiting for session"}
    await probe.ws.send_str(json.dumps({"session": sim.session_id}))
    frames = await probe.greeting()
    assert [m.topic for m in frames] == ["system", "act", "sts"]
    assert not any(m.topic == "spl" for m in await probe.frames_until_heartbeats(3))
    info = sim.connections()[-1]
    assert info.ignored == 1 and info.greeted
    await probe.close()


async def test_session_frame_after_cookie_greeting_is_accepted_silently(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str(json.dumps({"session": sim.session_id}))
    assert await probe.barrier() == []
    await probe.close()


async def test_heartbeats_keep_coming(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    beats = await probe.collect(lambda m: m.is_hb, 3)
    stamps = [m.obj["hb"] for m in beats]
    assert all(isinstance(s, int) and s > 1_600_000_000_000 for s in stamps)
    assert stamps == sorted(stamps)
    assert all(set(m.obj) == {"topic", "hb"} for m in beats)
    await probe.close()


async def test_tic_answered_four_times_and_echo(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str("tic")
    replies = await probe.collect(lambda m: m.topic == "tic", 4)
    assert len({r.data for r in replies}) == 1
    obj = replies[0].obj
    assert obj["alive"] is True and obj["id"] == sim.session_id and isinstance(obj["lastAccessed"], int)
    await probe.ws.send_str("ech+hb")
    echo = await probe.until(lambda m: not m.is_hb)
    assert echo.data == b"ech+hb" and echo.obj is None
    await probe.close()


@pytest.mark.parametrize(("text", "prefix"), [("xyz+1", "xyz"), ('{"foo":1}', '{"f'), ("hello", "hel")])
async def test_unknown_topic_error(sim: AsyncSimulator, text: str, prefix: str) -> None:
    probe = await connect(sim)
    await probe.ws.send_str(text)
    err = await probe.until(lambda m: not m.is_hb)
    assert err.obj == {"error": f"Topic unknown '{prefix}'", "code": 1}
    await probe.close()


async def test_reconnect_loses_subscriptions(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31","84","86"]}')
    await probe.topic("smd+265598")
    await probe.close()
    await sim.wait_for_connections(0)
    probe = await connect(sim)
    quiet = await probe.frames_until_heartbeats(4)
    assert not any((m.topic or "").startswith("smd") for m in quiet)
    assert [c.open for c in sim.connections()] == [False, True]
    await probe.close()


async def test_tls_with_verification_for_ip_and_localhost() -> None:
    async with make_sim(tls=True) as sim:
        assert sim.ws_url.startswith("wss://127.0.0.1:") and sim.rest_url.startswith("https://")
        assert sim.cacert is not None
        ctx = ssl.create_default_context(cafile=sim.cacert)
        ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # the default from Python 3.13 on
        probe = await connect(sim, ssl=ctx)
        await probe.close()
        async with aiohttp.ClientSession() as http:
            url = sim.ws_url.replace("127.0.0.1", "localhost")
            async with http.ws_connect(url, ssl=ctx, headers={"Cookie": f"api={sim.session_id}"}) as ws:
                first = await ws.receive(timeout=3)
                assert json.loads(first.data)["topic"] == "system"


async def test_plain_urls_without_tls(sim: AsyncSimulator) -> None:
    assert sim.ws_url == f"ws://127.0.0.1:{sim.port}/v1/api/ws"
    assert sim.rest_url == f"http://127.0.0.1:{sim.port}/v1/api/"
    assert sim.cacert is None
    assert len(sim.session_id or "") == 32 and int(sim.session_id or "x", 16) >= 0
