"""`ibkrws health`: the report of a client connected to a gateway, with probe exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ibkrws.cli import main
from ibkrws.simulator import Simulator

from .conftest import ACCOUNT, closed_port, run_cli


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(account_id=ACCOUNT, heartbeat_interval=0.5, md_interval=0.05, seed=5) as s:
        yield s


def test_health_json_of_the_embedded_simulator_is_healthy() -> None:
    result = run_cli("health", "--simulator", "--json", "--subscribe", "md+265598")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is True
    assert report["state"] == "ready" and report["connected"] is True and report["authenticated"] is True
    assert report["last_heartbeat_age"] is not None
    assert [s["channel"] for s in report["subscriptions"]] == ["md+265598"]
    assert report["subscriptions"][0]["active"] is True


def test_health_readable_lines(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["health", "--url", sim.ws_url, "--cacert", str(sim.cacert), "--account", ACCOUNT])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["healthy", "yes"]
    assert any(line.split()[:2] == ["state", "ready"] for line in lines)
    assert any(line.startswith("heartbeat ") and line.endswith(" s ago") for line in lines)
    sim.wait_for_connections(0, timeout=5)  # the client shut down after reporting


def test_health_of_a_logged_out_gateway_exits_1(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    sim.logout()
    code = main(["health", "--url", sim.ws_url, "--cacert", str(sim.cacert), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert json.loads(captured.out)["healthy"] is False
    assert f"open https://127.0.0.1:{sim.port}/ in a browser, log in" in captured.err


def test_health_of_an_unreachable_gateway_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    code = main(["health", "--url", f"ws://127.0.0.1:{port}/v1/api/ws", "--json", "--timeout", "3"])
    captured = capsys.readouterr()
    assert code == 2
    body = json.loads(captured.out)
    assert body["healthy"] is False and body["error"].startswith(f"cannot reach the gateway at http://127.0.0.1:{port}")


def test_health_when_the_websocket_never_gets_ready_exits_1(sim: Simulator,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    sim.faults.ws_upgrade = "refuse"
    code = main(["health", "--url", sim.ws_url, "--cacert", str(sim.cacert), "--timeout", "1.5"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0].split() == ["healthy", "no"]
