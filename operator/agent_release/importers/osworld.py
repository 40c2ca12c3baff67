"""OSWorld: the result folder tree that `run.py` writes.

Layout: `<root>/<action_space>/<observation_type>/<model>/<domain>/<task_id>/`, and
`lib_run_single.run_single_example` writes the task's score (`env.evaluate()`, a
float from 0 to 1) to `result.txt` there once the episode is evaluated. PATH is the
result root or any folder above one model's results; it must hold exactly one
`<action_space>/<observation_type>/<model>` run. A model name with a slash
("ByteDance-Seed/UI-TARS-1.5-7B") is written as nested folders, so the model is
everything between the observation-type folder and the domains.

* score >= 1.0 -> passed. A partial score (some evaluators return fractions) is not
  a solved task: wrong_result. OSWorld's own `show_result.py` averages the scores
  instead, so its success rate can be higher than this pass rate.
* a task folder without `result.txt` -> infra_error: the episode raised before
  evaluation (run.py then logs a generic "Time limit exceeded" into traj.jsonl for
  any exception) or is still running. `show_result.py` skips such tasks; here they
  count, because a crash is not a pass.

No durations, tokens or costs are in the tree; versions come from flags.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import NO_OPTIONS, ImportedRun, ImportFormatError, ReadOptions, read_bytes, show

_LAYOUT = "<root>/<action_space>/<observation_type>/<model>/<domain>/<task_id>/result.txt"
_OBSERVATION_TYPES = frozenset({"screenshot", "a11y_tree", "screenshot_a11y_tree", "som"})
# run.py skips this folder name when it looks for finished tasks.
_NOT_A_TASK = "onboard"


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one OSWorld run (one action space, observation type and model)."""
    if not path.is_dir():
        what = "is a file" if path.exists() else "no such folder"
        raise ImportFormatError(f"{path}: {what}; pass the OSWorld result folder ({_LAYOUT})")
    model_dirs = {score.parent.parent.parent for score in path.rglob("result.txt")}
    if not model_dirs:
        raise ImportFormatError(f"{path}: no result.txt under this folder (expected {_LAYOUT})")
    if len(model_dirs) > 1:
        runs = ", ".join(sorted(str(d.relative_to(path)) for d in model_dirs if d != path))
        raise ImportFormatError(
            f"{path}: holds the results of {len(model_dirs)} runs ({runs}): pass one "
            "<action_space>/<observation_type>/<model> folder"
        )
    model_dir = model_dirs.pop()
    if model_dir != path and path not in model_dir.parents:
        raise ImportFormatError(
            f"{path}: is a domain or task folder; pass the result root or a model "
            f"folder ({_LAYOUT})"
        )

    rows: list[TaskResult] = []
    partial = 0
    for domain in sorted(d for d in model_dir.iterdir() if d.is_dir()):
        for task in sorted(t for t in domain.iterdir() if t.is_dir() and t.name != _NOT_A_TASK):
            score_file = task / "result.txt"
            failure: FailureClass | None = FailureClass.INFRA_ERROR
            if score_file.is_file():
                score = _score(score_file)
                failure = None if score >= 1.0 else FailureClass.WRONG_RESULT
                partial += 0 < score < 1
            rows.append(
                TaskResult(
                    task_id=f"{domain.name}/{task.name}", passed=failure is None, failure=failure
                )
            )

    notes: list[str] = []
    missing = sum(row.failure is FailureClass.INFRA_ERROR for row in rows)
    if missing:
        notes.append(f"{missing} task folder(s) without result.txt: infra_error")
    if partial:
        notes.append(f"{partial} task(s) with a partial score (between 0 and 1): wrong_result")
    return ImportedRun(
        source=path,
        results=rows,
        benchmark="osworld",
        capability=Capability.GUI,
        model=_model(model_dir),
        notes=notes,
    )


def _score(file: Path) -> float:
    """The score in a result.txt: one number from 0 to 1 (written as f"{result}\\n")."""
    text = read_bytes(file, _LAYOUT).decode("utf-8", errors="replace").strip()
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not (math.isfinite(score) and 0 <= score <= 1):
        raise ImportFormatError(f"{file}: must hold a score from 0 to 1, got {show(text)}")
    return score


def _model(model_dir: Path) -> str:
    """The model folder(s) below the observation-type folder, joined with "/"."""
    parts = [model_dir.name]
    parent = model_dir.parent
    while parent.name and parent.name not in _OBSERVATION_TYPES and len(parts) < 4:
        parts.insert(0, parent.name)
        parent = parent.parent
    return "/".join(parts) if parent.name in _OBSERVATION_TYPES else model_dir.name
