"""Shared fixtures: where the recorded frames live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RECORDED = SHARED / "fixtures" / "recorded"


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    if not (RECORDED / "ws").is_dir():
        pytest.fail(f"recorded fixtures not found at {RECORDED}: the shared/ folder must sit beside the repository")
    return RECORDED


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
