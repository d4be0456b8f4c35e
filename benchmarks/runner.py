"""Client runner: one client kind, one scenario, one process; prints one JSON line of figures.

Runs under the interpreter of the client's own environment (the project venv for `ibkrws` and
`floor`, a separate venv per IBind version), so it imports nothing but the standard library and
the client under test. Every client is driven the same way: construct, subscribe `md`, then a
consumer (the main thread, separate from the client's worker threads) takes messages one by one
through the client's public blocking read, the way a user would:

- `ibkrws`: `IbkrWsClient` + `new_queue_accessor(IbkrWsKey.MARKET_DATA).get(block=True, timeout=...)`,
  market data unwrapped (the seed path).
- `ibkrws-async`: `AsyncIbkrWsClient` + `async for` over `stream(IbkrWsKey.MARKET_DATA)`, the consumer
  being a task on the client's loop.
- `ibind`: IBind 0.1.x has the same API as the seed; IBind 0.2.x routes typed events to a sink:
  `QueueSink.new_queue_accessor(events.MarketData).get(...)`, with its default asynchronous sink.
- `floor`: no client logic: aiohttp `ws_connect` + `orjson.loads` on a loop thread and a
  `queue.SimpleQueue` hand-off to the consumer; it reconnects at once and re-sends its subscriptions.

The send time (epoch microseconds) is read from `_updated` where the unwrapped message keeps it,
else from field 6119 (`market_data_marker`); 0 marks unmeasured frames (see loadserver.py).

Figures: `burst`: messages/s over the consumer's first-to-last window, CPU seconds per 100k
messages (process CPU, all threads, over that window), peak RSS. `paced`: p50/p99 send-to-consumer
latency and CPU cores used. `reconnect`: seconds from the server's drop until the consumer has seen
post-drop data for every subscription.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any

FIELDS = ["31", "84", "86", "85", "88", "6119", "6509"]
FIRST_CONID = 265598


def conids(n: int) -> list[int]:
    return [FIRST_CONID + i for i in range(n)]


# ------------------------------------------------------------------------------------------ clients


class ThreadedClient:
    """A client with its own worker thread(s); the consumer is the calling (main) thread."""

    def get(self, timeout: float) -> tuple[Any, int] | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def consume(self, recorder: Any) -> None:
        """Blocking reads with a short timeout until the recorder has what it measures."""
        get, on_message, on_idle = self.get, recorder.on_message, recorder.on_idle
        while True:
            r = get(0.2)
            if r is None:
                if on_idle():
                    return
            elif on_message(r[0], r[1]):
                return

    def stop_bounded(self, seconds: float) -> None:
        """Stop, but give up after `seconds` (the process exits next)."""
        stopper = threading.Thread(target=self.stop, daemon=True)
        stopper.start()
        stopper.join(seconds)


class SeedApiClient(ThreadedClient):
    """The seed's API, whichever library provides it: `subscribe` -> bool and a `QueueAccessor` of
    unwrapped market data. Subclasses only construct `client` and `qa`."""

    label = ""
    client: Any
    qa: Any

    def subscribe(self, ids: list[int]) -> None:
        for conid in ids:
            if not self.client.subscribe(channel=f"md+{conid}", data={"fields": FIELDS}):
                raise RuntimeError(f"{self.label}: subscribing md+{conid} failed")

    def get(self, timeout: float) -> tuple[Any, int] | None:
        item = self.qa.get(block=True, timeout=timeout)
        if item is None:
            return None
        for conid, fields in item.items():
            return conid, fields["_updated"]
        return None

    def stop(self) -> None:
        self.client.shutdown()


class IbkrwsClient(SeedApiClient):
    """ibkrws through the seed API."""

    label = "ibkrws"

    def __init__(self, url: str, timeout: float) -> None:
        from importlib.metadata import version

        from ibkrws import IbkrWsClient, IbkrWsKey

        self.version = version("ibkrws")
        self.client = IbkrWsClient(url=url, cacert=False)
        self.qa = self.client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
        if not self.client.start():
            raise RuntimeError("ibkrws: could not connect")


class IbindSeedClient(SeedApiClient):
    """IBind 0.1.x: the seed's API."""

    label = "ibind"

    def __init__(self, url: str, rest_url: str, timeout: float) -> None:
        from ibind import IbkrClient, IbkrWsClient, IbkrWsKey

        self.version = _dist_version("ibind")
        rest = IbkrClient(url=rest_url, cacert=False, auto_register_shutdown=False)
        self.client = IbkrWsClient(url=url, ibkr_client=rest, cacert=False, timeout=timeout)
        self.qa = self.client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
        if not self.client.start():
            raise RuntimeError("ibind: could not connect")


