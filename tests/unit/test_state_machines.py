"""Subscription table and liveness, driven with a fake clock."""

from __future__ import annotations

from ibkrws import IbkrSubscriptionProcessor
from ibkrws.protocol.liveness import Backoff, Liveness
from ibkrws.protocol.subscriptions import Action, SubscriptionTable, SubState

P = IbkrSubscriptionProcessor()


def test_confirmed_subscription_retries_then_fails():
    table = SubscriptionTable(retries=3, timeout=2)
    sub = table.desire("md+1", None, True, P)
    table.mark_sent(sub, now=0)
    assert sub.state is SubState.PENDING
    assert table.on_timer("md+1", now=2) is Action.RESEND
    table.mark_sent(sub, now=2)
    assert table.on_timer("md+1", now=4) is Action.RESEND
    table.mark_sent(sub, now=4)
    assert table.on_timer("md+1", now=6) is Action.FAIL
    assert sub.state is SubState.FAILED


def test_second_request_confirms():
    table = SubscriptionTable(retries=5, timeout=2)
    sub = table.desire("pl", None, True, P)
    table.mark_sent(sub, now=0)
    assert table.on_timer("pl", now=2) is Action.RESEND
    table.mark_sent(sub, now=2)
    found, became = table.on_data("pl", now=2.5)
    assert found is sub and became and sub.active
    assert table.on_timer("pl", now=4) is Action.NONE


def test_unconfirmed_channel_is_active_once_sent_and_reset_on_reconnect():
    table = SubscriptionTable(retries=5, timeout=2)
    sub = table.desire("or", None, False, P)
    table.mark_sent(sub, now=0)
    assert sub.active
    table.connection_lost()
    assert sub.state is SubState.PENDING and sub.attempts == 0 and sub.ever_active


def test_ladder_topic_matches_subscription_with_exchange():
    table = SubscriptionTable(retries=5, timeout=2)
    sub = table.desire("bd+DU1+265598+ARCA", None, False, P)
    assert table.match("bd+DU1+265598") is sub


def test_liveness_heartbeat_and_pong():
    live = Liveness(max_interval=30)
    live.reset(now=100)
    assert live.stale_reason(now=129) is None
    assert "heartbeat" in live.stale_reason(now=131)
    live.on_heartbeat(now=125)
    assert live.stale_reason(now=131) is None
    assert live.next_deadline(now=131) == 155
    live.on_ping_sent(now=126)
    live.on_heartbeat(now=150)
    assert "pong" in live.stale_reason(now=157)
    live.on_pong(now=157)
    assert live.stale_reason(now=158) is None


def test_backoff_grows_to_the_cap_with_jitter_and_resets_after_a_healthy_period():
    backoff = Backoff(initial=0.5, cap=4, healthy_after=60, jitter=0.5)
    delays = [backoff.next_delay(now=i, random_unit=0.5) for i in range(6)]
    assert delays == [0.5, 1, 2, 4, 4, 4]
    assert backoff.next_delay(now=10, random_unit=0.0) == 2  # 4 * (1 - 0.5)
    assert backoff.next_delay(now=10, random_unit=0.999) < 6  # 4 * 1.5
    backoff.healthy(now=100)
    assert backoff.next_delay(now=130, random_unit=0.5) == 4  # healthy for 30 s only: no reset
    backoff.healthy(now=200)
    assert backoff.next_delay(now=260, random_unit=0.5) == 0.5  # healthy for 60 s: back to the start
