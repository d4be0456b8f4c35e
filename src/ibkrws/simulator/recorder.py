"""The recording switch: every WebSocket frame, both directions, as JSON lines.

The format is the one of the recorded fixtures (``/work/shared/fixtures/recorded/README.md``), seen
from the client's side: ``{"ts", "dir", "topic", "raw", "parsed"}`` with ``dir`` ``in`` for frames the
simulator sent, ``out`` for frames the client sent and ``meta`` for connect/disconnect annotations.
A recording of the simulator can therefore be replayed like a real capture.

Secrets (session ids and the ``x-sess-uuid`` value) never reach the file: they are replaced by
``<redacted>`` in ``parsed`` and in ``raw``. Frames that are not valid UTF-8 are stored with the bad
bytes replaced by U+FFFD, and ``parsed`` is null for anything that is not JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import orjson

REDACTED = "<redacted>"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Recorder:
    """Appends records to ``path``; each record is flushed so a test can read the file while it runs."""

    def __init__(self, path: str | Path, secrets: Callable[[], Iterable[str]]) -> None:
        self.path = Path(path)
        self._secrets = secrets
        self._file: IO[bytes] | None = self.path.open("ab")

    def _redact_text(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    def _redact(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact_text(value)
        if isinstance(value, dict):
            return {k: self._redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact(v) for v in value]
        return value

    def _write(self, direction: str, topic: str, raw: str, parsed: object) -> None:
        if self._file is None:
            return
        record = {"ts": _now(), "dir": direction, "topic": topic, "raw": self._redact_text(raw),
                  "parsed": self._redact(parsed)}
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()

    def meta(self, topic: str, raw: str, parsed: object = None) -> None:
        """An annotation such as ``connect`` (raw = the URL) or ``disconnect``."""
        self._write("meta", topic, raw, parsed)

    def client_frame(self, text: str) -> None:
        """A frame the client sent (``dir: out``), labelled ``auth`` for session frames."""
        parsed = _loads(text)
        topic = "auth" if isinstance(parsed, dict) and "session" in parsed else text.strip()[:3]
        self._write("out", topic, text, parsed)

    def server_frame(self, payload: bytes) -> None:
        """A frame the simulator sent (``dir: in``), labelled with its topic (or its first key)."""
        raw = payload.decode("utf-8", errors="replace")
        parsed = _loads(raw)
        if isinstance(parsed, dict):
            topic = parsed.get("topic") if isinstance(parsed.get("topic"), str) else next(iter(parsed), "")
        else:
            topic = raw[:3] if parsed is None and not raw.startswith("{") else "(raw)"
        self._write("in", str(topic), raw, parsed)

    def close(self) -> None:
        """Flush and close the file; later writes are ignored."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _loads(data: str | bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
