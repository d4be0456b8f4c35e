"""Synthetic markets: a catalogue of instruments whose prices take a random walk.

The simulator has no market feed, so every quote is invented here. The goal is plausibility, not
realism: bid below ask, prices on a tick grid, sizes in round lots, a day high/low that contains the
last price, a growing volume. Values are rendered the way the gateway renders them on ``smd``
(strings for prices and formatted sizes, a number for the change percent, ``<id>_raw`` numeric
companions), see ``protocol.md`` section 7.

Instruments
    * the catalogue below (well-known conids with plausible prices);
    * any other positive conid: a synthetic instrument ``SIM<conid>`` whose price level is derived
      from the conid. Its first ``smd`` message carries only metadata (``6509`` = ``RPB``) and the
      prices follow on the next tick, an edge case seen in the recordings;
    * conids in the simulator's ``unknown_conids`` (default ``{8595}``, as in the recording) and
      conids <= 0 are unresolvable: ``smd`` answers ``{"55":"-","31":"N/A"}`` and nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Field ids that carry static data: sent in the first message only (they never change).
STATIC_FIELDS = frozenset(
    {"55", "6004", "6008", "6070", "6509", "7051", "7219", "7221", "7289", "7290", "7291", "7718", "7768",
     "7184", "7293", "7294", "7741"}
)

# The fields a subscription gets when it names none (``smd+<conid>`` or ``smd+<conid>+{}``).
DEFAULT_FIELDS: tuple[str, ...] = ("31", "55", "82", "83", "84", "85", "86", "87", "88", "6509", "7059")

# The 6508 service-parameter strings seen on the wire; sent now and then, unrequested.
SERVICE_PARAMS = (
    "&serviceID1=122&serviceID2=123&serviceID3=203&serviceID4=775&serviceID5=204&serviceID6=206"
    "&serviceID7=108&serviceID8=109"
)


@dataclass(frozen=True)
class Contract:
    """Static description of an instrument."""

    conid: int
    symbol: str
    company: str
    listing_exchange: str
    sec_type: str
    price: float
    decimals: int = 2
    availability: str = "DPB"
    meta_first: bool = False
    currency: str = "USD"

    @property
    def tick(self) -> float:
        """Smallest price increment."""
        return 10.0 ** -self.decimals


CATALOGUE: dict[int, Contract] = {
    c.conid: c
    for c in (
        Contract(265598, "AAPL", "APPLE INC", "NASDAQ.NMS", "STK", 271.60),
        Contract(8314, "IBM", "INTL BUSINESS MACHINES CORP", "NYSE", "STK", 252.40),
        Contract(272093, "MSFT", "MICROSOFT CORP", "NASDAQ.NMS", "STK", 417.50),
        Contract(3691937, "AMZN", "AMAZON.COM INC", "NASDAQ.NMS", "STK", 272.50),
        Contract(208813720, "GOOGL", "ALPHABET INC-CL A", "NASDAQ.NMS", "STK", 375.00),
        Contract(107113386, "META", "META PLATFORMS INC-CLASS A", "NASDAQ.NMS", "STK", 606.10),
        Contract(4815747, "NVDA", "NVIDIA CORP", "NASDAQ.NMS", "STK", 210.70),
        Contract(76792991, "TSLA", "TESLA INC", "NASDAQ.NMS", "STK", 373.20),
        Contract(15124833, "NFLX", "NETFLIX INC", "NASDAQ.NMS", "STK", 91.40),
        Contract(270639, "INTC", "INTEL CORP", "NASDAQ.NMS", "STK", 97.10),
        Contract(8894, "KO", "COCA-COLA CO/THE", "NYSE", "STK", 78.60),
        Contract(12087792, "EUR.USD", "European Monetary Union Euro", "IDEALPRO", "CASH", 1.16833, decimals=5),
    )
}


def contract_for(conid: int) -> Contract:
    """Catalogue entry for ``conid``, or a deterministic synthetic instrument for any other conid."""
    known = CATALOGUE.get(conid)
    if known is not None:
        return known
    level = 20.0 + (conid * 2654435761 % 48000) / 100.0  # 20.00 .. 500.00, stable per conid
    return Contract(
        conid,
        f"SIM{conid}",
        f"SIMULATED INSTRUMENT {conid}",
        "NYSE",
        "STK",
        round(level, 3),
        decimals=3,
        availability="RPB",
        meta_first=True,
    )


def format_size(n: float) -> str:
    """Sizes the way the gateway formats them: ``"3,500"``, ``"0.5"``."""
    if float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:,.4f}".rstrip("0").rstrip(".")


def format_volume(n: float) -> str:
    """Volumes with a K/M/B suffix: ``"12.2M"``, ``"850K"``, ``"912"``."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= limit:
            return f"{n / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(int(n))


