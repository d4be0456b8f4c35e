"""Keys from the terminal while the live view runs: Ctrl-C and `q` end the demo.

With a terminal on stdin, its signal keys are switched off for the duration (and restored after):
Ctrl-C then reaches the demo as a key instead of as SIGINT for the whole foreground process group,
so that `make demo` ends with the demo's own status and summary rather than make's "Interrupt".
SIGINT sent by other means (kill) is still handled by the caller.
"""

from __future__ import annotations

import os
import select
import threading
from types import TracebackType
from typing import Any

try:
    import termios
except ImportError:  # pragma: no cover - not a POSIX system: SIGINT handling only
    termios = None  # type: ignore[assignment]

QUIT_KEYS = (b"\x03", b"q", b"Q")


class KeyWatcher:
    """`with KeyWatcher(stop):` sets `stop` when Ctrl-C or `q` is typed; a no-op without a terminal."""

    def __init__(self, stop: threading.Event, fd: int = 0) -> None:
        self.stop = stop
        self.fd = fd
        self._saved: Any = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> KeyWatcher:
        if termios is None:
            return self
        try:
            if not os.isatty(self.fd):
                return self
            self._saved = termios.tcgetattr(self.fd)
            changed = termios.tcgetattr(self.fd)
            changed[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)  # local modes
            changed[6][termios.VMIN] = 1
            changed[6][termios.VTIME] = 0
            termios.tcsetattr(self.fd, termios.TCSADRAIN, changed)
        except (OSError, termios.error):
            self._saved = None
            return self
        self._thread = threading.Thread(target=self._watch, name="ibkrws-demo-keys", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(self.fd, 64)
            except (OSError, ValueError):
                return
            if not data:  # end of input
                return
            if any(key in data for key in QUIT_KEYS):
                self.stop.set()
                return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()

    def restore(self) -> None:
        """Stop watching and give the terminal its settings back (idempotent)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(0.5)
            self._thread = None
        if self._saved is not None and termios is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except (OSError, termios.error):
                pass
            self._saved = None
