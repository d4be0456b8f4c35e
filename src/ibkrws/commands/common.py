"""What `ibkrws stream` and `ibkrws health` share: gateway options, the embedded simulator and clear errors.

Errors a user can act on are raised as `CommandError` (printed as one line, exit code 2 unless said
otherwise). Before a WebSocket client is started the gateway is asked `POST /tickle` once, so that
an unreachable gateway, a missing login or an unauthenticated brokerage session are reported as
such instead of as a stream of reconnection warnings.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ibkrws import ExternalBrokerError, IbkrClient, IbkrWsClient
from ibkrws.engine.connector import rest_url_from_ws
from ibkrws.simulator import Simulator

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_ERROR = 2
"""Exit codes: 0 success/healthy, 1 unhealthy (health), 2 usage or connection error (as argparse)."""

DEFAULT_WS_URL = "wss://127.0.0.1:5000/v1/api/ws"
SIMULATOR_ACCOUNT = "DU1234567"
CLIENT_TIMEOUT = 5.0
"""The `timeout` of the commands' clients (IbkrWsClient's default), lowered to a shorter `--timeout`."""


class CommandError(Exception):
    """An error the user can act on: printed as `ibkrws <command>: <message>`, exit `code`."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class NotLoggedIn(CommandError):
    """The gateway answers but has no authenticated session: the user must log in at its address."""


def positive_float(text: str) -> float:
    """argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_gateway_arguments(parser: argparse.ArgumentParser, simulator_help: str) -> None:
    """Add `--url/--simulator`, `--rest-url`, `--account`, `--cacert`, `--timeout` and `-v` to `parser`."""
    group = parser.add_argument_group("gateway")
    target = group.add_mutually_exclusive_group()
    target.add_argument("--url", metavar="WS_URL",
                        help=f"WebSocket URL of the gateway (default: $IBIND_WS_URL, else {DEFAULT_WS_URL})")
    target.add_argument("--simulator", action="store_true", help=simulator_help)
    group.add_argument("--rest-url", metavar="URL",
                       help="REST base URL (default: $IBIND_REST_URL when --url is not given, else derived from "
                            "the WebSocket URL: wss://host:port/v1/api/ws -> https://host:port/v1/api/)")
    group.add_argument("--account", metavar="ID", help="account id (default: $IBIND_ACCOUNT_ID)")
    group.add_argument("--cacert", metavar="PEM",
                       help="verify the gateway's TLS certificate with this PEM file (default: $IBIND_CACERT, "
                            "else no verification, as the gateway's certificate is self-signed)")
    group.add_argument("--timeout", type=positive_float, default=10.0, metavar="SECONDS",
                       help="how long to wait for the gateway to answer and the WebSocket to be ready (default 10)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more on stderr (-v: connection steps, -vv: debug)")


@dataclass
class Gateway:
    """Where to connect: a real gateway's URLs, or those of an embedded simulator (`simulator` set)."""

    ws_url: str
    rest_url: str
    cacert: str | bool | None
    account_id: str | None
    simulator: Simulator | None = None

    @property
    def address(self) -> str:
        """The gateway's own address, where a user logs in with a browser (`https://host:port/`)."""
        parts = urlsplit(self.rest_url)
        return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))

    def rest_client(self, timeout: float) -> IbkrClient:
        """A REST client for this gateway (bad URL or certificate path: `CommandError`)."""
        try:
            return IbkrClient(account_id=self.account_id, url=self.rest_url, cacert=self.cacert, timeout=timeout)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

    def ws_client(self, rest: IbkrClient, wait: float, **kwargs: Any) -> IbkrWsClient:
        """An `IbkrWsClient` for this gateway, tickling through `rest` (bad arguments: `CommandError`).

        Its `timeout` (each bounded wait, connecting included) is `wait` seconds, at most the default 5.
        """
        try:
            return IbkrWsClient(url=self.ws_url, account_id=self.account_id, cacert=self.cacert,
                                ibkr_client=rest, timeout=min(wait, CLIENT_TIMEOUT), **kwargs)
        except ValueError as exc:
            raise CommandError(str(exc)) from None


