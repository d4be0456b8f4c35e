"""The synchronous front door: `WsClient` (generic) and `IbkrWsClient` (the seed's API)."""
