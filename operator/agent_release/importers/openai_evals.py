"""OpenAI Evals (`oaieval ... --record_path`): the record JSONL of one eval run.

The record holds a `spec` line, event lines (`{run_id, event_id, sample_id, type,
data, ...}`) and, when the run finished, a `final_report` line. Events are flushed
in batches and again at exit, so `final_report` may come before the last events:
lines are read in any order. Each sample (`sample_id`) is one task:

* with `match` events, a sample passes when all of its matches are `correct`;
* without any `match` event, a numeric `score` in `metrics` events (model-graded
  evals with `choice_scores`) decides: a score of 1 passes, anything lower is
  wrong_result; a null score is no outcome;
* a sample that has events but no outcome (an `error` event, or a run that stopped
  before grading it) is infra_error: its outcome is unknown, and never a pass.

A record with no outcome for any sample has nothing per-sample to count. If its
`final_report` has `accuracy` and `n_samples` whose product is a whole number, the
counts come from there, under placeholder task ids (`per_task` is False, so no
paired comparison uses them), and the failures are wrong_result (the report says
nothing finer). Otherwise the import fails: an incomplete run has unknown outcomes,
and inventing them (as passes or as failures) would mislead a release decision.
"""

from __future__ import annotations

from pathlib import Path

from ..api.types import Capability, FailureClass
from ..taskresults import TaskResult
from .base import (
    MAX_TASKS,
    NO_OPTIONS,
    ImportedRun,
    ImportFormatError,
    ReadOptions,
    Record,
    expect_object,
    parse_json,
    placeholder_rows,
    read_bytes,
    whole_passes,
)

_HINT = "an OpenAI Evals record file (JSONL)"


def read(path: Path, _options: ReadOptions = NO_OPTIONS) -> ImportedRun:
    """Read one eval run from its record file."""
    file = str(path)
    spec: Record | None = None
    final: Record | None = None
    matches: dict[str, list[bool]] = {}
    scores: dict[str, list[bool]] = {}
    samples: dict[str, None] = {}  # every sample with an event, in order of appearance
    for number, line in enumerate(read_bytes(path, _HINT).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        record = expect_object(parse_json(line, where), where, "an OpenAI Evals record line")
        if "spec" in record:
            if spec is not None:
                raise ImportFormatError(f"{where}: a second 'spec' line: one record file per run")
            spec = record.child("spec")
        elif "final_report" in record:
            final = record.child("final_report")
        elif "type" in record:
            kind, sample = record.text("type"), record.text("sample_id")
            samples[sample] = None
            if kind == "match":
                matches.setdefault(sample, []).append(record.child("data").flag("correct"))
            elif kind == "metrics":
                score = record.child("data").opt_number("score", upper=1.0)
                if score is not None:
                    scores.setdefault(sample, []).append(score >= 1.0)
        else:
            raise ImportFormatError(
                f"{where}: expected a 'spec', an event (with 'type') or a 'final_report' line"
            )
    if spec is None:
        raise ImportFormatError(f"{file}: no 'spec' line: not an OpenAI Evals record file")

    eval_name = spec.text("eval_name")
    notes: list[str] = []
    outcomes = matches or scores
    if outcomes:
        rows = _sample_rows(samples, outcomes)
        ungraded = sum(row.failure is FailureClass.INFRA_ERROR for row in rows)
        if ungraded:
            notes.append(f"{ungraded} sample(s) have events but no outcome: infra_error")
        if final is None:
            notes.append("no final_report line: the run may have stopped before the end")
        per_task = True
    elif final is not None:
        rows = _report_rows(final, eval_name)
        notes.append(
            "no per-sample outcomes: counts come from final_report (accuracy x n_samples), "
            "under placeholder task ids; failures are wrong_result"
        )
        per_task = False
    else:
        raise ImportFormatError(
            f"{file}: incomplete record: {len(samples)} sample(s) have events but none has a "
            "'match' event or a numeric metrics 'score', and there is no final_report; "
            "the outcomes are unknown"
        )
    return ImportedRun(
        source=path,
        results=rows,
        benchmark=eval_name,
        capability=Capability.BUSINESS,
        model=",".join(spec.texts("completion_fns")) or None,
        run_id=spec.opt_text("run_id"),
        notes=notes,
        per_task=per_task,
    )


def _sample_rows(samples: dict[str, None], outcomes: dict[str, list[bool]]) -> list[TaskResult]:
    rows = []
    for sample in samples:
        graded = outcomes.get(sample)
        if graded is None:
            failure: FailureClass | None = FailureClass.INFRA_ERROR
        else:
            failure = None if all(graded) else FailureClass.WRONG_RESULT
        rows.append(TaskResult(task_id=sample, passed=failure is None, failure=failure))
    return rows


def _report_rows(final: Record, eval_name: str) -> list[TaskResult]:
    """Placeholder rows that carry the counts of a final report."""
    if "accuracy" not in final or "n_samples" not in final:
        raise ImportFormatError(
            f"{final.file}: the record has no per-sample outcomes and its final_report has no "
            "'accuracy' and 'n_samples' to count passes from"
        )
    accuracy = final.number("accuracy", upper=1.0)
    total = final.count("n_samples", MAX_TASKS)
    passed = whole_passes(
        accuracy,
        total,
        f"{final.file}: field 'final_report.accuracy' ({accuracy}) times 'n_samples' ({total})",
    )
    return placeholder_rows(
        eval_name, [(None, passed), (FailureClass.WRONG_RESULT, total - passed)]
    )
