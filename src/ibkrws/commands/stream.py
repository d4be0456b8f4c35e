"""`ibkrws stream CHANNEL...`: print the live messages of channels, as readable lines or JSON lines.

    ibkrws stream md+265598 or pl                     # a real gateway on wss://127.0.0.1:5000
    ibkrws stream md+265598 --fields 31,84,86 --json  # only last/bid/ask, one JSON object per line
    ibkrws stream md+265598 or --simulator --duration 10

Messages go to stdout (flushed as they come, for piping); library warnings go to stderr. Ctrl-C
stops cleanly (exit 0). Exit 2 on a bad channel, an unreachable gateway or a missing login.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from ibkrws import IbkrWsClient, IbkrWsKey, WsEvent
from ibkrws.commands.common import (
    EXIT_OK,
    CommandError,
    Gateway,
    account_for,
    add_gateway_arguments,
    configure_logging,
    open_gateway,
    positive_float,
    preflight,
    start_ready,
    stop_on_sigterm,
)
from ibkrws.commands.output import event_line, format_lines, json_line
from ibkrws.protocol.fields import FIELD_NAMES

_EVENTS = "EVENTS"
_NAME_TO_ID = {name: fid for fid, name in FIELD_NAMES.items()}
_NEEDS_TARGET = {"md": "md+<conid>, e.g. md+265598", "mh": "mh+<conid>, e.g. mh+265598",
                 "bd": "bd+<account>+<conid>, e.g. bd+DU1234567+265598"}
_ACCOUNT_CHANNELS = ("sd", "ld")


def register(sub: Any) -> None:
    """Add the `stream` sub-command to an argparse sub-parsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "stream",
        help="print live messages of channels (md+265598, or, pl, ...) as lines or JSON lines",
        description="Subscribe CHANNELs on the gateway's WebSocket and print every message as it arrives:\n"
                    "readable lines, or one JSON object per line with --json (for jq and friends).\n"
                    "Reconnects by itself; Ctrl-C stops.",
        epilog="channels:\n"
               "  md+CONID         market data          or               orders\n"
               "  tr               trades               pl               P&L\n"
               "  sd[+ACCOUNT]     account summary      ld[+ACCOUNT]     account ledger\n"
               "  mh+CONID         history              bd+ACCOUNT+CONID price ladder\n"
               "examples:\n"
               "  ibkrws stream md+265598 or pl\n"
               "  ibkrws stream md+265598 --fields 31,84,86 --json | jq .data.last_price\n"
               "  ibkrws stream md+265598 or --simulator --duration 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("channels", nargs="+", metavar="CHANNEL", help="a channel string such as md+265598 or or")
    parser.add_argument("--fields", metavar="LIST",
                        help="market-data fields of md channels, comma-separated ids or names "
                             "(e.g. 31,84,86 or last_price,bid_price,ask_price; default: the gateway's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument("--events", action="store_true",
                        help="also print lifecycle events (state changes, disconnects, gaps, ...) on stdout")
    parser.add_argument("--duration", type=positive_float, metavar="SECONDS",
                        help="stop after SECONDS (default: run until Ctrl-C)")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    add_gateway_arguments(parser, "stream from an embedded gateway simulator (it places an order now and then)")
    parser.set_defaults(func=run)


def parse_fields(text: str | None) -> list[str] | None:
    """`--fields`: ids (`31`) or names (`last_price`) -> ids; ValueError naming an unknown name."""
    if text is None:
        return None
    result = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.isdigit():
            result.append(item)
        elif item in _NAME_TO_ID:
            result.append(_NAME_TO_ID[item])
        else:
            raise ValueError(f"--fields: {item!r} is neither a field id (such as 31) nor a field name "
                             "(such as last_price, bid_price, ask_price)")
    if not result:
        raise ValueError("--fields: expected comma-separated field ids or names, e.g. 31,84,86")
    return result


