"""How a connection is presented: URL, cookie, headers and TLS, for gateway and OAuth modes.

Gateway: `Cookie: api={"session":"<id>"}`. OAuth: the access token in the URL
(`?oauth_token=`), `Cookie: api=<id>` and a User-Agent (protocol.md 2.3). The URL with the
token is never logged: `display_url` is the one for logs.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

OAUTH_USER_AGENT = "ClientPortalGW/1"


@dataclass(frozen=True)
class Presentation:
    """Everything needed to open one WebSocket, secrets included (never logged)."""

    url: str
    headers: dict[str, str]
    ssl: ssl.SSLContext | bool


def rest_url_from_ws(ws_url: str) -> str:
    """`wss://host:5000/v1/api/ws` -> `https://host:5000/v1/api/`."""
    parts = urlsplit(ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, "https")
    path = parts.path
    if path.endswith("/ws"):
        path = path[: -len("ws")]
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def present(ws_url: str, session_id: str | None, ssl_setting: ssl.SSLContext | bool, *,
            use_oauth: bool, access_token: str | None) -> Presentation:
    """The URL and headers for one connection attempt."""
    headers: dict[str, str] = {}
    url = ws_url
    if use_oauth:
        headers["User-Agent"] = OAUTH_USER_AGENT
        if access_token:
            parts = urlsplit(ws_url)
            query = (parts.query + "&" if parts.query else "") + urlencode({"oauth_token": access_token})
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        if session_id:
            headers["Cookie"] = f"api={session_id}"
    elif session_id:
        headers["Cookie"] = "api=" + orjson.dumps({"session": session_id}).decode()
    return Presentation(url=url, headers=headers, ssl=ssl_setting)


def display_url(url: str) -> str:
    """The URL without its query (which may hold an OAuth token), for logs."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
