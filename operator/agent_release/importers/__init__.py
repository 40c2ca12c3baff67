"""Benchmark importers: real harness outputs -> per-task rows -> an EvalReport.

Each format module reads one run (one PATH) into an `ImportedRun` of `TaskResult`
rows, classifying every task that did not pass in the failure taxonomy;
`build_report` turns the runs of one slice into a report, one seed per run. The
rules of each format, and why, are in docs/formats.md. Errors are `ImportFormatError`
(a file that cannot be read) and `ImportInputError` (a flag that is missing or
wrong); both are ValueErrors with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from . import (
    jsonl,
    mle_bench,
    openai_evals,
    osworld,
    swebench,
    tau2_bench,
    tau_bench,
    terminal_bench,
)
from .base import ImportedRun, ImportFormatError
from .report import ImportInputError, ReportFlags, build_report, slice_rows

FORMATS: Mapping[str, Callable[[Path], ImportedRun]] = MappingProxyType(
    {
        "swebench": swebench.read,
        "terminal-bench": terminal_bench.read,
        "tau-bench": tau_bench.read,
        "tau2-bench": tau2_bench.read,
        "openai-evals": openai_evals.read,
        "osworld": osworld.read,
        "mle-bench": mle_bench.read,
        "jsonl": jsonl.read,
    }
)


def read_run(fmt: str, path: Path) -> ImportedRun:
    """Read one run of format `fmt` (a FORMATS name) from `path`."""
    reader = FORMATS.get(fmt)
    if reader is None:
        raise ImportInputError(
            f"--format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    return reader(path)


__all__ = [
    "FORMATS",
    "ImportFormatError",
    "ImportInputError",
    "ImportedRun",
    "ReportFlags",
    "build_report",
    "read_run",
    "slice_rows",
]
