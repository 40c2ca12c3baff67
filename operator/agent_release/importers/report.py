"""Several imported runs of one slice -> one EvalReport, one seed per run.

Values come from two places: what the files say (`ImportedRun`) and what the command
line says (`ReportFlags`). A flag always wins; a file value is used when the flag is
absent; a value neither gives raises `ImportInputError` naming the flag to pass.
Runs of one slice must agree on what the files say (benchmark, model, dataset and
harness version, run id): a disagreement is refused rather than resolved by picking
one, because seeds of different datasets or models are not seeds of one slice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from ..api.evalreport import (
    Candidate,
    EvalReport,
    EvalReportSpec,
    ResultsPointer,
    Slice,
    Suite,
)
from ..api.meta import ObjectMeta
from ..api.types import Capability, Stage
from ..taskresults import TaskResult, seed_runs
from .base import ImportedRun

_NAME_INVALID = re.compile(r"[^a-z0-9.-]+")


class ImportInputError(ValueError):
    """Missing or contradictory input for a report; the one-line message names the flag."""


@dataclass(frozen=True, slots=True)
class ReportFlags:
    """What the command line says about the report; None means "as the files say"."""

    slice_name: str | None = None  # --slice
    capability: Capability | None = None  # --capability
    agent: str | None = None  # --agent
    model: str | None = None  # --model
    runtime: str | None = None  # --runtime
    tools: Mapping[str, str] = field(default_factory=dict)  # --tool NAME=VERSION
    run_id: str | None = None  # --run-id
    stage: Stage | None = None  # --stage (default: prerelease for business, else offline)
    suite_name: str | None = None  # --suite (default: the slice name)
    dataset_version: str | None = None  # --dataset-version
    harness_version: str | None = None  # --harness-version
    holdout: bool = False  # --holdout
    name: str | None = None  # --name (default: <agent>-<run id>)
    namespace: str | None = None  # --namespace
    results_uri: str | None = None  # --results-uri
    results_sha256: str | None = None  # --results-sha256


def build_report(runs: Sequence[ImportedRun], flags: ReportFlags) -> EvalReport:
    """One EvalReport with one slice whose seeds are the given runs, in PATH order.

    Seeds keep the numbers their rows carry when those differ between runs (trials
    of one file, or jsonl rows); otherwise the runs are numbered 1..N in PATH order.
    """
    required = _Required()
    slice_name = required(_proposed_slice(runs, flags), "--slice", "the slice name")
    capability = required(
        flags.capability or _agreed(runs, "capability", "the capability", "pass --capability"),
        "--capability",
        "the capability of the slice",
    )
    model = required(
        flags.model or _agreed(runs, "model", "the model", "pass --model if they are one"),
        "--model",
        "the evaluated model",
    )
    dataset_version = required(
        flags.dataset_version
        or _agreed(
            runs,
            lambda run: run.dataset_version_of(slice_name),
            "the dataset version",
            "seeds share one dataset",
        ),
        "--dataset-version",
        "the dataset version",
    )
    harness_version = required(
        flags.harness_version
        or _agreed(runs, "harness_version", "the harness version", "seeds share one harness"),
        "--harness-version",
        "the harness version",
    )
    run_id = required(
        flags.run_id or _agreed(runs, "run_id", "the run id", "pass --run-id for the report"),
        "--run-id",
        "the eval run id",
    )
    agent = required(flags.agent, "--agent", "the agent service this report evaluates")
    runtime = required(flags.runtime, "--runtime", "the agent runtime version")
    required.check()

    results = _seeded(runs, slice_name)
    pointer = None
    if flags.results_uri is not None:
        pointer = _build(
            ResultsPointer,
            {"uri": "--results-uri", "sha256": "--results-sha256"},
            uri=flags.results_uri,
            sha256=flags.results_sha256,
        )
    spec = _build(
        EvalReportSpec,
        {"agent": "--agent", "run_id": "--run-id", "stage": "--stage"},
        agent=agent,
        stage=flags.stage
        or (Stage.PRERELEASE if capability is Capability.BUSINESS else Stage.OFFLINE),
        run_id=run_id,
        candidate=_build(
            Candidate,
            {"model": "--model", "runtime": "--runtime", "tools": "--tool"},
            model=model,
            runtime=runtime,
            tools=dict(flags.tools),
        ),
        suite=_build(
            Suite,
            {
                "name": "--suite",
                "dataset_version": "--dataset-version",
                "harness_version": "--harness-version",
            },
            name=flags.suite_name or slice_name,
            dataset_version=dataset_version,
            harness_version=harness_version,
            holdout=flags.holdout,
        ),
        slices=[
            _build(
                Slice,
                {"name": "--slice", "capability": "--capability", "seeds": "PATH"},
                name=slice_name,
                capability=capability,
                seeds=seed_runs(results),
                results=pointer,
            )
        ],
    )
    metadata = _build(
        ObjectMeta,
        {"name": "--name", "namespace": "--namespace"},
        name=flags.name or _object_name(agent, run_id),
        namespace=flags.namespace,
    )
    return _build(EvalReport, {}, metadata=metadata, spec=spec)


def slice_rows(runs: Sequence[ImportedRun], flags: ReportFlags) -> list[TaskResult]:
    """The per-task rows behind the report `build_report` makes, seeds as it numbers them.

    These are what `--results` writes, so the file and the report's counts agree.
    """
    return _seeded(runs, _slice_name(runs, flags))


def _slice_name(runs: Sequence[ImportedRun], flags: ReportFlags) -> str:
    required = _Required()
    name = required(_proposed_slice(runs, flags), "--slice", "the slice name")
    required.check()
    return name


def _proposed_slice(runs: Sequence[ImportedRun], flags: ReportFlags) -> str | None:
    if not runs:
        raise ImportInputError("no PATH given: pass at least one benchmark output")
    name: str | None = flags.slice_name or _agreed(
        runs, "benchmark", "the benchmark", "import them separately, or pass --slice"
    )
    return name


def _agreed(
    runs: Sequence[ImportedRun],
    attribute: str | Callable[[ImportedRun], Any],
    what: str,
    hint: str,
) -> Any:
    """The value all runs give (None if none does); runs that disagree are refused."""
    sources: dict[Any, str] = {}
    for run in runs:
        value = attribute(run) if callable(attribute) else getattr(run, attribute)
        if value is not None:
            sources.setdefault(value, str(run.source))
    if len(sources) > 1:
        listed = ", ".join(f"{value} ({source})" for value, source in sources.items())
        raise ImportInputError(
            f"the runs disagree on {what}: {listed}" + (f"; {hint}" if hint else "")
        )
    return next(iter(sources), None)


class _Required:
    """Values that a flag or the files must give; the missing ones, all in one error.

    A person who left out several flags learns them all from one run, not one per
    run. Calling the collector records a missing value and returns it as given (so
    None); `check()` must run before any of them is used.
    """

    def __init__(self) -> None:
        self.missing: list[tuple[str, str]] = []

    def __call__[T](self, value: T | None, flag: str, what: str) -> T:
        if value is None:
            self.missing.append((flag, what))
        return cast(T, value)

    def check(self) -> None:
        if self.missing:
            flags = ", ".join(flag for flag, _ in self.missing)
            whats = ", ".join(what for _, what in self.missing)
            raise ImportInputError(f"{flags}: required: the files do not say {whats}")


def _seeded(runs: Sequence[ImportedRun], slice_name: str) -> list[TaskResult]:
    """The rows of the slice, with seeds unique across runs (see build_report)."""
    per_run: list[list[TaskResult]] = []
    for run in runs:
        rows = [row for row in run.results if row.slice in (None, slice_name)]
        if not rows:
            slices = sorted({row.slice for row in run.results if row.slice})
            raise ImportInputError(
                f"--slice: {run.source} has no rows of slice {slice_name!r} "
                f"(its rows belong to {', '.join(slices)})"
            )
        per_run.append(rows)
    seed_sets = [{row.seed for row in rows} for rows in per_run]
    if sum(map(len, seed_sets)) == len(set().union(*seed_sets)):
        return [row for rows in per_run for row in rows]
    renumbered: list[TaskResult] = []
    for rows, seeds in zip(per_run, seed_sets, strict=True):
        first = len({row.seed for row in renumbered}) + 1
        mapping = {seed: first + index for index, seed in enumerate(sorted(seeds))}
        renumbered += [row._replace(seed=mapping[row.seed]) for row in rows]
    return renumbered


def _object_name(agent: str, run_id: str) -> str:
    """A valid Kubernetes object name made of the agent and the run id."""
    name = _NAME_INVALID.sub("-", f"{agent}-{run_id}".lower())
    return re.sub(r"-{2,}", "-", name)[:253].strip("-.") or agent


def _build[M: BaseModel](cls: type[M], flags: Mapping[str, str], /, **values: Any) -> M:
    """A model from flags and file values; a validation error names the flag to fix."""
    try:
        return cls(**values)
    except ValidationError as error:
        first = error.errors()[0]
        loc = [str(part) for part in first["loc"]]
        names = {info.alias or name: name for name, info in cls.model_fields.items()}
        flag = flags.get(names.get(loc[0], loc[0])) if loc else None
        where = flag or f"{cls.__name__}.{'.'.join(loc)}"
        raise ImportInputError(f"{where}: {first['msg']}") from None
