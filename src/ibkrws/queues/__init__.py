"""Delivery: bounded per-consumer buffers, fan-out by key, counted drops."""

from ibkrws.queues.buffer import BoundedBuffer
from ibkrws.queues.controller import DEFAULT_MAX_QUEUE_SIZE, QueueAccessor, QueueController

__all__ = ["BoundedBuffer", "DEFAULT_MAX_QUEUE_SIZE", "QueueAccessor", "QueueController"]
