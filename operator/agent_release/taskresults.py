"""Per-task results: the one in-memory shape every importer produces.

The same shape is the project's generic `jsonl` format (one JSON object per line,
documented in docs/formats.md), which is also what `agent-release import --results`
writes beside a report and what `slices[].results.uri` points to. Aggregating
per-task rows into per-seed counts happens here and only here, so the counts in a
report and the rows behind it cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .api.evalreport import DurationSummary, EvalReportSpec, SeedRun, TokenCounts
from .api.types import FailureClass
from .files import FileError, parse_json, read_bytes, read_text


class TaskResult(NamedTuple):
    """One attempt of one task by one seed (trial) of a run.

    A NamedTuple rather than a frozen dataclass: equally immutable, and three times
    faster to build, which is most of the cost of reading a 60k-row results file.
    """

    task_id: str
    passed: bool
    seed: int = 1
    failure: FailureClass | None = None
    duration_seconds: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    human_intervention: bool | None = None
    policy_violations: int | None = None
    rollback_trigger: bool | None = None
    slice: str | None = None

    def failure_class(self) -> FailureClass | None:
        """The taxonomy class of a task that did not pass (wrong_result when unknown)."""
        if self.passed:
            return None
        return self.failure or FailureClass.WRONG_RESULT


@dataclass(slots=True)
class TaskTally:
    """One task's attempts across seeds: what a paired comparison needs."""

    attempts: int = 0
    passed: int = 0
    interventions: int = 0
    intervention_known: bool = True

    @property
    def score(self) -> float:
        return self.passed / self.attempts

    @property
    def intervention_rate(self) -> float:
        return self.interventions / self.attempts


# slice name -> task id -> tally
PerTask = Mapping[str, Mapping[str, TaskTally]]


def tally(results: Iterable[TaskResult], slice_name: str) -> dict[str, TaskTally]:
    """Per-task tallies of the rows that belong to one slice."""
    tallies: dict[str, TaskTally] = defaultdict(TaskTally)
    for row in results:
        if row.slice is not None and row.slice != slice_name:
            continue
        entry = tallies[row.task_id]
        entry.attempts += 1
        entry.passed += row.passed
        if row.human_intervention is None:
            entry.intervention_known = False
        else:
            entry.interventions += row.human_intervention
    return dict(tallies)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default method)."""
    position = (len(sorted_values) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    weight = position - below
    return sorted_values[below] * (1 - weight) + sorted_values[above] * weight


def seed_runs(results: Iterable[TaskResult]) -> list[SeedRun]:
    """Per-seed counts of per-task rows, in seed order.

    An optional measure (cost, tokens, interventions, ...) is carried only when every
    row of the seed has it: a sum over some of the tasks would read as a total.
    Durations are the exception: p50/p95 over the rows that have one are still the
    quantiles of those tasks, and timed-out tasks often lack a duration.
    """
    by_seed: dict[int, list[TaskResult]] = defaultdict(list)
    for row in results:
        by_seed[row.seed].append(row)
    return [_seed_run(seed, rows) for seed, rows in sorted(by_seed.items())]


def _all_known(rows: Sequence[TaskResult], name: str) -> list[Any] | None:
    values = [getattr(row, name) for row in rows]
    return None if any(v is None for v in values) else values


def _seed_run(seed: int, rows: Sequence[TaskResult]) -> SeedRun:
    failures = dict.fromkeys(FailureClass, 0)
    for row in rows:
        failure = row.failure_class()
        if failure is not None:
            failures[failure] += 1
    durations = sorted(r.duration_seconds for r in rows if r.duration_seconds is not None)
    costs = _all_known(rows, "cost_usd")
    interventions = _all_known(rows, "human_intervention")
    violations = _all_known(rows, "policy_violations")
    rollbacks = _all_known(rows, "rollback_trigger")
    inputs = _all_known(rows, "input_tokens")
    outputs = _all_known(rows, "output_tokens")
    return SeedRun(
        seed=seed,
        tasks=len(rows),
        passed=sum(row.passed for row in rows),
        human_interventions=None if interventions is None else sum(interventions),
        policy_violations=None if violations is None else sum(violations),
        rollback_triggers=None if rollbacks is None else sum(rollbacks),
        cost_usd=None if costs is None else round(math.fsum(costs), 6),
        duration_seconds=(
            DurationSummary(
                p50=round(quantile(durations, 0.5), 3), p95=round(quantile(durations, 0.95), 3)
            )
            if durations
            else None
        ),
        tokens=(
            TokenCounts(input=sum(inputs), output=sum(outputs))
            if inputs is not None and outputs is not None
            else None
        ),
        failures={k: v for k, v in failures.items() if v},
    )


# -- the jsonl format -------------------------------------------------------------------

_NONE = type(None)
# Exact types per field: `type(v) in allowed` is both fast and strict (a JSON `true`
# is not a seed, a `1` is not `passed`).
_TYPES: dict[str, tuple[type, ...]] = {
    "task_id": (str,),
    "passed": (bool,),
    "seed": (int,),
    "failure": (str, _NONE),
    "duration_seconds": (int, float, _NONE),
    "cost_usd": (int, float, _NONE),
    "input_tokens": (int, _NONE),
    "output_tokens": (int, _NONE),
    "human_intervention": (bool, _NONE),
    "policy_violations": (int, _NONE),
    "rollback_trigger": (bool, _NONE),
    "slice": (str, _NONE),
}
_FAILURES = {c.value: c for c in FailureClass}


class TaskFileError(FileError):
    """A per-task results file that cannot be read; the message names file, line and field."""


def _problem(data: Any) -> str | None:
    """What is wrong with one decoded record, or None. One pass over the fields: this is
    the hot loop of reading a 60k-row file."""
    if type(data) is not dict:
        return f"expected a JSON object, got {type(data).__name__}"
    for name, value in data.items():
        allowed = _TYPES.get(name)
        if allowed is None:
            return f"unknown field {name!r}"
        kind = type(value)
        if kind not in allowed:
            return f"field {name!r} has the wrong type ({value!r})"
        if (kind is int or kind is float) and value < 0:
            return f"field {name!r} must not be negative ({value!r})"
    if "task_id" not in data or "passed" not in data:
        return f"missing field {'task_id' if 'task_id' not in data else 'passed'!r}"
    failure = data.get("failure")
    if failure is not None and failure not in _FAILURES:
        return f"field 'failure' is {failure!r}; expected one of {', '.join(_FAILURES)}"
    return None


def _row(data: dict[str, Any]) -> TaskResult:
    failure = data.get("failure")
    if failure is not None:
        data["failure"] = _FAILURES[failure]
    return TaskResult(**data)


def read_task_file(path: Path) -> list[TaskResult]:
    """Read a jsonl per-task results file (blank lines ignored).

    The lines are decoded in one `json.loads` of a JSON array, which is several
    times faster than one call per line on 60k-row files; only when that fails is
    the file decoded line by line, to name the line at fault.
    """
    text = read_text(path, "a per-task results file (jsonl)", TaskFileError)
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    try:
        records = json.loads("[" + ",".join(line for _, line in numbered) + "]")
    except (ValueError, RecursionError):  # invalid JSON, 5,000 digits, nested too deep
        for number, line in numbered:
            parse_json(line, f"{path}:{number}", TaskFileError)
        raise TaskFileError(f"{path}: invalid JSON lines") from None
    if len(records) != len(numbered):  # a line holding two values, e.g. `{...},{...}`
        raise TaskFileError(f"{path}: expected one JSON object per line")
    rows: list[TaskResult] = []
    for (number, _), data in zip(numbered, records, strict=True):
        problem = _problem(data)
        if problem is not None:
            raise TaskFileError(f"{path}:{number}: {problem}")
        rows.append(_row(data))
    return rows


def dump_task_lines(results: Iterable[TaskResult]) -> str:
    """The jsonl text of per-task rows, omitting unknown (None) fields."""
    lines = []
    for row in results:
        data = {k: v for k, v in row._asdict().items() if v is not None}
        lines.append(json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n"


# -- per-task results behind a report ---------------------------------------------------


def local_path(uri: str, base: Path) -> Path | None:
    """The local file a results URI names (relative to the report), or None if remote."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    if "://" in uri:
        return None
    path = Path(uri)
    return path if path.is_absolute() else base / path


