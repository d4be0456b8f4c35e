"""`ibkrws demo` (`make demo`): an embedded simulator, a client, and a live view of what flows.

The view (`view.py`) reads an `IbkrWsClient` through its public API only; the scripted simulator
activity (`scenario.py`) places, fills and cancels orders and injects one connection drop.
"""
