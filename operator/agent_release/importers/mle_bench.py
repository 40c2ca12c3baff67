"""MLE-bench (`mlebench grade`): the grading report `<timestamp>_grading_report.json`.

`competition_reports` holds one entry per graded submission; each is one task:

* `any_medal` -> passed: MLE-bench's headline metric is the share of competitions
  with a Kaggle medal (bronze or better). `above_median` and `gold_medal` are
  stricter or looser readings; a team that wants one of them can convert the report
  to the jsonl format.
* everything else is wrong_result, for three reasons a note counts separately: no
  submission file (`submission_exists` false: the agent delivered nothing), an
  invalid one (`valid_submission` false: the grader could not score the CSV), or a
  valid score below the medal thresholds. All three are the agent's output falling
  short, not a failing tool call or a broken harness, and the report does not say
  whether a missing file came from a crash or from the time limit.

When `mlebench grade` gets several submissions of one competition (one per seed),
the k-th entry of a competition becomes seed k. The report holds no model, versions,
durations or costs: they come from flags.
"""

from __future__ import annotations

from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import NO_OPTIONS, ImportedRun, ImportFormatError, ReadOptions, expect_object, load_json

_HINT = "the MLE-bench grading report <timestamp>_grading_report.json"
_TOTALS = {
    "total_runs": None,
    "total_runs_with_submissions": "submission_exists",
    "total_valid_submissions": "valid_submission",
    "total_medals": "any_medal",
}


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one MLE-bench grading report."""
    file = str(path)
    root = expect_object(load_json(path, _HINT), file, "an MLE-bench grading report")
    reports = list(root.children("competition_reports"))
    if not reports:
        raise ImportFormatError(f"{file}: field 'competition_reports' is empty")
    rows: list[TaskResult] = []
    seen: dict[str, int] = {}
    no_submission = invalid = 0
    totals = dict.fromkeys(_TOTALS, 0)
    for report in reports:
        competition = report.text("competition_id")
        exists = report.flag("submission_exists")
        valid = report.flag("valid_submission")
        medal = report.flag("any_medal")
        if medal and not valid:
            raise report.error("any_medal", "false for an invalid submission")
        no_submission += not exists
        invalid += exists and not valid
        for key, field in _TOTALS.items():
            totals[key] += 1 if field is None else report.flag(field)
        seen[competition] = seen.get(competition, 0) + 1
        rows.append(
            TaskResult(
                task_id=competition,
                passed=medal,
                seed=seen[competition],
                failure=None if medal else FailureClass.WRONG_RESULT,
            )
        )
    for key, computed in totals.items():
        if key in root and root.count(key) != computed:
            raise ImportFormatError(
                f"{file}: field '{key}' is {root.count(key)}, "
                f"but competition_reports add up to {computed}"
            )

    notes = [
        f"{count} competition(s) {text}: wrong_result"
        for count, text in (
            (no_submission, "without a submission"),
            (invalid, "with an invalid submission"),
        )
        if count
    ]
    if max(seen.values()) > 1:
        notes.append(
            "competitions graded more than once: the k-th report of a competition is seed k"
        )
    return ImportedRun(
        source=path,
        results=rows,
        benchmark="mle-bench",
        capability=Capability.CODE,
        notes=notes,
    )
