"""Fixtures for the simulator tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ibkrws.simulator import AsyncSimulator
from tests.simulator.probe import make_sim


@pytest.fixture
async def sim() -> AsyncIterator[AsyncSimulator]:
    """A fast plain-ws simulator on the test's loop."""
    async with make_sim() as s:
        yield s
