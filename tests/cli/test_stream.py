"""`ibkrws stream`: messages of real channels over real sockets, and the errors a user can act on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from ibkrws.cli import main
from ibkrws.simulator import Simulator

from .conftest import ACCOUNT, closed_port, run_cli


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(account_id=ACCOUNT, heartbeat_interval=0.5, md_interval=0.05, seed=3) as s:
        yield s


def test_stream_simulator_json_lines_carry_market_data_and_orders() -> None:
    result = run_cli("stream", "md+265598", "or", "--simulator", "--json", "--duration", "4.5")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records, result.stderr
    market = [r for r in records if r["key"] == "MARKET_DATA"]
    orders = [r for r in records if r["key"] == "ORDERS"]
    assert market and orders, {r["key"] for r in records}
    assert all(r["channel"] == "md+265598" and r["data"]["conid"] == 265598 for r in market)
    assert any("last_price" in r["data"] for r in market)
    assert all(r["channel"] == "or" and r["data"]["topic"] == "sor" for r in orders)
    placed = [o for r in orders for o in r["data"]["args"] if "orderDesc" in o]
    assert placed and placed[0]["acct"] == ACCOUNT
    assert all(isinstance(r["time"], float) for r in records)


def test_stream_readable_lines_with_fields_from_a_gateway_url(sim: Simulator) -> None:
    result = run_cli("stream", "md+265598", "--fields", "31,bid_price", "--count", "6", "--url", sim.ws_url,
                     "--cacert", str(sim.cacert), "--account", ACCOUNT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 6, result.stdout
    for line in lines:
        assert re.match(r"^\d\d:\d\d:\d\d\.\d{3} md\+265598 ", line), line
        names = {pair.split("=", 1)[0] for pair in line.split()[2:]}
        assert names <= {"last_price", "bid_price", "symbol", "market_data_availability", "market_data_marker",
                         "service_params"}, line
    assert any("last_price=" in line for line in lines)
    assert 'smd+265598+{"fields":["31","84"]}' in sim.received_frames()


def test_stream_events_show_the_recovery_of_a_drop(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    timer = threading.Timer(0.8, lambda: sim.faults.drop_connections(code=1011))
    timer.start()
    try:
        code = main(["stream", "pl", "--events", "--json", "--duration", "3", "--url", sim.ws_url,
                     "--cacert", str(sim.cacert)])
    finally:
        timer.cancel()
    out = capsys.readouterr().out
    assert code == 0
    kinds = [json.loads(line).get("event", {}).get("kind") for line in out.splitlines()]
    assert "disconnected" in kinds and "gap" in kinds, kinds
    assert kinds.index("gap") > kinds.index("disconnected")


def test_unreachable_gateway_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    code = main(["stream", "md+265598", "--url", f"wss://127.0.0.1:{port}/v1/api/ws", "--timeout", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"ibkrws stream: cannot reach the gateway at https://127.0.0.1:{port}/v1/api/: " in err


def test_logged_out_gateway_says_where_to_log_in(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.logout()
    code = main(["stream", "or", "--url", sim.ws_url, "--cacert", str(sim.cacert)])
    err = capsys.readouterr().err
    assert code == 2
    address = f"https://127.0.0.1:{sim.port}/"
    assert f"no authenticated session (HTTP 401): open {address} in a browser, log in" in err
    assert sim.connections() == []  # no WebSocket attempt at all


def test_unauthenticated_brokerage_session_says_where_to_log_in(sim: Simulator,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    sim.faults.lose_auth()
    code = main(["stream", "or", "--url", sim.ws_url, "--cacert", str(sim.cacert)])
    assert code == 2
    assert f"log in again at https://127.0.0.1:{sim.port}/" in capsys.readouterr().err


@pytest.mark.parametrize(("channels", "message"), [
    (["xx+1"], "expected one of bd, ld, md, mh, or, pl, sd, tr"),
    (["md+265598", "order"], "'order'"),
    (["md"], "channel 'md' needs a target: md+<conid>"),
    (["sd"], "channel 'sd' needs an account"),
    (["md+265598", "--fields", "nonsense"], "--fields: 'nonsense' is neither a field id"),
])
def test_bad_arguments_exit_2_before_connecting(channels: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    code = main(["stream", *channels, "--url", f"wss://127.0.0.1:{port}/v1/api/ws"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "cannot reach" not in err, err


def test_url_and_simulator_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["stream", "or", "--simulator", "--url", "wss://127.0.0.1:5000/v1/api/ws"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_websocket_that_never_gets_ready_exits_2(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.faults.ws_upgrade = "refuse"
    code = main(["stream", "or", "--url", sim.ws_url, "--cacert", str(sim.cacert), "--timeout", "1.5"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"its WebSocket {sim.ws_url} was not ready within 1.5 s" in err
