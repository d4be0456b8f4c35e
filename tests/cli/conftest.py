"""Helpers for CLI tests: the CLI in a subprocess (bounded), or in-process with the logger state restored."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "DU1234567"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout's sources first, no gateway settings inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IBIND_", "IBKRWS_"))}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 30.0, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ibkrws ARGS...` to completion within `timeout` seconds."""
    return subprocess.run([sys.executable, "-m", "ibkrws", *args], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(**env), stdin=subprocess.DEVNULL)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _restore_ibkrws_logger() -> Iterator[None]:
    """In-process CLI runs configure the `ibkrws` logger; give other tests theirs back."""
    logger = logging.getLogger("ibkrws")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


@pytest.fixture(autouse=True)
def _no_gateway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("IBIND_", "IBKRWS_")):
            monkeypatch.delenv(name)
