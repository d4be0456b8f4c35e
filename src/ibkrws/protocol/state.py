"""Connection states, in one place; the engine records every transition with its reason."""

from __future__ import annotations

import enum


class ConnectionState(enum.Enum):
    """Where the client stands with the gateway."""

    STOPPED = "stopped"
    CONNECTING = "connecting"  # tickle + WebSocket handshake in progress
    OPEN = "open"  # socket open, greeting not yet received (unauthenticated)
    READY = "ready"  # greeting received: subscriptions are accepted
    DEGRADED = "degraded"  # socket open but the brokerage session is not authenticated
    RECONNECTING = "reconnecting"  # waiting before the next connection attempt
    STOPPING = "stopping"
