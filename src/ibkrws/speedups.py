"""Whether the optional C speedups (`_speedups`, built by setup.py when a compiler is there) are in use.

`module` is the extension, or None when it was not built or `IBKRWS_NO_EXTENSIONS` is set to
anything but "" or "0"; every caller keeps a pure-Python path that gives the same results.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("IBKRWS_NO_EXTENSIONS", "") not in ("", "0"):
        return None
    try:
        from ibkrws import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups


module: ModuleType | None = _load()
ENABLED = module is not None
"""True when the market-data path runs its loops in C."""
