"""`ibkrws health`: connect a client, wait until it is ready, print `client.health()`, shut down.

For probes: exit 0 when the report is healthy, 1 when not (not ready in time, not logged in,
an inactive subscription), 2 on a usage error or an unreachable gateway. `--json` prints the
report's `to_dict()` (with an `error` entry when there is no report to give).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from ibkrws import HealthReport, IbkrWsKey
from ibkrws.commands.common import (
    EXIT_OK,
    EXIT_UNHEALTHY,
    CommandError,
    NotLoggedIn,
    add_gateway_arguments,
    configure_logging,
    open_gateway,
    preflight,
    start_ready,
)


def register(sub: Any) -> None:
    """Add the `health` sub-command to an argparse sub-parsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "health",
        help="connect to a gateway, print the client's health report (exit 0 healthy, 1 not, 2 error)",
        description="Connect an IbkrWsClient to the gateway, wait until it is ready (bounded by --timeout), "
                    "print its health report and shut down. Exit status: 0 healthy, 1 not healthy "
                    "(including: not logged in), 2 usage error or gateway unreachable.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--subscribe", metavar="CHANNEL", action="append", default=[],
                        help="also subscribe CHANNEL (e.g. md+265598) and report it; repeatable")
    add_gateway_arguments(parser, "check an embedded gateway simulator (to try the command)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of `ibkrws health`; returns the exit code."""
    configure_logging(args.verbose)
    try:
        report = _check(args)
    except CommandError as exc:
        code = EXIT_UNHEALTHY if isinstance(exc, NotLoggedIn) else exc.code
        if args.json:
            print(orjson.dumps({"healthy": False, "error": str(exc)}).decode())
        print(f"ibkrws health: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return EXIT_UNHEALTHY
    if args.json:
        print(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2, default=str).decode())
    else:
        print("\n".join(format_report(report)))
    return EXIT_OK if report.healthy else EXIT_UNHEALTHY


def _check(args: argparse.Namespace) -> HealthReport:
    for channel in args.subscribe:
        try:
            IbkrWsKey.from_channel(channel)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    with open_gateway(args) as gateway:
        rest = gateway.rest_client(args.timeout)
        try:
            preflight(gateway, rest)
            status = IbkrWsKey.AUTHENTICATION_STATUS
            client = gateway.ws_client(rest, args.timeout, unsolicited_channels_to_be_queued=[status])
            try:
                deadline = time.monotonic() + args.timeout
                if start_ready(client, args.timeout):
                    for channel in args.subscribe:
                        client.subscribe(channel)
                    if client.get(status) is None:  # the gateway's status message follows its greeting
                        client.get(status, block=True, timeout=max(0.0, min(2.0, deadline - time.monotonic())))
                return client.health()
            finally:
                client.shutdown()
        finally:
            rest.close()


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f} s ago"


def format_report(report: HealthReport) -> list[str]:
    """The report as aligned `name  value` lines, `healthy` first."""
    rows: list[tuple[str, str]] = [
        ("healthy", _yes(report.healthy)),
        ("state", report.state),
        ("connected", _yes(report.connected)),
        ("authenticated", _yes(report.authenticated)),
        ("competing", _yes(report.competing)),
        ("heartbeat", _age(report.last_heartbeat_age)),
        ("pong", _age(report.last_pong_age)),
        ("reconnects", str(report.reconnects)),
        ("gaps", str(report.gaps)),
        ("auth losses", str(report.auth_losses)),
        ("frames", f"{report.frames} ({report.invalid_frames} invalid, {report.repaired_utf8} repaired UTF-8)"),
        ("queue drops", ", ".join(f"{k} {v}" for k, v in report.drops.items()) or "none"),
        ("rates", ", ".join(f"{k} {v:g}/s" for k, v in report.messages_per_second.items()) or "none"),
    ]
    if not report.subscriptions:
        rows.append(("subscriptions", "none"))
    for index, sub in enumerate(report.subscriptions):
        last = "no message yet" if sub.last_message_age is None else f"last message {sub.last_message_age:.2f} s ago"
        rows.append(("subscriptions" if index == 0 else "",
                     f"{sub.channel} {'active' if sub.active else 'INACTIVE'} ({sub.state}, {last})"))
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]
