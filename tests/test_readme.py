"""Every README code block marked `python runnable` runs against the simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ibkrws.simulator import Simulator

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python runnable\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    assert first_block.group(1).split() == ["make", "demo", "make", "test"]
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_runnable_block(index, tmp_path):
    script = tmp_path / f"block{index}.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    with Simulator(account_id="DU1234567", tls=True, heartbeat_interval=1.0, md_interval=0.1) as sim:
        env = dict(os.environ, IBIND_WS_URL=sim.ws_url, IBIND_REST_URL=sim.rest_url,
                   IBIND_ACCOUNT_ID=sim.account_id, IBIND_CACERT=sim.cacert)
        result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, f"block {index} failed:\n{BLOCKS[index]}\nstdout:\n{result.stdout}\n" \
                                   f"stderr:\n{result.stderr}"
    assert result.stdout.strip(), f"block {index} printed nothing"
