"""A bounded FIFO for one consumer thread, cheap on the producer side.

Items live in a `queue.SimpleQueue` (C: ~0.1 µs a put, a blocking get with timeout in C), as
design.md section 3 recommends. When full, the oldest item is dropped and counted. Closing puts a
sentinel so that a blocked consumer wakes and sees the end.
"""

from __future__ import annotations

import queue
from typing import Any

_CLOSED = object()


class BoundedBuffer:
    """FIFO with a maximum size; overflow drops the oldest item and counts it."""

    __slots__ = ("maxsize", "dropped", "delivered", "closed", "_queue", "__weakref__")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self.closed = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def __len__(self) -> int:
        return self._queue.qsize() - (1 if self.closed else 0)

    def put(self, item: Any) -> bool:
        """Append `item`; returns False when an older item had to be dropped to make room."""
        q = self._queue
        if q.qsize() < self.maxsize:
            q.put(item)
            return True
        try:
            q.get_nowait()
            self.dropped += 1
        except queue.Empty:  # a consumer emptied it meanwhile
            pass
        q.put(item)
        return False

    def get_nowait(self) -> tuple[bool, Any]:
        return self.get(False, None)

    def get(self, block: bool = False, timeout: float | None = None) -> tuple[bool, Any]:
        """(True, item), or (False, None) when nothing arrived (at once, or within `timeout`) or it is closed."""
        try:
            item = self._queue.get(block, timeout)
        except queue.Empty:
            return False, None
        if item is _CLOSED:
            self._queue.put(_CLOSED)  # keep waking later readers
            return False, None
        self.delivered += 1
        return True, item

    def wake_all(self) -> None:
        """Nothing to do: blocked readers wake on items, on their timeout or on close()."""

    def close(self) -> None:
        """No more items will come: blocked and future blocking gets return once it is empty."""
        if not self.closed:
            self.closed = True
            self._queue.put(_CLOSED)