def load_per_task(
    spec: EvalReportSpec, base: Path
) -> tuple[dict[str, dict[str, TaskTally]], list[str]]:
    """Tallies of every slice whose results pointer names a local file, and notes.

    The digest is checked when the pointer has one, and the rows must add up to the
    report's per-seed counts: a stale or swapped file is an error, not a silent mix.
    Remote URIs (s3://, https://) are not fetched; those slices are compared unpaired.
    """
    per_task: dict[str, dict[str, TaskTally]] = {}
    notes: list[str] = []
    files: dict[Path, list[TaskResult]] = {}
    for item in spec.slices:
        if item.results is None:
            continue
        path = local_path(item.results.uri, base)
        if path is None:
            notes.append(f"{item.name}: per-task results at {item.results.uri} not fetched")
            continue
        if path not in files:
            if item.results.sha256 is not None:
                _check_digest(path, item.results.sha256)
            files[path] = read_task_file(path)
        rows = [r for r in files[path] if r.slice in (None, item.name)]
        _check_counts(path, item.name, rows, item.seeds)
        per_task[item.name] = tally(rows, item.name)
    return per_task, notes


def _check_digest(path: Path, expected: str) -> None:
    actual = hashlib.sha256(read_bytes(path, "a per-task results file", TaskFileError)).hexdigest()
    if actual != expected:
        raise TaskFileError(
            f"{path}: sha256 is {actual}, the report's results.sha256 says {expected}"
        )


def _check_counts(
    path: Path, slice_name: str, rows: Sequence[TaskResult], seeds: Sequence[SeedRun]
) -> None:
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row.seed][0] += 1
        counts[row.seed][1] += row.passed
    for run in seeds:
        tasks, passed = counts.pop(run.seed, [0, 0])
        if (tasks, passed) != (run.tasks, run.passed):
            raise TaskFileError(
                f"{path}: slice {slice_name} seed {run.seed} has {tasks} rows with {passed} "
                f"passed, the report says {run.tasks} tasks with {run.passed} passed"
            )
    if counts:
        raise TaskFileError(
            f"{path}: slice {slice_name} has rows for seeds {sorted(counts)} "
            "that the report does not list"
        )
