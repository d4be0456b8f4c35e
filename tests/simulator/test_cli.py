"""``ibkrws simulate`` in a subprocess: one URL line, serves, exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _start(*extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "ibkrws", "simulate", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split())


@pytest.mark.parametrize(("sig", "extra"), [(signal.SIGINT, ("--no-tls",)), (signal.SIGTERM, ())])
def test_simulate_prints_urls_and_stops_cleanly(sig: signal.Signals, extra: tuple[str, ...]) -> None:
    proc = _start(*extra, "--account", "DU7654321")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the process prints it once it accepts connections
        fields = _fields(line)
        tls = "--no-tls" not in extra
        assert fields["rest_url"].startswith("https://127.0.0.1:" if tls else "http://127.0.0.1:")
        assert fields["rest_url"].endswith("/v1/api/") and fields["ws_url"].endswith("/v1/api/ws")
        assert fields["account"] == "DU7654321" and ("cacert" in fields) == tls
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=fields["cacert"]) if tls else False
        body = httpx.post(fields["rest_url"] + "tickle", verify=verify, timeout=5).json()
        assert len(body["session"]) == 32
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert out == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_simulate_reports_a_busy_port() -> None:
    first = _start("--no-tls")
    try:
        assert first.stdout is not None
        port = _fields(first.stdout.readline())["rest_url"].split(":")[2].split("/")[0]
        second = subprocess.run(
            [sys.executable, "-m", "ibkrws", "simulate", "--port", port, "--no-tls"],
            capture_output=True, text=True, timeout=30,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )
        assert second.returncode == 1 and "cannot start" in second.stderr and second.stdout == ""
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=15)
