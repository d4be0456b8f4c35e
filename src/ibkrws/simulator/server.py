"""The simulator's I/O: one aiohttp server for REST (``/v1/api/...``) and the WebSocket (``/v1/api/ws``).

:class:`ServerCore` lives on one event loop. It feeds the sans-I/O :class:`~ibkrws.simulator.model.Gateway`
with what arrives (upgrades, text frames, REST calls, the passing of time) and writes what the
gateway queues, applying the connection-level faults (opcode, close codes, TCP resets, hanging
upgrades, slow or rate-limited REST). It also keeps the observability counters and the recorder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiohttp import WSMsgType, web

from ibkrws.simulator.channels import Connection
from ibkrws.simulator.faults import Faults
from ibkrws.simulator.model import Gateway, GatewayConfig
from ibkrws.simulator.recorder import REDACTED, Recorder
from ibkrws.simulator.tls import CertFiles, certificate, server_context

log = logging.getLogger("ibkrws.simulator")

API_PREFIX = "/v1/api/"


@dataclass(frozen=True)
class ConnectionInfo:
    """A snapshot of one WebSocket connection, for tests.

    ``id`` counts from 1 in connect order; ``received`` holds the client's text frames in order;
    ``sent`` counts the frames actually written per topic (``"(none)"`` for topic-less frames such as
    ``{"message":"waiting for session"}``, ``"(raw)"`` for raw/echo frames); ``ignored`` counts
    client frames dropped by design (before the greeting, or first requests under
    ``faults.require_second_request``); ``suppressed`` counts frames the simulator discarded
    because of a fault switch (``stall``, ``data``, ``heartbeats``); ``close_code`` is set once
    closed (None when the TCP connection just went away).
    """

    id: int
    open: bool
    greeted: bool
    received: tuple[str, ...]
    sent: dict[str, int]
    ignored: int
    suppressed: int
    close_code: int | None


@dataclass
class _Link:
    """The I/O side of one connection."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.Task[None] | None = None
    close_code: int | None = None


def session_candidates(cookie_headers: list[str]) -> list[str]:
    """Session ids offered in ``Cookie`` headers: ``api={"session":"<id>"}``, ``api=<id>``, ``x-sess-uuid``."""
    found: list[str] = []
    for header in cookie_headers:
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            value = value.strip()
            if name == "api":
                if value.startswith("{"):
                    with contextlib.suppress(orjson.JSONDecodeError):
                        obj = orjson.loads(value)
                        if isinstance(obj, dict) and isinstance(obj.get("session"), str):
                            found.append(obj["session"])
                    continue
                found.append(value.strip('"'))
            elif name == "x-sess-uuid":
                found.append(value)
    return [f for f in found if f]


def _redacted_path(request: web.Request) -> str:
    """The request path with OAuth token values hidden (they are credentials)."""
    if not request.query:
        return request.path
    parts = [f"{k}={REDACTED if k in ('oauth_token', 'sessionToken') else v}" for k, v in request.query.items()]
    return request.path + "?" + "&".join(parts)