class IbindEventsClient(ThreadedClient):
    """IBind 0.2.x: typed events delivered to a `QueueSink` (through its default `AsyncSink`)."""

    def __init__(self, url: str, rest_url: str, timeout: float) -> None:
        from ibind import IbkrClient, IbkrWsClient, QueueSink, events

        self.version = _dist_version("ibind")
        self.timeout = timeout
        rest = IbkrClient(url=rest_url, cacert=False, auto_register_shutdown=False)
        self.sink = QueueSink()
        self.client = IbkrWsClient(url=url, ibkr_client=rest, cacert=False, sink=self.sink)
        self.qa = self.sink.new_queue_accessor(events.MarketData)
        if not self.client.start():
            raise RuntimeError("ibind: could not start")

    def subscribe(self, ids: list[int]) -> None:
        from ibind.subscriptions import MarketDataSubscription

        handles = [self.client.subscribe(MarketDataSubscription(conid=str(c), fields=FIELDS)) for c in ids]
        failed = self.client.wait_all(handles, timeout_each=self.timeout * 2)
        if failed:
            raise RuntimeError(f"ibind: {len(failed)} subscription(s) not active")

    def get(self, timeout: float) -> tuple[Any, int] | None:
        event = self.qa.get(block=True, timeout=timeout)
        if event is None:
            return None
        return event.conid, int(event.data["market_data_marker"])

    def stop(self) -> None:
        self.client.shutdown()


class FloorClient(ThreadedClient):
    """The ceiling of the stack: aiohttp + orjson + a SimpleQueue hand-off, no client logic."""

    def __init__(self, url: str, timeout: float) -> None:
        import asyncio
        import queue

        import aiohttp
        import orjson

        self.version = f"aiohttp {aiohttp.__version__}, orjson {orjson.__version__}"
        self._asyncio, self._aiohttp, self._loads = asyncio, aiohttp, orjson.loads
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._empty = queue.Empty
        self.url = url
        self.subs: list[int] = []
        self._stopping = False
        self.loop = asyncio.new_event_loop()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()
        if not self.connected.wait(timeout):
            raise RuntimeError("floor: could not connect")

    async def _main(self) -> None:
        aiohttp, loads, put = self._aiohttp, self._loads, self.q.put
        binary, text = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT
        async with aiohttp.ClientSession() as session:
            while not self._stopping:
                try:
                    ws = await session.ws_connect(self.url, ssl=False, max_msg_size=0)
                except (aiohttp.ClientError, OSError):
                    await self._asyncio.sleep(0.05)
                    continue
                self.ws = ws
                for conid in self.subs:
                    await ws.send_str(f"smd+{conid}+" + json.dumps({"fields": FIELDS}))
                self.connected.set()
                while True:
                    msg = await ws.receive()
                    if msg.type is binary or msg.type is text:
                        put(loads(msg.data))
                    else:
                        break

    def subscribe(self, ids: list[int]) -> None:
        async def send() -> None:
            for conid in ids:
                self.subs.append(conid)
                await self.ws.send_str(f"smd+{conid}+" + json.dumps({"fields": FIELDS}))

        self._asyncio.run_coroutine_threadsafe(send(), self.loop).result(5)

    def get(self, timeout: float) -> tuple[Any, int] | None:
        get = self.q.get
        while True:
            try:
                message = get(timeout=timeout)
            except self._empty:
                return None
            conid = message.get("conid")
            if conid is not None:
                return conid, message.get("_updated", 0)

    def stop(self) -> None:
        self._stopping = True

        async def close() -> None:
            await self.ws.close()

        try:
            self._asyncio.run_coroutine_threadsafe(close(), self.loop).result(2)
        except Exception:  # noqa: BLE001 - stopping is best effort, the process exits next
            pass


