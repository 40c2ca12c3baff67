"""ReleasePolicy: the thresholds of one environment (SPEC §4).

Defaults here are the documented defaults of the product: a field left out of a
manifest means exactly the value written below. The CRD schema carries no defaults
(see crdgen) so that a per-release override can tell "not set" from "set".
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from string import Template
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic.alias_generators import to_camel

from .meta import Condition, ObjectMeta
from .names import API_VERSION
from .types import (
    Capability,
    Duration,
    Fraction,
    Model,
    NonEmpty,
    cel,
    parse_duration,
)

_CAPABILITIES = "[" + ", ".join(f"'{c.value}'" for c in Capability) + "]"
PositiveRatio = Annotated[float, Field(gt=0)]


class DecisionMode(StrEnum):
    POINT = "point"
    INTERVAL = "interval"


class Decision(Model):
    mode: DecisionMode = DecisionMode.INTERVAL
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)


class OfflinePolicy(Model):
    model_config = cel(
        (
            f"!has(self.floors) || self.floors.all(k, k in {_CAPABILITIES})",
            f"floors keys must be capabilities: {_CAPABILITIES}",
        )
    )

    required_capabilities: list[Capability] = Field(default_factory=list, max_length=5)
    min_seeds: int = Field(default=1, ge=1, le=32)
    floors: dict[Capability, Fraction] = Field(
        default_factory=dict,
        max_length=len(Capability),
        description="minimum pass rate per capability",
    )
    slice_floors: dict[str, Fraction] = Field(
        default_factory=dict,
        max_length=64,
        description="minimum pass rate per slice name (overrides floors)",
    )
    max_pass_rate_drop: Fraction | None = Field(
        default=None, description="largest allowed drop of a slice's pass rate vs baseline"
    )
    max_duration_p95_ratio: PositiveRatio | None = None
    max_cost_per_success_ratio: PositiveRatio | None = None


class MinDelta(Model):
    min_delta: float = Field(ge=-1, le=1)


class MaxDelta(Model):
    max_delta: float = Field(ge=-1, le=1)


class MaxRatio(Model):
    max_ratio: PositiveRatio


class MaxCount(Model):
    max: int = Field(ge=0)


class PrereleasePolicy(Model):
    require_holdout: bool = False
    min_seeds: int = Field(default=1, ge=1, le=32)
    success_rate: MinDelta | None = None
    intervention_rate: MaxDelta | None = None
    cost_per_task: MaxRatio | None = Field(default=None, description="cost per completed task")
    latency_p95: MaxRatio | None = None
    policy_violations: MaxCount | None = None
    rollback_triggers: MaxCount | None = None


class GuardrailMetric(StrEnum):
    """The minimum metric pack (SPEC §1), each with a fixed statistical shape."""

    TASK_SUCCESS_RATE = "task_success_rate"
    HUMAN_INTERVENTION_RATE = "human_intervention_rate"
    P95_END_TO_END_LATENCY = "p95_end_to_end_latency"
    COST_PER_SUCCESSFUL_TASK = "cost_per_successful_task"
    POLICY_VIOLATION_RATE = "policy_violation_rate"
    TOOL_FAILURE_RATE = "tool_failure_rate"


# Which threshold each metric takes: higher-is-better rates bound the drop
# (min_delta), lower-is-better rates bound the rise (max_delta), latency and cost are
# ratios, policy violations are a hard count.
THRESHOLD_FIELD: dict[GuardrailMetric, str] = {
    GuardrailMetric.TASK_SUCCESS_RATE: "min_delta",
    GuardrailMetric.HUMAN_INTERVENTION_RATE: "max_delta",
    GuardrailMetric.TOOL_FAILURE_RATE: "max_delta",
    GuardrailMetric.P95_END_TO_END_LATENCY: "max_ratio",
    GuardrailMetric.COST_PER_SUCCESSFUL_TASK: "max_ratio",
    GuardrailMetric.POLICY_VIOLATION_RATE: "max_count",
}


def _threshold_rules() -> list[tuple[str, str]]:
    rules = []
    for field in sorted(set(THRESHOLD_FIELD.values())):
        metrics = [m.value for m, f in THRESHOLD_FIELD.items() if f == field]
        listed = "[" + ", ".join(f"'{m}'" for m in metrics) + "]"
        wire = to_camel(field)
        rules.append(
            (
                f"has(self.{wire}) == (self.metric in {listed})",
                f"{wire} is the threshold of {', '.join(metrics)} and only of them",
            )
        )
    return rules


def template_problem(text: str) -> str | None:
    """Why a PromQL template is unusable, or None."""
    template = Template(text)
    if not template.is_valid():
        return "invalid placeholder: use $selector and $interval, and $$ for a literal $"
    names = set(template.get_identifiers())
    unknown = names - {"selector", "interval"}
    if unknown:
        return f"unknown placeholder ${sorted(unknown)[0]}; only $selector and $interval exist"
    if "selector" not in names:
        return "the template must use $selector to select the releases under analysis"
    return None


def _valid_template(text: str | None) -> str | None:
    problem = None if text is None else template_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


QueryTemplate = Annotated[NonEmpty | None, AfterValidator(_valid_template)]


class GuardrailQuery(Model):
    """PromQL templates overriding a guardrail's default query.

    A template may only use two placeholders, `$selector` (the operator's label
    matchers for agent and revision, built from validated names) and `$interval`
    (the analysis interval); it must aggregate `by (agent, revision)` (plus `le` for
    buckets). User text is never spliced into a query any other way.
    """

    numerator: QueryTemplate = None
    denominator: QueryTemplate = None
    buckets: QueryTemplate = None


class Guardrail(Model):
    model_config = cel(*_threshold_rules())

    metric: GuardrailMetric
    min_delta: float | None = Field(default=None, ge=-1, le=1, description="canary - stable >=")
    max_delta: float | None = Field(default=None, ge=-1, le=1, description="canary - stable <=")
    max_ratio: PositiveRatio | None = Field(default=None, description="canary / stable <=")
    max_count: int | None = Field(default=None, ge=0, description="canary events in window <=")
    hard: bool = Field(default=False, description="a breach aborts at once, whatever the samples")
    query: GuardrailQuery | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        wanted = THRESHOLD_FIELD[self.metric]
        for field in set(THRESHOLD_FIELD.values()):
            present = getattr(self, field) is not None
            if present != (field == wanted):
                raise ValueError(
                    f"guardrail {self.metric.value} takes {to_camel(wanted)}"
                    + (f", not {to_camel(field)}" if present else "")
                )
        return self

    @property
    def threshold(self) -> float:
        value = getattr(self, THRESHOLD_FIELD[self.metric])
        assert value is not None  # guaranteed by _one_threshold
        return float(value)


def default_guardrails() -> list[Guardrail]:
    """The six-metric pack with the starter production thresholds (SPEC §1)."""
    return [
        Guardrail(metric=GuardrailMetric.TASK_SUCCESS_RATE, min_delta=-0.02),
        Guardrail(metric=GuardrailMetric.HUMAN_INTERVENTION_RATE, max_delta=0.005),
        Guardrail(metric=GuardrailMetric.P95_END_TO_END_LATENCY, max_ratio=1.10),
        Guardrail(metric=GuardrailMetric.COST_PER_SUCCESSFUL_TASK, max_ratio=1.10),
        Guardrail(metric=GuardrailMetric.POLICY_VIOLATION_RATE, max_count=0, hard=True),
        Guardrail(metric=GuardrailMetric.TOOL_FAILURE_RATE, max_delta=0.02),
    ]


DEFAULT_BAKE = "30m"


class CanaryStep(Model):
    weight: int = Field(ge=1, le=100)
    bake: Duration | None = Field(
        default=None, description=f"default {DEFAULT_BAKE}; none after 100"
    )

    @property
    def bake_time(self) -> str:
        """The bake as written, or the default."""
        return self.bake or DEFAULT_BAKE

    def bake_seconds(self) -> float:
        return parse_duration(self.bake_time)


class Action(StrEnum):
    HOLD = "hold"
    ROLLBACK = "rollback"


class MetricsUnavailable(Model):
    after: int = Field(default=3, ge=1, le=100, description="consecutive failed analyses")
    action: Action = Action.HOLD


def _default_steps() -> list[CanaryStep]:
    return [CanaryStep(weight=w) for w in (5, 20, 50, 100)]


class CanaryPolicy(Model):
    model_config = cel(
        (
            "!has(self.steps) || (self.steps.map(s, s.weight).isSorted() && "
            "self.steps.all(a, self.steps.exists_one(b, b.weight == a.weight)))",
            "canary step weights must be strictly increasing",
        ),
        (
            "!has(self.steps) || self.steps[size(self.steps) - 1].weight == 100",
            "the last canary step must have weight 100",
        ),
        (
            "!has(self.guardrails) || "
            "self.guardrails.all(a, self.guardrails.exists_one(b, b.metric == a.metric))",
            "each guardrail metric may appear once",
        ),
    )

    steps: list[CanaryStep] = Field(default_factory=_default_steps, min_length=1, max_length=10)
    analysis_interval: Duration = "1m"
    min_samples: int = Field(default=200, ge=1)
    guardrails: list[Guardrail] = Field(default_factory=default_guardrails, max_length=6)
    on_inconclusive: Action = Action.HOLD
    metrics_unavailable: MetricsUnavailable = Field(default_factory=MetricsUnavailable)

    @model_validator(mode="after")
    def _steps(self) -> Self:
        weights = [step.weight for step in self.steps]
        if any(b <= a for a, b in pairwise(weights)):
            raise ValueError(f"canary step weights must be strictly increasing, got {weights}")
        if weights[-1] != 100:
            raise ValueError(f"the last canary step must have weight 100, got {weights[-1]}")
        metrics = [g.metric for g in self.guardrails]
        if len(set(metrics)) != len(metrics):
            raise ValueError("each guardrail metric may appear once")
        return self

    def merged(self, override: CanaryPolicy | None) -> CanaryPolicy:
        """This section with the fields an override sets explicitly replaced."""
        if override is None:
            return self
        return self.model_copy(
            update={name: getattr(override, name) for name in override.model_fields_set}
        )


class ReleasePolicySpec(Model):
    environment: NonEmpty
    offline: OfflinePolicy = Field(default_factory=OfflinePolicy)
    prerelease: PrereleasePolicy = Field(default_factory=PrereleasePolicy)
    decision: Decision = Field(default_factory=Decision)
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy)


class ReleasePolicyStatus(Model):
    """Written by the operator when it validates the policy."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class ReleasePolicy(Model):
    api_version: Literal["agentrelease.dev/v1alpha1"] = API_VERSION
    kind: Literal["ReleasePolicy"] = "ReleasePolicy"
    metadata: ObjectMeta
    spec: ReleasePolicySpec
    status: ReleasePolicyStatus | None = None
