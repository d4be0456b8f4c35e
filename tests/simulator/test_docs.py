"""The Python example of docs/simulator.md runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_start_example_runs() -> None:
    text = (REPO / "docs" / "simulator.md").read_text()
    example = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("smd+265598 ") == 3
