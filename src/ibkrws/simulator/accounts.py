"""The simulated brokerage account: cash, positions, executions, and the payloads derived from them.

The default account is funded and holds a few positions and some of today's executions, so that
``spl``, ``ssd``, ``sld`` and ``str`` have something to stream from the first subscription. Fills of
orders placed through the simulator update positions and cash and append executions.

Payload shapes follow the recorded frames (``act`` / ``GET iserver/accounts``, ``str``) and
``protocol.md`` sections 5.5 to 5.8 (``spl``, ``ssd``, ``sld``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ibkrws.simulator.market import CATALOGUE, Market, contract_for, format_size

SERVER_NAME = "SimGw01"
SERVER_VERSION = "Build 10.45.1a, Apr 22, 2026 1:39:05 PM (ibkrws simulator)"
EUR_USD = 12087792


def server_info() -> dict[str, str]:
    """The ``serverInfo`` object of auth status, accounts and ``sts``."""
    return {"serverName": SERVER_NAME, "serverVersion": SERVER_VERSION}


def utc_stamp(epoch_s: float, fmt: str) -> str:
    """Format an epoch time in UTC."""
    return time.strftime(fmt, time.gmtime(epoch_s))


@dataclass
class Position:
    """Quantity held of one conid and its average cost."""

    conid: int
    quantity: float
    avg_cost: float


@dataclass
class Execution:
    """One execution (trade) as sent on ``str``."""

    execution_id: str
    order_id: int
    conid: int
    side: str  # "B" or "S"
    size: float
    price: float
    epoch_s: float
    commission: float
    exchange: str

    def wire(self, account: str, *, with_commission: bool, position: float | None) -> dict[str, object]:
        """The ``str`` args element, in the recorded key order; ``commission`` only when asked."""
        c = contract_for(self.conid)
        price = f"{self.price:.{c.decimals}f}"
        size = format_size(self.size)
        verb = "Bot" if self.side == "B" else "Sold"
        out: dict[str, object] = {
            "execution_id": self.execution_id,
            "symbol": c.symbol.split(".")[0],
            "supports_tax_opt": "1" if c.sec_type == "STK" else "0",
            "side": self.side,
            "order_description": f"{verb} {size} @ {price} on {self.exchange}",
            "trade_time": utc_stamp(self.epoch_s, "%Y%m%d-%H:%M:%S"),
            "trade_time_r": int(self.epoch_s) * 1000,
            "size": float(self.size),
            "price": price,
            "exchange": self.exchange,
        }
        if with_commission:
            out["commission"] = f"{self.commission:.1f}"
        out.update(
            {
                "net_amount": round(self.size * self.price, 8),
                "account": account,
                "accountCode": account,
                "account_allocation_name": account,
                "company_name": c.company,
                "contract_description_1": c.symbol,
                "sec_type": c.sec_type,
            }
        )
        if c.sec_type == "STK":
            out["listing_exchange"] = c.listing_exchange
        out["conid"] = c.conid
        out["conidEx"] = str(c.conid)
        if c.sec_type == "STK" and position is not None:
            out["position"] = format_size(position)
        out.update(
            {
                "clearing_id": "IB",
                "clearing_name": "IB",
                "liquidation_trade": "0",
                "is_event_trading": "0",
                "order_id": self.order_id,
            }
        )
        return out


# (conid, quantity, average cost) of the default account.
_DEFAULT_POSITIONS = ((265598, 100.0, 185.40), (272093, 40.0, 402.15), (8314, 25.0, 231.10),
                      (4815747, 150.0, 128.30))
# (conid, side, size, price offset vs catalogue, age in seconds) of the seeded executions.
_DEFAULT_EXECUTIONS = (
    (265598, "B", 10.0, -0.35, 5 * 3600),
    (12087792, "S", 1000.0, 0.0, 4 * 3600),
    (4815747, "B", 50.0, 0.42, 3 * 3600),
    (272093, "S", 10.0, 1.10, 2 * 3600),
    (8314, "B", 5.0, -2.00, 2 * 86400 + 3600),  # two days ago: only with days >= 3
)


@dataclass
class Account:
    """The single simulated account."""

    account_id: str
    cash: dict[str, float] = field(default_factory=lambda: {"USD": 1_000_000.0, "EUR": 25_000.0})
    positions: dict[int, Position] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    realized: float = 0.0
    _exec_seq: int = 0

    @classmethod
    def default(cls, account_id: str, rng: random.Random, now_s: float) -> Account:
        """A funded account with a few positions and today's executions."""
        acct = cls(account_id)
        for conid, qty, cost in _DEFAULT_POSITIONS:
            acct.positions[conid] = Position(conid, qty, cost)
        for conid, side, size, offset, age in _DEFAULT_EXECUTIONS:
            c = CATALOGUE[conid]
            exchange = "IDEALPRO" if c.sec_type == "CASH" else rng.choice(("NASDAQ", "ISLAND", "DARK", "NYSE"))
            acct.add_execution(rng, rng.randint(90_000_000, 99_999_999), conid, side, size,
                               c.price + offset, now_s - age, exchange)
        return acct

    def add_execution(self, rng: random.Random, order_id: int, conid: int, side: str, size: float,
                      price: float, epoch_s: float, exchange: str) -> Execution:
        """Record an execution (does not change positions; see :meth:`apply_fill`)."""
        self._exec_seq += 1
        exec_id = f"{rng.getrandbits(32):08x}.{rng.getrandbits(32):08x}.{self._exec_seq:02d}.01"
        c = contract_for(conid)
        commission = 0.0 if c.sec_type == "CASH" else 1.0
        ex = Execution(exec_id, order_id, conid, side, size, price, epoch_s, commission, exchange)
        self.executions.append(ex)
        return ex

    def apply_fill(self, conid: int, side: str, size: float, price: float) -> None:
        """Move cash and positions for a fill of ``size`` at ``price`` (side ``B`` or ``S``)."""
        signed = size if side == "B" else -size
        self.cash["USD"] -= signed * price
        pos = self.positions.get(conid)
        if pos is None:
            self.positions[conid] = Position(conid, signed, price)
            return
        new_qty = pos.quantity + signed
        if pos.quantity and (pos.quantity > 0) != (signed > 0):
            closed = min(abs(signed), abs(pos.quantity))
            self.realized += closed * (price - pos.avg_cost) * (1 if pos.quantity > 0 else -1)
        if new_qty == 0:
            del self.positions[conid]
        else:
            if (pos.quantity >= 0) == (signed >= 0):
                pos.avg_cost = (pos.avg_cost * pos.quantity + price * signed) / new_qty
            pos.quantity = new_qty

    def position(self, conid: int) -> float:
        """Quantity held of ``conid`` (0 when none)."""
        pos = self.positions.get(conid)
        return pos.quantity if pos else 0.0

    # ---- derived figures -------------------------------------------------------------------------

    def figures(self, market: Market) -> dict[str, float]:
        """Market value, P&L and liquidity figures in USD from current quotes."""
        mv = upl = dpl = 0.0
        for pos in self.positions.values():
            q = market.quote(pos.conid)
            mv += pos.quantity * q.last
            upl += pos.quantity * (q.last - pos.avg_cost)
            dpl += pos.quantity * (q.last - q.prior_close)
        eur_rate = market.quote(EUR_USD).last
        cash = self.cash["USD"] + self.cash["EUR"] * eur_rate
        nl = cash + mv
        init_margin = abs(mv) * 0.25
        return {
            "mv": mv,
            "upl": upl,
            "dpl": dpl + self.realized,
            "nl": nl,
            "cash": cash,
            "eur_rate": eur_rate,
            "init_margin": init_margin,
            "maint_margin": init_margin * 0.9,
            "excess": nl - init_margin * 0.9,
            "available": nl - init_margin,
        }

    def pnl_args(self, market: Market) -> dict[str, dict[str, float | int]]:
        """``spl`` args: one ``<acct>.Core`` row."""
        f = self.figures(market)
        return {
            f"{self.account_id}.Core": {
                "rowType": 1,
                "dpl": round(f["dpl"], 1),
                "nl": round(f["nl"], 2),
                "upl": round(f["upl"], 1),
                "uel": round(f["excess"], 2),
                "mv": round(f["mv"], 1),
            }
        }

    def summary(self, market: Market, now_s: int) -> list[dict[str, object]]:
        """``ssd`` entries: every summary key with its value or monetary value."""
        f = self.figures(market)
        money = {
            "AccruedCash-S": 1234.56,
            "AvailableFunds-S": f["available"],
            "BuyingPower": f["available"] * 4,
            "EquityWithLoanValue-S": f["nl"],
            "ExcessLiquidity-S": f["excess"],
            "GrossPositionValue": abs(f["mv"]),
            "InitMarginReq-S": f["init_margin"],
            "MaintMarginReq-S": f["maint_margin"],
            "NetLiquidation": f["nl"],
            "TotalCashValue-S": f["cash"],
        }
        entries: list[dict[str, object]] = [
            {"key": "AccountCode", "value": self.account_id, "severity": 0, "timestamp": now_s},
            {"key": "AccountType", "value": "INDIVIDUAL", "severity": 0, "timestamp": now_s},
        ]
        for key, value in money.items():
            entries.append({"key": key, "currency": "USD", "monetaryValue": round(value, 2), "severity": 0,
                            "timestamp": now_s})
        return entries

    def ledger(self, market: Market, now_s: int) -> list[dict[str, object]]:
        """``sld`` entries: BASE, USD and EUR ledgers with every ledger field."""
        f = self.figures(market)
        rate = f["eur_rate"]
        usd_cash, eur_cash = self.cash["USD"], self.cash["EUR"]
        rows = (
            ("BASE", usd_cash + eur_cash * rate, 1.0, f["mv"], f["nl"], f["upl"]),
            ("USD", usd_cash, 1.0, f["mv"], usd_cash + f["mv"], f["upl"]),
            ("EUR", eur_cash, rate, 0.0, eur_cash, 0.0),
        )
        out: list[dict[str, object]] = []
        for second, cash, xrate, stock_mv, net_liq, unrealized in rows:
            out.append(
                {
                    "acctCode": self.account_id,
                    "cashbalance": cash,
                    "cashBalanceFXSegment": 0.0,
                    "commodityMarketValue": 0.0,
                    "corporateBondsMarketValue": 0.0,
                    "key": f"LedgerList{second}",
                    "dividends": 0.0,
                    "exchangeRate": xrate,
                    "funds": 0.0,
                    "marketValue": stock_mv,
                    "optionMarketValue": 0.0,
                    "interest": 396.68714935537 if second != "EUR" else 0.0,
                    "issueOptionsMarketValue": 0.0,
                    "moneyFunds": 0.0,
                    "netLiquidationValue": net_liq,
                    "realizedPnl": self.realized if second != "EUR" else 0.0,
                    "unrealizedPnl": unrealized,
                    "secondKey": second,
                    "settledCash": cash,
                    "severity": 0,
                    "stockMarketValue": stock_mv,
                    "tBillsMarketValue": 0.0,
                    "tBondsMarketValue": 0.0,
                    "warrantsMarketValue": 0.0,
                    "timestamp": now_s,
                }
            )
        return out


