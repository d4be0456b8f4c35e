"""Connection liveness from server heartbeats and WebSocket pongs (pure: time is an argument).

A socket can stay open while the gateway has stopped talking (a silent stall). The engine feeds
every heartbeat, ping and pong here and asks `stale_reason` when its timer fires.
"""

from __future__ import annotations


class Liveness:
    """Tracks heartbeat and pong ages against `max_interval` seconds."""

    def __init__(self, max_interval: float) -> None:
        self.max_interval = float(max_interval)
        self.connected_at: float | None = None
        self.last_heartbeat: float | None = None
        self.last_pong: float | None = None
        self.ping_outstanding_since: float | None = None

    def reset(self, now: float) -> None:
        """A new connection: ages count from now."""
        self.connected_at = now
        self.last_heartbeat = None
        self.last_pong = None
        self.ping_outstanding_since = None

    def on_heartbeat(self, now: float) -> None:
        self.last_heartbeat = now

    def on_ping_sent(self, now: float) -> None:
        if self.ping_outstanding_since is None:
            self.ping_outstanding_since = now

    def on_pong(self, now: float) -> None:
        self.last_pong = now
        self.ping_outstanding_since = None

    def heartbeat_age(self, now: float) -> float | None:
        base = self.last_heartbeat if self.last_heartbeat is not None else self.connected_at
        return None if base is None else now - base

    def stale_reason(self, now: float) -> str | None:
        """Why the connection should be considered dead, or None when it is healthy."""
        age = self.heartbeat_age(now)
        if age is not None and age > self.max_interval:
            return f"no heartbeat for {age:.1f} s (max_ping_interval={self.max_interval:g})"
        if self.ping_outstanding_since is not None:
            waited = now - self.ping_outstanding_since
            if waited > self.max_interval:
                return f"no pong for {waited:.1f} s (max_ping_interval={self.max_interval:g})"
        return None

    def next_deadline(self, now: float) -> float:
        """The earliest time at which `stale_reason` could change from None."""
        candidates = [now + self.max_interval]
        base = self.last_heartbeat if self.last_heartbeat is not None else self.connected_at
        if base is not None:
            candidates.append(base + self.max_interval)
        if self.ping_outstanding_since is not None:
            candidates.append(self.ping_outstanding_since + self.max_interval)
        return min(candidates)


def jittered(delay: float, random_unit: float, jitter: float = 0.5) -> float:
    """`delay` spread by ±`jitter` (0.5 = ±50 %); `random_unit` in [0, 1) supplies the randomness."""
    return delay * (1 - jitter + 2 * jitter * random_unit)


class Backoff:
    """Reconnection delays: exponential from `initial` to `cap`, jittered by `jitter` (0.5 = ±50 %),
    back to `initial` once a connection stayed healthy for `healthy_after` seconds."""

    def __init__(self, initial: float, cap: float, healthy_after: float, jitter: float = 0.5) -> None:
        self.initial = float(initial)
        self.cap = float(cap)
        self.healthy_after = float(healthy_after)
        self.jitter = float(jitter)
        self._next = self.initial
        self._healthy_since: float | None = None

    def healthy(self, now: float) -> None:
        """The connection became usable at `now`."""
        self._healthy_since = now

    def next_delay(self, now: float, random_unit: float) -> float:
        """The delay before the next attempt; `random_unit` in [0, 1) supplies the jitter."""
        if self._healthy_since is not None and now - self._healthy_since >= self.healthy_after:
            self._next = self.initial
        self._healthy_since = None
        base = self._next
        self._next = min(self._next * 2, self.cap)
        return jittered(base, random_unit, self.jitter)
