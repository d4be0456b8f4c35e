"""The scripted activity of the demo's simulator: orders that move, and one connection drop.

Every `order_interval` seconds the scenario takes the next step of a three-step cycle:

1. place a resting limit order (BUY or SELL, alternately) on the next instrument;
2. place a market order on another instrument (it fills on the next market tick);
3. fill or cancel (alternately) the oldest resting order.

Once, `drop_at` seconds after the start, every WebSocket is closed with code 1011, so that the
client's recovery (reconnect, re-subscribe, gap reported) can be watched.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from ibkrws.simulator import Simulator

DEFAULT_CONIDS: tuple[int, ...] = (265598, 272093, 4815747, 76792991, 8314, 12087792)
"""AAPL, MSFT, NVDA, TSLA, IBM and EUR.USD (the simulator's catalogue)."""

SYMBOLS: dict[int, str] = {265598: "AAPL", 272093: "MSFT", 4815747: "NVDA", 76792991: "TSLA", 8314: "IBM",
                           12087792: "EUR.USD"}

DROP_CODE = 1011
_LOGGER = logging.getLogger("ibkrws.demo")
_QUANTITIES = (5, 10, 25, 50, 100)

Note = Callable[[str, str], None]


class Scenario:
    """Drives `sim` on a thread of its own: `start()`, then `stop()` (bounded)."""

    def __init__(self, sim: Simulator, *, order_interval: float = 2.0, drop_at: float | None = 10.0,
                 conids: Sequence[int] = DEFAULT_CONIDS, note: Note | None = None, seed: int | None = None) -> None:
        if not order_interval > 0:
            raise ValueError(f"order_interval must be > 0 seconds, got {order_interval!r}")
        self.sim = sim
        self.order_interval = float(order_interval)
        self.drop_at = drop_at
        self.conids = tuple(int(c) for c in conids if int(c) != 12087792) or (265598,)
        self.note: Note = note or (lambda kind, text: None)
        self.placed = 0
        self.filled = 0
        self.cancelled = 0
        self.drops = 0
        self._working: list[int] = []
        self._step = 0
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ibkrws-demo-scenario", daemon=True)

    def start(self) -> Scenario:
        """Start acting (the clock starts now)."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop acting; returns within `timeout` seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        start = time.monotonic()
        next_order = start + self.order_interval
        drop_at = None if self.drop_at is None else start + self.drop_at
        while True:
            now = time.monotonic()
            due = [t for t in (next_order, drop_at) if t is not None]
            if self._stop.wait(max(0.0, min(due) - now)):
                return
            now = time.monotonic()
            try:
                if drop_at is not None and now >= drop_at:
                    drop_at = None
                    self.drop()
                if now >= next_order:
                    next_order += self.order_interval
                    self.step()
            except (RuntimeError, ValueError) as exc:  # the simulator stopped, or an order moved on meanwhile
                if self._stop.is_set():
                    return
                _LOGGER.info("demo scenario: %s", exc)

    def drop(self) -> None:
        """Close every WebSocket of the simulator with code 1011 (the client reconnects by itself)."""
        self.drops += 1
        self.note("sim", f"simulator drops every WebSocket now (close code {DROP_CODE})")
        self.sim.faults.drop_connections(code=DROP_CODE, reason="demo: injected drop")

    def step(self) -> None:
        """The next step of the place-limit / place-market / fill-or-cancel cycle."""
        position, self._step = self._step, self._step + 1
        cycle, phase = divmod(position, 3)
        if phase == 0:
            self._place("LMT", cycle)
        elif phase == 1:
            self._place("MKT", cycle)
        elif self._working:
            order_id = self._working.pop(0)
            if cycle % 2 == 0:
                self.note("sim", f"simulator fills order {order_id}")
                self.sim.fill_order(order_id)
                self.filled += 1
            else:
                self.note("sim", f"simulator cancels order {order_id}")
                self.sim.cancel_order(order_id)
                self.cancelled += 1

    def _place(self, order_type: str, cycle: int) -> None:
        market = order_type == "MKT"
        conid = self.conids[(cycle * 2 + market) % len(self.conids)]
        side = "BUY" if (cycle + market) % 2 == 0 else "SELL"
        quantity = self._rng.choice(_QUANTITIES)
        order_id = self.sim.place_order(conid, side, quantity, order_type, None)
        self.placed += 1
        if not market:
            self._working.append(order_id)
        symbol = SYMBOLS.get(conid, str(conid))
        self.note("sim", f"simulator places order {order_id}: {side} {quantity} {symbol} {order_type}")
