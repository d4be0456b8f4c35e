"""``ibkrws simulate``: run the gateway simulator in the foreground until SIGINT or SIGTERM.

Prints exactly one line once connections are accepted, then nothing unless something goes wrong::

    rest_url=https://127.0.0.1:5000/v1/api/ ws_url=wss://127.0.0.1:5000/v1/api/ws account=DU1234567 cacert=/tmp/...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from typing import Any

from ibkrws.simulator.runner import AsyncSimulator


def register(sub: Any) -> None:
    """Add the ``simulate`` sub-command to an ``argparse`` sub-parsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="run the IBKR gateway simulator (REST + WebSocket) in the foreground",
        description="Serve a simulated IBKR Client Portal gateway: REST under /v1/api/ and the WebSocket at "
        "/v1/api/ws on one port. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on, 0 for a free one (default 5000)")
    parser.add_argument("--no-tls", action="store_true", help="serve plain http:// and ws:// instead of TLS")
    parser.add_argument("--account", default="DU1234567", help="simulated account id (default DU1234567)")
    parser.add_argument("--record", metavar="PATH", help="record every WebSocket frame to PATH (JSON lines)")
    parser.add_argument("--seed", type=int, help="seed for deterministic synthetic data")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between system heartbeats (default 10)")
    parser.add_argument("--md-interval", type=float, default=0.5, metavar="SECONDS",
                        help="seconds between market-data ticks (default 0.5)")
    parser.set_defaults(func=run)
    replay = sub.add_parser(
        "replay",
        help="replay a recording (record_to / --record JSON lines) to clients, as a gateway would",
        description="Serve the WebSocket (and tickle) of a gateway that plays back the frames of a recording "
        "in order, pacing answers on the client's own requests. Stops on Ctrl-C (SIGINT) or SIGTERM.",
    )
    replay.add_argument("path", help="recording in the recorded-fixture format (JSON lines)")
    replay.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    replay.add_argument("--port", type=int, default=5000, help="port, 0 for a free one (default 5000)")
    replay.add_argument("--tls", action="store_true", help="serve wss:// with a self-signed certificate")
    replay.add_argument("--timing", action="store_true", help="keep the recorded gaps between frames")
    replay.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """Entry point of ``ibkrws replay``."""
    from ibkrws.simulator.replay import Replayer

    try:
        replayer = Replayer(args.path, tls=args.tls, timing=args.timing, host=args.host, port=args.port).start()
    except (OSError, ValueError) as exc:
        print(f"ibkrws replay: {exc}", file=sys.stderr)
        return 1
    print(f"rest_url={replayer.rest_url} ws_url={replayer.ws_url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(3600):
            pass
    finally:
        replayer.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point of ``ibkrws simulate``; returns the process exit code."""
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:  # a signal that arrived before the handlers were installed
        return 0


async def _serve(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        sim = AsyncSimulator(account_id=args.account, tls=not args.no_tls, host=args.host, port=args.port,
                             record_to=args.record, seed=args.seed, heartbeat_interval=args.heartbeat_interval,
                             md_interval=args.md_interval)
        await sim.start()
    except (OSError, ValueError) as exc:
        print(f"ibkrws simulate: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    line = f"rest_url={sim.rest_url} ws_url={sim.ws_url} account={sim.account_id}"
    if sim.cacert:
        line += f" cacert={sim.cacert}"
    print(line, flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return 0