def parse_channels(channels: list[str], fields: list[str] | None,
                   account: str | None) -> list[tuple[str, dict[str, Any] | None]]:
    """Each channel string checked and completed: `(channel, data)`; ValueError says what is accepted."""
    result: list[tuple[str, dict[str, Any] | None]] = []
    for channel in channels:
        IbkrWsKey.from_channel(channel)  # ValueError naming the accepted channels
        prefix, _, target = channel.partition("+")
        if prefix in _NEEDS_TARGET and not target:
            raise ValueError(f"channel {channel!r} needs a target: {_NEEDS_TARGET[prefix]}")
        if prefix in _ACCOUNT_CHANNELS and not target:
            if not account:
                raise ValueError(f"channel {channel!r} needs an account: {prefix}+DU1234567, or pass --account")
            channel = f"{prefix}+{account}"
        result.append((channel, {"fields": fields} if prefix == "md" and fields else None))
    return result


class _Printer:
    """Writes lines to stdout; remembers a closed pipe (`| head`) so that the stream ends quietly."""

    def __init__(self, out: IO[str], as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.broken = False

    def message(self, key: IbkrWsKey, message: Any, received: float) -> int:
        lines = [json_line(key, message, received)] if self.as_json else format_lines(key, message, received)
        self._write(lines)
        return 1

    def event(self, event: WsEvent) -> None:
        self._write([event_line(event, self.as_json)])

    def _write(self, lines: list[str]) -> None:
        if self.broken or not lines:
            return
        try:
            self.out.write("\n".join(lines) + "\n")
        except BrokenPipeError:
            self.broken = True

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self.out.flush()
        except BrokenPipeError:
            self.broken = True


def run(args: argparse.Namespace) -> int:
    """Entry point of `ibkrws stream`; returns the exit code."""
    configure_logging(args.verbose)
    try:
        return _stream(args)
    except CommandError as exc:
        print(f"ibkrws stream: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_OK


def _stream(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise CommandError(f"--count must be at least 1, got {args.count}")
    try:
        fields = parse_fields(args.fields)
        specs = parse_channels(args.channels, fields, account_for(args))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with open_gateway(args, md_interval=0.25) as gateway:
        rest = gateway.rest_client(args.timeout)
        try:
            preflight(gateway, rest)
            client = gateway.ws_client(rest, args.timeout)
            try:
                return _pump(args, gateway, client, specs)
            finally:
                client.shutdown()
        finally:
            rest.close()


def _pump(args: argparse.Namespace, gateway: Gateway, client: IbkrWsClient,
          specs: list[tuple[str, dict[str, Any] | None]]) -> int:
    sink: queue.SimpleQueue[tuple[Any, Any, float]] = queue.SimpleQueue()

    def forward(key: Any) -> Callable[[Any], None]:
        return lambda item: sink.put((key, item, time.time()))

    for key in {IbkrWsKey.from_channel(channel) for channel, _ in specs}:
        client.on(key, forward(key))
    if args.events:
        client.on(_EVENTS, forward(_EVENTS))
    if not start_ready(client, args.timeout):
        raise CommandError(f"the gateway at {gateway.address} answers REST, but its WebSocket {gateway.ws_url} was "
                           f"not ready within {args.timeout:g} s (state: {client.state.value}); -v shows why")
    for channel, data in specs:
        try:
            if not client.subscribe(channel, data):
                print(f"ibkrws stream: {channel} not confirmed yet; the client keeps trying", file=sys.stderr)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    scenario = None
    if gateway.simulator is not None:
        from ibkrws.demo.scenario import Scenario

        scenario = Scenario(gateway.simulator, order_interval=1.5, drop_at=None)
        scenario.start()
    printer = _Printer(sys.stdout, args.json)
    stop = threading.Event()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    count = 0
    try:
        with stop_on_sigterm(stop):
            while not stop.is_set() and not printer.broken:
                wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if wait <= 0:
                    break
                try:
                    key, item, received = sink.get(timeout=wait)
                except queue.Empty:
                    continue
                if key == _EVENTS:
                    printer.event(item)
                else:
                    count += printer.message(key, item, received)
                if sink.empty():
                    printer.flush()
                if args.count is not None and count >= args.count:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        if scenario is not None:
            scenario.stop()
        printer.flush()
        if printer.broken:  # stdout's reader is gone: do not fail again at interpreter exit
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK
