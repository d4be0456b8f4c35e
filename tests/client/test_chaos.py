"""Chaos: random faults while several consumers read; afterwards nothing is wedged or unaccounted.

Bounded to IBKRWS_CHAOS_SECONDS (default 40 s) of faults; set it higher for a long soak.
"""

from __future__ import annotations

import os
import random
import threading
import time

from ibkrws import IbkrWsClient, IbkrWsKey
from ibkrws.simulator import Simulator
from tests.client.conftest import drain, wait_for

CHAOS_SECONDS = float(os.environ.get("IBKRWS_CHAOS_SECONDS", "40"))
CONIDS = [265598, 8314, 272093]


def _sockets_to(port: int) -> set[str]:
    """Inodes of this process's TCP sockets whose remote port is `port`."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            state = parts[3]
            if remote_port == port and parts[9] in mine and state == "01":  # ESTABLISHED
                found.add(parts[9])
    return found


class Consumer(threading.Thread):
    def __init__(self, accessor, stop: threading.Event, slow: bool = False) -> None:
        super().__init__(daemon=True)
        self.accessor, self.stop, self.slow, self.consumed = accessor, stop, slow, 0

    def run(self) -> None:
        while not self.stop.is_set():
            if self.accessor.get(block=True, timeout=0.1) is not None:
                self.consumed += 1
                if self.slow:
                    self.stop.wait(0.01)


def _faults(sim: Simulator, rng: random.Random) -> list:
    f = sim.faults

    def toggle(name: str, on, off):
        def run() -> None:
            setattr(f, name, on)
            time.sleep(rng.uniform(0.2, 1.5))
            setattr(f, name, off)
        return run

    def auth_cycle(lose) -> None:
        lose()
        time.sleep(rng.uniform(0.2, 1.5))
        f.restore_auth()

    return [
        lambda: f.drop_connections(code=1000),
        lambda: f.drop_connections(code=1011),
        f.reset_connections,
        toggle("heartbeats", False, True),
        toggle("data", False, True),
        toggle("stall", True, False),
        toggle("rest_429", True, False),
        toggle("text_frames", True, False),
        toggle("non_utf8", True, False),
        lambda: auth_cycle(f.lose_auth),
        lambda: auth_cycle(f.compete),
        f.send_malformed_json,
        lambda: sim.place_order(conid=rng.choice(CONIDS), side=rng.choice(["BUY", "SELL"]), quantity=1,
                                order_type="MKT"),
    ]


def test_chaos_leaves_client_ready_and_everything_accounted():
    seed = int(os.environ.get("IBKRWS_CHAOS_SEED", "20261123"))
    rng = random.Random(seed)
    with Simulator(tls=True, heartbeat_interval=0.3, md_interval=0.05, pnl_interval=0.2, seed=seed) as sim:
        client = IbkrWsClient(url=sim.ws_url, cacert=sim.cacert, account_id=sim.account_id, timeout=2,
                              ping_interval=0.5, max_ping_interval=1.5, subscription_timeout=0.4,
                              reconnect_backoff_max=1.0, stale_after={"md": 1.0}, max_queue_size=500)
        stop = threading.Event()
        consumers = [Consumer(client.new_queue_accessor(IbkrWsKey.MARKET_DATA), stop),
                     Consumer(client.new_queue_accessor(IbkrWsKey.MARKET_DATA), stop, slow=True),
                     Consumer(client.new_queue_accessor(IbkrWsKey.PNL), stop),
                     Consumer(client.new_queue_accessor(IbkrWsKey.ORDERS), stop)]
        for c in consumers:
            c.start()
        try:
            assert client.start()
            for conid in CONIDS:
                assert client.subscribe(f"md+{conid}", {"fields": ["31", "84", "86"]})
            for channel in ("pl", "or", "tr"):
                assert client.subscribe(channel)
            faults = _faults(sim, rng)
            deadline = time.monotonic() + CHAOS_SECONDS
            injected = 0
            while time.monotonic() < deadline:
                rng.choice(faults)()
                injected += 1
                time.sleep(rng.uniform(0.1, 0.8))
            sim.faults.reset()
            sim.faults.restore_auth()

            wait_for(lambda: client.ready() and all(client.subscriptions().values()), timeout=30,
                     what="ready with every subscription active after the chaos")
            assert set(client.subscriptions()) == {*(f"md+{c}" for c in CONIDS), "pl", "or", "tr"}
            drain(client.new_queue_accessor(IbkrWsKey.MARKET_DATA), 5)
            assert injected > 5 and client.stats.reconnects > 0

            # quiesce the gateway, then account for every frame it sent on every connection
            sim.faults.data = False
            sim.faults.heartbeats = False
            time.sleep(0.5)
            stats = client.stats
            server = sim.connections()
            current = stats.frames - stats.frames_at_connect
            client_conns = [*stats.connections, (current, False)]
            assert len(server) == len(client_conns), (len(server), len(client_conns))
            for info, (received, closed_by_client) in zip(server, client_conns, strict=True):
                sent = sum(info.sent.values())
                abrupt = not info.open and info.close_code is None
                if closed_by_client or abrupt:
                    assert received <= sent, (info, received)
                else:
                    assert received == sent, (info, received, closed_by_client)

            # every message handed to a consumer was consumed, is still queued, or was counted as dropped
            stop.set()
            for c in consumers:
                c.join(5)
            counts = client._delivery.counts
            for c in consumers:
                assert c.consumed + c.accessor.dropped + c.accessor.qsize() == counts[c.accessor.key]
        finally:
            stop.set()
            client.shutdown()
        assert not client.running
        assert not [t for t in threading.enumerate() if t.name.startswith("IbkrWsClient") and t.is_alive()]
        wait_for(lambda: not _sockets_to(sim.port), timeout=5, what="no client socket left open to the gateway")
