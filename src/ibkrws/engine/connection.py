"""The connection half of the engine: lifecycle, connecting, the receive path, health.

It feeds every frame to the protocol core (decode, route, subscription table, liveness) and
executes what the core decides. Subscriptions and gaps are added by `Engine` (engine.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from typing import Any

import aiohttp
import orjson
from orjson import JSONDecodeError

from ibkrws.engine.config import (
    CLOSE_NORMAL,
    CLOSE_UNEXPECTED,
    DeliverUnsolicited,
    EmitEvent,
    EngineConfig,
    EngineStats,
    Handler,
    HandlerFor,
)
from ibkrws.engine.connector import display_url, present
from ibkrws.engine.fast_path import HANDLED, new_frame_path
from ibkrws.engine.offloop import call_maybe_async
from ibkrws.engine.recorder import FrameRecorder, redact
from ibkrws.protocol.events import EventKind, Gap, WsEvent
from ibkrws.protocol.frames import ECHO, DecodeError, Kind, decode, route
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.liveness import Backoff, Liveness, jittered
from ibkrws.protocol.state import ConnectionState
from ibkrws.protocol.subscriptions import Subscription, SubscriptionTable

_LOGGER = logging.getLogger("ibkrws.client")
_loads = orjson.loads


class ConnectionEngine:
    """Connection, frames, health and lifecycle; `Engine` adds subscriptions and gaps."""

    def __init__(self, config: EngineConfig, rest: Any, handler_for: HandlerFor,
                 deliver_unsolicited: DeliverUnsolicited, emit: EmitEvent | None = None) -> None:
        self.config = config
        self.rest = rest
        self._handler_for = handler_for
        self._deliver_unsolicited = deliver_unsolicited
        self._emit_event = emit
        self.gap: Gap | None = None
        self.gaps: list[Gap] = []
        self._backoff = Backoff(config.backoff_initial, config.backoff_max, config.healthy_after)
        from ibkrws.engine.upkeep import Upkeep

        self.upkeep = Upkeep(self)
        self.recorder: FrameRecorder | None = None
        self.table = SubscriptionTable(config.subscription_retries, config.subscription_timeout)
        self._frame_path = new_frame_path(self.table.fast, _loads)  # `fast` is cleared in place, never replaced
        self.liveness = Liveness(config.max_ping_interval)
        self.stats = EngineStats()
        self.state = ConnectionState.STOPPED
        self.authenticated: bool | None = None
        self.competing: bool | None = None
        self.server_ids: dict[IbkrWsKey, dict[str, Any]] = defaultdict(dict)
        self.last_tic: dict[str, Any] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._http: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready_event: asyncio.Event | None = None
        self._stopping = False
        self._restart_requested = False
        self._close_reason = ""
        self._serve_task: asyncio.Task[Any] | None = None
        self._connect_task: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: dict[str, list[asyncio.Future[bool]]] = defaultdict(list)
        self._unsub_waiters: dict[str, list[asyncio.Future[bool]]] = defaultdict(list)
        self._tic_waiters: list[asyncio.Future[dict[str, Any]]] = []
        self._generation = 0  # one per connection: ends its pinger and watchdog
        self._epoch = 0  # one per subscription round: a connection, or until an auth loss
        self._first_connect: asyncio.Future[bool] | None = None
        self._session: str | None = None
        self._closing_by_client = False
        self._server_close_code: int | None = None
        self._last_logged: dict[str, float] = {}

    # ----------------------------------------------------------------- state

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def ready(self) -> bool:
        return self.state is ConnectionState.READY and self.connected

    def _set_state(self, state: ConnectionState, reason: str = "") -> None:
        if state is self.state:
            return
        previous, self.state = self.state, state
        _LOGGER.info("%s: state %s -> %s%s", self.name, previous.value, state.value,
                     f" ({reason})" if reason else "")
        self.emit(EventKind.STATE, reason=reason, old=previous.value, new=state.value)

    def emit(self, kind: EventKind, channel: str | None = None, key: IbkrWsKey | None = None,
             reason: str = "", **detail: Any) -> None:
        """Hand one lifecycle event to the front door (never raises into the engine)."""
        if self._emit_event is None:
            return
        try:
            self._emit_event(WsEvent(kind, time.time(), channel, key, reason, detail))
        except Exception:  # noqa: BLE001 - a broken event consumer must not stop the engine
            _LOGGER.exception("%s: event consumer failed", self.name)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------- lifecycle

    async def run(self, first_connect: asyncio.Future[bool] | None = None) -> None:
        """Connect, serve, reconnect until stopped. `first_connect` resolves after the first attempt round."""
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._ready_event = asyncio.Event()
        self._first_connect = first_connect
        self._http = aiohttp.ClientSession()
        if self.config.record_to:
            self.recorder = FrameRecorder(self.config.record_to)
        self.upkeep.start()
        try:
            while not self._stopping:
                self._connect_task = asyncio.ensure_future(self._connect_round())
                try:
                    ws = await self._connect_task
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                    ws = None
                finally:
                    self._connect_task = None
                self._resolve_first(ws is not None)
                if ws is None:
                    break
                await self._serve_guarded(ws)
                if self._stopping:
                    break
                if not (self.config.restart_on_close or self._restart_requested):
                    _LOGGER.info("%s: Connection closed and restart_on_close is off: stopping", self.name)
                    break
                self._restart_requested = False
                self.stats.reconnects += 1
                self._set_state(ConnectionState.RECONNECTING, self._close_reason)
                if await self._sleep_or_stop(self._next_backoff()):
                    break
        finally:
            self._set_state(ConnectionState.STOPPING)
            await self._cleanup()
            if self.recorder is not None:
                self.recorder.close()
            self._resolve_first(False)
            self._set_state(ConnectionState.STOPPED)

    def _resolve_first(self, ok: bool) -> None:
        if self._first_connect is not None and not self._first_connect.done():
            self._first_connect.set_result(ok)

    async def _cleanup(self) -> None:
        self._fail_all_waiters()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.config.timeout)
        if self._http is not None:
            try:
                await asyncio.wait_for(self._http.close(), self.config.timeout)
            except (TimeoutError, Exception):  # noqa: BLE001 - closing is best effort
                pass
            self._http = None

    def _fail_all_waiters(self) -> None:
        for waiters in (*self._waiters.values(), *self._unsub_waiters.values()):
            for fut in waiters:
                if not fut.done():
                    fut.set_result(False)
        self._waiters.clear()
        self._unsub_waiters.clear()
        for tic in self._tic_waiters:
            if not tic.done():
                tic.cancel()
        self._tic_waiters.clear()

    def request_stop(self) -> None:
        """Stop: close the socket (code 1000), stop reconnecting. Call on the engine loop."""
        if self._stopping:
            return
        self._stopping = True
        self._set_state(ConnectionState.STOPPING)
        if self._stop_event is not None:
            self._stop_event.set()
        self._fail_all_waiters()
        if self._connect_task is not None:
            self._connect_task.cancel()
        self._close_current(CLOSE_NORMAL, "shutdown")

    def request_reset(self, restart: bool, reason: str) -> None:
        """Close the current connection; reconnect if `restart` or restart_on_close. On the engine loop."""
        if self._stopping:
            return
        self._restart_requested = self._restart_requested or restart
        _LOGGER.info("%s: Hard reset (%s), restart=%s", self.name, reason, restart)
        self._close_current(CLOSE_UNEXPECTED, reason)

    def _close_current(self, code: int, reason: str) -> None:
        self._close_reason = reason
        self._closing_by_client = True
        ws = self._ws
        serve = self._serve_task
        if ws is None or serve is None:
            return

        async def close() -> None:
            try:
                await asyncio.wait_for(ws.close(code=code, message=reason.encode()[:120]), self.config.timeout / 2)
            except (TimeoutError, Exception):  # noqa: BLE001 - the serve task is cancelled below
                pass
            if not serve.done():
                serve.cancel()

        self._spawn(close())

    async def _sleep_or_stop(self, delay: float) -> bool:
        """Wait `delay` seconds; True if a stop was requested meanwhile."""
        assert self._stop_event is not None
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
            return True
        except TimeoutError:
            return self._stopping

    def _next_backoff(self) -> float:
        """Exponential backoff with jitter and a cap; back to the start after a healthy period."""
        return self._backoff.next_delay(self.monotonic(), random.random())

    # ------------------------------------------------------------ connecting

    async def _connect_round(self) -> aiohttp.ClientWebSocketResponse | None:
        """Up to max_connection_attempts attempts with backoff; more rounds if restart_on_critical."""
        while not self._stopping:
            for attempt in range(1, self.config.max_connection_attempts + 1):
                self._set_state(ConnectionState.CONNECTING, f"attempt {attempt}")
                _LOGGER.info("%s: Trying to connect", self.name)
                ws = await self._connect_once()
                if ws is not None:
                    return ws
                if self._stopping:
                    return None
                if attempt < self.config.max_connection_attempts:
                    if await self._sleep_or_stop(self._next_backoff()):
                        return None
            _LOGGER.error("%s: Failed to connect after %d attempts", self.name, self.config.max_connection_attempts)
            self._resolve_first(False)
            if not self.config.restart_on_critical:
                return None
            if await self._sleep_or_stop(jittered(self.config.backoff_max, random.random())):
                return None
        return None

    async def _session_id(self) -> str | None:
        """Tickle through the REST client: the session id the socket presents, or None."""
        if self.rest is None:
            return None
        try:
            result = await asyncio.wait_for(call_maybe_async(self.rest.tickle), self.config.timeout * 2)
        except Exception as exc:  # noqa: BLE001 - a REST hiccup: the last session usually still works
            _LOGGER.warning("%s: tickle failed (%s); %s", self.name, exc,
                            "presenting the last known session" if self._session else "connecting without a session")
            return self._session
        data = getattr(result, "data", result)
        session = data.get("session") if isinstance(data, dict) else None
        return session if isinstance(session, str) and session else self._session

    async def _connect_once(self) -> aiohttp.ClientWebSocketResponse | None:
        session_id = await self._session_id()
        self._session = session_id
        how = present(self.config.ws_url, session_id, self.config.ssl,
                      use_oauth=self.config.use_oauth, access_token=self.config.access_token)
        assert self._http is not None
        try:
            ws = await asyncio.wait_for(
                self._http.ws_connect(
                    how.url,
                    headers=how.headers,
                    ssl=how.ssl,
                    autoping=False,
                    max_msg_size=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self.config.timeout),
                ),
                self.config.timeout,
            )
        except TimeoutError:
            _LOGGER.warning("%s: Connecting to %s timed out after %g s", self.name,
                            display_url(how.url), self.config.timeout)
            return None
        except (aiohttp.ClientError, OSError) as exc:
            _LOGGER.warning("%s: Could not connect to %s: %s", self.name, display_url(how.url),
                            type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            return None
        self.stats.connects += 1
        _LOGGER.info("%s: Connection open", self.name)
        if self.recorder is not None:
            self.recorder.meta("connect", display_url(how.url), {"session_id": "<redacted>"})
        self.emit(EventKind.CONNECTED)
        return ws

    # --------------------------------------------------------------- serving

    async def _serve_guarded(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._serve_task = asyncio.ensure_future(self._serve(ws))
        try:
            await self._serve_task
        except asyncio.CancelledError:
            if not self._serve_task.cancelled():
                raise
        except Exception:  # noqa: BLE001 - a bug on the receive path must not end the client
            _LOGGER.exception("%s: receive loop failed", self.name)
        finally:
            self._serve_task = None
            await self._after_close(ws)

    async def _after_close(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if not ws.closed:
            try:
                await asyncio.wait_for(ws.close(code=CLOSE_UNEXPECTED), self.config.timeout / 2)
            except (TimeoutError, Exception):  # noqa: BLE001
                pass
        self._ws = None
        self._generation += 1
        self._epoch += 1
        self.stats.disconnects += 1
        self.stats.connections.append((self.stats.frames - self.stats.frames_at_connect, self._closing_by_client))
        del self.stats.connections[:-1000]
        if self._ready_event is not None:
            self._ready_event.clear()
        self.open_gap(f"disconnected: {self._close_reason or 'closed by the server'}")
        self.table.connection_lost()
        code = self._close_code(ws)
        _LOGGER.info("%s: Connection closed (code=%s, %s)", self.name, code, self._close_reason or "by the server")
        self.emit(EventKind.DISCONNECTED, reason=self._close_reason, code=code)
        if self.recorder is not None:
            self.recorder.meta("disconnect", "", {"code": code, "reason": self._close_reason})

    def _close_code(self, ws: aiohttp.ClientWebSocketResponse) -> int | None:
        """The server's close code when it sent one (aiohttp reports 1006 after its own reply)."""
        return self._server_close_code if self._server_close_code is not None else ws.close_code

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._close_reason = ""
        self._closing_by_client = False
        self._server_close_code = None
        self.stats.frames_at_connect = self.stats.frames
        self._set_state(ConnectionState.OPEN)
        self.liveness.reset(time.monotonic())
        generation = self._generation
        pinger = self._spawn(self._pinger(ws, generation))
        watchdog = self._spawn(self._watchdog(generation))
        greeting = self._spawn(self._greeting_deadline(generation))
        try:
            await self._receive(ws)
        finally:
            pinger.cancel()
            watchdog.cancel()
            greeting.cancel()
        if not self._close_reason:
            self._close_reason = f"closed by the server, code={self._close_code(ws)}"

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        clock = time.monotonic  # the engine's one clock (loop.time() would wrap it in a Python call)
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        log_raw = self.config.log_raw_messages
        stats, frame_path = self.stats, self._frame_path
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is binary or kind is text:
                data = msg.data
                if log_raw:
                    _LOGGER.debug("%s: Raw message: %s", self.name, redact(str(data)))
                if self.recorder is not None:
                    self.recorder.incoming(data)
                stats.frames += 1
                now = clock()
                try:
                    message = frame_path(data, now)  # decoded and delivered, for active subscriptions' data
                except JSONDecodeError:
                    message = self._decode_slow(data)
                    if message is None:
                        continue
                except Exception as exc:  # noqa: BLE001 - one bad message must not cost the connection
                    self._on_undeliverable(exc, data)
                    continue
                if message is not HANDLED:
                    try:
                        self._on_message(message, now)
                    except Exception as exc:  # noqa: BLE001 - as above, on the slow path
                        self._on_undeliverable(exc, data)
            elif kind is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif kind is aiohttp.WSMsgType.PONG:
                self.liveness.on_pong(time.monotonic())
            elif kind is aiohttp.WSMsgType.ERROR:
                self._close_reason = f"error: {ws.exception()!r}"
                return
            else:  # CLOSE, CLOSING, CLOSED
                if kind is aiohttp.WSMsgType.CLOSE:
                    self._server_close_code = msg.data
                return

    def _on_undeliverable(self, exc: Exception, data: bytes | str) -> None:
        """A decoded message whose handling raised: counted, logged (rate-limited), skipped."""
        self.stats.undeliverable += 1
        self._log_limited("undeliverable", logging.ERROR, "skipped a message that could not be delivered (%d so far): "
                          "%r in %s", self.stats.undeliverable, exc, redact(str(data))[:300])

    def _on_message(self, message: Any, now: float) -> None:
        """A decoded frame that is not an active subscription's data (`FramePath` handles those)."""
        stats = self.stats
        if type(message) is not dict:
            stats.invalid_json += 1
            self._log_limited("invalid", logging.WARNING, "skipped a frame that is not a JSON object (%d so far)",
                              stats.invalid_json)
            return
        topic = message.get("topic")
        kind, key, channel = route(message)
        if kind is not Kind.DATA:
            self._on_other(kind, key, channel, message, now)
            return
        handle = self._handler(key, channel)  # type: ignore[arg-type]
        found, became_active = self.table.on_data(channel, now)  # type: ignore[arg-type]
        if found is not None:
            if became_active:
                self._on_active(found)
            if found.active:
                self.table.fast[topic] = (found, handle)  # type: ignore[index]
        handle(message)

    def _handler(self, key: IbkrWsKey, channel: str) -> Handler:
        """The delivery handler of `key`; history data also records which server id serves which conid."""
        handle = self._handler_for(key)
        if key is not IbkrWsKey.MARKET_HISTORY:
            return handle

        def history(message: dict[str, Any]) -> None:
            if "serverId" in message:
                self._track_server_id(channel, message)
            handle(message)

        return history

    def _decode_slow(self, payload: bytes | str) -> dict[str, Any] | None:
        """Frames orjson refused: the echo, invalid UTF-8 (repaired, counted) or garbage (counted, skipped)."""
        stats = self.stats
        if payload == ECHO or payload == "ech+hb":
            return None
        try:
            message, repaired = decode(payload)
        except DecodeError as exc:
            stats.invalid_json += 1
            self._log_limited("invalid", logging.WARNING, "skipped a frame that is not a JSON object (%d so far): %s",
                              stats.invalid_json, exc)
            return None
        if repaired:
            stats.repaired_utf8 += 1
            self._log_limited("utf8", logging.INFO, "frame with invalid UTF-8 decoded leniently (%d so far)",
                              stats.repaired_utf8)
        return message

    def _log_limited(self, what: str, level: int, text: str, *args: Any) -> None:
        """Log at most every 5 s per kind of event: the counters carry the exact numbers."""
        now = time.monotonic()
        if now - self._last_logged.get(what, -10.0) >= 5.0:
            self._last_logged[what] = now
            _LOGGER.log(level, "%s: " + text, self.name, *args)

    def _on_other(self, kind: Kind, key: IbkrWsKey | None, channel: str | None, message: dict[str, Any],
                  now: float) -> None:
        stats = self.stats
        if kind is Kind.UNSOLICITED:
            assert key is not None
            self._on_unsolicited(key, message, now)
        elif kind is Kind.TIC:
            self._on_tic(message)
        elif kind is Kind.ERROR:
            stats.errors += 1
            self._log_limited("error", logging.ERROR, "error message (%d so far): %s", stats.errors, message)
            self._deliver_unsolicited(IbkrWsKey.ERROR, message)
        elif kind is Kind.WAITING_FOR_SESSION:
            _LOGGER.info("%s: Waiting for an active IBKR session", self.name)
            self._spawn(self._send_session())
        elif kind is Kind.UNSUBSCRIBED:
            assert key is not None
            self._on_unsubscribed(key, channel)
        else:
            stats.unknown += 1
            self._log_limited("unknown", logging.WARNING, "unrecognised message (%d so far): %s", stats.unknown,
                              str(message)[:300])

    def _on_unsolicited(self, key: IbkrWsKey, message: dict[str, Any], now: float) -> None:
        if key is IbkrWsKey.SYSTEM:
            if "hb" in message:
                self.liveness.on_heartbeat(now)
            elif "success" in message:
                self.liveness.on_heartbeat(now)
                self._on_greeting()
        elif key is IbkrWsKey.AUTHENTICATION_STATUS:
            self._on_status(message.get("args") or {})
        elif key is IbkrWsKey.ACCOUNT_UPDATES:
            accounts = (message.get("args") or {}).get("accounts")
            if self.config.account_id and isinstance(accounts, list) and self.config.account_id not in accounts:
                _LOGGER.error("%s: Account ID mismatch: expected=%s, received=%s", self.name,
                              self.config.account_id, accounts)
        self._deliver_unsolicited(key, message)

    def _on_status(self, args: dict[str, Any]) -> None:
        if "authenticated" in args:
            authenticated = bool(args["authenticated"])
            previous, self.authenticated = self.authenticated, authenticated
            if authenticated:
                if previous is not True:
                    _LOGGER.info("%s: Status authenticated=True", self.name)
                self._on_greeting()
            elif previous is not False:
                self._on_auth_lost("sts authenticated=false")
        if "competing" in args:
            competing = bool(args["competing"])
            if competing and not self.competing:
                _LOGGER.error("%s: Status competing: another brokerage session is active", self.name)
                self.emit(EventKind.COMPETING, reason="sts competing=true")
                self._on_auth_lost("competing session")
            self.competing = competing

    def _on_auth_lost(self, reason: str) -> None:
        """Streams stop without a recovery message: recover through REST, then reconnect."""
        _LOGGER.error("%s: brokerage session lost (%s)", self.name, reason)
        if self.state in (ConnectionState.READY, ConnectionState.OPEN):
            self._set_state(ConnectionState.DEGRADED, reason)
        if self.upkeep.auth_recovering:
            return
        self.stats.auth_losses += 1
        self.open_gap(f"auth lost: {reason}")
        self._epoch += 1
        self.table.connection_lost()
        self.emit(EventKind.AUTH_LOST, reason=reason)
        self.upkeep.recover_auth()

    def _on_greeting(self) -> None:
        if self.state is ConnectionState.OPEN:
            self._set_state(ConnectionState.READY, "greeting received")
            self._backoff.healthy(self.monotonic())
            assert self._ready_event is not None
            self._ready_event.set()
            if self.config.recreate_subscriptions_on_reconnect or self.stats.connects <= 1:
                self._spawn(self._reconcile(self._epoch))
            else:
                self.close_gap()
        elif self.state is ConnectionState.DEGRADED and self.authenticated and not self.upkeep.auth_recovering:
            self._set_state(ConnectionState.READY, "authenticated again")

    async def _send_session(self) -> None:
        session = await self._session_id()
        if session and self._ws is not None:
            await self._send_text('{"session":"' + session + '"}')

    def _on_tic(self, message: dict[str, Any]) -> None:
        changed = message.get("lastAccessed") != self.last_tic.get("lastAccessed")
        self.last_tic = message
        if changed:
            waiters, self._tic_waiters = self._tic_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(message)

    # ------------------------------------------------------------ heartbeats

    async def _pinger(self, ws: aiohttp.ClientWebSocketResponse, generation: int) -> None:
        while generation == self._generation and not ws.closed:
            await asyncio.sleep(self.config.ping_interval)
            if ws.closed:
                return
            try:
                await ws.ping()
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return
            self.liveness.on_ping_sent(time.monotonic())

    async def _greeting_deadline(self, generation: int) -> None:
        """A socket the gateway never greets is useless (heartbeats alone do not make it ready)."""
        assert self._ready_event is not None
        limit = max(self.config.timeout, 1.0) * 2
        try:
            await asyncio.wait_for(self._ready_event.wait(), limit)
        except TimeoutError:
            if generation == self._generation and self.state is ConnectionState.OPEN:
                _LOGGER.warning("%s: no greeting within %g s of connecting; reconnecting", self.name, limit)
                self.request_reset(restart=True, reason=f"no greeting within {limit:g} s")

    async def _watchdog(self, generation: int) -> None:
        while generation == self._generation:
            now = time.monotonic()
            await asyncio.sleep(max(0.01, self.liveness.next_deadline(now) - now))
            reason = self.liveness.stale_reason(time.monotonic())
            if reason is not None and generation == self._generation:
                self.stats.stale_resets += 1
                _LOGGER.warning("%s: connection unhealthy: %s; reconnecting", self.name, reason)
                self.request_reset(restart=True, reason=reason)
                return

    def check_health(self) -> bool:
        """True when connected and neither heartbeats nor pongs are overdue; a stale socket is reset."""
        if not self.connected:
            return False
        assert self._loop is not None
        reason = self.liveness.stale_reason(time.monotonic())
        if reason is not None:
            self.request_reset(restart=True, reason=reason)
            return False
        return True

    # ------------------------------------------------- hooks for subscriptions

    def open_gap(self, reason: str) -> None:
        """Messages may be missed from now on (implemented by `Engine`)."""

    def close_gap(self) -> None:
        """Subscriptions are restored (implemented by `Engine`)."""

    def _on_active(self, sub: Subscription) -> None:
        """A subscription became active (implemented by `Engine`)."""

    async def _reconcile(self, epoch: int) -> None:
        """Send every desired subscription on a newly ready connection (implemented by `Engine`)."""

    def _track_server_id(self, channel: str, message: dict[str, Any]) -> None:
        """Remember a market-history serverId (implemented by `Engine`)."""

    def _on_unsubscribed(self, key: IbkrWsKey, server_id: str | None) -> None:
        """A topic-less unsubscribe confirmation arrived (implemented by `Engine`)."""

    # ----------------------------------------------------------------- sending

    async def _send_text(self, payload: str) -> bool:
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(payload)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
            _LOGGER.warning("%s: could not send %r: %s", self.name, redact(payload[:60]), exc)
            return False
        if self.recorder is not None:
            self.recorder.outgoing(payload)
        return True

    async def send(self, payload: str) -> bool:
        """Send one raw text frame; False when not connected."""
        return await self._send_text(payload)

    def monotonic(self) -> float:
        return time.monotonic()
