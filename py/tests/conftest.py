"""Shared fixtures of the ringroute Python suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "core" / "tests" / "data" / "native-ring-v1.json"


@pytest.fixture(scope="session")
def golden() -> dict:
    """The native ring spec v1 golden vectors, shared with Rust and C."""
    with GOLDEN.open() as f:
        return json.load(f)
