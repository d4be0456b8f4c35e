"""The `ibkrws` command line: each sub-command lives beside the feature it drives."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ibkrws",
        description="Stream live data from the IBKR Client Portal Web API WebSocket.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from ibkrws.commands.health import register as register_health
    from ibkrws.commands.stream import register as register_stream
    from ibkrws.demo.cli import register as register_demo
    from ibkrws.simulator.cli import register as register_simulate

    register_demo(sub)
    register_stream(sub)
    register_health(sub)
    register_simulate(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result