class AsyncIbkrwsClient:
    """ibkrws's asyncio front door: `AsyncIbkrWsClient` and `async for` over a market-data stream.

    The consumer is a task on the client's own loop (this process's main thread), as in an
    asyncio application; the loop runs only while a phase (start, subscribe, consume, stop) runs.
    """

    def __init__(self, url: str, timeout: float) -> None:
        import asyncio

        from ibkrws import AsyncIbkrWsClient, IbkrWsKey

        self.version = _dist_version("ibkrws")
        self.asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.client = AsyncIbkrWsClient(url=url, cacert=False)
        self.stream = self.client.stream(IbkrWsKey.MARKET_DATA)
        if not self.loop.run_until_complete(self.client.start()):
            raise RuntimeError("ibkrws async: could not connect")

    def subscribe(self, ids: list[int]) -> None:
        async def subscribe_all() -> None:
            for conid in ids:
                if not await self.client.subscribe(channel=f"md+{conid}", data={"fields": FIELDS}):
                    raise RuntimeError(f"ibkrws async: subscribing md+{conid} failed")

        self.loop.run_until_complete(subscribe_all())

    def consume(self, recorder: Any) -> None:
        asyncio, stream, on_message = self.asyncio, self.stream, recorder.on_message

        async def reader() -> None:
            async for item in stream:
                for conid, fields in item.items():
                    if on_message(conid, fields["_updated"]):
                        return

        async def watched() -> None:
            task = asyncio.ensure_future(reader())
            while not task.done():
                await asyncio.wait({task}, timeout=0.2)
                if not task.done() and recorder.on_idle():
                    task.cancel()
            if not task.cancelled():
                task.result()

        self.loop.run_until_complete(watched())

    def stop_bounded(self, seconds: float) -> None:
        try:
            self.loop.run_until_complete(self.asyncio.wait_for(self.client.shutdown(), seconds))
        except Exception:  # noqa: BLE001 - stopping is best effort, the process exits next
            pass


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def make_client(kind: str, url: str, rest_url: str, timeout: float) -> Any:
    if kind == "ibkrws":
        return IbkrwsClient(url, timeout)
    if kind == "ibkrws-async":
        return AsyncIbkrwsClient(url, timeout)
    if kind == "floor":
        return FloorClient(url, timeout)
    if kind == "ibind":
        major_minor = tuple(int(x) for x in _dist_version("ibind").split(".")[:2])
        if major_minor >= (0, 2):
            return IbindEventsClient(url, rest_url, timeout)
        return IbindSeedClient(url, rest_url, timeout)
    raise ValueError(f"unknown client kind {kind!r}")


# ---------------------------------------------------------------------------------- measurements


def rss_mb() -> float:
    """Peak RSS of this process image. Linux's ru_maxrss survives fork+exec (a child starts at its
    parent's peak), so read VmHWM, which belongs to the current address space."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


class StreamRecorder:
    """Burst and paced figures from the measured messages (send time > 0) the consumer takes."""

    def __init__(self, expected: int, deadline: float, idle: float, latencies: bool) -> None:
        self.expected, self.deadline, self.idle_ns, self.latencies = expected, deadline, int(idle * 1e9), latencies
        self.n = 0
        self.lat: list[int] = []
        self.t_first = self.t_last = 0
        self.cpu_first = 0.0
        self.stopped_by = "count"

    def on_message(self, conid: Any, send_us: int) -> bool:
        """Record one message; True when the measurement is complete."""
        if not send_us:
            return False  # snapshot or warm-up
        self.t_last = now = time.time_ns()
        if self.n == 0:
            self.t_first, self.cpu_first = now, time.process_time()
        self.n += 1
        if self.latencies:
            self.lat.append(now // 1000 - send_us)
        if self.n & 4095 == 0 and time.monotonic() > self.deadline:
            self.stopped_by = "deadline"
            return True
        return self.n >= self.expected

    def on_idle(self) -> bool:
        """Nothing arrived for a while; True when the measurement should end."""
        if self.n and time.time_ns() - self.t_last > self.idle_ns:
            self.stopped_by = "idle"  # the rest never came: dropped somewhere
            return True
        if time.monotonic() > self.deadline:
            self.stopped_by = "deadline"
            return True
        return False

    def result(self) -> dict[str, Any]:
        cpu_last = time.process_time()
        n, window = self.n, (self.t_last - self.t_first) / 1e9
        result: dict[str, Any] = {"delivered": n, "expected": self.expected, "window_s": round(window, 4),
                                  "stopped_by": self.stopped_by}
        if n > 1 and window > 0:
            result["rate"] = (n - 1) / window
            result["cpu_per_100k"] = (cpu_last - self.cpu_first) / (n - 1) * 100_000
            result["cores"] = (cpu_last - self.cpu_first) / window
        if self.lat:
            lat = sorted(self.lat)
            result["p50_us"] = percentile(lat, 0.50)
            result["p99_us"] = percentile(lat, 0.99)
            result["max_us"] = float(lat[-1])
        return result


class ReconnectRecorder:
    """Seconds from the server's drop until post-drop data has reached the consumer for every subscription."""

    def __init__(self, subs: int, drop_file: str, deadline: float) -> None:
        self.subs, self.drop_file, self.deadline = subs, drop_file, deadline
        self.before: set[str] = set()
        self.pending: list[tuple[str, int]] = []  # received before the drop time was known
        self.after: set[str] = set()
        self.drop_us = 0
        self.reconnect_s: float | None = None
        self._next_check = 0.0

    def _check_drop(self) -> None:
        now = time.monotonic()
        if self.drop_us or now < self._next_check:
            return
        self._next_check = now + 0.02
        try:
            with open(self.drop_file) as fh:
                self.drop_us = int(fh.read())
        except (OSError, ValueError):
            return
        self.after.update(c for c, ts in self.pending if ts > self.drop_us)
        self.pending.clear()

    def on_message(self, conid: Any, send_us: int) -> bool:
        recv_us = time.time_ns() // 1000
        conid = str(conid)
        self._check_drop()
        if not self.drop_us:
            self.before.add(conid)
            self.pending.append((conid, send_us))
        elif send_us > self.drop_us:
            self.after.add(conid)
        if self.drop_us and len(self.after) == self.subs:
            self.reconnect_s = (recv_us - self.drop_us) / 1e6
            return True
        return time.monotonic() > self.deadline

    def on_idle(self) -> bool:
        self._check_drop()
        return time.monotonic() > self.deadline

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"subs": self.subs, "before": len(self.before)}
        if self.reconnect_s is not None:
            result["reconnect_s"] = self.reconnect_s
        else:
            result["error"] = f"post-drop data for {len(self.after)}/{self.subs} subscriptions before the deadline"
        return result


