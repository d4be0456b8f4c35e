"""Helpers for the simulator tests: settings for a fast simulator and a raw WebSocket probe (plain aiohttp).

The probe deliberately does not use the project's client: the simulator is checked against the
protocol on its own, so a mistake shared by client and simulator cannot hide.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from ibkrws.simulator import AsyncSimulator

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
RECORDED = SHARED / "fixtures" / "recorded"

FAST = {
    "tls": False,
    "heartbeat_interval": 0.2,
    "md_interval": 0.05,
    "smd_expiry": 1.0,
    "pnl_interval": 0.1,
    "account_interval": 0.2,
    "seed": 7,
}


def recorded(path: str) -> Path:
    """A recorded fixture file; fails (never skips) when the shared fixtures are missing."""
    p = RECORDED / path
    if not p.exists():
        pytest.fail(f"recorded fixture {p} is missing: the shared/ directory must sit next to the repository")
    return p


def load_jsonl(path: str) -> list[dict[str, Any]]:
    """Records of a recorded WS capture."""
    return [json.loads(line) for line in recorded(path).read_text().splitlines() if line.strip()]


@dataclass
class Msg:
    """One frame received by the probe."""

    type: aiohttp.WSMsgType
    data: bytes
    obj: Any

    @property
    def topic(self) -> str | None:
        """The frame's ``topic`` key, if it is a JSON object with one."""
        return self.obj.get("topic") if isinstance(self.obj, dict) else None

    @property
    def is_hb(self) -> bool:
        """True for ``{"topic":"system","hb":...}``."""
        return self.topic == "system" and "hb" in self.obj


class Probe:
    """A raw WebSocket client that logs every frame and offers bounded waits."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.ws = ws
        self.session = session
        self.log: list[Msg] = []
        self.closed: Msg | None = None

    async def next(self, timeout: float = 3.0) -> Msg:
        """The next frame (data frames only; CLOSE/CLOSED/ERROR are returned too, once)."""
        raw = await self.ws.receive(timeout=timeout)
        if raw.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data = raw.data.encode() if isinstance(raw.data, str) else bytes(raw.data)
            try:
                obj: Any = json.loads(data)
            except ValueError:
                obj = None
            msg = Msg(raw.type, data, obj)
            self.log.append(msg)
            return msg
        msg = Msg(raw.type, b"", raw.data)
        self.closed = msg
        return msg

    async def closing(self, timeout: float = 3.0) -> Msg:
        """Skip data frames until the socket reports CLOSE, CLOSED or ERROR; return that."""
        while True:
            msg = await self.next(timeout)
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return msg

    async def until(self, pred: Callable[[Msg], bool], timeout: float = 3.0) -> Msg:
        """Read until a frame matches ``pred``; fails on timeout or close."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.next(timeout)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise AssertionError(f"socket closed while waiting: {msg}")
                if pred(msg):
                    return msg

    async def topic(self, topic: str, timeout: float = 3.0) -> Msg:
        """The next frame with this topic."""
        return await self.until(lambda m: m.topic == topic, timeout)

    async def collect(self, pred: Callable[[Msg], bool], n: int, timeout: float = 3.0) -> list[Msg]:
        """The next ``n`` frames matching ``pred``."""
        out: list[Msg] = []
        async with asyncio.timeout(timeout):
            while len(out) < n:
                out.append(await self.until(pred, timeout))
        return out

    async def frames_until_heartbeats(self, n: int = 2, timeout: float = 3.0) -> list[Msg]:
        """Every frame received up to and including the ``n``-th heartbeat from now."""
        start = len(self.log)
        await self.collect(lambda m: m.is_hb, n, timeout)
        return [m for m in self.log[start:] if not m.is_hb]

    async def barrier(self) -> list[Msg]:
        """Send ``tic`` and return every non-heartbeat frame before its four replies."""
        start = len(self.log)
        await self.ws.send_str("tic")
        replies = await self.collect(lambda m: m.topic == "tic", 4)
        end = self.log.index(replies[0], start)
        return [m for m in self.log[start:end] if not m.is_hb]

    async def greeting(self) -> list[Msg]:
        """The three greeting frames: system success, act, sts."""
        return [await self.until(lambda m: not m.is_hb) for _ in range(3)]

    async def close(self) -> None:
        """Close socket and HTTP session."""
        await self.ws.close()
        await self.session.close()


def cookie(session: str | None, form: str = "json") -> dict[str, str]:
    """The ``Cookie`` header presenting ``session`` in JSON or bare form."""
    if session is None:
        return {}
    value = json.dumps({"session": session}, separators=(",", ":")) if form == "json" else session
    return {"Cookie": f"api={value}"}


async def connect(sim: AsyncSimulator, *, form: str | None = "json", query: str = "", greet: bool = True,
                  session: str | None = None, **kwargs: Any) -> Probe:
    """Open a probe on ``sim``; with ``greet`` the three greeting frames are consumed and checked."""
    http = aiohttp.ClientSession()
    sid = session if session is not None else sim.session_id
    headers = cookie(sid, form) if form else {}
    try:
        ws = await http.ws_connect(sim.ws_url + query, headers=headers, autoping=False, **kwargs)
    except BaseException:
        await http.close()
        raise
    probe = Probe(ws, http)
    if greet:
        frames = await probe.greeting()
        assert [m.topic for m in frames] == ["system", "act", "sts"], frames
    return probe


def rest(sim: AsyncSimulator) -> httpx.AsyncClient:
    """An httpx client on the simulator's REST base."""
    verify = ssl.create_default_context(cafile=sim.cacert) if sim.cacert else False
    return httpx.AsyncClient(base_url=sim.rest_url, verify=verify, timeout=5.0)


def make_sim(**overrides: Any) -> AsyncSimulator:
    """A fast simulator with some settings changed (use as ``async with``)."""
    return AsyncSimulator(**{**FAST, **overrides})
