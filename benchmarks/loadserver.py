"""Load server: a dedicated sender process that plays an IBKR gateway for the benchmarks.

It speaks just enough of the Client Portal gateway for every client under test: the REST calls
made around a WebSocket connection (`tickle`, `iserver/auth/status`, `iserver/accounts`,
`iserver/account/orders`) and the `/v1/api/ws` WebSocket with its greeting, heartbeats and `smd`
subscriptions. HTTP and WebSocket framing are written by hand on asyncio streams so that the
sender is never the bottleneck: frames are built from per-conid templates and written in
batches straight to the transport, waiting only on the transport's flow control.

Market-data frames are IBKR-shaped `smd` messages of about 215 bytes sent with the binary
opcode, as the gateway does. Each carries its send time as epoch microseconds twice: in
`_updated` (kept by ibkrws and IBind 0.1.x when unwrapping) and in field `6119`
(`market_data_marker`, kept by every unwrapper including IBind 0.2.x, which drops `_updated`).
A send time of 0 marks a frame that is not measured (subscription snapshots, warm-up).

One server process runs one scenario (`--mode`) and exits by itself once it is done and the
client has gone, or after `--max-seconds` whatever happens:

- `burst`: after the subscription, a warm-up, then `--count` frames as fast as flow control allows.
- `paced`: the same, evenly paced at `--rate` frames per second (batches due each millisecond).
- `reconnect`: `--subs` subscriptions are streamed round-robin at `--rate`; after `--drop-after`
  seconds the connection is dropped (closed without a WebSocket close frame) and the drop time
  is written to `--drop-file`; reconnections get a snapshot per subscription, then the stream.

Prints `LISTENING <port>` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import os
import ssl
import sys
import time

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10
SESSION = "b3nchb3nchb3nchb3nchb3nchb3nch00"
BATCH = 256  # frames per write in burst mode (~55 kB)
WARMUP = 1000  # unmeasured frames before each measured phase
PRICES = (b"271.70", b"271.75", b"271.80", b"271.85", b"271.90")


@functools.lru_cache(maxsize=64)
def frame_header(opcode: int, length: int) -> bytes:
    """Server-to-client frame header (FIN set, never masked)."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    return frame_header(opcode, len(payload)) + payload


