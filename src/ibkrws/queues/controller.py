"""`QueueController` (fan-out of messages by key) and `QueueAccessor` (one consumer's read side).

Every accessor receives every message of its key from its creation on: two accessors on one key
are two independent consumers, not competitors. Accessors are bounded; an accessor that is no
longer referenced stops receiving (it is dropped from the fan-out when garbage-collected).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ibkrws import speedups
from ibkrws.queues.buffer import CLOSED, BoundedBuffer

T = TypeVar("T")

DEFAULT_MAX_QUEUE_SIZE = 10_000
"""Default bound of each accessor's buffer (messages); overflow drops the oldest."""

_LOGGER = logging.getLogger("ibkrws.queues")
_DROP_LOG_INTERVAL = 5.0


class QueueAccessor(Generic[T]):
    """Read-only access to one bounded queue of messages for `key`."""

    def __init__(self, buffer: BoundedBuffer, key: T) -> None:
        self._buffer = buffer
        self._key = key
        self._take = buffer.fifo.get
        if speedups.module is not None:
            # The same contract as `get` below, in C: every consumed message passes through it.
            self.__dict__["get"] = speedups.module.QueueReader(buffer.fifo.get, buffer.fifo.put, CLOSED, queue.Empty)

    def get(self, block: bool = False, timeout: float | None = None) -> Any:
        """The next message, or None when there is none (at once, or within `timeout` when blocking).

        Replaced per instance by the C `QueueReader` when the optional speedups are built."""
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be None or a non-negative number of seconds, got {timeout!r}")
        try:
            item = self._take(block, timeout)
        except queue.Empty:
            return None
        if item is CLOSED:
            self._buffer.fifo.put(CLOSED)  # keep waking later readers
            return None
        return item

    def empty(self) -> bool:
        """Whether no message is waiting."""
        return len(self._buffer) == 0

    def qsize(self) -> int:
        """How many messages are waiting."""
        return len(self._buffer)

    @property
    def key(self) -> T:
        """The key whose messages this accessor receives."""
        return self._key

    @property
    def dropped(self) -> int:
        """Messages discarded because this accessor was full (oldest first)."""
        return self._buffer.dropped

    @property
    def maxsize(self) -> int:
        """The bound of this accessor's queue."""
        return self._buffer.maxsize

    def __str__(self) -> str:
        key = getattr(self._key, "name", self._key)
        return f"QueueAccessor({key}, size={len(self._buffer)}/{self._buffer.maxsize}, dropped={self.dropped})"

    __repr__ = __str__


class QueueController(Generic[T]):
    """Fans messages of each key out to every live accessor of that key."""

    def __init__(self, max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE) -> None:
        if not isinstance(max_queue_size, int) or isinstance(max_queue_size, bool) or max_queue_size < 1:
            raise ValueError(f"max_queue_size must be a positive integer, got {max_queue_size!r}")
        self.max_queue_size = max_queue_size
        self._lock = threading.Lock()
        self._buffers: dict[T, tuple[Any, ...]] = {}
        self.fanouts: dict[T, tuple[tuple[Callable[[], int], Callable[[Any], None], int, Any], ...]] = {}
        """Per key, (size, append, maxsize, buffer) of every buffer: what `put_to_queue` walks.

        Replaced (never changed in place) on attach and detach, so a reader can walk it safely."""
        self._last_drop_log: dict[T, float] = {}
        self.dropped_total = 0
        self.on_drop: Any = None
        """Called as on_drop(key, dropped_so_far) at most every few seconds per key while drops happen."""

    def register_queues(self, keys: Any) -> None:
        """Make `keys` known (one key or an iterable of keys)."""
        if not isinstance(keys, (list, tuple, set, frozenset)):
            keys = [keys]
        with self._lock:
            for key in keys:
                self._buffers.setdefault(key, ())

    def new_queue_accessor(self, key: T) -> QueueAccessor[T]:
        """A new accessor that receives every message of `key` from now on."""
        buffer = BoundedBuffer(self.max_queue_size)
        self.attach(key, buffer)
        accessor: QueueAccessor[T] = QueueAccessor(buffer, key)
        weakref.finalize(accessor, self._forget, key, weakref.ref(buffer))
        return accessor

    def attach(self, key: T, buffer: Any) -> None:
        """Add a consumer buffer (anything with put/fast_put/maxsize/dropped/wake_all) to `key`'s fan-out."""
        with self._lock:
            self._set_buffers(key, self._buffers.get(key, ()) + (buffer,))

    def detach(self, key: T, buffer: Any) -> None:
        """Stop delivering `key` to `buffer`."""
        with self._lock:
            self._set_buffers(key, tuple(b for b in self._buffers.get(key, ()) if b is not buffer))

    def _set_buffers(self, key: T, buffers: tuple[Any, ...]) -> None:
        self._buffers[key] = buffers
        self.fanouts[key] = tuple((*b.fast_put(), b.maxsize, b) for b in buffers)

    def _forget(self, key: T, buffer_ref: weakref.ref[BoundedBuffer]) -> None:
        self.detach(key, buffer_ref())

    def has_consumers(self, key: T) -> bool:
        """Whether any live accessor or stream receives `key`."""
        return bool(self._buffers.get(key))

    def put_to_queue(self, key: T, data: Any) -> None:
        """Deliver `data` to every accessor of `key`; overflow is counted and logged (rate-limited)."""
        for size, append, maxsize, buffer in self.fanouts.get(key, ()):
            if size() < maxsize:
                append(data)
            else:
                self.put_full(key, buffer, data)

    def put_full(self, key: T, buffer: Any, data: Any) -> None:
        """Put into a full buffer: it drops its oldest item, which is counted and logged (rate-limited)."""
        if not buffer.put(data):
            self._on_drop(key, buffer)

    def _on_drop(self, key: T, buffer: Any) -> None:
        self.dropped_total += 1
        now = time.monotonic()
        if now - self._last_drop_log.get(key, -_DROP_LOG_INTERVAL) >= _DROP_LOG_INTERVAL:
            self._last_drop_log[key] = now
            name = getattr(key, "name", key)
            _LOGGER.warning(
                "Queue %s is full (%d items): dropping the oldest; %d dropped so far on this accessor",
                name,
                buffer.maxsize,
                buffer.dropped,
            )
            if self.on_drop is not None:
                self.on_drop(key, buffer.dropped)

    def depths(self) -> dict[T, list[int]]:
        """Current depth of every accessor, by key."""
        return {k: [len(b) for b in bs] for k, bs in self._buffers.items()}

    def drops(self) -> dict[T, int]:
        """Messages dropped on overflow, summed per key over live accessors."""
        return {k: sum(b.dropped for b in bs) for k, bs in self._buffers.items()}

    def wake_all(self) -> None:
        """Wake every blocked consumer (at shutdown)."""
        for buffers in list(self._buffers.values()):
            for buffer in buffers:
                buffer.wake_all()
