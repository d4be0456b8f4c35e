"""A bounded FIFO for one consumer thread, cheap on the producer side.

Items live in a `queue.SimpleQueue` (C: ~0.1 µs a put, a blocking get with timeout in C), as
design.md section 3 recommends. When full, the oldest item is dropped and counted. Closing puts a
sentinel so that a blocked consumer wakes and sees the end.

The fan-out puts through `fast_put()` (the queue's own C `qsize`/`put`) while there is room and
calls `put()` only when full; `QueueAccessor` reads from `fifo` directly. Both skip a Python
call per message, which is a measurable share of the receive path.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

CLOSED = object()
"""The sentinel a closed buffer holds last; readers that find it put it back and report the end."""


class BoundedBuffer:
    """FIFO with a maximum size; overflow drops the oldest item and counts it."""

    __slots__ = ("maxsize", "dropped", "closed", "fifo", "__weakref__")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = maxsize
        self.dropped = 0
        self.closed = False
        self.fifo: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def __len__(self) -> int:
        return self.fifo.qsize() - (1 if self.closed else 0)

    def fast_put(self) -> tuple[Callable[[], int], Callable[[Any], None]]:
        """(current size, append without a bound check): the fan-out appends while size < maxsize."""
        return self.fifo.qsize, self.fifo.put

    def put(self, item: Any) -> bool:
        """Append `item`; returns False when an older item had to be dropped to make room."""
        q = self.fifo
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
            item = self.fifo.get(block, timeout)
        except queue.Empty:
            return False, None
        if item is CLOSED:
            self.fifo.put(CLOSED)  # keep waking later readers
            return False, None
        return True, item

    def wake_all(self) -> None:
        """Nothing to do: blocked readers wake on items, on their timeout or on close()."""

    def close(self) -> None:
        """No more items will come: blocked and future blocking gets return once it is empty."""
        if not self.closed:
            self.closed = True
            self.fifo.put(CLOSED)
