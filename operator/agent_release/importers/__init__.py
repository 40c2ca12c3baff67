"""Benchmark importers: real harness outputs -> per-task rows -> an EvalReport.

Each format module reads one run (one PATH) into an `ImportedRun` of `TaskResult`
rows, classifying every task that did not pass in the failure taxonomy; `read_runs`
reads the PATHs of a command line (an inspect log directory is its logs), with the
reading options (`ReadOptions`) of the formats that take them; `build_report` turns
the runs of one slice into a report, one seed per run. The
rules of each format, and why, are in docs/formats.md. Errors are `ImportFormatError`
(a file that cannot be read) and `ImportInputError` (a flag that is missing or
wrong); both are ValueErrors with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from . import (
    harbor,
    inspect_logs,
    jsonl,
    lm_eval,
    mle_bench,
    openai_evals,
    osworld,
    swebench,
    tau2_bench,
    tau_bench,
    terminal_bench,
)
from .base import NO_OPTIONS, ImportedRun, ImportFormatError, PassRule, ReadOptions
from .report import ImportInputError, ReportFlags, build_report, slice_rows

Reader = Callable[[Path, ReadOptions], ImportedRun]

FORMATS: Mapping[str, Reader] = MappingProxyType(
    {
        "swebench": swebench.read,
        "terminal-bench": terminal_bench.read,
        "harbor": harbor.read,
        "tau-bench": tau_bench.read,
        "tau2-bench": tau2_bench.read,
        "openai-evals": openai_evals.read,
        "osworld": osworld.read,
        "mle-bench": mle_bench.read,
        "inspect": inspect_logs.read,
        "lm-eval": lm_eval.read,
        "jsonl": jsonl.read,
    }
)
# Formats whose PATH may stand for several runs (an inspect log directory).
_EXPAND: Mapping[str, Callable[[Path], list[Path]]] = MappingProxyType(
    {"inspect": inspect_logs.expand}
)
# The reading options and the formats that take them: an option given to another
# format is refused rather than silently ignored.
_OPTIONS = {
    "scorer": ("--scorer", ("inspect", "harbor", "lm-eval")),
    "pass_rule": ("--pass", ("mle-bench",)),
}


def read_run(fmt: str, path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one run of format `fmt` (a FORMATS name) from `path`."""
    return _reader(fmt, options)(path, options)


def read_runs(
    fmt: str, paths: Iterable[Path], options: ReadOptions = NO_OPTIONS
) -> list[ImportedRun]:
    """The runs the PATHs stand for, in order (a log directory is its log files)."""
    reader = _reader(fmt, options)
    expand = _EXPAND.get(fmt)
    return [reader(one, options) for path in paths for one in (expand(path) if expand else [path])]


def _reader(fmt: str, options: ReadOptions) -> Reader:
    reader = FORMATS.get(fmt)
    if reader is None:
        raise ImportInputError(
            f"--format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"
        )
    for name, (flag, formats) in _OPTIONS.items():
        if getattr(options, name) is not None and fmt not in formats:
            raise ImportInputError(f"{flag}: only for --format {' or '.join(formats)}")
    return reader


__all__ = [
    "FORMATS",
    "ImportFormatError",
    "ImportInputError",
    "ImportedRun",
    "PassRule",
    "ReadOptions",
    "ReportFlags",
    "build_report",
    "read_run",
    "read_runs",
    "slice_rows",
]
