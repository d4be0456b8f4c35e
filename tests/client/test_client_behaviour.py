"""IbkrWsClient behaviour over real sockets against the simulator (issue 2)."""

from __future__ import annotations

import threading

import pytest

from ibkrws import IbkrClient, IbkrWsKey
from tests.client.conftest import drain, wait_for


def test_two_accessors_receive_every_message(sim, make_client):
    client = make_client(start=True)
    a = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    b = client.new_queue_accessor(IbkrWsKey.MARKET_DATA)
    assert client.subscribe("md+265598", {"fields": ["31", "84", "86"]})
    first = drain(a, 10)
    second = drain(b, 10)
    assert first == second


def test_default_accessor_keeps_first_pnl_message(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("pl")
    # the subscription was confirmed by the first spl message: it must still be in the default queue
    first = client.get(IbkrWsKey.PNL)
    assert first is not None and first["topic"] == "spl"


def test_raw_market_data_when_not_unwrapped(sim, make_client):
    client = make_client(start=True, unwrap_market_data=False)
    assert client.subscribe("md+8314", {"fields": ["31"]})
    item = client.get(IbkrWsKey.MARKET_DATA, block=True, timeout=5)
    assert list(item) == [8314]
    assert item[8314]["topic"] == "smd+8314" and "server_id" in item[8314]


def test_every_channel_subscribes(sim, make_client):
    client = make_client(start=True)
    acct = sim.account_id
    for channel, data in [("md+272093", {"fields": ["31", "84"]}), ("pl", None), ("tr", None), ("or", None),
                          (f"sd+{acct}", {}), (f"ld+{acct}", {}), (f"bd+{acct}+265598", None),
                          ("mh+265598", {"period": "1d", "bar": "5min"})]:
        assert client.subscribe(channel, data), channel
    for key in (IbkrWsKey.ACCOUNT_SUMMARY, IbkrWsKey.ACCOUNT_LEDGER, IbkrWsKey.MARKET_HISTORY,
                IbkrWsKey.PRICE_LADDER, IbkrWsKey.TRADES):
        assert client.get(key, block=True, timeout=10) is not None, key
    assert all(client.subscriptions().values())


def test_market_history_server_ids_and_unsubscribe(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("mh+265598", {"period": "1d", "bar": "5min"})
    server_ids = wait_for(lambda: client.server_ids(IbkrWsKey.MARKET_HISTORY), what="a serverId")
    server_id = next(iter(server_ids))
    assert server_ids[server_id] == 265598
    assert client.unsubscribe(f"mh+{server_id}")
    assert "mh+265598" not in client.subscriptions()
    assert client.server_ids(IbkrWsKey.MARKET_HISTORY) == {}


def test_account_summary_unsubscribe_is_confirmed(sim, make_client):
    client = make_client(start=True)
    channel = f"sd+{sim.account_id}"
    assert client.subscribe(channel, {})
    assert client.unsubscribe(channel)
    assert channel not in client.subscriptions()


def test_unconfirmed_unsubscribe_market_data(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("md+265598", {"fields": ["31"]})
    assert client.unsubscribe("md+265598")
    assert client.subscriptions() == {}


def test_orders_subscription_is_preceded_by_rest_calls(sim, make_client):
    calls = []

    class RecordingClient(IbkrClient):
        def receive_brokerage_accounts(self):
            calls.append("accounts")
            return super().receive_brokerage_accounts()

        def live_orders(self, filters=None, force=None, account_id=None):
            calls.append(("orders", force))
            return super().live_orders(filters=filters, force=force, account_id=account_id)

    rest = RecordingClient(url=sim.rest_url, cacert=sim.cacert)
    client = make_client(ibkr_client=rest, start=True)
    assert client.subscribe("or")
    assert calls == ["accounts", ("orders", True), ("orders", None)]


def test_many_threads_subscribe_at_once(sim, make_client):
    client = make_client(start=True)
    conids = [265598, 8314, 272093, 3691937, 208813720, 107113386, 4815747]
    results: dict[int, bool] = {}

    def sub(conid: int) -> None:
        results[conid] = client.subscribe(f"md+{conid}", {"fields": ["31", "84"]})

    threads = [threading.Thread(target=sub, args=(c,)) for c in conids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {c: True for c in conids}
    assert sorted(client.subscriptions()) == sorted(f"md+{c}" for c in conids)


def test_tic_returns_the_tic_message(sim, make_client):
    client = make_client(start=True)
    wait_for(client.ready, what="ready")
    reply = client.tic()
    assert reply is not None and reply["topic"] == "tic" and reply["alive"] is True
    assert "lastAccessed" in reply


def test_waiting_for_session_is_answered(sim, make_client):
    class FirstTickleFails(IbkrClient):
        failed = False

        def tickle(self):
            if not self.failed:
                self.failed = True
                raise ConnectionError("first tickle fails on purpose")
            return super().tickle()

    client = make_client(ibkr_client=FirstTickleFails(url=sim.rest_url, cacert=sim.cacert), start=True)
    # without a cookie the gateway says "waiting for session"; the client answers with the session frame
    wait_for(client.ready, what="ready after the session frame")
    assert client.subscribe("pl")


def test_oauth_mode_uses_token_and_bare_cookie(sim, make_client):
    client = make_client(use_oauth=True, access_token="abcdef0123456789", start=True)
    wait_for(client.ready, what="ready over OAuth presentation")
    assert client.subscribe("pl")


def test_hard_reset_from_another_thread_reconnects(sim, make_client):
    client = make_client(start=True)
    assert client.subscribe("md+265598", {"fields": ["31"]})
    connects = client.stats.connects
    t = threading.Thread(target=client.hard_reset, kwargs={"restart": True})
    t.start()
    t.join(5)
    wait_for(lambda: client.stats.connects > connects and client.ready(), what="reconnect after hard_reset")
    wait_for(lambda: client.subscriptions().get("md+265598"), what="market data active again")


def test_check_health(sim, make_client):
    client = make_client(start=True)
    wait_for(client.ready, what="ready")
    assert client.check_health() is True
    client.shutdown()
    assert client.check_health() is False


def test_subscribe_before_start_returns_false(sim, make_client):
    client = make_client()
    assert client.subscribe("pl") is False
    assert client.running is False and client.connected is False and not client.ready()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"url": "http://x/v1/api/ws"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"ping_interval": -1}, "ping_interval"),
        ({"max_ping_interval": 0}, "max_ping_interval"),
        ({"timeout": "5"}, "timeout"),
        ({"cacert": "/nonexistent/cert.pem"}, "cacert"),
        ({"subscription_retries": 1.5}, "subscription_retries"),
        ({"max_connection_attempts": 0}, "max_connection_attempts"),
        ({"unsolicited_channels_to_be_queued": [IbkrWsKey.PNL]}, "unsolicited_channels_to_be_queued"),
        ({"unsolicited_channels_to_be_queued": IbkrWsKey.ERROR}, "unsolicited_channels_to_be_queued"),
        ({"max_queue_size": 0}, "max_queue_size"),
        ({"subscription_processor_class": dict}, "subscription_processor_class"),
    ],
)
def test_invalid_construction_raises(make_client, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_client(**kwargs)


def test_invalid_environment_raises(make_client, monkeypatch):
    monkeypatch.setenv("IBIND_WS_PING_INTERVAL", "soon")
    with pytest.raises(ValueError, match="IBIND_WS_PING_INTERVAL"):
        make_client()


def test_environment_is_read_at_construction(sim, make_client, monkeypatch):
    monkeypatch.setenv("IBIND_WS_SUBSCRIPTION_RETRIES", "7")
    client = make_client(subscription_timeout=None)
    assert client.settings.subscription_retries == 7
    assert client.settings.subscription_timeout == 2
    monkeypatch.setenv("IBIND_WS_SUBSCRIPTION_RETRIES", "3")
    assert make_client(subscription_timeout=None).settings.subscription_retries == 3


@pytest.mark.parametrize(
    "channel, data, match",
    [("xx+1", None, "not an IBKR channel"), ("", None, "channel"), (42, None, "channel"),
     ("md+265598", ["31"], "data must be a dict"), ("md+265598", "fields", "data must be a dict")],
)
def test_invalid_subscribe_arguments_raise(sim, make_client, channel, data, match):
    client = make_client()
    with pytest.raises(ValueError, match=match):
        client.subscribe(channel, data)
    with pytest.raises(ValueError, match=match):
        client.unsubscribe(channel, data)


def test_invalid_queue_key_raises(make_client):
    client = make_client()
    with pytest.raises(ValueError, match="IbkrWsKey"):
        client.new_queue_accessor("MARKET_DATA")
    with pytest.raises(ValueError, match="IbkrWsKey"):
        client.get("PNL")


def test_secrets_never_reach_logs_or_reprs(sim, make_client, caplog, tmp_path):
    import logging

    caplog.set_level(logging.DEBUG, logger="ibkrws")
    token = "0123456789abcdefSECRETTOKEN"
    record = tmp_path / "frames.jsonl"
    client = make_client(use_oauth=True, access_token=token, log_raw_messages=True, record_to=str(record),
                         start=True)
    assert client.subscribe("pl")
    assert client.tic() is not None
    sim.faults.drop_connections(code=1011)
    wait_for(lambda: client.stats.connects >= 2 and client.ready(), what="reconnect")
    client.shutdown()
    session = sim.session_id
    text = caplog.text + repr(client.settings) + str(client) + record.read_text()
    assert token not in text
    assert session not in text
    assert "Raw message" in caplog.text  # raw logging was on, with secrets redacted


def test_text_opcode_frames_are_handled_like_binary(sim, make_client):
    sim.faults.text_frames = True
    client = make_client(start=True)
    assert client.subscribe("md+265598", {"fields": ["31"]})
    assert drain(client.new_queue_accessor(IbkrWsKey.MARKET_DATA), 3)


def test_interpreter_exit_without_shutdown_does_not_hang(sim, tmp_path):
    import subprocess
    import sys
    import time

    sim.faults.ws_upgrade = "hang"  # the worst case: a connect that never completes
    script = tmp_path / "exit.py"
    script.write_text(
        "from ibkrws import IbkrWsClient\n"
        f"c = IbkrWsClient(url={sim.ws_url!r}, cacert={sim.cacert!r}, timeout=1, start=True)\n"
        "c.subscribe('pl')\n"
        "print('leaving without shutdown', flush=True)\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "leaving without shutdown" in result.stdout
    assert time.monotonic() - started < 20


def test_restart_after_shutdown(sim, make_client):
    client = make_client()
    qa = client.new_queue_accessor(IbkrWsKey.PNL)
    for _ in range(2):
        assert client.start()
        assert client.subscribe("pl")
        assert drain(qa, 1)
        client.shutdown()
        assert not client.running
