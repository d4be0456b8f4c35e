"""Replaying a recording (the recorded-fixture JSONL format) to a client, in order.

`Replayer` serves `tickle` and the WebSocket like a gateway, but instead of a market model it
plays back the `dir: in` frames of a recording. The recording's `dir: out` records pace the
script: before sending the frames that followed a client frame in the recording, the replayer
waits (bounded) for the client to send a frame with the same topic, so answers never overtake
the requests that caused them. With `timing=True` the original gaps between frames are kept.
Each WebSocket connection replays the next connection of the recording (split at `connect` meta
records, closed where the recording saw a `disconnect`), so reconnects replay too; a connection
recorded without its greeting (recorders that wait for it often drop it) gets a minimal one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ibkrws.simulator.tls import certificate, server_context

SESSION = "0" * 32
GREETING = (
    '{"topic":"system","success":"replay","isFT":false,"isPaper":false}',
    '{"topic":"sts","args":{"authenticated":true,"competing":false,"connected":true,"message":""}}',
)
"""Sent first on a connection whose recording has no greeting (recorders that wait for it often drop it)."""


@dataclass
class Step:
    """Send `frames` (with their delays) after the client sent a frame whose topic is `await_topic`."""

    await_topic: str | None
    frames: list[tuple[float, str]] = field(default_factory=list)


def _topic(frame: str) -> str:
    """The topic part of a client frame: `smd+265598+{...}` -> `smd+265598`; session frames -> `auth`."""
    if frame.startswith("{"):
        return "auth"
    parts = frame.split("+")
    return "+".join(p for p in parts[:3] if not p.startswith("{"))


def _time(record: dict[str, Any]) -> float:
    try:
        return dt.datetime.fromisoformat(str(record.get("ts"))).timestamp()
    except ValueError:
        return 0.0


@dataclass
class Connection:
    """One recorded connection: its steps, and whether the recording saw it end."""

    steps: list[Step] = field(default_factory=lambda: [Step(None)])
    disconnected: bool = False

    def greeted(self) -> bool:
        """Whether the recording of this connection holds the gateway's greeting."""
        return any('"success"' in frame and '"system"' in frame for step in self.steps for _, frame in step.frames)


def load_script(path: str | Path) -> list[Connection]:
    """Connections of a recording, each a list of steps."""
    connections: list[Connection] = []
    current: Connection | None = None
    last_time: float | None = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = orjson.loads(line)
        direction = record.get("dir")
        if direction == "meta" and record.get("topic") == "connect":
            current, last_time = Connection(), None
            connections.append(current)
            continue
        if direction == "meta" and record.get("topic") == "disconnect":
            if current is not None:
                current.disconnected = True
            continue
        if current is None:
            current = Connection()
            connections.append(current)
        steps = current.steps
        if not steps:
            steps = [Step(None)]
        if direction == "out":
            topic = _topic(str(record.get("raw", "")))
            if topic != "auth":
                steps.append(Step(topic))
        elif direction == "in":
            now = _time(record)
            delay = 0.0 if last_time is None else max(0.0, now - last_time)
            last_time = now
            steps[-1].frames.append((delay, str(record.get("raw", ""))))
    for connection in connections:
        if not connection.greeted():
            connection.steps[0].frames[:0] = [(0.0, frame) for frame in GREETING]
    return connections


class Replayer:
    """A gateway stand-in that replays a recording: `with Replayer(path) as rp: rp.ws_url`."""

    def __init__(self, path: str | Path, *, tls: bool = False, timing: bool = False, host: str = "127.0.0.1",
                 port: int = 0, wait_timeout: float = 5.0) -> None:
        if not Path(path).is_file():
            raise ValueError(f"path {str(path)!r} is not a file: expected a recording in the recorded-fixture format")
        self.script = load_script(path)
        if not self.script:
            raise ValueError(f"{path}: no connection to replay")
        self.tls = tls
        self.timing = timing
        self.wait_timeout = wait_timeout
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._next_connection = 0
        self.sent = 0
        self.cacert: str | None = None
        self.port = 0

    # ---------------------------------------------------------------- server

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v1/api/tickle", self._tickle)
        app.router.add_route("*", "/v1/api/iserver/auth/status", self._status)
        app.router.add_get("/v1/api/ws", self._ws)
        return app

    async def _tickle(self, request: web.Request) -> web.Response:
        return web.json_response({"session": SESSION, "iserver": {"authStatus": {
            "authenticated": True, "connected": True, "competing": False}}})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"authenticated": True, "connected": True, "competing": False})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        index = min(self._next_connection, len(self.script) - 1)
        self._next_connection += 1
        inbox: asyncio.Queue[str] = asyncio.Queue()

        async def read() -> None:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await inbox.put(_topic(msg.data))

        reader = asyncio.ensure_future(read())
        connection = self.script[index]
        try:
            for step in connection.steps:
                if step.await_topic is not None:
                    await self._await_topic(inbox, step.await_topic)
                for delay, frame in step.frames:
                    if self.timing and delay:
                        await asyncio.sleep(delay)
                    if ws.closed:
                        return ws
                    await ws.send_bytes(frame.encode("utf-8"))
                    self.sent += 1
            if connection.disconnected and index < len(self.script) - 1:
                await ws.close(code=1001, message=b"recorded disconnect")
                return ws
            await reader
        finally:
            reader.cancel()
        return ws

    async def _await_topic(self, inbox: asyncio.Queue[str], topic: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                got = await asyncio.wait_for(inbox.get(), remaining)
            except TimeoutError:
                return
            if got == topic or got.split("+")[0] == topic.split("+")[0]:
                return

    # ------------------------------------------------------------- lifecycle

    def __enter__(self) -> Replayer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Replayer:
        """Serve on a background thread; returns once it accepts connections."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="ibkrws-replayer", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self._app(), shutdown_timeout=1.0)
        await self._runner.setup()
        ssl_context = None
        if self.tls:
            files = certificate()
            self.cacert = files.cacert
            ssl_context = server_context(files)
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=ssl_context)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and join the thread (bounded)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self._loop = self._thread = None

    @property
    def ws_url(self) -> str:
        """The WebSocket URL clients connect to."""
        return f"{'wss' if self.tls else 'ws'}://{self._host}:{self.port}/v1/api/ws"

    @property
    def rest_url(self) -> str:
        """The REST base URL (tickle, auth status)."""
        return f"{'https' if self.tls else 'http'}://{self._host}:{self.port}/v1/api/"
