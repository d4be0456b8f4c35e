"""The public front of the simulator: :class:`Simulator` (own thread) and :class:`AsyncSimulator` (your loop).

Both share :class:`_SimulatorBase`: the same constructor, attributes, order and session controls,
unsolicited messages and observability helpers. Every public method may be called from any thread;
calls are carried onto the simulator's event loop and return once applied there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ibkrws.simulator.faults import Faults
from ibkrws.simulator.model import GatewayConfig
from ibkrws.simulator.server import ConnectionInfo, ServerCore, call_on_loop

R = TypeVar("R")


class _Actions:
    """:class:`~ibkrws.simulator.faults.FaultActions` carried onto the simulator loop."""

    def __init__(self, sim: _SimulatorBase) -> None:
        self._sim = sim

    def drop_connections(self, code: int, reason: str) -> None:
        self._sim._call(lambda core: core.drop_connections(code, reason))

    def reset_connections(self) -> None:
        self._sim._call(lambda core: core.reset_connections())

    def lose_auth(self) -> None:
        self._sim._call(lambda core: core.lose_auth())

    def restore_auth(self) -> None:
        self._sim._call(lambda core: core.restore_auth())

    def compete(self) -> None:
        self._sim._call(lambda core: core.compete())

    def send_raw(self, payload: bytes, binary: bool | None) -> None:
        self._sim._call(lambda core: core.send_raw(payload, binary))


class _SimulatorBase:
    """Shared constructor, attributes and controls of :class:`Simulator` and :class:`AsyncSimulator`."""

    def __init__(
        self,
        *,
        account_id: str = "DU1234567",
        tls: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 10.0,
        md_interval: float = 0.5,
        smd_expiry: float = 600.0,
        market_data_lines: int = 100,
        pnl_interval: float = 1.0,
        account_interval: float = 10.0,
        seed: int | None = None,
        record_to: str | Path | None = None,
        username: str = "simuser1",
        paper: bool = False,
        unknown_conids: Iterable[int] = (8595,),
    ) -> None:
        for name, value in (("heartbeat_interval", heartbeat_interval), ("md_interval", md_interval),
                            ("smd_expiry", smd_expiry), ("pnl_interval", pnl_interval),
                            ("account_interval", account_interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}")
        if not isinstance(account_id, str) or not account_id or "+" in account_id:
            raise ValueError(f"account_id must be a non-empty string without '+', not {account_id!r}")
        if isinstance(market_data_lines, bool) or not isinstance(market_data_lines, int) or market_data_lines < 0:
            raise ValueError(f"market_data_lines must be an int >= 0, not {market_data_lines!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, not {port!r}")
        self._config = GatewayConfig(
            account_id=account_id,
            username=username,
            paper=paper,
            heartbeat_interval=float(heartbeat_interval),
            md_interval=float(md_interval),
            smd_expiry=float(smd_expiry),
            market_data_lines=market_data_lines,
            pnl_interval=float(pnl_interval),
            account_interval=float(account_interval),
            unknown_conids=frozenset(unknown_conids),
        )
        self._host, self._port, self._tls, self._seed = host, port, tls, seed
        self._record_to = record_to
        self._core: ServerCore | None = None
        self.faults = Faults(lambda: _Actions(self) if self._core is not None else None)
        """The runtime fault switches and actions, see :class:`~ibkrws.simulator.faults.Faults`."""

    def _new_core(self) -> ServerCore:
        return ServerCore(self._config, self.faults, host=self._host, port=self._port, tls=self._tls,
                          seed=self._seed, record_to=self._record_to)

    def _running(self) -> ServerCore:
        core = self._core
        if core is None or core.stopped:
            raise RuntimeError("the simulator is not running; use it as a context manager or call start()")
        return core

    def _call(self, fn: Callable[[ServerCore], R]) -> R:
        core = self._running()
        return call_on_loop(core, lambda: fn(core))  # type: ignore[return-value]

    # ---- addresses -------------------------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        """REST base URL, ending with ``/v1/api/`` (``https`` unless ``tls=False``)."""
        return self._running().base("https" if self._tls else "http") + "/v1/api/"

    @property
    def ws_url(self) -> str:
        """WebSocket URL, ``wss://host:port/v1/api/ws`` (``ws://`` when ``tls=False``)."""
        return self._running().base("wss" if self._tls else "ws") + "/v1/api/ws"

    @property
    def port(self) -> int:
        """The bound port (the free port picked when constructed with ``port=0``)."""
        return self._running().port

    @property
    def account_id(self) -> str:
        """The simulated account id."""
        return self._config.account_id

    @property
    def cacert(self) -> str | None:
        """Path of the self-signed certificate PEM (valid for 127.0.0.1, ::1, localhost); None without TLS."""
        cert = self._running().cert
        return cert.cacert if cert else None

    @property
    def session_id(self) -> str | None:
        """The live ``/tickle`` session id (32 hex chars); None after logout until :meth:`login`."""
        return self._call(lambda core: core.gateway.session_id)

    @property
    def record_to(self) -> str | Path | None:
        """Recording path (JSON lines of every frame, fixture format) or None; settable at runtime."""
        if self._core is None or self._core.stopped:
            return self._record_to
        return self._call(lambda core: core.record_to)

    @record_to.setter
    def record_to(self, path: str | Path | None) -> None:
        self._record_to = path
        if self._core is not None and not self._core.stopped:
            self._call(lambda core: core.set_recording(path))

    # ---- session ---------------------------------------------------------------------------------
    def logout(self) -> None:
        """Same as ``POST /logout``: session gone, REST 401, open sockets closed with code 1000."""
        self._call(lambda core: core.gateway.logout())

    def login(self) -> str:
        """Log back in (a new session id, brokerage session established); returns the session id."""
        return self._call(lambda core: core.gateway.login())

    # ---- orders ----------------------------------------------------------------------------------
    def place_order(self, conid: int, side: str, quantity: float, order_type: str = "LMT",
                    price: float | None = None) -> int:
        """Place an order and return its ``orderId``.

        ``side`` ``BUY``/``SELL``; ``order_type`` ``LMT``/``MKT``; ``price`` None on a limit order means
        two ticks away from the market (rests). ``sor`` subscribers see the placement lifecycle;
        a market order fills on the next market tick, a limit order rests until :meth:`fill_order`
        or :meth:`cancel_order`. Bad arguments raise ``ValueError``.
        """
        return self._call(lambda core: core.gateway.place_order(conid, side, quantity, order_type, price,
                                                                core.now()))

    def cancel_order(self, order_id: int) -> None:
        """Cancel a working order (``ValueError`` if unknown or no longer working)."""
        self._call(lambda core: core.gateway.cancel_order(order_id))

    def fill_order(self, order_id: int, quantity: float | None = None) -> None:
        """Fill ``quantity`` (default: all remaining) of a working order at its limit (or the market).

        Sends a ``sor`` fill update, the execution on ``str`` (twice: without, then with commission)
        and a ``spl`` update; positions and cash move.
        """
        self._call(lambda core: core.gateway.fill_order(order_id, quantity))

    def set_market_state(self, conid: int, state: str) -> None:
        """``open``, ``closed`` (field 31 becomes ``C<prior close>``, no ticks) or ``halted`` (``H`` prefix)."""
        self._call(lambda core: core.gateway.market.set_state(conid, state))

    # ---- unsolicited messages --------------------------------------------------------------------
    def send_bulletin(self, message: str, bulletin_id: str = "SIM-BULLETIN-1", *, as_list: bool = False) -> None:
        """Send ``blt`` ``{"id","message"}`` to every greeted socket (``args`` a list if ``as_list``)."""
        item = {"id": bulletin_id, "message": message}
        self._broadcast({"topic": "blt", "args": [item] if as_list else item})

    def send_notification(self, text: str, *, title: str = "Warning", notification_id: str = "SIM_NOTICE",
                          url: str = "https://interactivebrokers.com/", as_list: bool = False) -> None:
        """Send ``ntf`` ``{"id","text","title","url"}`` to every greeted socket (``args`` list if ``as_list``)."""
        item = {"id": notification_id, "text": text, "title": title, "url": url}
        self._broadcast({"topic": "ntf", "args": [item] if as_list else item})

    def send_account_update(self) -> None:
        """Send ``act`` (the accounts object) to every greeted socket."""
        self._call(lambda core: core.gateway.broadcast({"topic": "act", "args": core.gateway.accounts_body()}))

    def send_status(self, args: dict[str, Any] | None = None) -> None:
        """Send ``sts`` with ``args`` as given, or the full current status when None."""
        self._call(lambda core: core.gateway.broadcast(
            {"topic": "sts", "args": dict(args) if args is not None else core.gateway.status_args()}))

    def _broadcast(self, obj: dict[str, Any]) -> None:
        self._call(lambda core: core.gateway.broadcast(obj))

    # ---- observability ---------------------------------------------------------------------------
    @property
    def open_connections(self) -> int:
        """Number of currently open WebSocket connections."""
        return self._call(lambda core: len(core.gateway.connections))

    def connections(self) -> list[ConnectionInfo]:
        """Snapshots (:class:`ConnectionInfo`) of every WebSocket connection so far, in connect order."""
        return self._call(lambda core: core.connection_infos())

    def received_frames(self, connection: int | None = None) -> list[str]:
        """Text frames the client sent on connection ``connection`` (id; default the latest one)."""
        infos = self.connections()
        if not infos:
            return []
        if connection is None:
            return list(infos[-1].received)
        for info in infos:
            if info.id == connection:
                return list(info.received)
        raise ValueError(f"no connection with id {connection!r}")

    def sent_counts(self, connection: int | None = None) -> dict[str, int]:
        """Frames written per topic, on one connection (id) or summed over all (None)."""
        totals: dict[str, int] = {}
        for info in self.connections():
            if connection is None or info.id == connection:
                for topic, n in info.sent.items():
                    totals[topic] = totals.get(topic, 0) + n
        return totals