@dataclass
class Quote:
    """The live state of one instrument; mutated by :meth:`Market.step`."""

    contract: Contract
    bid: float
    ask: float
    last: float
    prior_close: float
    open: float
    high: float
    low: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int
    avg_volume: int
    state: str = "open"  # "open", "closed" (31 prefixed C) or "halted" (31 prefixed H)

    def _price(self, value: float) -> str:
        return f"{value:.{self.contract.decimals}f}"

    def render(self) -> dict[str, object]:
        """Every field id this instrument can serve, rendered as on the wire."""
        c = self.contract
        change = self.last - self.prior_close
        pct = round(change / self.prior_close * 100.0, 2) if self.prior_close else 0.0
        last = self._price(self.last)
        if self.state == "closed":
            last = "C" + self._price(self.prior_close)
        elif self.state == "halted":
            last = "H" + last
        values: dict[str, object] = {
            "31": last,
            "55": c.symbol,
            "58": "",
            "70": self._price(self.high),
            "71": self._price(self.low),
            "82": ("+" if change >= 0 else "") + self._price(change),
            "83": pct,
            "84": self._price(self.bid),
            "85": format_size(self.ask_size),
            "86": self._price(self.ask),
            "87": format_volume(self.volume),
            "87_raw": float(self.volume),
            "88": format_size(self.bid_size),
            "6004": c.listing_exchange.split(".")[0],
            "6008": c.conid,
            "6070": c.sec_type,
            "6509": c.availability,
            "7051": c.company,
            "7059": format_size(self.last_size),
            "7184": "1",
            "7219": c.symbol,
            "7221": c.listing_exchange,
            "7282": format_volume(self.avg_volume),
            "7282_raw": float(self.avg_volume),
            "7289": format_volume(self.prior_close * 2.5e9),
            "7290": "28.4",
            "7291": self._price(self.prior_close / 28.4),
            "7293": self._price(self.prior_close * 1.31),
            "7294": self._price(self.prior_close * 0.72),
            "7295": self._price(self.open),
            "7296": self._price(self.last),
            "7635": self._price((self.bid + self.ask) / 2),
            "7682": ("+" if self.last >= self.open else "") + self._price(self.last - self.open),
            "7718": "1.21",
            "7741": self._price(self.prior_close),
            "7762": self.volume,
            "7768": "1",
        }
        return values

    def fields(self, requested: list[str]) -> dict[str, object]:
        """The requested fields (plus ``_raw`` companions of requested ones) that exist."""
        values = self.render()
        out: dict[str, object] = {}
        for fid in requested:
            if fid in values:
                out[fid] = values[fid]
                raw = fid + "_raw"
                if raw in values:
                    out[raw] = values[raw]
        return out


class Market:
    """All quotes of the simulated exchange; :meth:`step` advances every quote by one tick of time."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.quotes: dict[int, Quote] = {}
        for conid in CATALOGUE:
            self.quote(conid)

    def quote(self, conid: int) -> Quote:
        """The live quote of ``conid``, created on first use."""
        q = self.quotes.get(conid)
        if q is None:
            q = self._new_quote(contract_for(conid))
            self.quotes[conid] = q
        return q

    def _new_quote(self, c: Contract) -> Quote:
        rng = self._rng
        tick = c.tick
        mid = round(c.price * (1 + rng.uniform(-0.004, 0.004)) / tick) * tick
        spread = tick * max(1, round(c.price * 0.0003 / tick))
        prior = round(mid * (1 + rng.uniform(-0.02, 0.02)) / tick) * tick
        lot = 1000 if c.sec_type == "CASH" else 100
        return Quote(
            contract=c,
            bid=mid - spread,
            ask=mid,
            last=mid,
            prior_close=prior,
            open=round(prior * (1 + rng.uniform(-0.005, 0.005)) / tick) * tick,
            high=max(mid, prior) * 1.004,
            low=min(mid, prior) * 0.996,
            bid_size=lot * rng.randint(1, 40),
            ask_size=lot * rng.randint(1, 40),
            last_size=rng.choice((1, 5, 10, 50, 100, 200)),
            volume=rng.randint(2_000_000, 30_000_000),
            avg_volume=rng.randint(20_000_000, 60_000_000),
        )

    def step(self) -> None:
        """Advance every open instrument: quotes move now and then, trades happen now and then."""
        rng = self._rng
        for q in self.quotes.values():
            if q.state != "open":
                continue
            tick = q.contract.tick
            if rng.random() < 0.45:
                moves = rng.choice((-2, -1, -1, 1, 1, 2))
                drift = moves * tick * max(1, round(q.last * 0.0001 / tick))
                q.bid = max(tick, q.bid + drift)
                q.ask = max(q.bid + tick, q.ask + drift + rng.choice((-1, 0, 0, 1)) * tick)
            if rng.random() < 0.35:
                q.bid_size = max(100, q.bid_size + rng.choice((-2, -1, 1, 2)) * 100)
            if rng.random() < 0.35:
                q.ask_size = max(100, q.ask_size + rng.choice((-2, -1, 1, 2)) * 100)
            if rng.random() < 0.3:
                q.last = rng.choice((q.bid, q.ask, (q.bid + q.ask) / 2))
                q.last = round(q.last / tick) * tick
                q.last_size = rng.choice((1, 5, 10, 25, 50, 100, 200, 300))
                q.volume += q.last_size * rng.randint(1, 20)
                q.high = max(q.high, q.last)
                q.low = min(q.low, q.last)

    def set_state(self, conid: int, state: str) -> None:
        """Open, close (31 becomes ``C<prior close>``) or halt (31 prefixed ``H``) an instrument."""
        if state not in ("open", "closed", "halted"):
            raise ValueError(f"market state must be 'open', 'closed' or 'halted', not {state!r}")
        self.quote(conid).state = state

    def history(self, conid: int, bars: int, bar_seconds: int, end_ms: int) -> list[dict[str, float]]:
        """``bars`` OHLCV bars ending now, walking backwards from the current last price."""
        q = self.quote(conid)
        rng = self._rng
        price = q.last
        out: list[dict[str, float]] = []
        d = q.contract.decimals
        for i in range(bars):
            close = price
            open_ = close * (1 + rng.uniform(-0.002, 0.002))
            high = max(open_, close) * (1 + rng.uniform(0, 0.0015))
            low = min(open_, close) * (1 - rng.uniform(0, 0.0015))
            out.append(
                {
                    "o": round(open_, d),
                    "c": round(close, d),
                    "h": round(high, d),
                    "l": round(low, d),
                    "v": float(rng.randint(500, 50_000)),
                    "t": end_ms - (i + 1) * bar_seconds * 1000,
                }
            )
            price = open_
        out.reverse()
        return out