def accounts_payload(account_id: str, *, paper: bool, session_marker: str) -> dict[str, object]:
    """``GET iserver/accounts`` body, also the ``act`` args (same shape as recorded)."""
    return {
        "accounts": [account_id],
        "acctProps": {
            account_id: {
                "hasChildAccounts": False,
                "supportsCashQty": True,
                "liteUnderPro": False,
                "noFXConv": False,
                "isProp": False,
                "supportsFractions": True,
                "allowCustomerTime": False,
                "autoFx": False,
            }
        },
        "aliases": {account_id: account_id},
        "allowFeatures": {
            "showGFIS": True,
            "showEUCostReport": False,
            "allowEventContract": True,
            "allowFXConv": True,
            "allowFinancialLens": False,
            "allowMTA": True,
            "allowTypeAhead": True,
            "allowEventTrading": True,
            "snapshotRefreshTimeout": 30,
            "liteUser": False,
            "showWebNews": True,
            "research": True,
            "debugPnl": True,
            "showTaxOpt": True,
            "showImpactDashboard": True,
            "allowDynAccount": False,
            "allowCrypto": False,
            "allowFA": False,
            "allowLiteUnderPro": False,
            "allowedAssetTypes": "STK,CFD,OPT,FOP,WAR,FUT,BAG,PDC,CASH,IND,BOND,BILL,FUND,SLB,News,CMDTY,"
            "IOPT,ICU,ICS,PHYSS,CRYPTO",
            "restrictTradeSubscription": False,
            "showUkUserLabels": False,
            "sideBySide": True,
        },
        "chartPeriods": {
            "STK": ["*"],
            "CFD": ["*"],
            "OPT": ["2h", "1d", "2d", "1w", "1m"],
            "FOP": ["2h", "1d", "2d", "1w", "1m"],
            "WAR": ["*"],
            "IOPT": ["*"],
            "FUT": ["*"],
            "CASH": ["*"],
            "IND": ["*"],
            "BOND": ["*"],
            "FUND": ["*"],
            "CMDTY": ["*"],
            "PHYSS": ["*"],
            "CRYPTO": ["*"],
        },
        "groups": [],
        "profiles": [],
        "selectedAccount": account_id,
        "serverInfo": server_info(),
        "sessionId": session_marker,
        "isFT": False,
        "isPaper": paper,
    }
