"""A bounded FIFO for one consumer thread, cheap on the producer side.

The producer (the engine's receive path) appends to a deque; it takes a lock only when a
consumer is blocked waiting. When full, the oldest item is dropped and counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


class BoundedBuffer:
    """FIFO with a maximum size; overflow drops the oldest item and counts it."""

    __slots__ = ("maxsize", "dropped", "delivered", "closed", "_items", "_cond", "_waiting", "__weakref__")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self._items: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiting = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> bool:
        """Append `item`; returns False when an older item had to be dropped to make room."""
        items = self._items
        kept_all = True
        if len(items) >= self.maxsize:
            try:
                items.popleft()
                self.dropped += 1
                kept_all = False
            except IndexError:  # a consumer emptied it meanwhile
                pass
        items.append(item)
        if self._waiting:
            with self._cond:
                self._cond.notify()
        return kept_all

    def get_nowait(self) -> tuple[bool, Any]:
        try:
            item = self._items.popleft()
        except IndexError:
            return False, None
        self.delivered += 1
        return True, item

    def get(self, block: bool = False, timeout: float | None = None) -> tuple[bool, Any]:
        """(True, item), or (False, None) when nothing arrived (at once, or within `timeout`)."""
        found, item = self.get_nowait()
        if found or not block:
            return found, item
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    found, item = self.get_nowait()
                    if found or self.closed:
                        return found, item
                    if deadline is None:
                        self._cond.wait()
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return False, None
                        self._cond.wait(remaining)
            finally:
                self._waiting -= 1

    def wake_all(self) -> None:
        """Wake blocked consumers; they re-check and wait again unless closed."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """No more items will come: blocked and future blocking gets return once it is empty."""
        self.closed = True
        self.wake_all()
