"""IbkrWsKey and the subscription payloads, as the seed and protocol.md 5.0 describe them."""

from __future__ import annotations

import pytest

from ibkrws import IbkrSubscriptionProcessor, IbkrWsKey


def test_fourteen_members_and_channels():
    assert len(IbkrWsKey) == 14
    for key, channel in [
        (IbkrWsKey.ACCOUNT_SUMMARY, "sd"), (IbkrWsKey.ACCOUNT_LEDGER, "ld"), (IbkrWsKey.MARKET_DATA, "md"),
        (IbkrWsKey.MARKET_HISTORY, "mh"), (IbkrWsKey.PRICE_LADDER, "bd"), (IbkrWsKey.ORDERS, "or"),
        (IbkrWsKey.PNL, "pl"), (IbkrWsKey.TRADES, "tr"),
    ]:
        assert key.channel == channel
        assert IbkrWsKey.from_channel(channel) is key
        assert IbkrWsKey.from_channel(channel + "+123") is key
    with pytest.raises(ValueError, match="expected one of"):
        IbkrWsKey.from_channel("xx")
    with pytest.raises(ValueError, match="unsolicited"):
        _ = IbkrWsKey.ERROR.channel


def test_confirmation_table():
    confirms = {k for k in IbkrWsKey if k.solicited and k.confirms_subscribing}
    assert confirms == {IbkrWsKey.ACCOUNT_SUMMARY, IbkrWsKey.ACCOUNT_LEDGER, IbkrWsKey.MARKET_DATA,
                        IbkrWsKey.MARKET_HISTORY, IbkrWsKey.PNL, IbkrWsKey.TRADES}
    unconfirms = {k for k in IbkrWsKey if k.confirms_unsubscribing}
    assert unconfirms == {IbkrWsKey.ACCOUNT_SUMMARY, IbkrWsKey.ACCOUNT_LEDGER, IbkrWsKey.MARKET_HISTORY}


def test_payloads():
    p = IbkrSubscriptionProcessor()
    assert p.make_subscribe_payload("or") == "sor+{}"
    assert p.make_subscribe_payload("tr", {"realtimeUpdatesOnly": True, "days": 5}) == \
        'str+{"realtimeUpdatesOnly":true,"days":5}'
    assert p.make_subscribe_payload("md+265598", {"fields": ["31", "84"]}) == 'smd+265598+{"fields":["31","84"]}'
    assert p.make_unsubscribe_payload("md+265598") == "umd+265598+{}"
    assert p.make_subscribe_payload("bd+DU1+265598") == "sbd+DU1+265598"
    assert p.make_unsubscribe_payload("bd+DU1") == "ubd+DU1"
    assert p.make_unsubscribe_payload("mh+341115") == "umh+341115"
    assert p.make_unsubscribe_payload("or") == "uor+{}"
    with pytest.raises(ValueError, match="data must be a dict"):
        p.make_subscribe_payload("or", ["x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="JSON-serialisable"):
        p.make_subscribe_payload("or", {"x": object()})


def test_front_doors_take_exactly_the_settings_parameters():
    import inspect

    from ibkrws import AsyncIbkrWsClient, IbkrWsClient
    from ibkrws.client.settings import SETTINGS_ARGUMENTS

    sync = set(inspect.signature(IbkrWsClient).parameters) - {"ibkr_client", "queue_controller_class", "start"}
    asynchronous = set(inspect.signature(AsyncIbkrWsClient).parameters) - {"ibkr_client"}
    assert sync == SETTINGS_ARGUMENTS
    assert asynchronous == SETTINGS_ARGUMENTS
