"""Market-data field ids and the names users read them by.

IBKR sends `smd` fields keyed by numeric id strings (protocol.md section 7). The names are the ones
IBind users already know (`31` is `last_price`, `84` is `bid_price`, ...), so that unwrapped market
data is a drop-in replacement. `<id>_raw` companions (e.g. `87_raw`) are exposed as `<name>_raw`.
"""

from __future__ import annotations

FIELD_NAMES: dict[str, str] = {
    "31": "last_price",
    "55": "symbol",
    "58": "text",
    "70": "high",
    "71": "low",
    "73": "market_value",
    "74": "avg_price",
    "75": "unrealized_pnl",
    "76": "formatted_position",
    "77": "formatted_unrealized_pnl",
    "78": "daily_pnl",
    "79": "realized_pnl",
    "80": "unrealized_pnl_percent",
    "82": "change",
    "83": "change_percent",
    "84": "bid_price",
    "85": "ask_size",
    "86": "ask_price",
    "87": "volume",
    "88": "bid_size",
    "201": "right",
    "6004": "exchange",
    "6008": "conid",
    "6070": "sec_type",
    "6072": "months",
    "6073": "regular_expiry",
    "6119": "market_data_marker",
    "6457": "underlying_conid",
    "6508": "service_params",
    "6509": "market_data_availability",
    "7051": "company_name",
    "7057": "ask_codes",
    "7058": "last_exch_codes",
    "7059": "last_size",
    "7068": "bid_codes",
    "7084": "implied_vol_hist_vol_percent",
    "7085": "put_call_interest",
    "7086": "put_call_volume",
    "7087": "hist_vol_percent",
    "7088": "hist_vol_close_percent",
    "7089": "opt_volume",
    "7094": "conid_exchange",
    "7184": "can_be_traded",
    "7219": "contract_description",
    "7220": "contract_description_alt",
    "7221": "listing_exchange",
    "7280": "industry",
    "7281": "category",
    "7282": "average_volume_90",
    "7283": "option_implied_vol_percent",
    "7285": "put_call_ratio",
    "7286": "dividend_amount",
    "7287": "dividend_yield_percent",
    "7288": "ex_date_dividend",
    "7289": "market_cap",
    "7290": "p_e",
    "7291": "eps",
    "7292": "cost_basis",
    "7293": "52_week_high",
    "7294": "52_week_low",
    "7295": "open",
    "7296": "close",
    "7308": "delta",
    "7309": "gamma",
    "7310": "theta",
    "7311": "vega",
    "7607": "opt_volume_change_percent",
    "7633": "implied_vol_percent",
    "7635": "mark_price",
    "7636": "shortable_shares",
    "7637": "shortable_fee_rate_percent",
    "7638": "option_open_interest",
    "7639": "percent_of_mark_value",
    "7644": "shortable",
    "7655": "morningstar_rating",
    "7671": "dividends",
    "7672": "dividends_ttm",
    "7674": "ema_200",
    "7675": "ema_100",
    "7676": "ema_50",
    "7677": "ema_20",
    "7678": "price_to_ema_200_percent",
    "7679": "price_to_ema_100_percent",
    "7681": "price_to_ema_20_percent",
    "7682": "change_since_open",
    "7683": "upcoming_event",
    "7684": "upcoming_event_date",
    "7685": "upcoming_analyst_meeting",
    "7686": "upcoming_earnings",
    "7687": "upcoming_misc_event",
    "7688": "recent_analyst_meeting",
    "7689": "recent_earnings",
    "7690": "recent_misc_event",
    "7694": "probability_of_max_return",
    "7695": "break_even",
    "7696": "spx_delta",
    "7697": "futures_open_interest",
    "7698": "last_yield",
    "7699": "bid_yield",
    "7702": "probability_of_max_loss",
    "7703": "profit_probability",
    "7704": "organization_type",
    "7705": "debt_class",
    "7706": "ratings",
    "7707": "bond_state_code",
    "7708": "bond_type",
    "7714": "last_trading_date",
    "7715": "issue_date",
    "7718": "beta",
    "7720": "ask_yield",
    "7724": "price_to_ema_50_percent",
    "7741": "prior_close",
    "7762": "volume_long",
    "7768": "has_trading_permissions",
    "7920": "daily_pnl_raw",
    "7921": "cost_basis_raw",
}
"""Field id -> name, for every id in the market-data field table."""

FIELD_IDS: dict[str, str] = {name: field_id for field_id, name in FIELD_NAMES.items()}
"""Name -> field id, the reverse of `FIELD_NAMES`."""

RAW_SUFFIX = "_raw"


def field_ids(names_or_ids: list[str]) -> list[str]:
    """Translate field names or ids into the id strings that `smd` expects.

    Raises ValueError naming the unknown entry and how to find the accepted ones.
    """
    result = []
    for item in names_or_ids:
        text = str(item)
        if text in FIELD_NAMES:
            result.append(text)
        elif text in FIELD_IDS:
            result.append(FIELD_IDS[text])
        else:
            raise ValueError(
                f"unknown market-data field {item!r}: expected a field id such as '31' or a name such as "
                f"'last_price' (see ibkrws.protocol.fields.FIELD_NAMES)"
            )
    return result