def install_thread_profiler(path: str) -> Any:
    """cProfile the client's first worker thread (the receive path); returns a callable that dumps it."""
    import cProfile

    prof = cProfile.Profile()
    armed = [True]

    def hook(frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        if armed[0]:
            armed[0] = False
            prof.enable()

    threading.setprofile(hook)

    def dump() -> None:
        threading.setprofile(None)
        prof.dump_stats(path)

    return dump


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one benchmark client against the load server.")
    p.add_argument("--client", required=True, choices=("ibkrws", "ibkrws-async", "ibind", "floor"))
    p.add_argument("--url", required=True, help="ws:// or wss:// URL of /v1/api/ws")
    p.add_argument("--mode", required=True, choices=("burst", "paced", "reconnect"))
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--subs", type=int, default=1)
    p.add_argument("--drop-file", default="")
    p.add_argument("--max-seconds", type=float, default=30.0, help="bound on the measurement itself")
    p.add_argument("--profile", default="", help="write a cProfile of the client's worker thread here")
    args = p.parse_args(argv)
    rest_url = args.url.replace("wss://", "https://", 1).replace("ws://", "http://", 1).rsplit("/ws", 1)[0] + "/"
    result: dict[str, Any] = {"client": args.client, "mode": args.mode}
    dump = install_thread_profiler(args.profile) if args.profile else None
    client = None
    t0 = time.monotonic()
    try:
        client = make_client(args.client, args.url, rest_url, timeout=5.0)
        result["version"] = client.version
        result["start_s"] = round(time.monotonic() - t0, 3)
        client.subscribe(conids(args.subs))
        result["subscribe_s"] = round(time.monotonic() - t0 - result["start_s"], 3)
        deadline = time.monotonic() + args.max_seconds
        if args.mode == "reconnect":
            recorder: Any = ReconnectRecorder(args.subs, args.drop_file, deadline)
        else:
            recorder = StreamRecorder(args.count, deadline, idle=2.0, latencies=args.mode == "paced")
        client.consume(recorder)
        result.update(recorder.result())
        result["rss_mb"] = rss_mb()
    except Exception as exc:  # noqa: BLE001 - reported in the result line; the orchestrator records it
        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    finally:
        if client is not None:
            t_stop = time.monotonic()
            client.stop_bounded(2.0)
            result["stop_s"] = round(time.monotonic() - t_stop, 3)
        if dump is not None:
            dump()
        print(json.dumps(result), flush=True)
        sys.stderr.flush()
    os._exit(0)  # client threads that do not stop in time must not hold the process


if __name__ == "__main__":
    sys.exit(main())
