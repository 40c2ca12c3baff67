"""Where the real benchmark outputs are: beside the repository, never inside it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def benchmarks_dir() -> Path:
    """`../shared/fixtures/benchmarks` (or AGENT_RELEASE_FIXTURES), holding SOURCES.md."""
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
