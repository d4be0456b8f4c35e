"""The REST side a WebSocket client needs: tickle, auth status, accounts, live orders, logout."""

from ibkrws.rest.client import AsyncIbkrClient, IbkrClient
from ibkrws.rest.model import Result

__all__ = ["AsyncIbkrClient", "IbkrClient", "Result"]
