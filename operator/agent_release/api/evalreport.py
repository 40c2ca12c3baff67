"""EvalReport: one evaluation run of one candidate (SPEC §4).

The report carries counts, never per-task rows: etcd objects are capped at 1.5 MB,
so per-task results stay outside the cluster behind `slices[].results` (a URI and
its sha256). Cross-field rules are written twice on purpose: once as CEL so the API
server refuses a bad object before the operator sees it, and once as a pydantic
validator so the CLI refuses the same file with the same words. Tests keep the two
in step.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from .meta import Condition, ObjectMeta
from .names import API_VERSION
from .types import (
    AgentName,
    Capability,
    Count,
    FailureClass,
    Model,
    NonEmpty,
    Stage,
    cel,
    is_empty,
)

MAX_SLICES = 32
MAX_SEEDS = 32


class Candidate(Model):
    """Exactly what was evaluated (and what is being released)."""

    model: NonEmpty
    runtime: NonEmpty
    tools: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        description="tool name -> version",
        exclude_if=is_empty,
    )

    def describe(self) -> str:
        tools = ",".join(f"{k}={v}" for k, v in sorted(self.tools.items()))
        return f"model={self.model} runtime={self.runtime}" + (f" tools={tools}" if tools else "")


class Suite(Model):
    name: NonEmpty
    dataset_version: NonEmpty
    harness_version: NonEmpty
    holdout: bool = Field(default=False, description="true for a private holdout suite")


class DurationSummary(Model):
    """Task wall-clock duration quantiles of one run, in seconds."""

    model_config = cel(("self.p50 <= self.p95", "p50 must not exceed p95"))

    p50: float = Field(ge=0)
    p95: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.p50 > self.p95:
            raise ValueError(f"p50 ({self.p50}) must not exceed p95 ({self.p95})")
        return self


_FAILURE_KEYS = "[" + ", ".join(f"'{c.value}'" for c in FailureClass) + "]"


class TokenCounts(Model):
    input: Count
    output: Count


class SeedRun(Model):
    """One seed (trial) of a slice: counts over all its tasks."""

    model_config = cel(
        ("self.passed <= self.tasks", "passed must not exceed tasks"),
        *(
            (f"!has(self.{name}) || self.{name} <= self.tasks", f"{name} must not exceed tasks")
            for name in ("humanInterventions", "policyViolations", "rollbackTriggers")
        ),
        (
            f"!has(self.failures) || self.failures.all(k, k in {_FAILURE_KEYS})",
            f"failures keys must be among {_FAILURE_KEYS}",
        ),
        (
            "!has(self.failures) || "
            "self.failures.map(k, self.failures[k]).sum() == self.tasks - self.passed",
            "failures must sum to tasks - passed",
        ),
    )

    seed: int
    tasks: int = Field(ge=1)
    passed: Count
    human_interventions: Count | None = None
    policy_violations: Count | None = Field(default=None, description="hard policy violations")
    rollback_triggers: Count | None = Field(default=None, description="simulated rollbacks")
    cost_usd: float | None = Field(
        default=None, ge=0, alias="costUSD", description="total cost of the run"
    )
    duration_seconds: DurationSummary | None = None
    tokens: TokenCounts | None = Field(default=None, description="total tokens of the run")
    failures: dict[FailureClass, Count] | None = Field(
        default=None,
        max_length=len(FailureClass),
        description="failure taxonomy counts; they sum to tasks - passed",
    )

    @model_validator(mode="after")
    def _counts(self) -> Self:
        if self.passed > self.tasks:
            raise ValueError(f"passed ({self.passed}) must not exceed tasks ({self.tasks})")
        for field in ("human_interventions", "policy_violations", "rollback_triggers"):
            value = getattr(self, field)
            if value is not None and value > self.tasks:
                raise ValueError(f"{field} ({value}) must not exceed tasks ({self.tasks})")
        if self.failures is not None and sum(self.failures.values()) != self.tasks - self.passed:
            raise ValueError(
                f"failures sum to {sum(self.failures.values())}, "
                f"but tasks - passed is {self.tasks - self.passed}"
            )
        return self

    @property
    def pass_rate(self) -> float:
        return self.passed / self.tasks


class ResultsPointer(Model):
    """Where the per-task results of a slice live, and their digest."""

    uri: NonEmpty
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Slice(Model):
    model_config = cel(
        (
            "self.seeds.all(a, self.seeds.exists_one(b, b.seed == a.seed))",
            "seeds must be unique within a slice",
        )
    )

    name: NonEmpty
    capability: Capability
    dataset_version: NonEmpty | None = None
    harness_version: NonEmpty | None = None
    seeds: list[SeedRun] = Field(min_length=1, max_length=MAX_SEEDS)
    results: ResultsPointer | None = None

    @model_validator(mode="after")
    def _unique_seeds(self) -> Self:
        seen: set[int] = set()
        for run in self.seeds:
            if run.seed in seen:
                raise ValueError(f"seed {run.seed} appears more than once")
            seen.add(run.seed)
        return self

    @property
    def tasks(self) -> int:
        return sum(run.tasks for run in self.seeds)

    @property
    def passed(self) -> int:
        return sum(run.passed for run in self.seeds)


class EvalReportSpec(Model):
    model_config = cel(
        (
            "self.slices.all(a, self.slices.exists_one(b, b.name == a.name))",
            "slice names must be unique",
        )
    )

    agent: AgentName
    stage: Stage
    run_id: NonEmpty
    candidate: Candidate
    suite: Suite
    slices: list[Slice] = Field(min_length=1, max_length=MAX_SLICES)

    @model_validator(mode="after")
    def _unique_slices(self) -> Self:
        seen: set[str] = set()
        for item in self.slices:
            if item.name in seen:
                raise ValueError(f"slice name {item.name!r} appears more than once")
            seen.add(item.name)
        return self

    def dataset_version(self, item: Slice) -> str:
        return item.dataset_version or self.suite.dataset_version

    def harness_version(self, item: Slice) -> str:
        return item.harness_version or self.suite.harness_version

    def slice(self, name: str) -> Slice | None:
        return next((item for item in self.slices if item.name == name), None)


class Interval(Model):
    low: float
    high: float


class SliceSummary(Model):
    """What `kubectl describe evalreport` shows per slice (written by the operator)."""

    name: str
    capability: Capability
    seeds: int
    tasks: int
    passed: int
    pass_rate: float
    sem: float | None = None
    interval: Interval
    duration_p50_seconds: float | None = None
    duration_p95_seconds: float | None = None
    cost_per_success_usd: float | None = Field(default=None, alias="costPerSuccessUSD")
    failure_shares: dict[FailureClass, float] = Field(default_factory=dict)


class EvalReportStatus(Model):
    observed_generation: int | None = None
    slices: list[SliceSummary] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)


class EvalReport(Model):
    api_version: Literal["agentrelease.dev/v1alpha1"] = API_VERSION
    kind: Literal["EvalReport"] = "EvalReport"
    metadata: ObjectMeta
    spec: EvalReportSpec
    status: EvalReportStatus | None = None
