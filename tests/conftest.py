"""Shared test fixtures.

The real benchmark outputs live beside the repository in `../shared/fixtures/benchmarks`
(never copied into it). AGENT_RELEASE_FIXTURES points elsewhere when needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.fixtures import benchmarks_dir


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The folder of real benchmark outputs described by its SOURCES.md."""
    return benchmarks_dir()
