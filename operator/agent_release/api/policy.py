"""ReleasePolicy: the thresholds of one environment (SPEC §4).

Defaults here are the documented defaults of the product: a field left out of a
manifest means exactly the value written below. The CRD schema carries no defaults
(see crdgen) so that a per-release override can tell "not set" from "set".
"""

from __future__ import annotations

import math
import re
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


# PromQL, as far as a template needs to be read: strings (where a placeholder would be
# substituted inside quotes), comments (where it would be substituted into nothing), the
# brackets it must sit in, and the names that would select series without it.
_PROMQL_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)"""
    r"|(?P<comment>\#)"
    r"|(?P<placeholder>\$(?:\{(?:selector|interval)\}|(?:selector|interval)\b))"
    r"|(?P<open>[{\[(])|(?P<close>[}\])])"
    r"|(?P<name>(?<![\w.])[A-Za-z_:][\w:]*)"
    r"|(?P<other>[^\"'`#${}\[\]()A-Za-z_:]+|[A-Za-z_:\w]+)"
)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _GROUPING | {"bool", "and", "or", "unless", "offset", "inf", "nan"}
_CLOSING = {"{": "}", "[": "]", "(": ")"}


def _query_problem(text: str) -> str | None:
    """Where a template could let a query select more than `$selector` does."""
    stack: list[str] = []  # open brackets; "L" is a grouping label list's "("
    pos = 0
    for token in _PROMQL_TOKEN.finditer(text):
        if token.start() != pos:
            return f"unbalanced quote at character {pos}"
        pos = token.end()
        kind, value = token.lastgroup, token.group()
        inside = stack[-1] if stack else ""
        if kind == "comment":
            return "no comments: text after # would hide the selector"
        if kind == "string" and Template(value).get_identifiers():
            return f"no placeholder inside a string: {value[:40]}"
        if kind == "name" and inside == "{" and value in ("agent", "revision"):
            return f"matchers on {value} are the operator's: $selector sets them"
        if kind == "open":
            grouping = value == "(" and _previous_name(text, token.start()) in _GROUPING
            stack.append("L" if grouping else value)
            if value == "{" and "$selector" not in _braces(text, token.start()):
                return "every series selector {...} must hold $selector"
        elif kind == "close":
            if not stack or _CLOSING.get(stack.pop(), ")") != value:
                return f"unbalanced {value!r} at character {token.start()}"
        elif kind == "placeholder" and "selector" in value:
            around = text[: token.start()].rstrip()[-1:], text[token.end() :].lstrip()[:1]
            if inside != "{" or around[0] not in "{," or around[1] not in "},":
                return "$selector must stand alone among a series selector's {matchers}"
        elif (
            kind == "placeholder"
            and inside != "["
            and _previous_name(text, token.start()) != "offset"
        ):
            return "$interval must be a [range] or an offset"
        elif kind == "name" and inside not in ("{", "[", "L") and value not in _KEYWORDS:
            after = text[token.end() :].lstrip()
            aggregation = re.match(r"(by|without)\b", after) is not None  # sum by (...) (...)
            if after[:1] not in ("(", "{") and not aggregation:
                return f"{value} selects series without $selector: write {value}{{$selector}}"
    if pos != len(text):
        return f"unbalanced quote at character {pos}"
    if stack:
        return f"unclosed {stack[-1].replace('L', '(')!r}"
    return None


def _previous_name(text: str, at: int) -> str:
    match = re.search(r"([A-Za-z_]\w*)\s*$", text[:at])
    return match.group(1) if match else ""


def _braces(text: str, at: int) -> str:
    """The text of the `{...}` opening at `at`, up to its first `}` outside strings."""
    strings = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|[^}]')
    end = at + 1
    for match in strings.finditer(text, at + 1):
        if match.group() == "}":
            break
        end = match.end()
    return text[at + 1 : end].replace("${selector}", "$selector")


def template_problem(text: str) -> str | None:
    """Why a PromQL template is unusable, or None.

    Beyond its placeholders, a template is read as PromQL (`_query_problem`): a
    placeholder inside a string or a comment, a selector without `$selector`, or a
    bare metric name would let the query select series the operator did not ask for.
    """
    template = Template(text)
    if not template.is_valid():
        return "invalid placeholder: use $selector and $interval, and $$ for a literal $"
    names = set(template.get_identifiers())
    unknown = names - {"selector", "interval"}
    if unknown:
        return f"unknown placeholder ${sorted(unknown)[0]}; only $selector and $interval exist"
    if "selector" not in names:
        return "the template must use $selector to select the releases under analysis"
    return _query_problem(text)


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
    """One metric of canary against stable, and the size of regression that must be caught.

    A threshold is a regression, never a goal: `minDelta` is a drop (< 0) of a rate that
    should be high, `maxDelta` a rise (> 0) of one that should be low, `maxRatio` a rise
    (> 1) of latency or cost. The sequential test clears a canary only once it has ruled
    out a regression of that size, and catches one of that size with probability
    1 − missedRegression (docs/gates.md, "Canary").
    """

    model_config = cel(*_threshold_rules())

    metric: GuardrailMetric
    min_delta: float | None = Field(
        default=None, ge=-1, lt=0, description="largest drop of canary - stable to catch (< 0)"
    )
    max_delta: float | None = Field(
        default=None, gt=0, le=1, description="largest rise of canary - stable to catch (> 0)"
    )
    max_ratio: float | None = Field(
        default=None, gt=1, description="largest canary / stable ratio to catch (> 1)"
    )
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

    @property
    def harm(self) -> float:
        """The threshold as a size of harm θ > 0: the drop, the rise, or log of the ratio."""
        if self.min_delta is not None:
            return -self.min_delta
        if self.max_ratio is not None:
            return math.log(self.max_ratio)
        return self.threshold


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


class Requirement(StrEnum):
    """What a step needs, besides its bake, before the canary may go on."""

    SCREEN = "screen"  # gross harm ruled out (a regression of grossFactor × the threshold)
    CONFIRM = "confirm"  # every threshold settled: no regression of the threshold's size


DEFAULT_BAKE = "30m"
DEFAULT_MAX_BAKE = {Requirement.SCREEN: "2h", Requirement.CONFIRM: "8h"}


class CanaryStep(Model):
    model_config = cel(
        (
            "!has(self.maxBake) || duration(self.maxBake) >= "
            f"duration(has(self.bake) ? self.bake : '{DEFAULT_BAKE}')",
            "maxBake must not be shorter than bake",
        )
    )

    weight: int = Field(ge=1, le=100)
    bake: Duration | None = Field(
        default=None, description=f"minimum time at the step, default {DEFAULT_BAKE}"
    )
    max_bake: Duration | None = Field(
        default=None,
        description="past it undecided, onInconclusive acts (default "
        + ", ".join(f"{v} to {k.value}" for k, v in DEFAULT_MAX_BAKE.items())
        + ")",
    )
    require: Requirement | None = Field(
        default=None,
        description="screen or confirm; default confirm for the last step before 100, "
        "screen before it",
    )

    @model_validator(mode="after")
    def _bakes(self) -> Self:
        if self.max_bake is not None and parse_duration(self.max_bake) < self.bake_seconds():
            raise ValueError(f"maxBake ({self.max_bake}) must not be shorter than bake")
        return self

    @property
    def bake_time(self) -> str:
        """The bake as written, or the default."""
        return self.bake or DEFAULT_BAKE

    def bake_seconds(self) -> float:
        return parse_duration(self.bake_time)

    def max_bake_seconds(self, requirement: Requirement) -> float:
        return parse_duration(self.max_bake or DEFAULT_MAX_BAKE[requirement])


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
    false_rollback: float = Field(
        default=0.002,
        gt=0,
        le=0.2,
        description="per guardrail: the chance of rolling back a canary as good as stable",
    )
    missed_regression: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="per guardrail: the chance of promoting a canary whose regression is "
        "exactly the threshold",
    )
    gross_factor: float = Field(
        default=4.0,
        ge=1.5,
        le=100,
        description="a regression this many times the threshold is gross: a screening step "
        "goes on once it is ruled out",
    )
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

    def requirement(self, step: int) -> Requirement:
        """What step `step` (1-based) requires: as written, else confirm for the last one
        before 100% and screen for the ones before it."""
        written = self.steps[step - 1].require
        if written is not None:
            return written
        return Requirement.CONFIRM if step == len(self.steps) - 1 else Requirement.SCREEN

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
