"""ibkrws: a streaming client for the IBKR Client Portal Web API WebSocket.

Drop-in for IBind's WebSocket client: `from ibkrws import IbkrWsClient, IbkrWsKey`.
"""

from ibkrws.client.async_client import AsyncIbkrWsClient
from ibkrws.client.health import HealthReport
from ibkrws.client.ibkr_ws_client import IbkrWsClient
from ibkrws.client.ws_client import WsClient
from ibkrws.errors import ConfigurationError, ExternalBrokerError, IbkrWsError
from ibkrws.logs import ibind_logs_initialize
from ibkrws.protocol.events import EventKind, WsEvent
from ibkrws.protocol.keys import IbkrWsKey
from ibkrws.protocol.payloads import IbkrSubscriptionProcessor, SubscriptionProcessor
from ibkrws.protocol.state import ConnectionState
from ibkrws.queues.controller import QueueAccessor, QueueController
from ibkrws.rest.client import AsyncIbkrClient, IbkrClient

__version__ = "0.1.0"

__all__ = [
    "AsyncIbkrWsClient",
    "HealthReport",
    "AsyncIbkrClient",
    "ConfigurationError",
    "ConnectionState",
    "EventKind",
    "ExternalBrokerError",
    "IbkrClient",
    "IbkrSubscriptionProcessor",
    "IbkrWsClient",
    "IbkrWsError",
    "IbkrWsKey",
    "QueueAccessor",
    "QueueController",
    "SubscriptionProcessor",
    "WsClient",
    "WsEvent",
    "ibind_logs_initialize",
]
