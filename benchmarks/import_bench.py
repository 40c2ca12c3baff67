"""Import of the 166 KB Terminal-Bench run file (80 trials), as `agent-release import` does."""

from __future__ import annotations

from collections.abc import Iterator

from agent_release.importers import ReportFlags, build_report, read_run
from builders.fixtures import benchmarks_dir

from .timing import Timing, measure

RUN = "terminal-bench/20250811_cursor-cli_claude-4-sonnet/run1_2025-08-10__05-27-18/results.json"
FLAGS = ReportFlags(
    agent="terminal-agent",
    model="claude-4-sonnet",
    runtime="1.0",
    dataset_version="0.1.1",
    harness_version="0.2.0",
)


def run() -> Iterator[Timing]:
    path = benchmarks_dir() / RUN

    def read_and_build() -> None:
        build_report([read_run("terminal-bench", path)], FLAGS)

    yield measure(
        f"import: terminal-bench results.json ({path.stat().st_size // 1024} KB)",
        read_and_build,
        runs=200,
        target_ms=50,
    )