class Templates:
    """Per-conid `smd` frame templates: only the send time and the prices change between frames.

    Four price variants per conid, used in turn, so that consecutive frames of a conid differ as
    IBKR's deltas do (a client that skips exact repeats must not get an easy stream).
    """

    VARIANTS = 4

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], tuple[bytes, bytes, bytes]] = {}

    def build(self, conid: str, send_us: int, variant: int = 0) -> bytes:
        parts = self._parts.get((conid, variant))
        if parts is None:
            c = conid.encode()
            bid, last, ask = (PRICES[(variant + i) % len(PRICES)] for i in range(3))
            parts = (
                b'{"server_id":"q1","conidEx":"' + c + b'","conid":' + c + b',"_updated":',
                b',"6119":"',
                b'","84":"' + bid + b'","86":"' + ask + b'","31":"' + last
                + b'","85":"1,200","88":"300","6509":"RpB","83":0.59,"topic":"smd+' + c + b'"}',
            )
            self._parts[(conid, variant)] = parts
        ts = b"%d" % send_us
        return frame(OP_BINARY, parts[0] + ts + parts[1] + ts + parts[2])

    def run(self, conids: list[str], first: int, n: int, send_us: int) -> bytes:
        """Frames number `first` .. `first + n - 1` of a round-robin over `conids`, all stamped `send_us`."""
        k, v = len(conids), self.VARIANTS
        if k == 1 and first % v == 0:  # the burst case: repeat one cycle of the variants
            whole, rest = divmod(n, v)
            cycle = b"".join(self.build(conids[0], send_us, i) for i in range(v))
            return cycle * whole + b"".join(self.build(conids[0], send_us, i) for i in range(rest))
        return b"".join(self.build(conids[i % k], send_us, (i // k) % v) for i in range(first, first + n))


def now_us() -> int:
    return time.time_ns() // 1000


class Scenario:
    """What to send, shared by every connection of this server process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.templates = Templates()
        self.dropped = False
        self.connections = 0  # WebSocket connections accepted so far
        self.open = 0  # WebSocket connections open now

    def client_gone(self) -> bool:
        """True once a client came and left, unless it is expected back after the drop."""
        if self.connections == 0 or self.open:
            return False
        return not (self.args.mode == "reconnect" and self.dropped and self.connections < 2)

    async def run(self, conn: Connection) -> None:
        """Drive one connection once its subscriptions are in; returns when this connection's part is done."""
        mode = self.args.mode
        if mode == "reconnect":
            await self._reconnect(conn)
            return
        await conn.wait_subscriptions(self.args.subs)
        await asyncio.sleep(self.args.start_delay)
        await self._paced(conn, WARMUP, min(self.args.rate or 20_000, 20_000), measured=False)
        await asyncio.sleep(0.3)
        if mode == "burst":
            await self._burst(conn, self.args.count)
        else:
            await self._paced(conn, self.args.count, self.args.rate, measured=True)

    async def _burst(self, conn: Connection, count: int) -> None:
        conids = conn.conid_list()
        sent = 0
        while sent < count and not conn.closed:
            n = min(BATCH, count - sent)
            conn.writer.write(self.templates.run(conids, sent, n, now_us()))
            sent += n
            await conn.writer.drain()

    async def _paced(self, conn: Connection, count: int, rate: float, measured: bool,
                     until: float | None = None) -> None:
        """Send `count` frames evenly at `rate`/s (round-robin over the subscriptions), batch by due time."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        while sent < count and not conn.closed:
            now = loop.time()
            if until is not None and now >= until:
                return
            due = min(count, int((now - start) * rate) + 1)
            if due > sent:
                ts = now_us() if measured else 0
                conn.writer.write(self.templates.run(conn.conid_list(), sent, due - sent, ts))
                sent = due
                await conn.writer.drain()
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))

    async def _reconnect(self, conn: Connection) -> None:
        args = self.args
        await conn.wait_subscriptions(args.subs)
        loop = asyncio.get_running_loop()
        total = int(args.rate * 3600)
        if not self.dropped:
            await self._paced(conn, total, args.rate, measured=True, until=loop.time() + args.drop_after)
            if conn.closed:
                return
            self.dropped = True
            drop_us = now_us()
            tmp = args.drop_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(str(drop_us))
            os.replace(tmp, args.drop_file)
            conn.writer.transport.close()  # a drop: no WebSocket close frame
            return
        await self._paced(conn, total, args.rate, measured=True, until=loop.time() + args.after_drop)


class Connection:
    """One client connection after the WebSocket handshake."""

    def __init__(self, scenario: Scenario, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.scenario = scenario
        self.reader = reader
        self.writer = writer
        self.subs: dict[str, None] = {}
        self.closed = False
        self._subs_changed = asyncio.Event()

    def conid_list(self) -> list[str]:
        return list(self.subs) or ["265598"]

    async def wait_subscriptions(self, n: int) -> None:
        while len(self.subs) < n and not self.closed:
            self._subs_changed.clear()
            await self._subs_changed.wait()

    def send_json(self, obj: object) -> None:
        if not self.closed:
            self.writer.write(frame(OP_BINARY, json.dumps(obj, separators=(",", ":")).encode()))

    async def serve(self) -> None:
        self.writer.transport.set_write_buffer_limits(high=512 * 1024)
        self.send_json({"topic": "system", "success": "bench", "isFT": False, "isPaper": False})
        self.send_json({"topic": "sts", "args": {"authenticated": True, "connected": True, "competing": False}})
        tasks = [asyncio.ensure_future(t) for t in (self._read_frames(), self._heartbeats(), self.scenario.run(self))]
        try:
            done, _ = await asyncio.wait(tasks[:1] + tasks[2:], return_when=asyncio.FIRST_COMPLETED)
            if tasks[2] in done and not self.closed:
                # the scenario is over: keep reading until the client leaves (bounded by --max-seconds)
                await tasks[0]
        finally:
            self.closed = True
            self._subs_changed.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            self.writer.transport.close()

    async def _heartbeats(self) -> None:
        while not self.closed:
            await asyncio.sleep(10)
            self.send_json({"topic": "system", "hb": time.time_ns() // 1_000_000})

    async def _read_frames(self) -> None:
        """Client frames: subscriptions (text), ping, close. Returns when the client is gone."""
        reader = self.reader
        try:
            while True:
                b0, b1 = await reader.readexactly(2)
                opcode, length = b0 & 0x0F, b1 & 0x7F
                if length == 126:
                    length = int.from_bytes(await reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await reader.readexactly(8), "big")
                mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
                data = await reader.readexactly(length)
                if length:
                    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
                    data = (int.from_bytes(data, "big") ^ key).to_bytes(length, "big")
                if opcode == OP_TEXT or opcode == OP_BINARY:
                    self._on_text(data.decode("utf-8", "replace"))
                elif opcode == OP_PING:
                    self.writer.write(frame(OP_PONG, data))
                elif opcode == OP_CLOSE:
                    with contextlib.suppress(Exception):
                        self.writer.write(frame(OP_CLOSE, data[:2]))
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        finally:
            self.closed = True
            self._subs_changed.set()

    def _on_text(self, text: str) -> None:
        if text.startswith("smd+"):
            conid = text.split("+", 2)[1]
            self.subs[conid] = None
            ts = now_us() if self.scenario.args.mode == "reconnect" else 0
            self.writer.write(self.scenario.templates.build(conid, ts))  # the snapshot IBKR sends first
            self._subs_changed.set()
        elif text.startswith("umd+"):
            self.subs.pop(text.split("+", 2)[1], None)
        elif text == "tic":
            self.send_json({"topic": "tic", "alive": True, "id": "bench", "lastAccessed": time.time_ns() // 1_000_000})


REST_REPLIES = {
    "/v1/api/tickle": {"session": SESSION, "ssoExpires": 600000, "collission": False, "userId": 1,
                       "iserver": {"authStatus": {"authenticated": True, "competing": False, "connected": True,
                                                  "message": "", "MAC": "", "serverInfo": {}}}},
    "/v1/api/iserver/auth/status": {"authenticated": True, "competing": False, "connected": True, "message": ""},
    "/v1/api/iserver/accounts": {"accounts": ["DU1234567"], "selectedAccount": "DU1234567"},
    "/v1/api/iserver/account/orders": {"orders": [], "snapshot": True},
}


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.scenario = Scenario(args)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError, ValueError,
                asyncio.CancelledError):  # cancelled: an idle keep-alive connection when the server exits
            pass
        finally:
            writer.transport.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # HTTP/1.1 keep-alive until the upgrade or the client closes
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            path = target.split("?", 1)[0]
            if path == "/v1/api/ws" and headers.get("upgrade", "").lower() == "websocket":
                accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + WS_GUID).digest())
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                self.scenario.connections += 1
                self.scenario.open += 1
                try:
                    await Connection(self.scenario, reader, writer).serve()
                finally:
                    self.scenario.open -= 1
                return
            reply = REST_REPLIES.get(path)
            status = b"200 OK" if reply is not None else b"404 Not Found"
            body = json.dumps(reply if reply is not None else {"error": "not found"}).encode()
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nSet-Cookie: x-sess-uuid=bench; Path=/\r\n\r\n"
                         + (body if method != "HEAD" else b""))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return

    async def main(self) -> None:
        ssl_ctx = None
        if self.args.cert:
            ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_ctx.load_cert_chain(self.args.cert, self.args.key)
        server = await asyncio.start_server(self.handle, "127.0.0.1", self.args.port, ssl=ssl_ctx, limit=1 << 16)
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.args.max_seconds
        async with server:
            # done when the client has come and gone (it leaves once it has what it measures)
            while not self.scenario.client_gone() and loop.time() < deadline:
                await asyncio.sleep(0.05)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", help="PEM certificate: serve TLS (wss/https)")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument("--mode", choices=("burst", "paced", "reconnect"), default="burst")
    p.add_argument("--count", type=int, default=100_000, help="measured frames (burst, paced)")
    p.add_argument("--rate", type=float, default=0.0, help="frames per second (paced, reconnect)")
    p.add_argument("--subs", type=int, default=1, help="subscriptions to wait for before sending")
    p.add_argument("--start-delay", type=float, default=0.3)
    p.add_argument("--drop-after", type=float, default=1.0, help="reconnect: seconds of data before the drop")
    p.add_argument("--after-drop", type=float, default=20.0, help="reconnect: seconds of data after reconnecting")
    p.add_argument("--drop-file", default="", help="reconnect: where the drop time (epoch us) is written")
    p.add_argument("--max-seconds", type=float, default=60.0, help="hard bound on this process's life")
    args = p.parse_args(argv)
    if args.mode == "paced" and args.rate <= 0:
        p.error("--mode paced needs --rate")
    if args.mode == "reconnect" and (args.rate <= 0 or not args.drop_file):
        p.error("--mode reconnect needs --rate and --drop-file")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Server(args).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
