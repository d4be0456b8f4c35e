"""Bounded async streams: the asyncio counterpart of `QueueAccessor`, same overflow policy.

The producer runs on the same loop as the consumer (the async front door runs the engine on the
caller's loop), so waking a waiting consumer is just resolving its future.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class AsyncBuffer:
    """FIFO with a maximum size for one asyncio consumer; overflow drops the oldest and counts it."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = maxsize
        self.dropped = 0
        self.closed = False
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def fast_put(self) -> tuple[Callable[[], int], Callable[[Any], None]]:
        """(current size, append without a bound check): the fan-out appends while size < maxsize."""
        return self._items.__len__, self._append

    def _append(self, item: Any) -> None:
        self._items.append(item)
        self._wake()

    def put(self, item: Any) -> bool:
        """Append `item`; False when the oldest had to be dropped to make room."""
        items = self._items
        kept_all = True
        if len(items) >= self.maxsize:
            items.popleft()
            self.dropped += 1
            kept_all = False
        items.append(item)
        self._wake()
        return kept_all

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> tuple[bool, Any]:
        """(True, item), or (False, None) once closed and empty."""
        while True:
            if self._items:
                return True, self._items.popleft()
            if self.closed:
                return False, None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """No more items: the consumer ends once it has read what is buffered."""
        self.closed = True
        self._wake()

    def wake_all(self) -> None:
        """Wake the waiting consumer, if any."""
        self._wake()


class AsyncStream:
    """`async for message in stream`: every message of `key` from creation on, bounded."""

    def __init__(self, buffer: AsyncBuffer, key: Any, detach: Callable[[], None]) -> None:
        self._buffer = buffer
        self.key = key
        self._detach = detach

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        found, item = await self._buffer.get()
        if not found:
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> Any:
        """The next message, or None on timeout or when the stream is closed."""
        try:
            found, item = await asyncio.wait_for(self._buffer.get(), timeout)
        except TimeoutError:
            return None
        return item if found else None

    def empty(self) -> bool:
        """Whether nothing is waiting."""
        return len(self._buffer) == 0

    @property
    def dropped(self) -> int:
        """Messages discarded because this stream was full (oldest first)."""
        return self._buffer.dropped

    def close(self) -> None:
        """Stop receiving; iteration ends after what is already buffered."""
        self._buffer.close()
        self._detach()

    def __repr__(self) -> str:
        key = getattr(self.key, "name", self.key)
        return f"AsyncStream({key}, size={len(self._buffer)}/{self._buffer.maxsize}, dropped={self.dropped})"
