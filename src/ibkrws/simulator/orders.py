"""Simulated orders and the ``sor`` updates their lifecycle produces.

The lifecycle copies the recorded ``sor.jsonl`` capture (a limit order placed, then cancelled):
a full message with status ``Inactive``, a partial carrying ``conidex``/``conid``/``isEventTrading``,
then one-key-ish partials ``PendingSubmit`` -> ``PreSubmitted`` -> ``Submitted``. A cancel re-sends
the full message with ``PendingCancel``, then a ``Cancelled`` partial. Fills are partials with
``sizeAndFills``, ``remainingQuantity``, ``filledQuantity`` and ``avgPrice`` (protocol.md 5.4),
plus ``Filled`` status/colours once complete. Every method returns the list of ``args`` elements
to send; the gateway model decides who receives them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ibkrws.simulator.market import Contract

Update = dict[str, object]

ACTIVE = ("Inactive", "PendingSubmit", "PreSubmitted", "Submitted")


def _num(x: float) -> str:
    """``1.0`` -> ``"1"``, ``0.5`` -> ``"0.5"`` (as in ``sizeAndFills``)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass
class Order:
    """One order of the simulated account."""

    order_id: int
    account: str
    contract: Contract
    side: str  # "BUY" or "SELL"
    quantity: float
    order_type: str  # "LMT" or "MKT"
    price: float | None
    placed_s: float
    status: str = "Inactive"
    ccp_status: str = "Pending Submit"
    filled: float = 0.0
    notional: float = 0.0
    bg: str = "#000000"
    fg: str = "#AFAFAF"
    last_exec_s: float = 0.0

    @property
    def remaining(self) -> float:
        """Quantity not yet filled."""
        return self.quantity - self.filled

    @property
    def active(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.status in ACTIVE

    def _price_str(self, value: float) -> str:
        return f"{value:.{self.contract.decimals}f}"

    def size_and_fills(self) -> str:
        """``"0/1"`` while working (filled/remaining), the total once filled."""
        if self.remaining <= 0:
            return _num(self.quantity)
        return f"{_num(self.filled)}/{_num(self.remaining)}"

    def description(self) -> str:
        """``orderDesc``, e.g. ``Buy 1 AAPL Limit 1.00, Day``."""
        verb = "Buy" if self.side == "BUY" else "Sell"
        kind = "Market" if self.order_type == "MKT" else f"Limit {self._price_str(self.price or 0.0)}"
        return f"{verb} {_num(self.quantity)} {self.contract.symbol} {kind}, Day"

    def full(self, *, outside_rth: bool = True) -> Update:
        """The full order object (``sor`` full message element and REST ``orders`` entry)."""
        c = self.contract
        stamp = self.last_exec_s or self.placed_s
        out: Update = {
            "acct": self.account,
            "conidex": str(c.conid),
            "conid": c.conid,
            "account": self.account,
            "orderId": self.order_id,
            "cashCcy": c.currency,
            "sizeAndFills": self.size_and_fills(),
            "orderDesc": self.description(),
            "description1": c.symbol,
            "ticker": c.symbol,
            "secType": c.sec_type,
            "listingExchange": c.listing_exchange,
            "remainingQuantity": float(self.remaining),
            "filledQuantity": float(self.filled),
            "totalSize": float(self.quantity),
            "companyName": c.company,
            "status": self.status,
            "order_ccp_status": self.ccp_status,
        }
        if outside_rth:
            out["outsideRTH"] = False
        out.update(
            {
                "origOrderType": "MARKET" if self.order_type == "MKT" else "LIMIT",
                "supportsTaxOpt": "1",
                "lastExecutionTime": time.strftime("%y%m%d%H%M%S", time.gmtime(stamp)),
                "orderType": "Market" if self.order_type == "MKT" else "Limit",
                "bgColor": self.bg,
                "fgColor": self.fg,
                "isEventTrading": "0",
            }
        )
        if self.price is not None:
            out["price"] = self._price_str(self.price)
        if self.filled:
            out["avgPrice"] = self._price_str(self.notional / self.filled)
        out.update({"timeInForce": "CLOSE", "lastExecutionTime_r": int(stamp) * 1000, "side": self.side})
        return out

    def _status(self, status: str, bg: str | None, fg: str, ccp: str | None = None) -> Update:
        self.status, self.fg = status, fg
        upd: Update = {"acct": self.account, "orderId": self.order_id, "status": status}
        if ccp is not None:
            self.ccp_status = ccp
            upd["order_ccp_status"] = ccp
        if bg is not None:
            self.bg = bg
            upd["bgColor"] = bg
        upd["fgColor"] = fg
        return upd

    def submit(self) -> list[Update]:
        """The placement sequence: full ``Inactive`` message, then the status partials."""
        updates = [
            self.full(),
            {"acct": self.account, "conidex": str(self.contract.conid), "conid": self.contract.conid,
             "orderId": self.order_id, "isEventTrading": "0"},
        ]
        updates.append(self._status("PendingSubmit", None, "#3399CC"))
        updates.append(self._status("PreSubmitted", "#FFFFFF", "#997EE5"))
        updates.append(self._status("Submitted", "#000000", "#00F000", "Submitted"))
        return updates

    def cancel(self) -> list[Update]:
        """The cancel sequence: full ``PendingCancel`` message, then the ``Cancelled`` partial."""
        self.status, self.bg, self.fg = "PendingCancel", "#000000", "#FF64FF"
        pending = self.full(outside_rth=False)
        return [pending, self._status("Cancelled", "#FFFFFF", "#AA0000", "Cancelled")]

    def fill(self, quantity: float, price: float, now_s: float) -> list[Update]:
        """A (partial) fill: the fill partial, with ``Filled`` status once nothing remains."""
        self.filled += quantity
        self.notional += quantity * price
        self.last_exec_s = now_s
        upd: Update = {
            "acct": self.account,
            "orderId": self.order_id,
            "sizeAndFills": self.size_and_fills(),
            "remainingQuantity": float(self.remaining),
            "filledQuantity": float(self.filled),
            "avgPrice": self._price_str(self.notional / self.filled),
            "lastExecutionTime": time.strftime("%y%m%d%H%M%S", time.gmtime(now_s)),
            "lastExecutionTime_r": int(now_s) * 1000,
        }
        if self.remaining <= 0:
            self.status, self.ccp_status, self.bg, self.fg = "Filled", "Filled", "#FFFFFF", "#000000"
            upd.update({"status": "Filled", "order_ccp_status": "Filled", "bgColor": "#FFFFFF",
                        "fgColor": "#000000"})
        return [upd]
