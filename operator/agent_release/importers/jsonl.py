"""The project's generic format: one `TaskResult` per line (see `taskresults.py`).

It is the format for any harness without an importer, and what `agent-release import
--results` writes beside a report, so a report can be rebuilt from its own rows.
Rows keep the seed they carry. A file whose rows name one `slice` proposes it as the
slice name; rows of several slices are told apart by `--slice` when the report is
built. Versions, model and run id come from flags.
"""

from __future__ import annotations

from pathlib import Path

from ..taskresults import TaskFileError, read_task_file
from .base import NO_OPTIONS, ImportedRun, ImportFormatError, ReadOptions


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read per-task rows from a jsonl file."""
    try:
        rows = read_task_file(path)
    except TaskFileError as error:
        raise ImportFormatError(str(error)) from None
    if not rows:
        raise ImportFormatError(f"{path}: no task results (the file has no rows)")
    slices = sorted({row.slice for row in rows if row.slice is not None})
    notes = [f"rows belong to {len(slices)} slices: {', '.join(slices)}"] if len(slices) > 1 else []
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=slices[0] if len(slices) == 1 else None,
        capability=None,
        notes=notes,
    )
