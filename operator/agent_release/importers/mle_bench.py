"""MLE-bench (`mlebench grade`): the grading report, or a list of competition reports.

`mlebench grade` writes `<timestamp>_grading_report.json`, whose
`competition_reports` hold one entry per graded submission; run groups also keep
the entries as a plain JSON array (a `grading_summary.json`). Each entry is a task:

* it passes when it earned the medal of the pass rule: `any_medal` by default
  (MLE-bench's headline metric: bronze or better), `--pass above-median` or
  `--pass gold`;
* no submission file (`submission_exists` false) -> wrong_result: the agent
  delivered nothing (the report does not say whether it crashed or ran out of time);
* a submission the grader could not score (`valid_submission` false, score null)
  -> infra_error: there is no grade, so no verdict;
* a padded score -> infra_error: exactly 0 on a lower-is-better metric is a perfect
  error, and is what a run writes when it produced no real score (the tingtang2
  fixture's five raw "gold medals" include three such zeros); it is not a medal;
* a valid score that missed the rule -> wrong_result.

When a competition is graded several times (one submission per seed), its k-th
entry is seed k. The report holds no model, versions, durations or costs.
"""

from __future__ import annotations

from pathlib import Path

from ..api.types import Capability, FailureClass
from ..files import is_number
from ..taskresults import TaskResult
from .base import (
    NO_OPTIONS,
    ImportedRun,
    ImportFormatError,
    PassRule,
    ReadOptions,
    Record,
    expect_object,
    load_json,
)

_HINT = "an MLE-bench grading report (or a list of competition reports)"
_TOTALS = {
    "total_runs": None,
    "total_runs_with_submissions": "submission_exists",
    "total_valid_submissions": "valid_submission",
    "total_medals": "any_medal",
}
_KEY = "competition_reports"
_RULES = {
    PassRule.ANY_MEDAL: "any_medal",
    PassRule.ABOVE_MEDIAN: "above_median",
    PassRule.GOLD: "gold_medal",
}


def read(path: Path, options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one MLE-bench grading (a report object or a list of competition reports)."""
    file = str(path)
    data = load_json(path, _HINT)
    if isinstance(data, list):
        root = Record({_KEY: data}, file)
        prefix = ""
    else:
        root = expect_object(data, file, "an MLE-bench grading report")
        prefix = _KEY
    reports = list(root.children(_KEY))
    if not reports:
        raise ImportFormatError(
            f"{file}: {'field ' + repr(prefix) if prefix else 'the list'} is empty"
        )
    rule = options.pass_rule or PassRule.ANY_MEDAL
    medal_key = _RULES[rule]
    rows: list[TaskResult] = []
    seen: dict[str, int] = {}
    counts = {"no_submission": 0, "invalid": 0, "padded": 0}
    totals = dict.fromkeys(_TOTALS, 0)
    for entry in reports:
        # In a plain list, errors name '[i]', not 'competition_reports[i]'.
        report = entry if prefix else Record(entry.data, file, entry.path.removeprefix(_KEY))
        competition = report.text("competition_id")
        exists = report.flag("submission_exists")
        valid = report.flag("valid_submission")
        medal = report.flag(medal_key)
        if report.flag("any_medal") and not valid:
            raise report.error("any_medal", "false for an invalid submission")
        for key, field in _TOTALS.items():
            totals[key] += 1 if field is None else report.flag(field)
        failure: FailureClass | None = None
        if not exists:
            failure = FailureClass.WRONG_RESULT
            counts["no_submission"] += 1
        elif not valid:
            failure = FailureClass.INFRA_ERROR
            counts["invalid"] += 1
        elif _padded(report):
            failure = FailureClass.INFRA_ERROR
            counts["padded"] += 1
        elif not medal:
            failure = FailureClass.WRONG_RESULT
        seen[competition] = seen.get(competition, 0) + 1
        rows.append(
            TaskResult(
                task_id=competition,
                passed=failure is None,
                seed=seen[competition],
                failure=failure,
            )
        )
    for key, computed in totals.items():
        if prefix and key in root and root.count(key) != computed:
            raise ImportFormatError(
                f"{file}: field '{key}' is {root.count(key)}, "
                f"but competition_reports add up to {computed}"
            )

    notes = [
        f"{count} competition report(s) {text}"
        for count, text in (
            (counts["no_submission"], "without a submission: wrong_result"),
            (counts["invalid"], "with a submission the grader could not score: infra_error"),
            (counts["padded"], "with a padded score (0 on a lower-is-better metric): infra_error"),
        )
        if count
    ]
    notes.append(f"a pass is {medal_key} (--pass {rule.value})")
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


def _padded(report: Record) -> bool:
    """A score of exactly 0 on a lower-is-better metric: a placeholder, not a result."""
    score = report.raw("score")
    return report.opt_flag("is_lower_better") is True and is_number(score) and score == 0
