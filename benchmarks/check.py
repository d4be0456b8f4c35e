"""`make bench-check`: fail when ibkrws falls below half of its recorded burst ratio to the floor.

The ratio (ibkrws burst msg/s ÷ the aiohttp+orjson floor's, measured pair by pair in the same
run) is what `make bench` recorded in results.json. Comparing ratios rather than absolute rates
keeps the check meaningful on a different or busy machine. Takes about half a minute: five
interleaved pairs of 100k-message bursts, median of the pair ratios. Prints one line.
"""

from __future__ import annotations

import json
import statistics
import sys

import harness
from harness import Client, Scenario, Workspace
from run import RESULTS_JSON

PAIRS = 5


def main() -> int:
    try:
        recorded = float(json.loads(RESULTS_JSON.read_text())["check"]["ratio_to_floor"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        print(f"bench-check: no recorded ratio in {RESULTS_JSON.name} ({exc}): run `make bench` first")
        return 2
    python = sys.executable
    ours, floor = Client("ibkrws", "ibkrws", python), Client("floor", "floor", python)
    scenario = Scenario("burst", "burst", count=100_000, max_seconds=8)
    ws = Workspace()
    ratios, errors = [], []
    for i in range(PAIRS):
        pair = (ours, floor) if i % 2 == 0 else (floor, ours)
        rates = {}
        for client in pair:
            result = harness.measure(client, scenario, ws)
            if "rate" in result:
                rates[client.name] = result["rate"]
            else:
                errors.append(f"{client.name}: {result.get('error', 'no rate')}")
        if len(rates) == 2:
            ratios.append(rates["ibkrws"] / rates["floor"])
    if not ratios:
        print("bench-check: FAIL: no measurement: " + "; ".join(errors)[:300])
        return 1
    ratio, threshold = statistics.median(ratios), recorded / 2
    ok = ratio >= threshold
    print(f"bench-check: {'ok' if ok else 'FAIL'}: ibkrws/floor burst ratio {ratio:.2f} "
          f"(recorded {recorded:.2f}, fails below {threshold:.2f}; pairs {', '.join(f'{r:.2f}' for r in ratios)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