def rest_url_for(ws_url: str) -> str:
    """The REST base URL of the gateway serving `ws_url` (`wss://h:p/v1/api/ws` -> `https://h:p/v1/api/`)."""
    return rest_url_from_ws(ws_url)


@contextmanager
def stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM sets `stop`, as Ctrl-C ends a command (main thread only; the previous handler comes back)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def account_for(args: argparse.Namespace) -> str | None:
    """The account id: `--account`, else `$IBIND_ACCOUNT_ID`, else the simulator's with `--simulator`."""
    account: str | None = args.account or os.environ.get("IBIND_ACCOUNT_ID") or None
    if account is None and args.simulator:
        account = SIMULATOR_ACCOUNT
    return account


@contextmanager
def open_gateway(args: argparse.Namespace, **simulator_options: Any) -> Iterator[Gateway]:
    """The gateway named by the options; with `--simulator`, one started here and stopped on exit."""
    if not args.simulator:
        ws_url = args.url or os.environ.get("IBIND_WS_URL") or DEFAULT_WS_URL
        rest_url = args.rest_url or (None if args.url else os.environ.get("IBIND_REST_URL")) or rest_url_for(ws_url)
        yield Gateway(ws_url, rest_url, args.cacert, account_for(args))
        return
    if args.rest_url:
        raise CommandError("--rest-url cannot be combined with --simulator (the simulator serves both)")
    try:
        sim = Simulator(account_id=account_for(args) or SIMULATOR_ACCOUNT, **simulator_options).start()
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot start the simulator: {exc}") from None
    try:
        yield Gateway(sim.ws_url, sim.rest_url, sim.cacert, sim.account_id, sim)
    finally:
        sim.stop()


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text += " (check --cacert: it must be the certificate the gateway presents)"
    return text


def preflight(gateway: Gateway, rest: IbkrClient) -> dict[str, Any]:
    """Ask the gateway `POST /tickle`; the answer, or a `CommandError` that says what to do.

    Unreachable (no answer, TLS failure): `CommandError` "cannot reach the gateway at <url>: ...".
    No session (HTTP 401/403) or brokerage session not authenticated: `NotLoggedIn`, telling the
    user to log in at the gateway's address.
    """
    try:
        data = rest.tickle().data
    except ExternalBrokerError as exc:
        if exc.status_code is None:
            raise CommandError(f"cannot reach the gateway at {gateway.rest_url}: {_cause(exc)}") from None
        if exc.status_code in (401, 403):
            raise NotLoggedIn(f"the gateway at {gateway.address} has no authenticated session "
                              f"(HTTP {exc.status_code}): open {gateway.address} in a browser, log in, "
                              "then try again") from None
        raise CommandError(f"the gateway at {gateway.rest_url} answered POST tickle with HTTP "
                           f"{exc.status_code}: {exc}") from None
    status = ((data.get("iserver") or {}).get("authStatus") or {}) if isinstance(data, dict) else {}
    if status and not status.get("authenticated"):
        why = "another session is competing for it" if status.get("competing") else "it is not authenticated"
        raise NotLoggedIn(f"the gateway at {gateway.address} is logged in but its brokerage session is not "
                          f"usable ({why}): log in again at {gateway.address}, then try again")
    return data if isinstance(data, dict) else {}


def start_ready(client: IbkrWsClient, timeout: float) -> bool:
    """Start the client and wait (about `timeout` seconds at most) until it is connected and greeted."""
    deadline = time.monotonic() + timeout
    client.start()  # returns within the client's own timeout, connected or not
    while not client.ready():
        if time.monotonic() >= deadline or not client.running:
            return False
        time.sleep(0.02)
    return True


_HANDLER_MARK = "_ibkrws_cli_handler"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of each record."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(verbose: int) -> None:
    """Library logs on stderr: warnings and errors, `-v` adds connection steps, `-vv` debug."""
    logger = logging.getLogger("ibkrws")
    logger.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    if any(getattr(h, _HANDLER_MARK, False) for h in logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
