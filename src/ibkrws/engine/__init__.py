"""The only I/O: one asyncio engine owning the WebSocket, its timers and reconnection."""
