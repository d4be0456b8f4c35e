"""`WsClient`: the generic features of a WebSocket client run on a worker thread.

The worker thread owns one asyncio loop that runs the engine. Calls from user threads are
scheduled on that loop and awaited through futures (never by polling shared flags), so any
number of threads may subscribe at once. Shutdown is bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any, TypeVar

from ibkrws.engine.engine import Engine

_LOGGER = logging.getLogger("ibkrws.client")
R = TypeVar("R")


def _shutdown_at_exit(ref: weakref.ref[WsClient]) -> None:
    client = ref()
    if client is not None and client.running:
        client.shutdown()


class WsClient(ABC):
    """Worker thread, connection, subscriptions and queues; subclasses supply the engine."""

    def __init__(self, timeout: float) -> None:
        self._timeout = float(timeout)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        self._lifecycle_lock = threading.Lock()
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    @abstractmethod
    def _new_engine(self) -> Engine:
        """A fresh engine for one start/shutdown cycle."""

    def _before_start(self) -> None:
        """Hook run in the caller's thread before the worker starts."""

    def _after_shutdown(self) -> None:
        """Hook run in the caller's thread after the worker stopped."""

    def __str__(self) -> str:
        return type(self).__qualname__

    # ------------------------------------------------------------- lifecycle

    def start(self) -> bool:
        """Start the worker thread and connect; True when connected within `timeout` seconds.

        When False the client keeps trying in the background while `running` is True.
        """
        with self._lifecycle_lock:
            if self.running:
                return self.connected
            _LOGGER.info("%s: Starting", self)
            self._before_start()
            loop = asyncio.new_event_loop()
            engine = self._new_engine()
            first: asyncio.Future[bool] = loop.create_future()
            started = threading.Event()

            def work() -> None:
                asyncio.set_event_loop(loop)
                started.set()
                try:
                    loop.run_until_complete(engine.run(first))
                except Exception:  # noqa: BLE001 - logged; the thread must end cleanly
                    _LOGGER.exception("%s: worker thread failed", self)
                finally:
                    try:
                        loop.run_until_complete(loop.shutdown_asyncgens())
                    finally:
                        loop.close()

            self._loop, self._engine = loop, engine
            self._thread = threading.Thread(target=work, name=f"{self}-worker", daemon=True)
            self._thread.start()
            started.wait()
        try:
            return bool(asyncio.run_coroutine_threadsafe(self._await_first(first), loop).result(self._timeout + 1))
        except (TimeoutError, RuntimeError, asyncio.CancelledError):
            return False

    async def _await_first(self, first: asyncio.Future[bool]) -> bool:
        try:
            return await asyncio.wait_for(asyncio.shield(first), self._timeout)
        except TimeoutError:
            return False

    def shutdown(self) -> None:
        """Unsubscribe nothing, close the connection and stop the worker, within `timeout` seconds."""
        with self._lifecycle_lock:
            thread, loop, engine = self._thread, self._loop, self._engine
            if thread is None or loop is None or engine is None:
                return
            _LOGGER.info("%s: Shutting down", self)
            if threading.current_thread() is thread:
                raise RuntimeError(f"{self}: shutdown() called from the worker thread (e.g. in a callback)")
            try:
                loop.call_soon_threadsafe(engine.request_stop)
            except RuntimeError:  # loop already closed
                pass
            thread.join(self._timeout)
            self._thread = None
            if thread.is_alive():
                _LOGGER.warning("%s: worker did not stop within %g s; abandoning it (daemon thread)", self,
                                self._timeout)
            else:
                _LOGGER.info("%s: Gracefully stopped", self)
            self._after_shutdown()

    def _run(self, coro: Coroutine[Any, Any, R], timeout: float | None) -> R:
        """Run `coro` on the engine loop from a user thread and wait for its result."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            coro.close()
            raise RuntimeError(f"{self} is not running: call start() first")
        if threading.current_thread() is thread:
            coro.close()
            raise RuntimeError(f"{self}: blocking call made from the worker thread (e.g. in a callback)")
        try:
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()
            raise RuntimeError(f"{self} is shutting down") from None
        return future.result(timeout)

    def _call_soon(self, fn: Any, *args: Any) -> bool:
        loop = self._loop
        if loop is None or not self.running:
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            return False
        return True

    @property
    def running(self) -> bool:
        """Whether the worker thread is running (started and not shut down)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def connected(self) -> bool:
        """Whether the WebSocket is open."""
        engine = self._engine
        return self.running and engine is not None and engine.connected

    def ready(self) -> bool:
        """Whether the client is running, connected and greeted by the gateway (subscriptions accepted)."""
        engine = self._engine
        return self.running and engine is not None and engine.ready

    def hard_reset(self, restart: bool = False) -> None:
        """Close the connection now; reconnect when `restart` (or `restart_on_close`). Any thread."""
        engine = self._engine
        if engine is not None:
            self._call_soon(engine.request_reset, restart, "hard reset")

    def send(self, payload: str) -> bool:
        """Send a raw text frame; False when not connected."""
        engine = self._engine
        if not self.running or engine is None:
            return False
        try:
            return self._run(engine.send(payload), self._timeout)
        except (RuntimeError, TimeoutError):
            return False

    def check_health(self) -> bool:
        """True when connected and heartbeats and pongs are on time; a stale connection is reset."""
        engine = self._engine
        if not self.running or engine is None:
            return False
        result: list[bool] = []
        done = threading.Event()

        def check() -> None:
            result.append(engine.check_health())
            done.set()

        if not self._call_soon(check) or not done.wait(self._timeout):
            return False
        return result[0]