class Simulator(_SimulatorBase):
    """The IBKR Client Portal gateway simulator, served from a background thread.

    ``with Simulator(account_id="DU1234567", tls=True) as sim:`` starts an aiohttp server on
    ``host:port`` (``127.0.0.1``, a free port by default) serving REST under ``/v1/api/`` and the
    WebSocket at ``/v1/api/ws``, with its own event loop in a daemon thread. Attributes:
    ``rest_url``, ``ws_url``, ``account_id``, ``cacert``, ``session_id``, ``faults``,
    ``record_to``. Observability: ``open_connections``, ``connections()``, ``received_frames()``,
    ``sent_counts()``, ``wait_for_connections()``, ``wait_for()``.

    Constructor keywords: ``account_id``, ``tls``, ``host``, ``port``, ``heartbeat_interval`` (s
    between ``system`` heartbeats), ``md_interval`` (s between market ticks), ``smd_expiry`` (s after
    the last ``smd`` request before the stream silently stops), ``market_data_lines``,
    ``pnl_interval`` (``spl``), ``account_interval`` (``ssd``/``sld``), ``seed``, ``record_to``,
    ``username``, ``paper``, ``unknown_conids`` (conids answered ``"31":"N/A"``).
    """

    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Simulator:
        """Start serving; returns once connections are accepted. Raises ``OSError`` if binding fails."""
        if self._thread is not None:
            raise RuntimeError("this simulator was already started; create a new one")
        ready = threading.Event()
        failure: list[BaseException] = []
        core = self._new_core()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(core.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            self._core = core
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="ibkrws-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the simulator did not start within 30 s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every socket, stop serving and join the thread (idempotent; about 1 s at worst)."""
        core, loop, thread = self._core, self._loop, self._thread
        if core is None or loop is None or thread is None or not thread.is_alive():
            return
        if threading.get_ident() == core.thread_id:
            raise RuntimeError("Simulator.stop() cannot be called from the simulator's own loop")
        if not core.stopped:
            fut = asyncio.run_coroutine_threadsafe(core.stop(), loop)
            try:
                fut.result(timeout=2)
            except Exception:
                fut.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` (evaluated on the simulator loop after every change) is true.

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        core = self._running()
        deadline = time.monotonic() + timeout
        while True:
            with core.cond:
                version = core.version
            if call_on_loop(core, predicate):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with core.cond:
                core.cond.wait_for(lambda v=version: core.version != v, remaining)  # type: ignore[misc]

    def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until exactly ``n`` WebSocket connections are open (``TimeoutError`` otherwise)."""
        core = self._running()
        self.wait_for(lambda: len(core.gateway.connections) == n, timeout)


class AsyncSimulator(_SimulatorBase):
    """The simulator on the caller's running event loop: ``async with AsyncSimulator(...) as sim:``.

    Same constructor, attributes and methods as :class:`Simulator`; ``start``/``stop`` and the
    waits are coroutines. Do not block the loop while the simulator should answer.
    """

    async def start(self) -> AsyncSimulator:
        """Start serving on the running loop; returns once connections are accepted."""
        if self._core is not None:
            raise RuntimeError("this simulator was already started; create a new one")
        core = self._new_core()
        await core.start()
        self._core = core
        return self

    async def stop(self) -> None:
        """Close every socket and stop serving (idempotent)."""
        if self._core is not None:
            await self._core.stop()

    async def __aenter__(self) -> AsyncSimulator:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true, re-checked after every change (``TimeoutError`` otherwise)."""
        core = self._running()
        async with asyncio.timeout(timeout):
            while not predicate():
                await core.changed()

    async def wait_for_connections(self, n: int, timeout: float = 5.0) -> None:
        """Wait until exactly ``n`` WebSocket connections are open (``TimeoutError`` otherwise)."""
        core = self._running()
        await self.wait_for(lambda: len(core.gateway.connections) == n, timeout)
