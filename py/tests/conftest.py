"""Shared fixtures of the ringroute Python suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "core" / "tests" / "data" / "native-ring-v2.json"


@pytest.fixture(scope="session")
def golden() -> dict:
    """The native ring spec v2 golden vectors, shared with Rust and C."""
    with GOLDEN.open() as f:
        return json.load(f)


def _hypothesis_profile() -> None:
    import os

    from hypothesis import settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    # CI: no example database on disk, and the same examples every run.
    settings.register_profile("ci", database=None, derandomize=True, deadline=None)
    # Elsewhere: failing examples are remembered under target/, not in the tree.
    database = DirectoryBasedExampleDatabase(str(REPO / "target" / "hypothesis"))
    settings.register_profile("dev", deadline=None, database=database)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


_hypothesis_profile()
