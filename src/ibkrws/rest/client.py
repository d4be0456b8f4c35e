"""`IbkrClient` (sync) and `AsyncIbkrClient` (asyncio) over httpx, sharing one set of endpoints."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable
from typing import Any

import httpx

from ibkrws.errors import ExternalBrokerError
from ibkrws.rest.model import Request, Result, auth_status_healthy, check_cacert, check_url, ssl_context

_LOGGER = logging.getLogger("ibkrws.rest")


def _rest_url(url: str | None, host: str, port: str | int, base_route: str) -> str:
    if url is None:
        url = os.environ.get("IBIND_REST_URL") or f"https://{host}:{port}{base_route}"
    check_url(url, ("https", "http"), "url")
    return url if url.endswith("/") else url + "/"


class _Endpoints:
    """The endpoints a WebSocket client needs; `_call` is sync or async in subclasses."""

    account_id: str | None
    base_url: str
    cacert: str | bool
    timeout: float
    is_async = False
    """True when the endpoint methods return awaitables (they are then awaited on the loop)."""

    def _configure(self, account_id: str | None, url: str | None, host: str, port: str | int, base_route: str,
                   cacert: str | bool | None, timeout: float) -> None:
        """Validate the constructor arguments shared by both clients (IBIND_* variables as defaults)."""
        self.account_id = account_id if account_id is not None else os.environ.get("IBIND_ACCOUNT_ID")
        self.base_url = _rest_url(url, host, port, base_route)
        self.cacert = check_cacert(os.environ.get("IBIND_CACERT", False) if cacert is None else cacert)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)

    def _call(self, request: Request) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def tickle(self) -> Any:
        """Keep the session alive; `data['session']` is the id the WebSocket presents."""
        return self._call(Request("POST", "tickle"))

    def authentication_status(self) -> Any:
        """Brokerage session status: authenticated, competing, connected."""
        return self._call(Request("POST", "iserver/auth/status"))

    def initialize_brokerage_session(self, publish: bool = True, compete: bool = True) -> Any:
        """Open a brokerage session (needed after an auth loss, and always with OAuth)."""
        return self._call(Request("POST", "iserver/auth/ssodh/init", json={"publish": publish, "compete": compete}))

    def receive_brokerage_accounts(self) -> Any:
        """The brokerage accounts; IBKR wants this called before orders and market data."""
        return self._call(Request("GET", "iserver/accounts"))

    def live_orders(self, filters: list[str] | str | None = None, force: bool | None = None,
                    account_id: str | None = None) -> Any:
        """Today's orders; `force=True` clears the gateway's order cache (and returns nothing)."""
        params: dict[str, str] = {}
        if filters:
            params["filters"] = ",".join(filters) if isinstance(filters, (list, tuple)) else str(filters)
        if force is not None:
            params["force"] = "true" if force else "false"
        if account_id is not None:
            params["accountId"] = account_id
        return self._call(Request("GET", "iserver/account/orders", params=params or None))

    def reauthenticate(self) -> Any:
        """Deprecated by IBKR in favour of `initialize_brokerage_session`."""
        return self._call(Request("POST", "iserver/reauthenticate"))

    def logout(self) -> Any:
        """End the session."""
        return self._call(Request("POST", "logout"))

    def validate(self) -> Any:
        """Validate the SSO session."""
        return self._call(Request("GET", "sso/validate"))


def _result(request: Request, response: httpx.Response) -> Result:
    info = {"method": request.method, "url": str(response.request.url.copy_with(query=None))}
    if response.status_code >= 400:
        text = response.text[:300]
        raise ExternalBrokerError(
            f"IbkrClient: {request.method} {request.path} failed with status {response.status_code}: {text}",
            status_code=response.status_code,
        )
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = response.text
    return Result(data=data, request=info)


def _connection_error(request: Request, exc: Exception) -> ExternalBrokerError:
    return ExternalBrokerError(f"IbkrClient: {request.method} {request.path} failed: {type(exc).__name__}: {exc}")


class IbkrClient(_Endpoints):
    """Synchronous REST client for the Client Portal Gateway (the subset a WebSocket client needs)."""

    def __init__(self, account_id: str | None = None, url: str | None = None, host: str = "127.0.0.1",
                 port: str | int = "5000", base_route: str = "/v1/api/", cacert: str | bool | None = None,
                 timeout: float = 10) -> None:
        self._configure(account_id, url, host, port, base_route, cacert, timeout)
        self._http = httpx.Client(base_url=self.base_url, verify=ssl_context(self.cacert), timeout=self.timeout)

    def _call(self, request: Request) -> Result:
        try:
            response = self._http.request(request.method, request.path, params=request.params, json=request.json)
        except httpx.HTTPError as exc:
            raise _connection_error(request, exc) from exc
        return _result(request, response)

    def check_health(self) -> bool:
        """True when the session is alive and the brokerage session authenticated and not competing."""
        try:
            return auth_status_healthy(self.tickle().data)
        except ExternalBrokerError as exc:
            _LOGGER.info("IbkrClient: health check failed: %s", exc)
            return False

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __str__(self) -> str:
        return f"IbkrClient({self.base_url})"


class AsyncIbkrClient(_Endpoints):
    """The same endpoints as `IbkrClient`, awaitable (httpx.AsyncClient)."""

    is_async = True

    def __init__(self, account_id: str | None = None, url: str | None = None, host: str = "127.0.0.1",
                 port: str | int = "5000", base_route: str = "/v1/api/", cacert: str | bool | None = None,
                 timeout: float = 10) -> None:
        self._configure(account_id, url, host, port, base_route, cacert, timeout)
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # created lazily so that it binds to the loop that uses it
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.base_url, verify=ssl_context(self.cacert),
                                           timeout=self.timeout)
        return self._http

    async def _acall(self, request: Request) -> Result:
        try:
            response = await self._client().request(request.method, request.path, params=request.params,
                                                    json=request.json)
        except httpx.HTTPError as exc:
            raise _connection_error(request, exc) from exc
        return _result(request, response)

    def _call(self, request: Request) -> Awaitable[Result]:
        return self._acall(request)

    async def check_health(self) -> bool:
        """Awaitable form of `IbkrClient.check_health`."""
        try:
            return auth_status_healthy((await self.tickle()).data)
        except ExternalBrokerError as exc:
            _LOGGER.info("AsyncIbkrClient: health check failed: %s", exc)
            return False

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def __str__(self) -> str:
        return f"AsyncIbkrClient({self.base_url})"
