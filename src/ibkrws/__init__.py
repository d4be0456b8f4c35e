"""ibkrws: a streaming client for the IBKR Client Portal Web API WebSocket."""

__version__ = "0.1.0"
