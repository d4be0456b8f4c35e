"""Bounded fan-out queues: every accessor gets every message, overflow drops the oldest and counts."""

from __future__ import annotations

import gc
import threading

import pytest

from ibkrws import IbkrWsKey, QueueController


def test_fan_out_to_independent_accessors():
    qc: QueueController[IbkrWsKey] = QueueController()
    a = qc.new_queue_accessor(IbkrWsKey.PNL)
    b = qc.new_queue_accessor(IbkrWsKey.PNL)
    for i in range(5):
        qc.put_to_queue(IbkrWsKey.PNL, i)
    assert [a.get() for _ in range(5)] == list(range(5))
    assert [b.get() for _ in range(5)] == list(range(5))
    assert a.get() is None and a.empty()
    assert "PNL" in str(a) and a.key is IbkrWsKey.PNL


def test_overflow_drops_oldest_and_counts():
    qc: QueueController[IbkrWsKey] = QueueController(max_queue_size=3)
    a = qc.new_queue_accessor(IbkrWsKey.ORDERS)
    for i in range(10):
        qc.put_to_queue(IbkrWsKey.ORDERS, i)
    assert a.dropped == 7
    assert [a.get(), a.get(), a.get()] == [7, 8, 9]
    assert qc.dropped_total == 7


def test_blocking_get_wakes_on_put_and_times_out():
    qc: QueueController[IbkrWsKey] = QueueController()
    a = qc.new_queue_accessor(IbkrWsKey.TRADES)
    assert a.get(block=True, timeout=0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(a.get(block=True, timeout=10)))
    t.start()
    qc.put_to_queue(IbkrWsKey.TRADES, "x")
    t.join(10)
    assert got == ["x"]


def test_abandoned_accessor_leaves_the_fan_out():
    qc: QueueController[IbkrWsKey] = QueueController()
    a = qc.new_queue_accessor(IbkrWsKey.PNL)
    assert qc.has_consumers(IbkrWsKey.PNL)
    del a
    gc.collect()
    assert not qc.has_consumers(IbkrWsKey.PNL)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_queue_size"):
        QueueController(max_queue_size=0)
    qc: QueueController[IbkrWsKey] = QueueController()
    with pytest.raises(ValueError, match="timeout"):
        qc.new_queue_accessor(IbkrWsKey.PNL).get(block=True, timeout=-1)
