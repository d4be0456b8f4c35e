"""Callbacks isolated from the receive path.

Each registered callback gets its own bounded accessor and its own consumer (a daemon thread for
the sync client, a task for the async one): a slow callback only fills its own queue (drops are
counted), a failing one is counted and logged, and delivery to everyone else goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ibkrws.protocol.events import EventKind, WsEvent
from ibkrws.queues.controller import QueueController

_LOGGER = logging.getLogger("ibkrws.callbacks")


class _Failures:
    def __init__(self, owner: str, emit: Callable[[WsEvent], None]) -> None:
        self.owner = owner
        self.emit = emit
        self.count = 0
        self._last_log = -10.0

    def record(self, callback: Any, exc: BaseException) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last_log < 5.0:
            return  # counted; logged and reported at most every 5 s
        self._last_log = now
        name = getattr(callback, "__name__", repr(callback))
        _LOGGER.error("%s: callback %s failed (%d failures so far): %r", self.owner, name, self.count, exc)
        self.emit(WsEvent(EventKind.CALLBACK_FAILED, time.time(), reason=repr(exc)[:200],
                          detail={"callback": name, "failures": self.count}))


class ThreadCallbacks:
    """Callbacks of the sync client, one daemon thread each."""

    def __init__(self, queues: QueueController[Any], owner: str, emit: Callable[[WsEvent], None]) -> None:
        self._queues = queues
        self.failures = _Failures(owner, emit)
        self._entries: list[tuple[Any, threading.Thread]] = []

    def add(self, key: Any, callback: Callable[[Any], Any]) -> Callable[[], None]:
        accessor = self._queues.new_queue_accessor(key)
        buffer = accessor._buffer

        def consume() -> None:
            while True:
                found, item = buffer.get(block=True)
                if not found:
                    return
                try:
                    callback(item)
                except Exception as exc:  # noqa: BLE001 - counted and logged, delivery goes on
                    self.failures.record(callback, exc)

        thread = threading.Thread(target=consume, name=f"ibkrws-callback-{getattr(callback, '__name__', 'fn')}",
                                  daemon=True)
        entry = (accessor, thread)
        self._entries.append(entry)
        thread.start()

        def remove() -> None:
            buffer.close()
            if entry in self._entries:
                self._entries.remove(entry)

        return remove

    def stop(self, timeout: float) -> None:
        entries, self._entries = self._entries, []
        for accessor, _ in entries:
            accessor._buffer.close()
        deadline = time.monotonic() + timeout
        for _, thread in entries:
            thread.join(max(0.0, deadline - time.monotonic()))


class TaskCallbacks:
    """Callbacks of the async client, one task each; blocking sync callbacks run on a thread."""

    def __init__(self, owner: str, emit: Callable[[WsEvent], None]) -> None:
        self.failures = _Failures(owner, emit)
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, stream: Any, callback: Callable[[Any], Any]) -> Callable[[], None]:
        is_async = inspect.iscoroutinefunction(callback)

        async def consume() -> None:
            async for item in stream:
                try:
                    if is_async:
                        await callback(item)
                    else:
                        await asyncio.to_thread(callback, item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - counted and logged, delivery goes on
                    self.failures.record(callback, exc)

        task = asyncio.get_running_loop().create_task(consume())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def remove() -> None:
            stream.close()
            task.cancel()

        return remove

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
