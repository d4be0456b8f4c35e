"""AsyncIbkrWsClient on an already running loop, against the simulator."""

from __future__ import annotations

import asyncio
import time

import pytest

from ibkrws import AsyncIbkrWsClient, EventKind, IbkrWsKey
from ibkrws.simulator import AsyncSimulator


@pytest.fixture
async def asim():
    async with AsyncSimulator(tls=True, heartbeat_interval=0.5, md_interval=0.05, seed=3) as s:
        yield s


def make(asim, **kwargs) -> AsyncIbkrWsClient:
    kwargs.setdefault("subscription_timeout", 0.5)
    kwargs.setdefault("timeout", 3)
    return AsyncIbkrWsClient(url=asim.ws_url, cacert=asim.cacert, account_id=asim.account_id, **kwargs)


async def test_async_for_stream_in_running_loop(asim):
    async with make(asim) as client:
        stream = client.stream(IbkrWsKey.MARKET_DATA)
        assert await client.subscribe("md+265598", {"fields": ["31", "84", "86"]})
        received = []
        async for message in stream:
            received.append(message)
            if len(received) == 5:
                break
        assert all(list(m) == [265598] for m in received)
        snapshot = client.market_data(265598)
        assert snapshot is not None and snapshot["updates"] >= 1 and "fields_updated" in snapshot
    assert not client.running


async def test_streams_fan_out_and_end_at_shutdown(asim):
    client = make(asim)
    assert await client.start()
    a = client.stream(IbkrWsKey.PNL)
    b = client.stream(IbkrWsKey.PNL)
    assert await client.subscribe("pl")
    first_a = await a.get(timeout=5)
    first_b = await b.get(timeout=5)
    assert first_a == first_b and first_a["topic"] == "spl"
    await client.shutdown()
    leftovers = [m async for m in a]  # iteration ends after shutdown
    assert isinstance(leftovers, list)


async def test_bounded_stream_counts_drops(asim):
    async with make(asim) as client:
        small = client.stream(IbkrWsKey.MARKET_DATA, max_size=2)
        assert await client.subscribe("md+265598", {"fields": ["31"]})
        assert await client.subscribe("md+8314", {"fields": ["31"]})
        deadline = time.monotonic() + 10
        while small.dropped == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert small.dropped > 0
        assert client.health().drops


async def test_callbacks_that_raise_or_block_do_not_stall_delivery(asim):
    async with make(asim) as client:
        raised = []
        blocked = asyncio.Event()

        def failing(message):
            raised.append(message)
            raise RuntimeError("boom")

        async def blocking(message):
            await blocked.wait()

        client.on(IbkrWsKey.MARKET_DATA, failing)
        client.on(IbkrWsKey.MARKET_DATA, blocking)
        events = client.events()
        stream = client.stream(IbkrWsKey.MARKET_DATA)
        assert await client.subscribe("md+265598", {"fields": ["31"]})
        got = [await stream.get(timeout=5) for _ in range(10)]
        assert all(got)
        while len(raised) < 3:
            await asyncio.sleep(0.02)
        failure = None
        while failure is None:
            event = await events.get(timeout=5)
            if event is not None and event.kind is EventKind.CALLBACK_FAILED:
                failure = event
        assert "boom" in failure.reason
        blocked.set()


async def test_async_reconnect_restores_subscriptions(asim):
    async with make(asim, max_ping_interval=3, ping_interval=1) as client:
        events = client.events()
        assert await client.subscribe("md+265598", {"fields": ["31"]})
        asim.faults.drop_connections(code=1011)
        gap = None
        while gap is None:
            event = await events.get(timeout=10)
            assert event is not None
            if event.kind is EventKind.GAP:
                gap = event
        assert await client.wait_ready(10)
        stream = client.stream(IbkrWsKey.MARKET_DATA)
        assert await stream.get(timeout=10) is not None
        assert client.subscriptions() == {"md+265598": True}


async def test_async_health_report(asim):
    async with make(asim) as client:
        assert await client.subscribe("pl")
        report = client.health()
        assert report.state == "ready" and report.connected and report.healthy
        assert report.subscriptions[0].channel == "pl"
        assert report.to_dict()["healthy"] is True


async def test_cancelling_a_consumer_task_is_clean(asim):
    async with make(asim) as client:
        stream = client.stream(IbkrWsKey.MARKET_DATA)
        assert await client.subscribe("md+265598", {"fields": ["31"]})

        async def consume():
            async for _ in stream:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        other = client.stream(IbkrWsKey.MARKET_DATA)
        assert await other.get(timeout=5) is not None  # delivery goes on
        waiting = asyncio.create_task(client.subscribe("md+8314", {"fields": ["31"]}))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert client.ready()


async def test_async_client_with_sync_rest_client(asim):
    from ibkrws import IbkrClient

    rest = IbkrClient(url=asim.rest_url, cacert=asim.cacert)  # blocking calls run off the loop
    async with make(asim, ibkr_client=rest) as client:
        assert await client.subscribe("or")
        assert client.subscriptions() == {"or": True}
    rest.close()


async def test_async_client_records_frames(asim, tmp_path):
    import json

    path = tmp_path / "async.jsonl"
    async with make(asim, record_to=str(path)) as client:
        assert await client.subscribe("pl")
        assert await client.stream(IbkrWsKey.PNL).get(timeout=5) is not None
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert any(r["dir"] == "out" and r["raw"].startswith("spl") for r in records)
    assert any(r["dir"] == "in" and r["topic"] == "spl" for r in records)
    assert records[0]["dir"] == "meta" and records[0]["topic"] == "connect"
