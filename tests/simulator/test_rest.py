"""REST endpoints a WebSocket client depends on (protocol.md 8), shaped like the recordings."""

from __future__ import annotations

import json

from ibkrws.simulator import AsyncSimulator
from tests.simulator.probe import connect, recorded, rest


def _recorded_body(name: str) -> object:
    return json.loads(recorded(f"rest/{name}.json").read_text())["response"]["body_json"]


def _keys(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _keys(v) for k, v in obj.items()}
    return None


async def test_tickle_get_and_post(sim: AsyncSimulator) -> None:
    async with rest(sim) as http:
        for method in ("GET", "POST"):
            resp = await http.request(method, "tickle")
            assert resp.status_code == 200
            body = resp.json()
            assert _keys(body) == _keys(_recorded_body("tickle"))
            assert body["session"] == sim.session_id and len(body["session"]) == 32
            assert body["iserver"]["authStatus"]["authenticated"] is True
            assert "x-sess-uuid" in resp.cookies


async def test_auth_status_accounts_and_sso_validate(sim: AsyncSimulator) -> None:
    async with rest(sim) as http:
        for method in ("GET", "POST"):
            status = (await http.request(method, "iserver/auth/status")).json()
            assert _keys(status) == _keys(_recorded_body("iserver_auth_status"))
        accounts = (await http.get("iserver/accounts")).json()
        rec = json.loads(json.dumps(_recorded_body("iserver_accounts")).replace("U25235077", sim.account_id))
        assert _keys(accounts) == _keys(rec)
        assert accounts["accounts"] == [sim.account_id] and accounts["selectedAccount"] == sim.account_id
        validate = (await http.get("sso/validate")).json()
        assert set(validate) == set(_recorded_body("sso_validate"))  # type: ignore[arg-type]


async def test_reauthenticate_routes(sim: AsyncSimulator) -> None:
    async with rest(sim) as http:
        assert (await http.post("iserver/reauthenticate")).json() == {"message": "triggered"}
        missing = await http.post("reauthenticate")
        assert missing.status_code == 404 and "Resource not found" in missing.text


async def test_no_bridge_and_ssodh_init(sim: AsyncSimulator) -> None:
    sim.faults.lose_auth()
    async with rest(sim) as http:
        for path in ("iserver/accounts", "iserver/account/orders"):
            resp = await http.get(path)
            assert resp.status_code == 400
            assert resp.json() == {"error": "Bad Request: no bridge", "statusCode": 400}
        assert (await http.post("iserver/auth/ssodh/init", json={"publish": False})).status_code == 500
        body = (await http.post("iserver/auth/ssodh/init", json={"publish": True, "compete": True})).json()
        assert body["authenticated"] is True
        assert (await http.get("iserver/accounts")).status_code == 200


async def test_logout_then_login(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    old = sim.session_id
    async with rest(sim) as http:
        assert (await http.post("logout")).json() == {"status": True}
        closing = await probe.closing()
        assert closing.obj == 1000
        assert sim.session_id is None
        assert (await http.post("tickle")).status_code == 401
        assert (await http.get("iserver/accounts")).status_code == 401
        status = (await http.get("iserver/auth/status")).json()
        assert status == _recorded_body("iserver_auth_status_error")
        late = await connect(sim, session=old, greet=False)
        assert (await late.next()).obj == {"message": "waiting for session"}
        await late.ws.send_str(json.dumps({"session": old}))
        assert (await late.next()).obj == {"message": "waiting for session"}
        await late.close()
        new = sim.login()
        assert new != old and (await http.post("tickle")).json()["session"] == new
    again = await connect(sim)
    await again.close()
    await probe.close()


async def test_orders_endpoint_filters_poison_sor_until_force(sim: AsyncSimulator) -> None:
    probe = await connect(sim)
    await probe.ws.send_str("sor+{}")
    await probe.barrier()
    first = sim.place_order(conid=265598, side="BUY", quantity=2, price=100.0)
    await probe.collect(lambda m: m.topic == "sor", 5)
    async with rest(sim) as http:
        listed = (await http.get("iserver/account/orders")).json()
        assert listed["snapshot"] is True and [o["orderId"] for o in listed["orders"]] == [first]
        assert listed["orders"][0]["status"] == "Submitted"
        filtered = (await http.get("iserver/account/orders", params={"filters": "Cancelled"})).json()
        assert filtered["orders"] == []
        sim.place_order(conid=265598, side="BUY", quantity=1, price=100.0)
        assert not any(m.topic == "sor" for m in await probe.frames_until_heartbeats(2))
        forced = (await http.get("iserver/account/orders", params={"force": "true"})).json()
        assert forced["orders"] == []
    sim.cancel_order(first)
    await probe.collect(lambda m: m.topic == "sor", 2)
    await probe.close()


async def test_unknown_path_and_wrong_method(sim: AsyncSimulator) -> None:
    async with rest(sim) as http:
        assert (await http.get("no/such/thing")).status_code == 404
        assert (await http.get("logout")).status_code == 405
