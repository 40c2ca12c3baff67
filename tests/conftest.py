"""Shared test fixtures.

The real benchmark outputs live beside the repository in `../shared/fixtures/benchmarks`
(never copied into it). AGENT_RELEASE_FIXTURES points elsewhere when needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.fixtures import benchmarks_dir
from tests import fuzzing


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    """The folder of real benchmark outputs described by its SOURCES.md."""
    return benchmarks_dir()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzzing campaign's size: inputs and seconds per target (tests/fuzzing.py)."""
    lines = fuzzing.summary()
    if lines:
        mode = "campaign" if fuzzing.CAMPAIGN else "short run"
        terminalreporter.write_sep("=", f"fuzzing ({mode})")
        for line in lines:
            terminalreporter.write_line(line)
