"""`ibkrws demo` (what `make demo` runs): an embedded simulator, a client, and a view of what flows.

On a terminal: a live view (market data, latest orders, P&L, connection state and heartbeat age,
events) until Ctrl-C or `q`, then a one-line summary; exit 0. Otherwise (CI, pipes): plain lines
with a marker word first (`md`, `order`, `pnl`, `state`, `reconnected`, ...), for a bounded time
(25 s unless `--duration` or `$IBKRWS_DEMO_DURATION` says otherwise).

Meanwhile the simulator places, fills and cancels orders, and drops the connection once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from ibkrws import IbkrWsClient
from ibkrws.commands.common import stop_on_sigterm
from ibkrws.demo.scenario import DEFAULT_CONIDS, Scenario
from ibkrws.demo.terminal import KeyWatcher
from ibkrws.demo.tracker import NoteHandler, Tracker
from ibkrws.demo.view import PlainPrinter, render
from ibkrws.simulator import Simulator

DURATION_ENV = "IBKRWS_DEMO_DURATION"
PLAIN_DURATION = 25.0
"""Seconds the plain (non-terminal) demo runs by default."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0")
    return value


def _conids(text: str) -> list[int]:
    try:
        conids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated conids such as 265598,8314, got {text!r}") from None
    if not conids or any(c <= 0 for c in conids):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive conids, got {text!r}")
    return conids


