"""Every fault switch and action of ``sim.faults``, observed from a raw client."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest

from ibkrws.simulator import AsyncSimulator, Faults
from tests.simulator.probe import connect, rest


@pytest.mark.parametrize("code", [1000, 1011, 4001])
async def test_drop_connections_with_close_code(sim: AsyncSimulator, code: int) -> None:
    probe = await connect(sim)
    sim.faults.drop_connections(code, "bye")
    msg = await probe.closing()
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.obj == code
    await sim.wait_for_connections(0)
    assert sim.connections()[-1].close_code == code
    await probe.close()


async def test_reset_connections_without_close_frame(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.reset_connections()
    msg = await probe.closing()
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await sim.wait_for_connections(0)
    await probe.close()


async def test_heartbeats_off_while_data_flows(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str("spl+{}")
    await probe.topic("spl")
    sim.faults.heartbeats = False
    start = len(probe.log)
    await probe.collect(lambda m: m.topic == "spl", 7)  # > 3 heartbeat intervals of pnl updates
    assert not any(m.is_hb for m in probe.log[start + 1:])
    sim.faults.heartbeats = True
    await probe.until(lambda m: m.is_hb)
    await probe.close()


async def test_data_paused_while_heartbeats_continue(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31","84","86"]}')
    await probe.ws.send_str("spl+{}")
    await probe.topic("spl")
    sim.faults.data = False
    await probe.collect(lambda m: m.is_hb, 1)  # anything in flight is through
    assert await probe.frames_until_heartbeats(3) == []
    sim.faults.data = True
    await probe.topic("smd+265598")
    await probe.topic("spl")
    await probe.close()


async def test_stall_is_silent_then_resumes(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.stall = True
    await probe.ws.send_str("tic")
    await probe.ws.ping(b"x")
    with pytest.raises(asyncio.TimeoutError):
        await probe.next(timeout=1.0)  # five heartbeat intervals without a single frame or pong
    assert sim.open_connections == 1
    assert sim.connections()[-1].suppressed >= 4  # the tic replies at least
    sim.faults.stall = False
    await probe.until(lambda m: m.is_hb)
    await probe.close()


async def test_lose_auth_and_restore(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31","84","86"]}')
    await probe.ws.send_str("spl+{}")
    await probe.topic("smd+265598")
    sim.faults.lose_auth()
    sts = await probe.collect(lambda m: m.topic == "sts", 3)
    assert [m.obj["args"] for m in sts] == [{"authenticated": False}, {"competing": False}, {"message": ""}]
    async with rest(sim) as http:
        status = (await http.get("iserver/auth/status")).json()
        assert status["authenticated"] is False and status["connected"] is True
        tickle = (await http.post("tickle")).json()
        assert tickle["iserver"]["authStatus"]["authenticated"] is False
        await probe.collect(lambda m: m.is_hb, 1)
        after = await probe.frames_until_heartbeats(3)
        assert not any(m.topic == "smd+265598" for m in after) and any(m.topic == "spl" for m in after)
        sim.faults.restore_auth()
        assert (await http.get("iserver/auth/status")).json()["authenticated"] is True
    after = await probe.frames_until_heartbeats(2)
    assert {m.topic for m in after} == {"spl"}  # no recovery message
    await probe.close()


async def test_compete(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.compete()
    sts = await probe.collect(lambda m: m.topic == "sts", 3)
    assert {"competing": True} in [m.obj["args"] for m in sts]
    async with rest(sim) as http:
        status = (await http.post("iserver/auth/status")).json()
        assert status["competing"] is True and status["authenticated"] is False
        assert (await http.post("iserver/auth/ssodh/init", json={"publish": True, "compete": True})).json()[
            "authenticated"] is True
        assert (await http.get("iserver/auth/status")).json()["competing"] is False
    await probe.close()


async def test_require_second_request(sim: AsyncSimulator) -> None:
    sim.faults.require_second_request = True
    probe = await connect(sim)
    await probe.ws.send_str('smd+265598+{"fields":["31"]}')
    await probe.ws.send_str("spl+{}")
    assert await probe.frames_until_heartbeats(2) == []
    await probe.ws.send_str('smd+265598+{"fields":["31"]}')
    await probe.ws.send_str("spl+{}")
    await probe.topic("smd+265598")
    await probe.topic("spl")
    assert sim.connections()[-1].ignored == 2
    await probe.close()


async def test_confirmation_delay(sim: AsyncSimulator) -> None:
    sim.faults.confirmation_delay = 0.6
    probe = await connect(sim)
    await probe.ws.send_str("spl+{}")
    start = len(probe.log)
    await probe.topic("spl")
    assert sum(1 for m in probe.log[start:] if m.is_hb) >= 1
    await probe.close()


async def test_text_frames_and_binary_default(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.text_frames = True
    await probe.ws.send_str("tic")
    reply = await probe.topic("tic")
    assert reply.type == aiohttp.WSMsgType.TEXT
    sim.faults.text_frames = False
    hb = await probe.until(lambda m: m.is_hb)
    assert hb.type == aiohttp.WSMsgType.BINARY
    await probe.close()


async def test_non_utf8_company_names(sim: AsyncSimulator) -> None:
    sim.faults.non_utf8 = True
    probe = await connect(sim)
    await probe.ws.send_str("sor+{}")
    await probe.barrier()
    sim.place_order(conid=265598, side="BUY", quantity=1, price=1.0)
    full = await probe.until(lambda m: b'"companyName"' in m.data)
    assert b"APPLE INC\x99" in full.data
    with pytest.raises(UnicodeDecodeError):
        full.data.decode("utf-8")
    await probe.close()


async def test_send_non_utf8_and_malformed_json(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.send_non_utf8()
    bad = await probe.until(lambda m: not m.is_hb)
    assert b"\x99" in bad.data and bad.obj is None
    bad.data.decode("cp1252")  # the byte is cp1252 for the trademark sign
    sim.faults.send_malformed_json()
    broken = await probe.until(lambda m: not m.is_hb)
    assert broken.obj is None and broken.data.startswith(b'{"topic"')
    sim.faults.send_raw("plain text", binary=False)
    raw = await probe.until(lambda m: not m.is_hb)
    assert raw.type == aiohttp.WSMsgType.TEXT and raw.data == b"plain text"
    await probe.close()


async def test_topic_unknown_and_no_accounts_switches(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    sim.faults.topic_unknown = True
    await probe.ws.send_str("spl+{}")
    assert (await probe.until(lambda m: not m.is_hb)).obj == {"error": "Topic unknown 'spl'", "code": 1}
    sim.faults.topic_unknown = False
    sim.faults.no_accounts = True
    await probe.ws.send_str("sor+{}")
    assert (await probe.until(lambda m: not m.is_hb)).obj == {"error": "No accounts", "code": 500, "topic": "sor"}
    await probe.close()


async def test_ws_upgrade_hang_and_refuse(sim: AsyncSimulator) -> None:
    sim.faults.ws_upgrade = "hang"
    with pytest.raises(TimeoutError):  # TCP and HTTP accepted, the upgrade never answered
        await asyncio.wait_for(connect(sim, greet=False), 0.5)
    assert sim.open_connections == 0
    sim.faults.ws_upgrade = "refuse"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await connect(sim)
    assert err.value.status == 503
    sim.faults.ws_upgrade = "accept"
    probe = await connect(sim)
    await probe.close()


async def test_rest_429_and_delay(sim: AsyncSimulator) -> None:
    async with rest(sim) as http:
        sim.faults.rest_429 = True
        assert (await http.post("tickle")).status_code == 429
        sim.faults.rest_429 = False
        sim.faults.rest_delay = 1.0
        with pytest.raises(httpx.ReadTimeout):
            await http.post("tickle", timeout=0.3)
        sim.faults.rest_delay = 0.0
        assert (await http.post("tickle")).status_code == 200


async def test_ssodh_restores_switch(sim: AsyncSimulator) -> None:
    sim.faults.ssodh_restores = False
    sim.faults.lose_auth()
    async with rest(sim) as http:
        body = (await http.post("iserver/auth/ssodh/init", json={"publish": True, "compete": True})).json()
        assert body["authenticated"] is False
        sim.faults.ssodh_restores = True
        assert (await http.post("iserver/reauthenticate")).json() == {"message": "triggered"}
        assert (await http.get("iserver/auth/status")).json()["authenticated"] is True


def test_switch_validation_and_reset() -> None:
    faults = Faults(lambda: None)
    with pytest.raises(TypeError, match="True or False"):
        faults.stall = 1  # type: ignore[assignment]
    with pytest.raises(ValueError, match="seconds"):
        faults.rest_delay = -1
    with pytest.raises(ValueError, match="'accept', 'hang', 'refuse'"):
        faults.ws_upgrade = "close"
    with pytest.raises(AttributeError, match="no switch 'stal'"):
        faults.stal = True
    faults.stall = True
    faults.confirmation_delay = 2
    assert faults.switches()["stall"] is True and faults.confirmation_delay == 2.0
    faults.reset()
    assert faults.stall is False and faults.confirmation_delay == 0.0
    with pytest.raises(RuntimeError, match="not running"):
        faults.lose_auth()
    with pytest.raises(ValueError, match="close code"):
        faults.drop_connections(99)