class ServerCore:
    """Everything that runs on the simulator's event loop. Methods must be called on that loop."""

    def __init__(self, config: GatewayConfig, faults: Faults, *, host: str, port: int, tls: bool,
                 seed: int | None, record_to: str | Path | None) -> None:
        self.config = config
        self.faults = faults
        self.host, self.port, self.tls = host, port, tls
        self.cert: CertFiles | None = certificate() if tls else None
        self.version = 0
        self.cond = threading.Condition()
        self._waiters: list[asyncio.Future[None]] = []
        self._links: dict[int, _Link] = {}
        self._hanging: set[asyncio.Future[None]] = set()
        self._next_conn = 0
        self._recorder: Recorder | None = None
        self._record_to = record_to
        self._runner: web.AppRunner | None = None
        self._timer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread_id = 0
        self.stopped = False
        self.gateway = Gateway(config, faults, rng=random.Random(seed), on_output=self._on_output,
                               on_change=self._changed)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind, start serving, start the gateway clock."""
        self.loop = asyncio.get_running_loop()
        self.thread_id = threading.get_ident()
        self.set_recording(self._record_to)
        app = web.Application()
        app.router.add_route("*", API_PREFIX + "ws", self._ws_handler)
        app.router.add_route("*", API_PREFIX + "{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family, backlog=128)
        self.port = sock.getsockname()[1]
        ssl_ctx = server_context(self.cert) if self.cert else None
        site = web.SockSite(self._runner, sock, ssl_context=ssl_ctx)
        await site.start()
        self._timer = asyncio.create_task(self._clock(), name="ibkrws-sim-clock")

    async def stop(self) -> None:
        """Close every socket and stop serving (idempotent)."""
        if self.stopped or self.loop is None:
            return
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for fut in list(self._hanging):
            if not fut.done():
                fut.set_result(None)
        links = list(self._links.values())
        for link in links:
            if link.writer is not None:
                link.writer.cancel()
        await asyncio.gather(*(self._close_ws(link, 1001) for link in links), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        self.set_recording(None)
        self._changed()

    async def _close_ws(self, link: _Link, code: int) -> None:
        try:
            await asyncio.wait_for(link.ws.close(code=code), 0.5)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        if link.transport is not None and not link.transport.is_closing():
            link.transport.abort()

    # ---- change notification ---------------------------------------------------------------------
    def _changed(self) -> None:
        with self.cond:
            self.version += 1
            self.cond.notify_all()
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next observable change (connection, frame in or out)."""
        assert self.loop is not None
        fut: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append(fut)
        return fut

    def now(self) -> float:
        """The gateway clock: the loop's monotonic time."""
        assert self.loop is not None
        return self.loop.time()

    def wake(self) -> None:
        """Re-run the gateway clock now (after any input that may have created a deadline)."""
        self._wake.set()

    async def _clock(self) -> None:
        assert self.loop is not None
        loop = self.loop
        while True:
            self._wake.clear()
            try:
                deadline = self.gateway.advance(loop.time())
            except Exception:  # a bug must not silence the whole simulator
                log.exception("simulator clock failed")
                deadline = loop.time() + 0.1
            handle = loop.call_at(deadline, self._wake.set)
            await self._wake.wait()
            handle.cancel()

    # ---- recording -------------------------------------------------------------------------------
    def set_recording(self, path: str | Path | None) -> None:
        """Start recording to ``path`` (appending), or stop recording with None."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        self._record_to = path
        if path is not None:
            self._recorder = Recorder(path, lambda: self.gateway.secrets)

    @property
    def record_to(self) -> str | Path | None:
        """The current recording path, or None."""
        return self._record_to

    # ---- URLs ------------------------------------------------------------------------------------
    def base(self, scheme: str) -> str:
        """``scheme://host:port`` with IPv6 hosts bracketed."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    # ---- WebSocket -------------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        assert self.loop is not None
        mode = self.faults.ws_upgrade
        if mode == "hang":
            fut: asyncio.Future[None] = self.loop.create_future()
            self._hanging.add(fut)
            try:
                await fut
            finally:
                self._hanging.discard(fut)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if mode == "refuse":
            return web.Response(status=503, text="WebSocket upgrades refused (simulator fault ws_upgrade)")
        for token in ("oauth_token", "sessionToken"):
            if token in request.query and not request.query[token].strip():
                return web.json_response({"error": f"empty {token}", "statusCode": 401}, status=401)
        offered = session_candidates(request.headers.getall("Cookie", []))
        session = next((s for s in offered if self.gateway.valid_session(s)), offered[0] if offered else None)
        ws = web.WebSocketResponse(autoping=False, compress=False, timeout=1.0, max_msg_size=1 << 22)
        await ws.prepare(request)
        self._next_conn += 1
        conn_id = self._next_conn
        if self._recorder is not None:
            scheme = "wss" if self.tls else "ws"
            self._recorder.meta("connect", f"{self.base(scheme)}{_redacted_path(request)}",
                                {"connection": conn_id, "session_id": REDACTED if session else None})
        link = _Link(ws, request.transport)
        self._links[conn_id] = link
        conn = self.gateway.connect(conn_id, session, self.now())
        link.writer = asyncio.create_task(self._writer(link, conn), name=f"ibkrws-sim-writer-{conn_id}")
        self.wake()
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = msg.data
                    text = data if isinstance(data, str) else bytes(data).decode("utf-8", errors="replace")
                    if self._recorder is not None:
                        self._recorder.client_frame(text)
                    try:
                        self.gateway.receive(conn_id, text, self.now())
                    except Exception:
                        log.exception("simulator failed on a client frame starting %r", text[:3])  # no secrets
                    self.wake()
                elif msg.type == WSMsgType.PING:
                    if not self.faults.stall:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if link.writer is not None:
                link.writer.cancel()
            self._links.pop(conn_id, None)
            code = link.close_code if link.close_code is not None else ws.close_code
            self.gateway.disconnect(conn_id, code)
            if self._recorder is not None:
                self._recorder.meta("disconnect", "", {"connection": conn_id, "code": code})
        return ws

    def _on_output(self, conn: Connection) -> None:
        link = self._links.get(conn.id)
        if link is not None:
            link.wake.set()

    async def _writer(self, link: _Link, conn: Connection) -> None:
        ws = link.ws
        try:
            while True:
                await link.wake.wait()
                link.wake.clear()
                while conn.outbox:
                    frame = conn.outbox.popleft()
                    if frame.kind == "close":
                        link.close_code = frame.code
                        await ws.close(code=frame.code, message=frame.reason.encode())
                        return
                    if frame.kind == "reset":
                        self._reset(link)
                        return
                    binary = frame.binary if frame.binary is not None else not self.faults.text_frames
                    await ws.send_frame(frame.payload, WSMsgType.BINARY if binary else WSMsgType.TEXT)
                    conn.sent[frame.topic] += 1
                    if self._recorder is not None:
                        self._recorder.server_frame(frame.payload)
                self._changed()
        except (ConnectionError, RuntimeError):
            return

    def _reset(self, link: _Link) -> None:
        """Abort with SO_LINGER 0 so the peer sees a TCP RST, not a close frame or FIN."""
        transport = link.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    # ---- REST ------------------------------------------------------------------------------------
    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        delay = self.faults.rest_delay
        if delay:
            await asyncio.sleep(delay)  # the fault itself: a slow gateway
        if self.faults.rest_429:
            return web.json_response({"error": "Too Many Requests", "statusCode": 429}, status=429)
        body: object = None
        if request.can_read_body:
            raw = await request.read()
            with contextlib.suppress(orjson.JSONDecodeError):
                body = orjson.loads(raw) if raw else None
        reply = self.gateway.rest(request.method, request.match_info["tail"], request.query, body)
        self.wake()
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text, content_type="text/html")
        resp = web.Response(status=reply.status, body=orjson.dumps(reply.body), content_type="application/json",
                            charset="utf-8")
        for name, value in reply.cookies.items():
            resp.set_cookie(name, value, path="/v1/api", httponly=True, secure=self.tls)
        return resp

    # ---- actions (FaultActions and friends), called on the loop ----------------------------------
    def drop_connections(self, code: int, reason: str) -> None:
        """Queue a close frame with ``code`` on every open socket."""
        for conn in list(self.gateway.connections.values()):
            self.gateway.close(conn, code, reason)

    def reset_connections(self) -> None:
        """Queue a TCP reset on every open socket."""
        for conn in list(self.gateway.connections.values()):
            self.gateway.reset(conn)

    def lose_auth(self) -> None:
        """See :meth:`Faults.lose_auth`."""
        self.gateway.lose_auth()

    def restore_auth(self) -> None:
        """See :meth:`Faults.restore_auth`."""
        self.gateway.restore_auth()

    def compete(self) -> None:
        """See :meth:`Faults.compete`."""
        self.gateway.compete()

    def send_raw(self, payload: bytes, binary: bool | None) -> None:
        """See :meth:`Faults.send_raw`."""
        self.gateway.send_raw(payload, binary)

    # ---- observability ---------------------------------------------------------------------------
    def connection_infos(self) -> list[ConnectionInfo]:
        """Snapshots of every connection so far, in connect order."""
        conns = [*self.gateway.closed, *self.gateway.connections.values()]
        return [
            ConnectionInfo(
                id=c.id,
                open=c.id in self.gateway.connections,
                greeted=c.greeted,
                received=tuple(c.received),
                sent=dict(c.sent),
                ignored=c.ignored,
                suppressed=c.suppressed,
                close_code=c.close_code,
            )
            for c in sorted(conns, key=lambda c: c.id)
        ]


def call_on_loop(core: ServerCore, fn: Callable[[], object]) -> object:
    """Run ``fn`` on the core's loop thread and return its result (directly when already there)."""
    if core.loop is None:
        raise RuntimeError("the simulator is not running")
    if threading.get_ident() == core.thread_id:
        result = fn()
        core.wake()
        return result
    fut: concurrent.futures.Future[object] = concurrent.futures.Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to the calling thread
            fut.set_exception(exc)
        core.wake()

    core.loop.call_soon_threadsafe(run)
    return fut.result(timeout=10)