def register(sub: Any) -> None:
    """Add the `demo` sub-command to an argparse sub-parsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="watch live data from an embedded gateway simulator (what `make demo` runs)",
        description="Start the gateway simulator, connect an IbkrWsClient to it and show what flows: market "
                    "data, orders, P&L, connection state. The simulator places orders and drops the connection "
                    "once, so that the recovery shows. On a terminal it runs until Ctrl-C (or q); otherwise it "
                    f"prints plain lines for {PLAIN_DURATION:g} s.",
    )
    parser.add_argument("--duration", type=_seconds, metavar="SECONDS",
                        help=f"stop after SECONDS, 0 for never (default: ${DURATION_ENV}, else until Ctrl-C on a "
                             f"terminal and {PLAIN_DURATION:g} s otherwise)")
    parser.add_argument("--plain", action="store_true", help="print plain lines even on a terminal")
    parser.add_argument("--conids", type=_conids, default=list(DEFAULT_CONIDS), metavar="LIST",
                        help="instruments to watch, comma-separated (default: AAPL, MSFT, NVDA, TSLA, IBM, EUR.USD)")
    parser.add_argument("--interval", type=_positive, default=2.0, metavar="SECONDS",
                        help="plain output: seconds between market-data snapshots (default 2)")
    parser.add_argument("--drop-at", type=_seconds, metavar="SECONDS",
                        help="when the simulator drops the connection (default: 10 s, or 40%% of a shorter "
                             "--duration)")
    parser.add_argument("--no-drop", action="store_true", help="do not drop the connection")
    parser.add_argument("--order-interval", type=_positive, metavar="SECONDS",
                        help="seconds between simulated order actions (default: 2, less for a short --duration)")
    parser.add_argument("--md-interval", type=_positive, default=0.25, metavar="SECONDS",
                        help="seconds between the simulator's market-data ticks (default 0.25)")
    parser.add_argument("--seed", type=int, help="seed of the simulator's synthetic data")
    parser.set_defaults(func=run)


def _duration(args: argparse.Namespace, live: bool) -> float | None:
    """Seconds to run, None for until Ctrl-C."""
    duration = args.duration
    if duration is None and os.environ.get(DURATION_ENV):
        duration = _seconds(os.environ[DURATION_ENV])
    if duration is None:
        return None if live else PLAIN_DURATION
    return duration or None


@contextlib.contextmanager
def _capture_logs(tracker: Tracker) -> Iterator[None]:
    """Library warnings go to the tracker (the view shows them) instead of over the view."""
    logger = logging.getLogger("ibkrws")
    handler = NoteHandler(tracker)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore further Ctrl-C while shutting down, so that cleanup and the summary always complete."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    """Entry point of `ibkrws demo`; returns the exit code (0 after Ctrl-C too)."""
    try:
        return _run(args)
    except KeyboardInterrupt:  # before the demo was up: nothing to summarise
        return 0


def _run(args: argparse.Namespace) -> int:
    live = sys.stdout.isatty() and not args.plain
    try:
        duration = _duration(args, live)
    except argparse.ArgumentTypeError as exc:
        print(f"ibkrws demo: ${DURATION_ENV}: {exc}", file=sys.stderr)
        return 2
    drop_at = None if args.no_drop else args.drop_at
    if drop_at is None and not args.no_drop:
        drop_at = 10.0 if duration is None else min(10.0, duration * 0.4)
    order_interval = args.order_interval or (2.0 if duration is None else max(0.5, min(2.0, duration / 8)))
    stop = threading.Event()
    try:
        sim = Simulator(heartbeat_interval=1.0, md_interval=args.md_interval, pnl_interval=1.0,
                        seed=args.seed).start()
    except OSError as exc:
        print(f"ibkrws demo: cannot start the simulator: {exc}", file=sys.stderr)
        return 2
    summary = ""
    try:
        client = IbkrWsClient(url=sim.ws_url, account_id=sim.account_id, cacert=sim.cacert, timeout=3,
                              subscription_timeout=0.5, reconnect_backoff_max=2.0)
        tracker = Tracker(client, args.conids)
        scenario = Scenario(sim, order_interval=order_interval, drop_at=drop_at, conids=args.conids,
                            note=tracker.note, seed=args.seed)
        printer = None if live else PlainPrinter(tracker, sys.stdout, args.interval)
        deadline = None if duration is None else time.monotonic() + duration
        with _capture_logs(tracker), stop_on_sigterm(stop):
            try:
                client.start()
                for conid in args.conids:
                    client.subscribe(f"md+{conid}")
                client.subscribe("or")
                client.subscribe("pl")
                scenario.start()
                title = f"ibkrws demo: simulator {sim.ws_url}, account {sim.account_id}"
                if printer is None:
                    _live(tracker, title, stop, deadline)
                else:
                    _plain(printer, sim, stop, deadline, duration)
            except KeyboardInterrupt:
                pass
            finally:
                with _no_interrupts():
                    scenario.stop()
                    tracker.poll()
                    summary = tracker.summary()
                    if printer is not None:
                        for note in tracker.take_notes():
                            printer.line(note.kind, note.text)
                    client.shutdown()
    finally:
        with _no_interrupts():
            sim.stop()
    _print_summary(summary)
    return 0


def _live(tracker: Tracker, title: str, stop: threading.Event, deadline: float | None) -> None:
    from rich.console import Console, RenderableType
    from rich.live import Live

    console = Console()

    def view() -> RenderableType:
        return render(tracker, title, console.height, console.width)

    tracker.poll()
    with KeyWatcher(stop), Live(view(), console=console, auto_refresh=False, redirect_stderr=False) as live:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            stop.wait(0.25)
            tracker.poll()
            live.update(view(), refresh=True)


def _plain(printer: PlainPrinter, sim: Simulator, stop: threading.Event, deadline: float | None,
           duration: float | None) -> None:
    tracker = printer.tracker
    until = "until Ctrl-C" if duration is None else f"for {duration:g} s"
    printer.line("demo", f"simulator {sim.ws_url}, account {sim.account_id}, {len(tracker.conids)} instruments; "
                         f"running {until}")
    with KeyWatcher(stop):  # `make demo | tee log` on a terminal: Ctrl-C ends the demo, not make and tee
        while not stop.is_set() and not printer.broken:
            tracker.poll()
            printer.tick(time.monotonic())
            if deadline is not None and time.monotonic() >= deadline:
                return
            stop.wait(0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic())))


def _print_summary(summary: str) -> None:
    if not summary:
        return
    try:
        print(f"summary {summary}", flush=True)
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
