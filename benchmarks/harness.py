"""Running one measurement: a load-server process and a client-runner process, both bounded.

Used by `run.py` (the full matrix) and `check.py` (the regression check). Runs in the project
venv; client runners may run under another interpreter (an IBind venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADSERVER = HERE / "loadserver.py"
RUNNER = HERE / "runner.py"


@dataclass(frozen=True)
class Scenario:
    """One measured situation; the server and the runner get matching arguments."""

    name: str
    mode: str  # burst | paced | reconnect
    count: int = 0
    rate: float = 0.0
    subs: int = 1
    tls: bool = False
    max_seconds: float = 30.0  # bound on the runner's measurement
    repeats: int = 0  # repeats of this scenario; 0: the run's --repeats

    def server_args(self, drop_file: str) -> list[str]:
        args = ["--mode", self.mode, "--subs", str(self.subs), "--max-seconds", str(self.max_seconds + 30)]
        if self.count:
            args += ["--count", str(self.count)]
        if self.rate:
            args += ["--rate", str(self.rate)]
        if self.mode == "reconnect":
            args += ["--drop-file", drop_file, "--after-drop", str(self.max_seconds)]
        return args

    def runner_args(self, drop_file: str) -> list[str]:
        args = ["--mode", self.mode, "--subs", str(self.subs), "--max-seconds", str(self.max_seconds)]
        if self.count:
            args += ["--count", str(self.count)]
        if self.mode == "reconnect":
            args += ["--drop-file", drop_file]
        return args


@dataclass(frozen=True)
class Client:
    """A client under test: a runner kind and the interpreter of its environment."""

    name: str
    kind: str  # ibkrws | ibind | floor
    python: str
    note: str = ""


@dataclass
class Workspace:
    """Temporary files for one benchmark session (certificate, drop files)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ibkrws-bench-")))
    _cert: tuple[str, str] | None = None

    def cert(self) -> tuple[str, str]:
        if self._cert is None:
            self._cert = make_self_signed_cert(self.root)
        return self._cert

    def drop_file(self) -> str:
        return str(self.root / f"drop-{time.monotonic_ns()}")


def make_self_signed_cert(directory: Path) -> tuple[str, str]:
    """The simulator's throwaway certificate for 127.0.0.1/localhost; returns (cert, key) paths.

    `directory` is kept for the callers' sake: the simulator keeps its files in a private temporary
    directory that lives as long as this process (the orchestrator, which outlives every load server).
    """
    from ibkrws.simulator.tls import certificate

    files = certificate()
    return files.cacert, files.key


def _stop(proc: subprocess.Popen[Any], grace: float) -> None:
    """Wait for a process this harness started; terminate, then kill it if it overstays."""
    try:
        proc.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()
    try:
        proc.wait(3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(3)


def measure(client: Client, scenario: Scenario, ws: Workspace, extra_runner_args: list[str] | None = None,
            log: Any = None) -> dict[str, Any]:
    """Run `client` against a fresh load server for `scenario`; the runner's JSON result (or an error)."""
    drop_file = ws.drop_file()
    server_cmd = [sys.executable, str(LOADSERVER), *scenario.server_args(drop_file)]
    if scenario.tls:
        cert, key = ws.cert()
        server_cmd += ["--cert", cert, "--key", key]
    server_log = ws.root / "server.log"
    with open(server_log, "w") as err:
        server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    result: dict[str, Any] = {"client": client.name, "scenario": scenario.name}
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "LISTENING <port>", or "" if the server died
        if not line.startswith("LISTENING "):
            result["error"] = "load server did not start: " + server_log.read_text()[-300:]
            return result
        port = int(line.split()[1])
        scheme = "wss" if scenario.tls else "ws"
        url = f"{scheme}://127.0.0.1:{port}/v1/api/ws"
        env = dict(os.environ, IBIND_WS_URL=url, IBIND_REST_URL=url.replace("ws", "http", 1).replace("/ws", "/"),
                   PYTHONWARNINGS="ignore", IBIND_LOG_TO_FILE="False")
        cmd = [client.python, str(RUNNER), "--client", client.kind, "--url", url,
               *scenario.runner_args(drop_file), *(extra_runner_args or [])]
        started = time.monotonic()
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=scenario.max_seconds + 40)
        except subprocess.TimeoutExpired:
            result["error"] = "runner timed out"
            return result
        result["elapsed_s"] = round(time.monotonic() - started, 2)
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            result["error"] = f"runner exited {run.returncode} without a result: {run.stderr[-400:]}"
            return result
        result.update(json.loads(lines[-1]))
        result["client"] = client.name
        if "error" in result and log is not None:
            print(f"    stderr of {client.name}/{scenario.name}: {run.stderr[-600:]}", file=log)
        return result
    finally:
        _stop(server, grace=5)
        for path in (drop_file, drop_file + ".tmp"):
            if os.path.exists(path):
                os.unlink(path)
