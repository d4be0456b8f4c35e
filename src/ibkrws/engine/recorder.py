"""Recording every frame in the recorded-fixture format, with secrets redacted.

One JSON object per line: `{"ts", "dir", "topic", "raw", "parsed"}` (`dir` is `in`, `out` or
`meta`), the format of `shared/fixtures/recorded/ws`, so a recording from a real gateway can be
replayed by the simulator for bug reports and strategy tests.
"""

from __future__ import annotations

import datetime as _dt
import re
import threading
from pathlib import Path
from typing import IO, Any

import orjson

from ibkrws.protocol.frames import DecodeError, decode

REDACTED = "<redacted>"
_SESSION_FRAME = re.compile(r'("session"\s*:\s*")[^"]*(")')
_TIC_ID = re.compile(r'("id"\s*:\s*")[0-9a-fA-F]{16,}(")')


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def redact(text: str) -> str:
    """Session ids out of a frame's text (session frames, tic replies)."""
    return _TIC_ID.sub(r"\1" + REDACTED + r"\2", _SESSION_FRAME.sub(r"\1" + REDACTED + r"\2", text))


class FrameRecorder:
    """Appends frames to a JSONL file; safe to call from the engine loop (writes are small)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = self.path.open("ab")
        self._lock = threading.Lock()
        self.records = 0

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            if self._file is None:
                return
            self._file.write(orjson.dumps(record) + b"\n")
            self.records += 1

    def incoming(self, payload: bytes | str) -> None:
        raw = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
        raw = redact(raw)
        try:
            parsed: Any = decode(raw)[0]
        except DecodeError:
            parsed = None
        topic = parsed.get("topic", "") if isinstance(parsed, dict) else ""
        self._write({"ts": _now_iso(), "dir": "in", "topic": topic, "raw": raw, "parsed": parsed})

    def outgoing(self, payload: str) -> None:
        raw = redact(payload)
        topic = "auth" if raw.startswith("{") else raw.split("+", 1)[0]
        parsed = {"session": REDACTED} if topic == "auth" else None
        self._write({"ts": _now_iso(), "dir": "out", "topic": topic, "raw": raw, "parsed": parsed})

    def meta(self, topic: str, raw: str = "", parsed: Any = None) -> None:
        self._write({"ts": _now_iso(), "dir": "meta", "topic": topic, "raw": raw, "parsed": parsed})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
