"""A faithful simulator of the IBKR Client Portal gateway: REST plus the ``/v1/api/ws`` WebSocket.

Public names:

* :class:`Simulator` — runs in a background thread: ``with Simulator() as sim: ...``
* :class:`AsyncSimulator` — runs on your event loop: ``async with AsyncSimulator() as sim: ...``
* :class:`Faults` — the runtime fault switches and actions (``sim.faults``)
* :class:`ConnectionInfo` — a snapshot of one WebSocket connection (``sim.connections()``)

See ``docs/simulator.md`` for usage, the behaviour it reproduces and every fault switch.
"""

from ibkrws.simulator.faults import Faults
from ibkrws.simulator.runner import AsyncSimulator, Simulator
from ibkrws.simulator.server import ConnectionInfo

__all__ = ["AsyncSimulator", "ConnectionInfo", "Faults", "Simulator"]
