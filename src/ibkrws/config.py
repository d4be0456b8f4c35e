"""Defaults from `IBIND_*` environment variables, read when a client is constructed.

Every parameter that the seed ties to an environment variable resolves here: an explicit
argument wins, then the variable, then the documented default. Bad values raise ValueError
naming the variable or argument and what is accepted.
"""

from __future__ import annotations

import os
from typing import Any

_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0", ""}

DEFAULTS: dict[str, Any] = {
    "IBIND_WS_PING_INTERVAL": 45,
    "IBIND_WS_MAX_PING_INTERVAL": 300,
    "IBIND_WS_TIMEOUT": 5,
    "IBIND_WS_SUBSCRIPTION_RETRIES": 5,
    "IBIND_WS_SUBSCRIPTION_TIMEOUT": 2,
    "IBIND_WS_LOG_RAW_MESSAGES": False,
    "IBIND_USE_OAUTH": False,
    "IBIND_TICKLER_INTERVAL": 60,
    "IBIND_LOG_LEVEL": "INFO",
    "IBIND_LOG_FORMAT": "%(asctime)s|%(levelname)-.1s| %(message)s",
}
"""The documented defaults of the environment variables (design guide section 1)."""


def env_str(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def to_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (true/false, yes/no, 1/0, on/off), got {value!r}")


def resolve_bool(value: bool | None, env: str) -> bool:
    if value is not None:
        return to_bool(value, env.removeprefix("IBIND_").lower())
    raw = os.environ.get(env)
    return to_bool(raw, env) if raw is not None else bool(DEFAULTS.get(env, False))


def resolve_number(value: float | None, env: str, argument: str, *, integer: bool = False,
                   allow_zero: bool = False) -> float:
    """An explicit number, else the environment variable, else the default; must be > 0 (or >= 0)."""
    source = argument
    if value is None:
        raw = os.environ.get(env)
        if raw is not None and raw.strip() != "":
            source = env
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{env} must be a number, got {raw!r}") from None
        else:
            value = DEFAULTS[env]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        accepted = "a non-negative number" if allow_zero else "a positive number"
        raise ValueError(f"{source} must be {accepted}, got {value!r}")
    if integer:
        if int(value) != value:
            raise ValueError(f"{source} must be a whole number, got {value!r}")
        return int(value)
    return float(value)
