"""Shared test fixtures.

The real benchmark outputs live beside the repository in `../shared/fixtures/benchmarks`
(never copied into it). AGENT_RELEASE_FIXTURES points elsewhere when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _benchmarks_dir() -> Path:
    candidates = [
        os.environ.get("AGENT_RELEASE_FIXTURES", ""),
        str(REPO.parent / "shared" / "fixtures" / "benchmarks"),
        "/work/shared/fixtures/benchmarks",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "SOURCES.md").is_file():
            return Path(candidate)
    raise RuntimeError(
        "benchmark fixtures not found: set AGENT_RELEASE_FIXTURES to the folder holding "
        "SOURCES.md (normally ../shared/fixtures/benchmarks beside the repository)"
    )


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The folder of real benchmark outputs described by its SOURCES.md."""
    return _benchmarks_dir()
