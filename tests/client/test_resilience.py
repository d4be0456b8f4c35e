"""Resilience against the simulator's fault switches, over real sockets (issues 2 and 3).

Each test ends with the client ready, every subscription active, data flowing again, and (where
messages could have been missed) a gap reported.
"""

from __future__ import annotations

import threading
import time

from ibkrws import EventKind, IbkrWsKey
from tests.client.conftest import drain, wait_for

MD = "md+265598"
MD_FIELDS = {"fields": ["31", "84", "86"]}


def events_of(client, kind: EventKind, accessor) -> list:
    found = []
    while True:
        event = accessor.get()
        if event is None:
            return found
        if event.kind is kind:
            found.append(event)


def wait_event(accessor, kind: EventKind, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = accessor.get(block=True, timeout=max(0.0, deadline - time.monotonic()))
        if event is not None and event.kind is kind:
            return event
    raise AssertionError(f"no {kind.value} event within {timeout} s")


def assert_recovered(client, accessor_key=IbkrWsKey.MARKET_DATA, timeout: float = 15.0) -> None:
    """Ready, every subscription active, and fresh data flowing."""
    wait_for(lambda: client.ready() and client.subscriptions() and all(client.subscriptions().values()),
             timeout=timeout, what="ready with every subscription active")
    fresh = client.new_queue_accessor(accessor_key)
    drain(fresh, 2, timeout=timeout)


def subscribed_client(make_client, **kwargs):
    kwargs.setdefault("max_ping_interval", 3)
    kwargs.setdefault("ping_interval", 1)
    client = make_client(start=True, **kwargs)
    events = client.new_event_accessor()
    assert client.subscribe(MD, MD_FIELDS)
    assert client.subscribe("pl")
    return client, events


def test_channel_needing_two_requests_gets_subscribed(sim, make_client):
    sim.faults.require_second_request = True
    client = make_client(start=True)
    assert client.subscribe(MD, MD_FIELDS)
    sent = [f for c in sim.connections() for f in c.received if f.startswith("smd+265598")]
    assert len(sent) >= 2


def test_subscription_without_answer_fails_after_retries(sim, make_client):
    sim.faults.data = False
    client = make_client(start=True, subscription_retries=2, subscription_timeout=0.3)
    events = client.new_event_accessor()
    assert client.subscribe(MD, MD_FIELDS) is False
    assert MD not in client.subscriptions()
    assert wait_event(events, EventKind.SUBSCRIPTION_FAILED).channel == MD


def test_drop_with_close_code_1000_and_1011_recovers_with_gap(sim, make_client):
    client, events = subscribed_client(make_client)
    for code in (1000, 1011):
        sim.faults.drop_connections(code=code)
        gap = wait_event(events, EventKind.GAP)
        assert gap.detail["start"] <= gap.detail["end"]
        assert IbkrWsKey.MARKET_DATA in gap.detail["keys"] and IbkrWsKey.PNL in gap.detail["keys"]
        assert_recovered(client)
    assert client.stats.gaps == 2


def test_abrupt_tcp_reset_recovers(sim, make_client):
    client, events = subscribed_client(make_client)
    sim.faults.reset_connections()
    wait_event(events, EventKind.GAP)
    assert_recovered(client)


def test_silent_stall_is_detected_within_max_ping_interval(sim, make_client):
    client, events = subscribed_client(make_client, max_ping_interval=2, ping_interval=0.5)
    connects = client.stats.connects
    sim.faults.heartbeats = False
    started = time.monotonic()
    wait_for(lambda: client.stats.connects > connects, timeout=2 + 8, what="reconnect after heartbeats stopped")
    detected_after = time.monotonic() - started
    assert client.stats.stale_resets >= 1
    assert detected_after < 2 + 8
    sim.faults.heartbeats = True
    assert_recovered(client)
    assert "heartbeat" in wait_event(events, EventKind.GAP).reason


def test_total_stall_without_pongs_recovers(sim, make_client):
    client, events = subscribed_client(make_client, max_ping_interval=1.5, ping_interval=0.3)
    sim.faults.stall = True
    wait_event(events, EventKind.DISCONNECTED, timeout=10)
    sim.faults.stall = False
    assert_recovered(client)
    wait_event(events, EventKind.GAP)


def test_data_stopped_with_heartbeats_alive_resubscribes_once(sim, make_client):
    client, events = subscribed_client(make_client, stale_after={"md": 1.0})
    sim.faults.data = False
    stale = wait_event(events, EventKind.SUBSCRIPTION_STALE, timeout=10)
    assert stale.channel == MD
    sim.faults.data = True
    assert_recovered(client)
    assert client.stats.stale_resubscribes == 1
    # orders and P&L are not re-subscribed by default: only md went out again
    frames = [f for c in sim.connections() for f in c.received]
    assert sum(f.startswith("spl") for f in frames) == 1


def test_auth_lost_then_restored_through_rest_only(sim, make_client):
    client, events = subscribed_client(make_client)
    sim.faults.lose_auth()
    lost = wait_event(events, EventKind.AUTH_LOST)
    assert "authenticated" in lost.reason
    wait_for(lambda: not client.ready(), what="client no longer ready")
    time.sleep(0.3)  # the client polls REST meanwhile; nothing arrives on the socket
    sim.faults.restore_auth()
    wait_event(events, EventKind.AUTH_RESTORED)
    gap = wait_event(events, EventKind.GAP)
    assert gap.reason.startswith("auth lost")
    assert_recovered(client)
    assert client.health().authenticated is True


def test_auth_restored_by_brokerage_session_init(sim, make_client):
    client, events = subscribed_client(make_client, init_brokerage_session_on_auth_loss=True)
    sim.faults.lose_auth()
    wait_event(events, EventKind.AUTH_LOST)
    wait_event(events, EventKind.AUTH_RESTORED)  # ssodh/init restores it in the simulator
    assert_recovered(client)


def test_competing_session_recovers(sim, make_client):
    client, events = subscribed_client(make_client)
    sim.faults.compete()
    wait_event(events, EventKind.COMPETING)
    sim.faults.restore_auth()
    wait_event(events, EventKind.AUTH_RESTORED)
    assert_recovered(client)
    assert wait_event(events, EventKind.GAP).reason.startswith("auth lost")


def test_smd_refreshed_before_expiry_without_gap(make_client):
    from ibkrws.simulator import Simulator

    with Simulator(tls=False, heartbeat_interval=0.5, md_interval=0.05, smd_expiry=1.5) as sim:
        client = make_client(url=sim.ws_url, cacert=False, md_refresh_interval=0.8, start=True)
        events = client.new_event_accessor()
        assert client.subscribe(MD, MD_FIELDS)
        qa = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
        wait_event(events, EventKind.SUBSCRIPTION_REFRESHED)
        wait_event(events, EventKind.SUBSCRIPTION_REFRESHED)
        drain(qa, 5)
        time.sleep(2.0)  # beyond the expiry: data must still flow
        before = qa.qsize()
        drain(qa, before + 3)
        assert client.stats.gaps == 0
        smd_sent = [f for c in sim.connections() for f in c.received if f.startswith("smd+265598")]
        assert len(smd_sent) == 1 + client.stats.md_refreshes
        client.shutdown()


def test_rest_outage_during_reconnect(sim, make_client):
    client, events = subscribed_client(make_client)
    sim.faults.rest_429 = True
    sim.faults.drop_connections(code=1011)
    wait_event(events, EventKind.DISCONNECTED)
    assert_recovered(client)  # the last known session is presented while REST answers 429
    wait_event(events, EventKind.GAP)
    sim.faults.rest_429 = False


def test_malformed_json_and_invalid_utf8_are_survived(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("or")
    # `or` is assumed active once sent and IBKR sends no snapshot: the order must come after the gateway has `sor`
    wait_for(lambda: any(f.startswith("sor") for f in sim.received_frames()), what="sor at the gateway")
    sim.faults.send_malformed_json()
    sim.faults.non_utf8 = True
    order_id = sim.place_order(conid=265598, side="BUY", quantity=1, order_type="LMT", price=1.0)
    wait_for(lambda: client.stats.invalid_json >= 1 and client.stats.repaired_utf8 >= 1, what="counted frames")
    order = wait_for(lambda: client.order(order_id), what="the order with a repaired company name")
    assert client.connected and client.stats.connects == 1
    assert "\u2122" in str(order)


def test_a_message_that_cannot_be_delivered_is_counted_and_skipped_without_a_reconnect(sim, make_client):
    """Valid JSON on an active subscription's topic that delivery cannot handle (an unhashable conid) is
    counted and skipped; the connection and the stream go on."""
    client = make_client(start=True)
    accessor = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    assert client.subscribe("md+265598", {"fields": ["31", "84"]})
    assert accessor.get(block=True, timeout=5) is not None
    sim.faults.send_raw(b'{"topic":"smd+265598","conid":[1],"31":"1.00"}')  # the fast path (active topic)
    sim.faults.send_raw(b'{"topic":"smd+8314","conid":{"a":1},"31":"1.00"}')  # the slow path (no subscription)
    wait_for(lambda: client.stats.undeliverable == 2, what="both bad messages counted")
    while accessor.get() is not None:  # what arrived before
        pass
    assert accessor.get(block=True, timeout=5) is not None  # the stream goes on
    assert client.stats.connects == 1 and client.connected


def test_shutdown_during_hung_connect_is_bounded(sim, make_client):
    sim.faults.ws_upgrade = "hang"
    client = make_client(timeout=1)
    started = time.monotonic()
    assert client.start() is False
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(client.subscribe("pl")))
    t.start()
    time.sleep(0.2)
    before = time.monotonic()
    client.shutdown()
    assert time.monotonic() - before <= 1.5
    t.join(2)
    assert result == [False]
    assert not client.running
    assert not [th for th in threading.enumerate() if th.name.startswith("IbkrWsClient")]
    assert time.monotonic() - started < 10


def test_shutdown_with_unreachable_gateway_is_bounded(make_client):
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(url=f"ws://127.0.0.1:{port}/v1/api/ws", cacert=False, timeout=1)
    assert client.start() is False
    assert client.running
    before = time.monotonic()
    client.shutdown()
    assert time.monotonic() - before <= 1.5
    assert not client.running


def test_shutdown_during_reconnect_storm(sim, make_client):
    client, _ = subscribed_client(make_client, timeout=2)
    stop = threading.Event()

    def storm() -> None:
        for _ in range(50):
            if stop.is_set():
                return
            sim.faults.drop_connections(code=1011)
            stop.wait(0.05)

    t = threading.Thread(target=storm)
    t.start()
    time.sleep(0.5)
    before = time.monotonic()
    client.shutdown()
    elapsed = time.monotonic() - before
    stop.set()
    t.join(5)
    assert elapsed <= 2.5
    assert not client.running


def test_every_subscription_restored_after_reconnect(sim, make_client):
    client = make_client(start=True)
    acct = sim.account_id
    channels = {MD: MD_FIELDS, "md+8314": MD_FIELDS, "pl": None, "or": None, "tr": None, f"ld+{acct}": {}}
    for channel, data in channels.items():
        assert client.subscribe(channel, data)
    sim.faults.drop_connections(code=1000)
    wait_for(lambda: client.stats.connects >= 2, what="reconnect")
    assert_recovered(client)
    assert set(client.subscriptions()) == set(channels)
    last = sim.connections()[-1]
    assert sum(f.startswith("smd+265598") for f in last.received) == 1


def test_orders_resynced_over_rest_after_a_gap(sim, make_client):
    client = make_client(start=True, resync_orders_after_gap=True)
    events = client.new_event_accessor()
    assert client.subscribe("or")
    order_id = sim.place_order(conid=265598, side="BUY", quantity=2, order_type="LMT", price=1.0)
    sim.faults.drop_connections(code=1011)
    wait_event(events, EventKind.GAP)
    resync = wait_event(events, EventKind.ORDERS_RESYNC)
    assert order_id in [o.get("orderId") for o in resync.detail["orders"]]
    assert_recovered_orders = wait_for(lambda: client.ready() and all(client.subscriptions().values()),
                                       what="orders active again")
    assert assert_recovered_orders


def test_rest_tickler_keeps_the_session_alive(sim, make_client):
    from ibkrws import IbkrClient

    tickles = []

    class CountingClient(IbkrClient):
        def tickle(self):
            tickles.append(time.monotonic())
            return super().tickle()

    make_client(ibkr_client=CountingClient(url=sim.rest_url, cacert=sim.cacert), tickler_interval=0.2, start=True)
    wait_for(lambda: len(tickles) >= 4, what="periodic tickles")  # one before connecting, then every 0.2 s


def test_every_state_transition_is_an_event_with_a_reason(sim, make_client):
    client = make_client()
    events = client.new_event_accessor()
    assert client.start()
    wait_for(client.ready, what="ready")
    sim.faults.drop_connections(code=1000)
    wait_for(lambda: client.stats.connects >= 2 and client.ready(), what="reconnected")
    seen = []
    while (event := events.get()) is not None:
        if event.kind is EventKind.STATE:
            seen.append((event.detail["old"], event.detail["new"]))
            assert event.reason or event.detail["new"] in ("open", "stopping")
    assert ("stopped", "connecting") in seen and ("open", "ready") in seen
    assert ("ready", "reconnecting") in seen and ("reconnecting", "connecting") in seen
    assert client.state.value == "ready"
