"""One request model for the sync and async REST clients, and the pieces both share."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """A REST call relative to the base URL (`tickle`, `iserver/auth/status`, ...)."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None


@dataclass
class Result:
    """The answer of one REST call: decoded JSON `data` and the `request` that produced it."""

    data: Any = None
    request: dict[str, Any] = field(default_factory=dict)


def check_cacert(cacert: Any, argument: str = "cacert") -> str | bool:
    """Validate `cacert`: False (no verification), True (system CAs) or the path of a PEM file."""
    if cacert is None or cacert is False or (isinstance(cacert, str) and cacert.lower() in ("", "false")):
        return False
    if cacert is True or (isinstance(cacert, str) and cacert.lower() == "true"):
        return True
    if isinstance(cacert, (str, Path)):
        if not Path(cacert).is_file():
            raise ValueError(
                f"{argument} {str(cacert)!r} is not an existing file: expected the path of the gateway's "
                "certificate (PEM), True for the system CAs, or False to skip verification"
            )
        return str(cacert)
    raise ValueError(f"{argument} must be a path, True or False, got {type(cacert).__name__}")


def ssl_context(cacert: str | bool) -> ssl.SSLContext | bool:
    """The TLS setting for a checked `cacert`: False disables verification."""
    if cacert is False:
        return False
    if cacert is True:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=cacert)


def check_url(url: Any, schemes: tuple[str, ...], argument: str) -> str:
    """Validate a URL: a string with one of `schemes` and a host."""
    if not isinstance(url, str):
        raise ValueError(f"{argument} must be a URL string such as '{schemes[0]}://localhost:5000/...', got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{argument} {url!r} is not a valid URL: expected {' or '.join(schemes)}://host[:port]/path")
    return url


def auth_status_healthy(tickle_data: Any) -> bool:
    """IBind's health rule on a tickle answer: authenticated, connected and not competing."""
    if not isinstance(tickle_data, dict):
        return False
    status = (tickle_data.get("iserver") or {}).get("authStatus") or {}
    return bool(status.get("authenticated")) and bool(status.get("connected")) and not status.get("competing")
