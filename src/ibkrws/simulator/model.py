"""The gateway model: sessions, connections, subscriptions and timers, without any I/O.

:class:`Gateway` is driven by its owner (``server.py``) with plain calls — a socket opened, a text
frame received, time advanced, a REST request — and answers by queueing :class:`Frame` objects on
each connection's outbox (the owner writes them) and by returning REST replies. Time enters as an
argument (``now``: monotonic seconds); wall-clock stamps come from the injected ``wall`` callable.

Behaviour follows ``/work/shared/protocol.md`` (section numbers in comments) and the recorded
frames; where the protocol leaves a shape open, the choice is documented in ``docs/simulator.md``.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ibkrws.simulator.accounts import Account, accounts_payload, server_info
from ibkrws.simulator.channels import (
    BROKERAGE,
    HISTORY_BARS,
    SUBSCRIBE,
    BadArguments,
    Command,
    Connection,
    Frame,
    HistorySub,
    LadderSub,
    MarketDataSub,
    OrdersSub,
    PeriodicSub,
    TradesSub,
    parse_command,
    parse_period,
    string_list,
)
from ibkrws.simulator.faults import Faults
from ibkrws.simulator.market import DEFAULT_FIELDS, SERVICE_PARAMS, STATIC_FIELDS, Market, contract_for, format_size
from ibkrws.simulator.orders import Order, Update

NO_TOPIC = "(none)"
RAW = "(raw)"
MAX_HISTORY = 5
MAX_CLOSED = 1000  # closed connections kept for observability
NO_BRIDGE = {"error": "Bad Request: no bridge", "statusCode": 400}
NOT_FOUND_HTML = "<html><body><h1>Resource not found</h1></body></html>"


@dataclass
class GatewayConfig:
    """Settings of one simulated gateway (see :class:`ibkrws.simulator.Simulator` for meanings)."""

    account_id: str = "DU1234567"
    username: str = "simuser1"
    paper: bool = False
    heartbeat_interval: float = 10.0
    md_interval: float = 0.5
    smd_expiry: float = 600.0
    market_data_lines: int = 100
    pnl_interval: float = 1.0
    account_interval: float = 10.0
    unknown_conids: frozenset[int] = frozenset({8595})


@dataclass
class RestReply:
    """A REST answer: status, JSON body (or text for HTML errors) and cookies to set."""

    status: int
    body: object = None
    text: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)


def inject_0x99(payload: bytes) -> bytes:
    """Append a raw 0x99 byte to every company-name value of a serialized frame."""
    for key in (b'"companyName":"', b'"company_name":"'):
        start = 0
        while (i := payload.find(key, start)) >= 0:
            end = payload.find(b'"', i + len(key))
            payload = payload[:end] + b"\x99" + payload[end:]
            start = end + 2
    return payload


class Gateway:
    """The simulated gateway. Not thread-safe: call it from one thread (the simulator's loop)."""

    def __init__(
        self,
        config: GatewayConfig,
        faults: Faults,
        *,
        rng: random.Random,
        wall: Callable[[], float] = time.time,
        on_output: Callable[[Connection], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.faults = faults
        self.rng = rng
        self.wall = wall
        self.on_output = on_output or (lambda conn: None)
        self.on_change = on_change or (lambda: None)
        self.market = Market(rng)
        self.account = Account.default(config.account_id, rng, wall())
        self.orders: dict[int, Order] = {}
        self.connections: dict[int, Connection] = {}
        self.closed: deque[Connection] = deque(maxlen=MAX_CLOSED)
        self.session_id: str | None = None
        self.sess_uuid = ""
        self.secrets: set[str] = set()
        self.logged_in = False
        self.authenticated = False
        self.competing = False
        self.orders_poisoned = False
        self._next_order_id = rng.randint(900_000_000, 940_000_000)
        self._server_seq = 0
        self._history_seq = rng.randint(300_000, 400_000)
        self._next_md: float | None = None
        self._pending_fills: dict[int, float] = {}
        self._act_session = f"{rng.getrandbits(32):08x}.{rng.getrandbits(32):08x}"
        self.login()

    # ---- clock helpers ---------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Wall-clock epoch milliseconds."""
        return int(self.wall() * 1000)

    # ---- session ---------------------------------------------------------------------------------
    def login(self) -> str:
        """Start a fresh logged-in session with a brokerage session; returns the new session id."""
        self.session_id = f"{self.rng.getrandbits(128):032x}"
        self.sess_uuid = f"{self.rng.getrandbits(64):016x}"
        self.secrets.update((self.session_id, self.sess_uuid))
        self.logged_in = self.authenticated = True
        self.competing = False
        self.on_change()
        return self.session_id

    def logout(self) -> None:
        """End the session: REST answers 401, open sockets are closed with code 1000."""
        self.logged_in = self.authenticated = False
        self.session_id = None
        for conn in list(self.connections.values()):
            self.close(conn, 1000, "")
        self.on_change()

    def valid_session(self, session: str | None) -> bool:
        """True if ``session`` (a /tickle session id or x-sess-uuid value) is the live session."""
        return bool(session) and self.logged_in and session in (self.session_id, self.sess_uuid)

    def lose_auth(self) -> None:
        """Brokerage session lost (protocol.md 6, 9): split ``sts`` frames, brokerage streams stop."""
        self.authenticated = False
        self._auth_frames(({"authenticated": False}, {"competing": False}, {"message": ""}))

    def compete(self) -> None:
        """Another session took the brokerage session: like :meth:`lose_auth` with competing true."""
        self.authenticated = False
        self.competing = True
        self._auth_frames(({"authenticated": False}, {"competing": True}, {"message": ""}))

    def _auth_frames(self, parts: Iterable[dict[str, object]]) -> None:
        for conn in self._greeted():
            for part in parts:
                self._emit(conn, {"topic": "sts", "args": part}, "control")
            conn.drop_brokerage()
        self.on_change()

    def restore_auth(self) -> None:
        """Brokerage session back; like the real gateway, no WebSocket message says so."""
        if self.logged_in:
            self.authenticated = True
            self.competing = False
            self.on_change()

    def auth_status(self) -> dict[str, object]:
        """The ``iserver/auth/status`` body (also nested in ``/tickle``)."""
        if not self.logged_in:
            return {"authenticated": False, "established": False, "competing": False, "connected": False,
                    "MAC": None}
        return {
            "authenticated": self.authenticated,
            "established": self.authenticated,
            "competing": self.competing,
            "connected": True,
            "message": "",
            "MAC": "06:59:AE:5B:4F:D1",
            "serverInfo": server_info(),
            "hardware_info": "30df22d8|06:59:AE:5B:4F:D1",
            "fail": "",
        }

    def status_args(self) -> dict[str, object]:
        """The full ``sts`` args (greeting form, protocol.md 2.4) for the current auth state."""
        return {
            "connected": self.logged_in,
            "authenticated": self.authenticated,
            "established": self.authenticated,
            "competing": self.competing,
            "message": "",
            "fail": "",
            **server_info(),
            "username": self.config.username,
        }

    # ---- output ----------------------------------------------------------------------------------
    def _emit(self, conn: Connection, obj: Mapping[str, Any], kind: str) -> bool:
        """Queue ``obj`` for ``conn`` unless a fault switch suppresses it; True if queued."""
        f = self.faults
        if conn.closing:
            return False
        if f.stall or (kind == "hb" and not f.heartbeats) or (kind == "data" and not f.data):
            conn.suppressed += 1
            return False
        payload = orjson.dumps(obj)
        topic = obj.get("topic")
        label = topic if isinstance(topic, str) else NO_TOPIC
        if f.non_utf8 and label in ("sor", "str"):
            payload = inject_0x99(payload)
        conn.outbox.append(Frame(label, payload, kind))
        self.on_output(conn)
        return True

    def _greeted(self) -> list[Connection]:
        return [c for c in self.connections.values() if c.greeted and not c.closing]

    def close(self, conn: Connection, code: int, reason: str) -> None:
        """Queue a close frame; nothing more is sent on ``conn`` afterwards."""
        if not conn.closing:
            conn.outbox.append(Frame("", b"", "close", code=code, reason=reason))
            conn.closing = True
            self.on_output(conn)

    def reset(self, conn: Connection) -> None:
        """Queue an abrupt TCP reset, dropping whatever was still queued."""
        conn.outbox.clear()
        conn.outbox.append(Frame("", b"", "reset"))
        conn.closing = True
        self.on_output(conn)

    def _queue(self, conn: Connection, frame: Frame) -> None:
        """Queue a ready-made frame, unless stalled (then counted as suppressed)."""
        if self.faults.stall:
            conn.suppressed += 1
        else:
            conn.outbox.append(frame)
            self.on_output(conn)

    def send_raw(self, payload: bytes, binary: bool | None) -> None:
        """Queue ``payload`` unchanged on every greeted socket (fault frames)."""
        for conn in self._greeted():
            self._queue(conn, Frame(RAW, payload, "raw", binary=binary))

    def broadcast(self, obj: Mapping[str, Any]) -> None:
        """Send an unsolicited message (``blt``, ``ntf``, ``act``, ``sts``) to every greeted socket."""
        for conn in self._greeted():
            self._emit(conn, obj, "control")

    def accounts_body(self) -> dict[str, object]:
        """``GET iserver/accounts`` body and ``act`` args."""
        return accounts_payload(self.config.account_id, paper=self.config.paper, session_marker=self._act_session)

    # ---- connections -----------------------------------------------------------------------------
    def connect(self, conn_id: int, session: str | None, now: float) -> Connection:
        """A socket was upgraded; greet it if it presented a live session, else wait for one (2.3)."""
        conn = Connection(conn_id)
        self.connections[conn_id] = conn
        if self.valid_session(session):
            self._greet(conn, now)
        else:
            self._emit(conn, {"message": "waiting for session"}, "control")
        self.on_change()
        return conn

    def disconnect(self, conn_id: int, close_code: int | None) -> None:
        """The socket closed: its subscriptions, lines and history slots are gone (no replay)."""
        conn = self.connections.pop(conn_id, None)
        if conn is not None:
            conn.closing = True
            conn.close_code = close_code
            conn.outbox.clear()
            self.closed.append(conn)
            self.on_change()

    def _greet(self, conn: Connection, now: float) -> None:
        """``system`` success, ``act`` (with a brokerage session), ``sts`` full form (2.4)."""
        conn.greeted = True
        conn.next_hb = now + self.config.heartbeat_interval
        self._emit(conn, {"topic": "system", "success": self.config.username, "isFT": False,
                          "isPaper": self.config.paper}, "control")
        if self.authenticated:
            self._emit(conn, {"topic": "act", "args": self.accounts_body()}, "control")
        self._emit(conn, {"topic": "sts", "args": self.status_args()}, "control")
        self.on_change()

    def receive(self, conn_id: int, text: str, now: float) -> None:
        """A text frame from the client."""
        conn = self.connections.get(conn_id)
        if conn is None or conn.closing:
            return
        conn.received.append(text)
        self.on_change()
        t = text.strip()
        if t.startswith("{"):
            try:
                obj = orjson.loads(t)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and "session" in obj:
                self._session_frame(conn, obj["session"], now)
                return
        if not conn.greeted:
            conn.ignored += 1  # 2.4: subscriptions before the greeting are dropped, not queued
            return
        name = t[:3]
        if name == "tic":
            self._tic(conn)
            return
        if name == "ech":  # the documented echo: the raw text back, not JSON
            self._queue(conn, Frame(RAW, t.encode(), "control"))
            return
        handler = _HANDLERS.get(name)
        if handler is None or self.faults.topic_unknown:
            self._emit(conn, {"error": f"Topic unknown '{name}'", "code": 1}, "control")
            return
        try:
            cmd = parse_command(t)
        except BadArguments as exc:
            self._emit(conn, {"error": str(exc), "code": 1, "topic": name}, "control")
            return
        if name in SUBSCRIBE:
            if name in BROKERAGE and (self.faults.no_accounts or not self.authenticated):
                self._emit(conn, {"error": "No accounts", "code": 500, "topic": name}, "control")
                return
            if self.faults.require_second_request and cmd.channel not in conn.seen_channels:
                conn.seen_channels.add(cmd.channel)
                conn.ignored += 1
                return
            conn.seen_channels.add(cmd.channel)
        handler(self, conn, cmd, now)

    def _session_frame(self, conn: Connection, session: object, now: float) -> None:
        if conn.greeted:
            return  # accepted silently, as on build 10.45.1a (2.3)
        if isinstance(session, str) and self.valid_session(session):
            self._greet(conn, now)
        else:
            self._emit(conn, {"message": "waiting for session"}, "control")

    def _tic(self, conn: Connection) -> None:
        """Four identical replies, as every capture shows (4)."""
        reply = {"topic": "tic", "alive": True, "id": self.session_id, "lastAccessed": self.now_ms()}
        for _ in range(4):
            self._emit(conn, reply, "control")

    def _error(self, conn: Connection, topic: str, message: str, code: int) -> None:
        self._emit(conn, {"topic": topic, "error": message, "code": code}, "control")

    def _conid(self, conn: Connection, cmd: Command, index: int = 0) -> int | None:
        """The integer conid of target ``index`` (``265598`` or ``265598@ISLAND``), or an error frame."""
        target = cmd.targets[index] if len(cmd.targets) > index else ""
        try:
            return int(target.split("@")[0])
        except ValueError:
            self._error(conn, "+".join((cmd.name, *cmd.targets)), f"Invalid conid '{target}'", 400)
            return None

    def _account_ok(self, conn: Connection, cmd: Command) -> bool:
        acct = cmd.targets[0] if cmd.targets else ""
        if acct != self.config.account_id:
            self._error(conn, "+".join((cmd.name, *cmd.targets)), f"Invalid account '{acct}'", 400)
            return False
        return True

    # ---- smd / umd (5.1) -------------------------------------------------------------------------
    def lines_used(self) -> int:
        """Market-data lines in use across all connections."""
        return sum(len(c.md) for c in self.connections.values())

    def _cmd_smd(self, conn: Connection, cmd: Command, now: float) -> None:
        conid = self._conid(conn, cmd)
        if conid is None:
            return
        target = cmd.targets[0]
        requested = string_list(cmd.args.get("fields"))
        fields = list(DEFAULT_FIELDS) if requested is None else requested
        sub = conn.md.get(target)
        if sub is not None:  # re-send: add fields, restart the expiry timer, no gap
            sub.fields.extend(f for f in fields if f not in sub.fields)
            sub.expires_at = now + self.config.smd_expiry
            return
        limit = self.config.market_data_lines
        if self.lines_used() >= limit:
            self._error(conn, f"smd+{target}", f"Market data line limit reached ({limit} lines)", 429)
            return
        self._server_seq += 1
        conn.md[target] = MarketDataSub(
            target,
            conid,
            fields,
            f"q{self._server_seq}",
            start_at=now + self.faults.confirmation_delay,
            expires_at=now + self.config.smd_expiry,
            unknown=conid <= 0 or conid in self.config.unknown_conids,
        )

    def _cmd_umd(self, conn: Connection, cmd: Command, now: float) -> None:
        if cmd.targets:
            conn.md.pop(cmd.targets[0], None)

    def _md_frame(self, sub: MarketDataSub, values: Mapping[str, object], first: bool) -> list[dict[str, object]]:
        """The data message(s): the first one twice with different key order (5.1)."""
        stamp = self.now_ms()
        topic = f"smd+{sub.target}"
        if first:
            lead = {k: values[k] for k in ("6509", "55") if k in values}
            rest = {k: v for k, v in values.items() if k not in lead}
            one = {**lead, "conidEx": sub.target, "topic": topic, "conid": sub.conid, "_updated": stamp,
                   "6119": sub.server_id, **rest, "server_id": sub.server_id}
            two = {"server_id": sub.server_id, "conidEx": sub.target, "conid": sub.conid, "_updated": stamp,
                   "6119": sub.server_id, **values, "topic": topic}
            return [one, two]
        return [{"server_id": sub.server_id, "conidEx": sub.target, "conid": sub.conid, "_updated": stamp,
                 "6119": sub.server_id, **values, "topic": topic}]

    def _start_md(self, conn: Connection, sub: MarketDataSub) -> None:
        sub.started = True
        if sub.unknown:
            values: dict[str, object] = {"55": "-", "31": "N/A"}
        else:
            quote = self.market.quote(sub.conid)
            c = quote.contract
            if c.meta_first:
                values = {"6509": c.availability}  # prices follow on the next tick
            else:
                values = {"6509": c.availability, **quote.fields(sub.fields)}
        sent = [self._emit(conn, msg, "data") for msg in self._md_frame(sub, values, first=True)]
        if any(sent):
            sub.sent.update(values)

    def _tick_md(self, conn: Connection, sub: MarketDataSub) -> None:
        values = self.market.quote(sub.conid).fields(sub.fields)
        delta = {k: v for k, v in values.items() if k not in STATIC_FIELDS and sub.sent.get(k, ...) != v}
        delta.update({k: v for k, v in values.items() if k in STATIC_FIELDS and k not in sub.sent})
        for key in [k for k in values if k.endswith("_raw")]:  # a companion travels with its field
            if key[:-4] in delta:
                delta[key] = values[key]
            else:
                delta.pop(key, None)
        if not delta:
            return
        if self.rng.random() < 0.08:
            delta["6508"] = SERVICE_PARAMS  # unrequested service parameters, now and then
        if self._emit(conn, self._md_frame(sub, delta, first=False)[0], "data"):
            sub.sent.update(delta)

    # ---- smh / umh (5.2) -------------------------------------------------------------------------
    def _cmd_smh(self, conn: Connection, cmd: Command, now: float) -> None:
        conid = self._conid(conn, cmd)
        if conid is None:
            return
        if sum(len(c.history) for c in self.connections.values()) >= MAX_HISTORY:
            self._error(conn, f"smh+{conid}",
                        f"Maximum number of concurrent historical data requests ({MAX_HISTORY}) reached", 429)
            return
        if conid <= 0 or conid in self.config.unknown_conids:
            self._error(conn, f"smh+{conid}", "No historical data for this contract", 404)
            return
        bar = cmd.args.get("bar")
        bar_s = HISTORY_BARS.get(bar, 300) if isinstance(bar, str) else 300
        server_id = str(self._history_seq)
        self._history_seq += 1
        conn.history[server_id] = HistorySub(
            conid, server_id, parse_period(cmd.args.get("period")), bar_s,
            cmd.args.get("outsideRth") is True, start_at=now + self.faults.confirmation_delay,
        )

    def _start_history(self, conn: Connection, sub: HistorySub) -> None:
        sub.started = True
        c = contract_for(sub.conid)
        bars = self.market.history(sub.conid, max(1, min(1000, sub.period_s // sub.bar_s)), sub.bar_s,
                                   self.now_ms())
        hi = max(bars, key=lambda b: b["h"])
        lo = min(bars, key=lambda b: b["l"])
        self._emit(conn, {
            "serverId": sub.server_id,
            "symbol": c.symbol,
            "text": c.company,
            "priceFactor": 100,
            "startTime": time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(bars[0]["t"] / 1000)),
            "high": f"{round(hi['h'] * 100)}/{int(hi['v'])}/0",
            "low": f"{round(lo['l'] * 100)}/{int(lo['v'])}/0",
            "timePeriod": f"{sub.period_s}s",
            "barLength": sub.bar_s,
            "mdAvailability": "S",
            "mktDataDelay": 0,
            "outsideRth": sub.outside_rth,
            "volumeFactor": 1,
            "priceDisplayRule": 1,
            "priceDisplayValue": str(c.decimals),
            "negativeCapable": False,
            "messageVersion": 2,
            "data": bars,
            "points": len(bars) - 1,
            "topic": f"smh+{sub.conid}",
        }, "data")

    def _cmd_umh(self, conn: Connection, cmd: Command, now: float) -> None:
        server_id = cmd.targets[0] if cmd.targets else ""
        conn.history.pop(server_id, None)
        self._emit(conn, {"message": f"Unsubscribed {server_id}"}, "control")

    # ---- sbd / ubd (5.3) -------------------------------------------------------------------------
    def _cmd_sbd(self, conn: Connection, cmd: Command, now: float) -> None:
        if not self._account_ok(conn, cmd):
            return
        conid = self._conid(conn, cmd, 1)
        if conid is None:
            return
        key = (cmd.targets[0], conid)
        if key not in conn.ladders:
            conn.ladders[key] = LadderSub(cmd.targets[0], conid, now + self.faults.confirmation_delay)

    def _cmd_ubd(self, conn: Connection, cmd: Command, now: float) -> None:
        acct = cmd.targets[0] if cmd.targets else ""
        for key in [k for k in conn.ladders if k[0] == acct]:
            del conn.ladders[key]

    def _ladder(self, conn: Connection, sub: LadderSub) -> None:
        sub.started = True
        q = self.market.quote(sub.conid)
        tick, d = q.contract.tick, q.contract.decimals
        levels = [(q.ask + k * tick, "ask", k) for k in range(4, -1, -1)]
        levels += [(q.bid - k * tick, "bid", k) for k in range(5)]
        rows: list[dict[str, object]] = []
        for i, (price, side, depth) in enumerate(levels):
            focus = abs(price - q.last) < tick / 2
            text = f"{price:.{d}f}"
            row: dict[str, object] = {"row": i, "focus": int(focus),
                                      "price": f"{format_size(q.last_size)} @ {text}" if focus else text}
            base = q.ask_size if side == "ask" else q.bid_size
            row[side] = format_size(base * (depth + 1) + 100 * ((sub.conid + depth) % 7))
            rows.append(row)
        msg = {"topic": f"sbd+{sub.account}+{sub.conid}", "data": rows}
        encoded = orjson.dumps(msg)
        if encoded != sub.last and self._emit(conn, msg, "data"):
            sub.last = encoded

    # ---- sor / uor (5.4) -------------------------------------------------------------------------
    def _cmd_sor(self, conn: Connection, cmd: Command, now: float) -> None:
        filters = string_list(cmd.args.get("filters")) or []
        conn.orders = OrdersSub(tuple(f.lower() for f in filters))

    def _cmd_uor(self, conn: Connection, cmd: Command, now: float) -> None:
        conn.orders = None

    def _order_updates(self, order: Order, updates: list[Update]) -> None:
        if self.orders_poisoned:
            return  # the filtered-orders quirk: sor is silent until a force=true call
        for conn in self._greeted():
            sub = conn.orders
            if sub is None or (sub.filters and order.status.lower() not in sub.filters):
                continue
            for upd in updates:
                self._emit(conn, {"topic": "sor", "args": [upd]}, "data")

    # ---- str / utr (5.5) -------------------------------------------------------------------------
    def _cmd_str(self, conn: Connection, cmd: Command, now: float) -> None:
        days = cmd.args.get("days", 1)
        days = min(7, max(1, days)) if isinstance(days, int) and not isinstance(days, bool) else 1
        conn.trades = TradesSub(cmd.args.get("realtimeUpdatesOnly") is True, days,
                                now + self.faults.confirmation_delay)

    def _cmd_utr(self, conn: Connection, cmd: Command, now: float) -> None:
        conn.trades = None

    def _send_execution(self, conn: Connection, index: int) -> None:
        ex = self.account.executions[index]
        position = self.account.position(ex.conid)
        for with_commission in (False, True):
            args = ex.wire(self.config.account_id, with_commission=with_commission, position=position)
            self._emit(conn, {"topic": "str", "args": [args]}, "data")

    def _start_trades(self, conn: Connection, sub: TradesSub) -> None:
        sub.started = True
        self._emit(conn, {"topic": "str", "args": []}, "data")
        if sub.realtime_only:
            return
        horizon = self.wall() - sub.days * 86400
        for i, ex in enumerate(self.account.executions):
            if ex.epoch_s >= horizon:
                self._send_execution(conn, i)

    # ---- spl / ssd / sld (5.6 - 5.8) -------------------------------------------------------------
    def _periodic(self, cmd: Command, now: float) -> PeriodicSub:
        return PeriodicSub(
            cmd.targets[0] if cmd.targets else self.config.account_id,
            tuple(k.lower() for k in string_list(cmd.args.get("keys")) or ()),
            tuple(f.lower() for f in string_list(cmd.args.get("fields")) or ()),
            start_at=now + self.faults.confirmation_delay,
        )

    def _cmd_spl(self, conn: Connection, cmd: Command, now: float) -> None:
        if conn.pnl is None:
            conn.pnl = self._periodic(cmd, now)

    def _cmd_upl(self, conn: Connection, cmd: Command, now: float) -> None:
        conn.pnl = None

    def _send_pnl(self, conn: Connection, sub: PeriodicSub) -> None:
        args = self.account.pnl_args(self.market)
        if not sub.started or args != sub.last:
            sub.started = True
            if self._emit(conn, {"topic": "spl", "args": args}, "data"):
                sub.last = dict(args)

    def _cmd_ssd(self, conn: Connection, cmd: Command, now: float) -> None:
        if self._account_ok(conn, cmd) and cmd.targets[0] not in conn.summary:
            conn.summary[cmd.targets[0]] = self._periodic(cmd, now)

    def _cmd_usd(self, conn: Connection, cmd: Command, now: float) -> None:
        conn.summary.pop(cmd.targets[0] if cmd.targets else "", None)
        self._emit(conn, {"result": "unsubscribed from summary"}, "control")

    def _cmd_sld(self, conn: Connection, cmd: Command, now: float) -> None:
        if self._account_ok(conn, cmd) and cmd.targets[0] not in conn.ledger:
            conn.ledger[cmd.targets[0]] = self._periodic(cmd, now)

    def _cmd_uld(self, conn: Connection, cmd: Command, now: float) -> None:
        conn.ledger.pop(cmd.targets[0] if cmd.targets else "", None)
        self._emit(conn, {"result": "unsubscribed from ledger"}, "control")

    @staticmethod
    def _filtered(entries: list[dict[str, object]], sub: PeriodicSub) -> list[dict[str, object]]:
        """Apply ``keys`` (entry names) and ``fields`` (entry members) filters, case-insensitively."""
        out = []
        for entry in entries:
            if sub.keys and str(entry["key"]).lower() not in sub.keys:
                continue
            if sub.fields:
                entry = {k: v for k, v in entry.items() if k in ("key", "timestamp") or k.lower() in sub.fields}
            out.append(entry)
        return out

    def _send_summary(self, conn: Connection, sub: PeriodicSub) -> None:
        sub.started = True
        entries = self._filtered(self.account.summary(self.market, int(self.wall())), sub)
        self._emit(conn, {"result": entries, "topic": f"ssd+{sub.account}"}, "data")

    def _send_ledger(self, conn: Connection, sub: PeriodicSub) -> None:
        """Entries whose data did not change since the last message carry only key and timestamp."""
        first = not sub.started
        sub.started = True
        stamp = int(self.wall())
        entries = self._filtered(self.account.ledger(self.market, stamp), sub)
        out: list[dict[str, object]] = []
        seen: dict[str, object] = {}
        for entry in entries:
            data = {k: v for k, v in entry.items() if k != "timestamp"}
            key = str(entry["key"])
            seen[key] = data
            out.append(entry if first or sub.last.get(key) != data else {"key": key, "timestamp": stamp})
        if self._emit(conn, {"result": out, "topic": f"sld+{sub.account}"}, "data"):
            sub.last = seen

    # ---- time ------------------------------------------------------------------------------------
    def advance(self, now: float) -> float:
        """Run everything due at ``now``; return the monotonic time of the next deadline."""
        cfg = self.config
        if self._next_md is None:
            self._next_md = now + cfg.md_interval
        if now >= self._next_md:
            self.market.step()
            self._next_md = max(self._next_md + cfg.md_interval, now + cfg.md_interval / 4)
            for conn in self._greeted():
                for md in list(conn.md.values()):
                    if md.started and not md.unknown:
                        self._tick_md(conn, md)
                for ladder in conn.ladders.values():
                    if ladder.started:
                        self._ladder(conn, ladder)
        deadlines = [self._next_md]
        for order_id, due in list(self._pending_fills.items()):
            if now >= due:
                del self._pending_fills[order_id]
                if self.orders[order_id].active:
                    self.fill_order(order_id, None)
            else:
                deadlines.append(due)
        for conn in self._greeted():
            deadlines.append(self._advance_connection(conn, now))
        return min(deadlines)

    def _advance_connection(self, conn: Connection, now: float) -> float:
        cfg = self.config
        if now >= conn.next_hb:
            self._emit(conn, {"topic": "system", "hb": self.now_ms()}, "hb")
            conn.next_hb = max(conn.next_hb + cfg.heartbeat_interval, now + cfg.heartbeat_interval / 4)
        deadlines = [conn.next_hb]
        for target, md in list(conn.md.items()):
            if now >= md.expires_at:
                del conn.md[target]  # 2026 behaviour: the stream silently ends
                continue
            if not md.started:
                if now >= md.start_at:
                    self._start_md(conn, md)
                else:
                    deadlines.append(md.start_at)
            deadlines.append(md.expires_at)
        for hist in conn.history.values():
            if not hist.started:
                if now >= hist.start_at:
                    self._start_history(conn, hist)
                else:
                    deadlines.append(hist.start_at)
        for ladder in conn.ladders.values():
            if not ladder.started:
                if now >= ladder.start_at:
                    self._ladder(conn, ladder)
                else:
                    deadlines.append(ladder.start_at)
        if conn.trades is not None and not conn.trades.started:
            if now >= conn.trades.start_at:
                self._start_trades(conn, conn.trades)
            else:
                deadlines.append(conn.trades.start_at)
        periodic: list[tuple[PeriodicSub, Callable[[Connection, PeriodicSub], None], float]] = []
        if conn.pnl is not None:
            periodic.append((conn.pnl, self._send_pnl, cfg.pnl_interval))
        periodic += [(s, self._send_summary, cfg.account_interval) for s in conn.summary.values()]
        periodic += [(s, self._send_ledger, cfg.account_interval) for s in conn.ledger.values()]
        for sub, send, interval in periodic:
            due = sub.next_at if sub.started else sub.start_at
            if now >= due:
                send(conn, sub)
                sub.started = True
                sub.next_at = max(due + interval, now + interval / 4)
                due = sub.next_at
            deadlines.append(due)
        return min(deadlines)

    # ---- orders ----------------------------------------------------------------------------------
    def place_order(self, conid: int, side: str, quantity: float, order_type: str, price: float | None,
                    now: float) -> int:
        """Place an order; ``sor`` shows its lifecycle. Market orders fill on the next market tick."""
        if isinstance(conid, bool) or not isinstance(conid, int) or conid <= 0 or conid in self.config.unknown_conids:
            raise ValueError(f"conid must be a resolvable positive int, not {conid!r}")
        side_u = side.upper() if isinstance(side, str) else ""
        if side_u not in ("BUY", "SELL"):
            raise ValueError(f"side must be 'BUY' or 'SELL', not {side!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int | float) or not quantity > 0:
            raise ValueError(f"quantity must be a number > 0, not {quantity!r}")
        kind = {"LMT": "LMT", "LIMIT": "LMT", "MKT": "MKT", "MARKET": "MKT"}.get(
            order_type.upper() if isinstance(order_type, str) else "")
        if kind is None:
            raise ValueError(f"order_type must be 'LMT' or 'MKT', not {order_type!r}")
        quote = self.market.quote(conid)
        if kind == "MKT":
            if price is not None:
                raise ValueError("a market order takes no price")
        elif price is None:
            tick = quote.contract.tick
            price = round((quote.bid - 2 * tick if side_u == "BUY" else quote.ask + 2 * tick) / tick) * tick
        elif isinstance(price, bool) or not isinstance(price, int | float) or not price > 0:
            raise ValueError(f"price must be a number > 0 or None, not {price!r}")
        self._next_order_id += 1
        order = Order(self._next_order_id, self.config.account_id, quote.contract, side_u, float(quantity), kind,
                      None if price is None else float(price), self.wall())
        self.orders[order.order_id] = order
        self._order_updates(order, order.submit())
        if kind == "MKT":
            self._pending_fills[order.order_id] = now + self.config.md_interval
        self.on_change()
        return order.order_id

    def _order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise ValueError(f"no order with id {order_id!r}")
        if not order.active:
            raise ValueError(f"order {order_id} is {order.status}; only working orders can change")
        return order

    def cancel_order(self, order_id: int) -> None:
        """Cancel a working order (``PendingCancel`` full message, then ``Cancelled``)."""
        order = self._order(order_id)
        self._pending_fills.pop(order_id, None)
        self._order_updates(order, order.cancel())
        self.on_change()

    def fill_order(self, order_id: int, quantity: float | None) -> None:
        """(Partially) fill a working order: ``sor`` update, ``str`` execution (twice), ``spl`` change."""
        order = self._order(order_id)
        qty = order.remaining if quantity is None else quantity
        if isinstance(qty, bool) or not isinstance(qty, int | float) or not 0 < qty <= order.remaining:
            raise ValueError(f"fill quantity must be > 0 and <= {order.remaining:g}, not {quantity!r}")
        quote = self.market.quote(order.contract.conid)
        if order.price is not None:
            price = order.price
        else:
            price = quote.ask if order.side == "BUY" else quote.bid
        now_s = self.wall()
        self._order_updates(order, order.fill(float(qty), price, now_s))
        side = "B" if order.side == "BUY" else "S"
        self.account.apply_fill(order.contract.conid, side, float(qty), price)
        exchange = order.contract.listing_exchange.split(".")[0]
        self.account.add_execution(self.rng, order_id, order.contract.conid, side, float(qty), price, now_s,
                                   exchange)
        index = len(self.account.executions) - 1
        for conn in self._greeted():
            if conn.trades is not None and conn.trades.started:
                self._send_execution(conn, index)
            if conn.pnl is not None and conn.pnl.started:
                self._send_pnl(conn, conn.pnl)
        self.on_change()

    # ---- REST (8) --------------------------------------------------------------------------------
    def rest(self, method: str, path: str, query: Mapping[str, str], body: object) -> RestReply:
        """Answer a REST call on ``/v1/api/<path>``; ``body`` is the parsed JSON body or None."""
        route = _ROUTES.get(path.strip("/"))
        if route is None:
            return RestReply(404, text=NOT_FOUND_HTML)
        methods, handler, needs_login, needs_bridge = route
        if method not in methods:
            return RestReply(405, {"error": f"method {method} not allowed", "statusCode": 405})
        if needs_login and not self.logged_in:
            return RestReply(401, {"error": "not authenticated", "statusCode": 401})
        if needs_bridge and not self.authenticated:
            return RestReply(400, dict(NO_BRIDGE))
        return handler(self, query, body)

    def _rest_tickle(self, query: Mapping[str, str], body: object) -> RestReply:
        status = self.auth_status()
        status.pop("fail", None)  # the recorded /tickle authStatus has no "fail"
        return RestReply(
            200,
            {
                "session": self.session_id,
                "ssoExpires": 460311,
                "collission": False,
                "userId": 123456789,
                "hmds": {"error": "no bridge"},
                "iserver": {"authStatus": status},
            },
            cookies={"x-sess-uuid": self.sess_uuid},
        )

    def _rest_auth_status(self, query: Mapping[str, str], body: object) -> RestReply:
        return RestReply(200, self.auth_status())

    def _rest_ssodh_init(self, query: Mapping[str, str], body: object) -> RestReply:
        args = body if isinstance(body, dict) else {}
        if args.get("publish") is not True:
            return RestReply(500, {"error": "publish must be true", "statusCode": 500})
        if self.faults.ssodh_restores and (not self.competing or args.get("compete") is True):
            self.restore_auth()
        return RestReply(200, self.auth_status())

    def _rest_reauthenticate(self, query: Mapping[str, str], body: object) -> RestReply:
        if self.faults.ssodh_restores:
            self.restore_auth()
        return RestReply(200, {"message": "triggered"})

    def _rest_accounts(self, query: Mapping[str, str], body: object) -> RestReply:
        return RestReply(200, self.accounts_body())

    def _rest_orders(self, query: Mapping[str, str], body: object) -> RestReply:
        if query.get("force", "").lower() == "true":
            self.orders_poisoned = False
            return RestReply(200, {"orders": [], "snapshot": False})
        wanted = {s.strip().lower() for s in query.get("filters", "").split(",") if s.strip()}
        if wanted:
            self.orders_poisoned = True  # 5.4: filtered calls stop sor details until force=true
        orders = [o.full() for o in self.orders.values() if not wanted or o.status.lower() in wanted]
        return RestReply(200, {"orders": orders, "snapshot": True})

    def _rest_logout(self, query: Mapping[str, str], body: object) -> RestReply:
        self.logout()
        return RestReply(200, {"status": True})

    def _rest_sso_validate(self, query: Mapping[str, str], body: object) -> RestReply:
        now_ms = self.now_ms()
        return RestReply(200, {
            "SFT": "0", "IS_PENDING_APPLICANT": False, "SF_ENABLED": True, "HARDWARE_INFO": "",
            "UNIQUE_LOGIN_ID": "sim-login", "AUTH_TIME": now_ms - 3_600_000, "SF_CONFIG": "0",
            "USER_NAME": self.config.username, "CREDENTIAL_TYPE": 0, "IS_FREE_TRIAL": False, "LOGIN_TYPE": 1,
            "LANDING_APP": "PORTAL", "CREDENTIAL": self.config.username, "ANOMALOUS_LOGIN": False,
            "RESULT": True, "IP": "127.0.0.1", "USER_ID": 123456789, "EXPIRES": 460311, "TOKEN": "sim",
            "took": 1, "IS_MASTER": False,
            "features": {"env": "PROD", "wlms": True, "realtime": True, "bond": True, "optionChains": True,
                         "calendar": True, "newMf": True},
            "region": "US",
        })


_Handler = Callable[[Gateway, Connection, Command, float], None]
_HANDLERS: dict[str, _Handler] = {
    name: getattr(Gateway, f"_cmd_{name}")
    for name in ("smd", "umd", "smh", "umh", "sbd", "ubd", "sor", "uor", "str", "utr", "spl", "upl", "ssd", "usd",
                 "sld", "uld")
}

_Rest = Callable[[Gateway, Mapping[str, str], object], RestReply]
_ROUTES: dict[str, tuple[tuple[str, ...], _Rest, bool, bool]] = {
    # path: (methods, handler, needs a session, needs the brokerage session)
    "tickle": (("GET", "POST"), Gateway._rest_tickle, True, False),
    "iserver/auth/status": (("GET", "POST"), Gateway._rest_auth_status, False, False),
    "iserver/auth/ssodh/init": (("POST",), Gateway._rest_ssodh_init, True, False),
    "iserver/reauthenticate": (("POST",), Gateway._rest_reauthenticate, True, False),
    "iserver/accounts": (("GET",), Gateway._rest_accounts, True, True),
    "iserver/account/orders": (("GET",), Gateway._rest_orders, True, True),
    "logout": (("POST",), Gateway._rest_logout, True, False),
    "sso/validate": (("GET",), Gateway._rest_sso_validate, True, False),
}
