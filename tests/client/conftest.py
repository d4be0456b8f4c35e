"""Fixtures for client tests: a simulator over real sockets on 127.0.0.1 and a client factory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ibkrws import IbkrWsClient
from ibkrws.simulator import Simulator

ACCOUNT = "DU1234567"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(account_id=ACCOUNT, tls=True, heartbeat_interval=0.5, md_interval=0.05, seed=7) as s:
        yield s


@pytest.fixture
def make_client(sim: Simulator) -> Iterator[Callable[..., IbkrWsClient]]:
    clients: list[IbkrWsClient] = []

    def make(**kwargs) -> IbkrWsClient:
        kwargs.setdefault("url", sim.ws_url)
        kwargs.setdefault("account_id", sim.account_id)
        kwargs.setdefault("cacert", sim.cacert)
        kwargs.setdefault("subscription_timeout", 0.5)
        kwargs.setdefault("timeout", 3)
        client = IbkrWsClient(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Wait (bounded) for `predicate` to return something truthy; fail with `what` otherwise."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        event.wait(0.02)


def drain(accessor, count: int, timeout: float = 10.0) -> list:
    """Read `count` messages from an accessor, failing if they do not arrive in time."""
    items = []
    deadline = time.monotonic() + timeout
    while len(items) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"received {len(items)} of {count} messages from {accessor}")
        item = accessor.get(block=True, timeout=remaining)
        if item is not None:
            items.append(item)
    return items
