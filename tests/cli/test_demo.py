"""`make demo` / `ibkrws demo`: plain lines without a terminal, the live view under a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from .conftest import REPO, cli_env


def _fake_venv(root: Path) -> Path:
    """A VENV for the Makefile whose python is this test's interpreter, already 'installed'."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (venv / ".installed").touch()
    return venv


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_without_a_terminal_shows_market_data_orders_and_a_recovered_drop(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    started = time.monotonic()
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "demo", f"VENV={venv}"],
                            capture_output=True, text=True, timeout=40, stdin=subprocess.DEVNULL,
                            env=cli_env(IBKRWS_DEMO_DURATION="7"))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 25, f"the demo ran {elapsed:.1f} s instead of about 7"
    lines = result.stdout.splitlines()
    assert lines[0].endswith(f"{venv}/bin/python -m ibkrws demo")  # make echoes the command it runs

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    assert lines[1].startswith("demo simulator wss://127.0.0.1:") and "running for 7 s" in lines[1]
    assert any(line.startswith("md AAPL 265598 last=") for line in lines)
    assert any(line.startswith("pnl DU1234567") for line in lines)
    assert any(line.startswith("order ") and "Submitted" in line for line in lines)
    assert any(line.startswith("order ") and "Filled, filled" in line for line in lines)
    drop = first("sim simulator drops every WebSocket")
    disconnected = first("event disconnected")
    reconnected = first("reconnected ready again")
    assert drop < disconnected < reconnected < first("gap ")
    assert any(line.startswith("md ") for line in lines[reconnected:]), "no market data after the reconnect"
    health = [line for line in lines if line.startswith("health ")]
    assert "state=ready" in health[-1] and "reconnects=1" in health[-1]
    assert lines[-1].startswith("summary ") and "1 reconnect(s)" in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr


def test_plain_demo_until_interrupted_ends_with_a_summary_on_sigint() -> None:
    # A shell's background job (how CI may run this suite) ignores SIGINT, and children inherit that; the
    # demo keeps an inherited SIG_IGN as Unix programs do, so the child starts with the default disposition.
    proc = subprocess.Popen([sys.executable, "-m", "ibkrws", "demo", "--plain", "--duration", "0", "--no-drop"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        line = ""
        while not line.startswith("md ") and time.monotonic() < deadline:
            line = proc.stdout.readline()
        assert line.startswith("md "), "no market data within 20 s"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith("summary "), out
    assert "Traceback" not in err


class _PtyReader:
    """Collects everything written to a pseudo-terminal's master side, on a thread."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready:
                    chunk = os.read(self.master, 65536)
                    if not chunk:
                        return
                    with self.lock:
                        self.data += chunk
            except OSError:  # EIO once the child side is closed
                return

    def text(self) -> str:
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def wait_for(self, *needles: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{needles} not all rendered within {timeout} s; got:\n{self.text()[-3000:]}")


def _controlling_terminal() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_live_view_renders_under_a_terminal_and_ctrl_c_exits_0() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    saved = termios.tcgetattr(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ibkrws", "demo", "--drop-at", "1", "--order-interval", "0.4", "--md-interval", "0.1"],
        stdin=slave, stdout=slave, stderr=slave, env=cli_env(TERM="xterm-256color"), start_new_session=True,
        preexec_fn=_controlling_terminal, close_fds=True,
    )
    reader = _PtyReader(master)
    try:
        screen = reader.wait_for("Market data", "AAPL", "EUR.USD", "Latest orders", "P&L", "READY",
                                 "heartbeat age", "Filled", "reconnected", timeout=25)
        assert "Ctrl-C or q to exit" in screen
        termios_now = termios.tcgetattr(slave)
        assert not termios_now[3] & termios.ISIG  # Ctrl-C is a key for the demo, not SIGINT for make
        os.write(master, b"\x03")
        assert proc.wait(timeout=15) == 0, reader.text()[-3000:]
        reader.wait_for("summary ", timeout=5)
        assert "Traceback" not in reader.text()
        assert termios.tcgetattr(slave) == saved  # the terminal's settings are given back
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(slave)
        os.close(master)
